"""A training request becomes a job spec: every check that must pass before a job exists.

The data source (a built-in task, an uploaded dataset, inline pairs) within the settings' bounds and
with gold links where guided alignment needs them; pretrained vectors that can be had (the
embeddings service is asked for the model now, so a missing model is answered now rather than as a
failed job); a configuration the core accepts. The spec is what the worker
(:mod:`service.attention.worker`) reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from models.seq2seq.alignment import check_links
from models.seq2seq.data import DataError, Example, examples_from_pairs, split_dev
from models.seq2seq.model import Seq2SeqConfig
from models.seq2seq.tasks import TASKS_WITH_LINKS
from models.seq2seq.tokenizers import get_tokenizer
from service.attention import limits
from service.attention.errors import pair_error
from service.attention.runtime import AttentionRuntime
from service.attention.schemas.models import TrainRequest
from service.kit.errors import InvalidInputError, NotFoundError, UnavailableError, UpstreamError
from service.kit.job_record import JobRecord
from service.kit.redact import redact_url

log = logging.getLogger("service.attention.training")


def submit_training(body: TrainRequest, runtime: AttentionRuntime) -> JobRecord:
    """Queue the job that trains ``body.name`` (a new model, or a new version with ``overwrite``)."""
    runtime.check_name_free(
        body.name, body.overwrite
    )  # before the checks that may call the embeddings service
    spec = training_spec(body, runtime)
    return runtime.submit_job("train", body.name, spec, overwrite=body.overwrite)


def _dataset(state: AttentionRuntime, dataset_id: str, field: str, kind: str) -> dict[str, Any]:
    try:
        meta = state.uploads.get(dataset_id)
        path = state.uploads.path(dataset_id)
    except NotFoundError:
        raise InvalidInputError(
            f"no dataset named {dataset_id!r}", loc=["body", field], code="unknown-dataset"
        ) from None
    if meta.get("kind") != kind:
        raise InvalidInputError(
            f"dataset {dataset_id!r} holds {meta.get('kind')}, not {kind}", loc=["body", field]
        )
    return {"id": dataset_id, "path": str(path), "format": meta["format"], "meta": meta}


def check_embeddings_model(url: str, model: str, url_given: bool, settings: Any) -> None:
    """Ask the embeddings service for ``model`` before a job is queued, so that a missing model or an
    unreachable service is answered now rather than as a failed job.

    A URL the request names (``embeddings.url``): any failure to get the model -- refused or timed-out
    connection, no such model, any other answer -- is one and the same 422
    (``embeddings-model-unavailable`` on ``embeddings``), whose detail does not say which: the
    service never becomes a probe of what answers where. The server log keeps the reason (with the
    request id). The service's own ATTENTION_EMBEDDINGS_URL (which no client chooses): unreachable is
    a 503 (not the client's fault), no such model a 422 on ``embeddings.model``, any other answer a
    502.
    """
    endpoint = f"{url.rstrip('/')}/v1/models/{model}"
    shown = redact_url(url)
    try:
        resp = httpx.get(endpoint, timeout=min(10.0, settings.embeddings_timeout_s))
        reason = None if resp.status_code == 200 else f"it answered {resp.status_code}: {resp.text[:300]!r}"
    except httpx.HTTPError as exc:
        resp, reason = None, f"{type(exc).__name__}: {exc}"
    if reason is None:
        return
    log.warning(
        "cannot get model %r from the embeddings service at %s: %s", model, shown, redact_url(reason),
        extra={"model": model, "url_given": url_given},
    )  # fmt: skip
    if url_given:
        raise InvalidInputError(
            f"cannot get model {model!r} from the embeddings service at the given URL (the service is "
            "unreachable there, or has no such model); check embeddings.url and embeddings.model",
            loc=["body", "embeddings"],
            code="embeddings-model-unavailable",
        )
    if resp is None:
        raise UnavailableError(
            f"cannot reach the embeddings service at {shown} (ATTENTION_EMBEDDINGS_URL)",
            code="embeddings-unavailable",
            title="Embeddings service unavailable",
            retry_after=10,
        )
    if resp.status_code == 404:
        raise InvalidInputError(
            f"the embeddings service at {shown} has no model {model!r}",
            loc=["body", "embeddings", "model"],
            code="unknown-embeddings-model",
        )
    raise UpstreamError(
        f"the embeddings service at {shown} answered {resp.status_code} for model {model!r}",
        code="embeddings-error",
        title="Embeddings service error",
    )


GUIDED_NEEDS_LINKS = "guided_alignment_weight needs training pairs with links"


def _no_links(why: str) -> InvalidInputError:
    return InvalidInputError(
        f'{GUIDED_NEEDS_LINKS}: {why}; add gold links (a third item / column, e.g. "0-0 1-1") or set '
        "guided_alignment_weight to 0",
        loc=["body", "params", "guided_alignment_weight"],
        code="needs-links",
    )


def check_guided_links(
    body: TrainRequest, dataset_meta: dict[str, Any] | None, examples: list[Any] | None
) -> None:
    """422 when ``params.guided_alignment_weight`` > 0 and no training pair can carry gold links.

    Built-in tasks: by name (``g2p`` has none). Uploaded datasets: their ``linked`` count (a dataset
    stored before that count existed is left to the job). Inline pairs: the pairs left for training
    once the dev share is held out (the same seeded split as the job's).
    """
    if body.params.guided_alignment_weight <= 0:
        return
    if body.task is not None:
        if body.task.name not in TASKS_WITH_LINKS:
            raise _no_links(f"the {body.task.name} task has no gold links")
    elif dataset_meta is not None:
        if dataset_meta.get("linked") == 0:
            raise _no_links(f"dataset {body.dataset_id!r} has no pair with links")
    elif examples is not None:
        train = examples
        if body.dev_dataset_id is None:
            fraction = body.dev_fraction if body.dev_fraction is not None else 0.1
            train, _ = split_dev(examples, fraction, body.params.seed)
        if not any(e.links for e in train):
            held = " (those with links are all in the dev share)" if any(e.links for e in examples) else ""
            raise _no_links(f"no inline training pair has links{held}")


def training_spec(body: TrainRequest, state: AttentionRuntime) -> dict[str, Any]:
    """Validate the data sources against the stores and settings; return the job's JSON spec."""
    settings = state.settings
    limits.beam_width("beam", body.params.eval_beam_size, settings, loc=("body", "params", "eval_beam_size"))
    source: dict[str, Any]
    if body.task is not None:
        if body.task.n_train > settings.max_train_pairs:
            raise InvalidInputError(
                f"n_train > the limit of {settings.max_train_pairs}", loc=["body", "task", "n_train"]
            )
        source = {"task": {"name": body.task.name, "kwargs": body.task.generator_kwargs()}}
        check_guided_links(body, None, None)
    elif body.dataset_id is not None:
        ds = _dataset(state, body.dataset_id, "dataset_id", "pairs")
        if ds["meta"]["pairs"] > settings.max_train_pairs:
            raise InvalidInputError(
                f"the dataset has more than {settings.max_train_pairs} pairs", loc=["body", "dataset_id"]
            )
        source = {"dataset": {k: ds[k] for k in ("id", "path", "format")}}
        check_guided_links(body, ds["meta"], None)
    else:
        pairs = body.pairs or []
        if len(pairs) > settings.max_inline_pairs:
            raise InvalidInputError(
                f"{len(pairs)} inline pairs > the limit of {settings.max_inline_pairs}; upload a dataset",
                loc=["body", "pairs"],
            )
        try:
            examples = examples_from_pairs([list(p) for p in pairs])
        except DataError as exc:
            raise pair_error(exc, label="pair ") from None
        if not pairs:
            raise InvalidInputError("no pairs", loc=["body", "pairs"])
        src_kind, tgt_kind = body.config.src_tokenization, body.config.tgt_tokenization
        units = src_kind if src_kind == tgt_kind else f"{src_kind} source / {tgt_kind} target"
        check_example_links(
            examples,
            get_tokenizer(src_kind).tokenize,
            lambda i, why: f"pair {i}: {why} ({units} tokens)",
            get_tokenizer(tgt_kind).tokenize,
        )
        check_guided_links(body, None, examples)
        source = {"pairs": [list(p) for p in pairs]}
    dev: dict[str, Any] | None = None
    if body.dev_dataset_id is not None:
        ds = _dataset(state, body.dev_dataset_id, "dev_dataset_id", "pairs")
        dev = {"dataset": {k: ds[k] for k in ("id", "path", "format")}}
    elif body.task is None:
        dev = {"fraction": body.dev_fraction if body.dev_fraction is not None else 0.1}
    embeddings: dict[str, Any] | None = None
    if body.embeddings is not None:
        url = body.embeddings.url or settings.embeddings_url
        check_embeddings_model(url, body.embeddings.model, body.embeddings.url is not None, settings)
        embeddings = {
            "model": body.embeddings.model,
            "url": url,
            "freeze": body.freeze_embeddings,
            "timeout": settings.embeddings_timeout_s,
        }
    elif body.embeddings_file is not None:
        ds = _dataset(state, body.embeddings_file, "embeddings_file", "vectors")
        embeddings = {"file": ds["path"], "id": body.embeddings_file, "freeze": body.freeze_embeddings}
    config = body.config.model_dump()
    try:  # the core's own checks, so that a job never fails on a configuration known to be invalid
        Seq2SeqConfig.from_dict(config)
    except ValueError as exc:
        raise InvalidInputError(f"config: {exc}", loc=["body", "config"], code="invalid-config") from None
    request_summary = body.model_dump(exclude={"pairs"}, exclude_none=True)
    if body.pairs is not None:
        request_summary["pairs"] = len(body.pairs)
    return {
        **state.job_spec_base(body.name),
        "config": config,
        "params": body.params.model_dump(),
        "source": source,
        "dev": dev,
        "embeddings": embeddings,
        "request": request_summary,
    }


def check_example_links(
    examples: Sequence[Example],
    tokenize: Callable[[str], list[str]],
    label: Callable[[int, str], str],
    tokenize_target: Callable[[str], list[str]] | None = None,
) -> None:
    """422 ``invalid-links`` listing every inline pair whose gold links fall outside its tokens.

    ``tokenize`` splits sources, ``tokenize_target`` targets (default ``tokenize``).
    ``label(i, reason)`` words each error; their ``loc`` is ``["body", "pairs", i, 2]``.
    """
    tokenize_target = tokenize_target or tokenize
    found = []
    for i, e in enumerate(examples):
        if e.links:
            try:
                check_links(e.links, len(tokenize(e.source)), len(tokenize_target(e.target)))
            except ValueError as exc:
                found.append((["body", "pairs", i, 2], label(i, str(exc)), "invalid-links"))
    if found:
        raise InvalidInputError.many(found, title="Unprocessable request", code="invalid-links")
