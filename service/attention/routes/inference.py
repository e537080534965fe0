"""Queries of a served model: translate, align, attention heatmaps, evaluate.

Handlers are plain ``def`` (they run in the threadpool: torch work must not block the event loop);
they check the settings' bounds, call :mod:`models.seq2seq` and shape the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel

from models.seq2seq.alignment import (
    alignment_accuracy,
    alignment_scores,
    check_links,
    corpus_alignment_scores,
    from_pharaoh,
    to_pharaoh,
)
from models.seq2seq.data import DataError, Example, examples_from_pairs, read_jsonl
from models.seq2seq.evaluation import evaluate
from models.seq2seq.heatmap import attention_heatmap
from models.seq2seq.inference import SourceError, align, translate
from models.seq2seq.limits import MAX_BEAM_SIZE
from models.seq2seq.tasks import make_task
from service.attention import limits
from service.attention.runtime import AttentionRuntime, LoadedSeq2Seq, Runtime
from service.attention.schemas import (
    AlignmentOut,
    AlignmentScoresOut,
    AlignRequest,
    AlignResponse,
    EvaluateRequest,
    EvaluateResponse,
    TranslateRequest,
    TranslateResponse,
    TranslationOut,
)
from service.attention.worker import DEV_FILE
from service.kit.auth import require_query_token
from service.kit.models_routes import VersionQuery
from service.kit.names import ModelName
from service.kit.problems import ProblemError, invalid

router = APIRouter(prefix="/v1/models", tags=["inference"], dependencies=[Depends(require_query_token)])


def json_response(body: BaseModel) -> Response:
    """Serialise a response model with pydantic's (Rust) JSON encoder, skipping FastAPI's re-validation.

    The declared ``response_model`` still documents the route; for a batch of 1,000 attention matrices
    re-validating and re-encoding the answer would cost more than decoding it.
    """
    return Response(body.model_dump_json(exclude_none=True), media_type="application/json")


def _matrix(att: np.ndarray) -> list[list[float]]:
    return np.asarray(att, dtype=np.float64).tolist()


def _source_error(exc: SourceError, field: str) -> ProblemError:
    return invalid(f"{field}.{exc.index}: {exc.reason}", loc=["body", field, exc.index])


def run_translate(
    entry: LoadedSeq2Seq,
    inputs: list[str],
    beam: int,
    max_len: int | None,
    batch_size: int,
    loc: tuple[str, ...] = ("body", "inputs"),
    indexed: bool = True,
) -> list[Any]:
    """Decode ``inputs`` in length-sorted padded batches (less padding, earlier stops), answered in input order.

    Decoding is batch-invariant (the core computes every row independently), so sorting changes
    only the speed, never a result.
    """
    tokenize = entry.model.tokenizer.tokenize
    order = sorted(range(len(inputs)), key=lambda i: len(tokenize(inputs[i])))
    try:
        results = translate(
            entry.model, [inputs[i] for i in order], beam_size=beam, max_len=max_len, batch_size=batch_size
        )
    except SourceError as exc:
        index = order[exc.index]
        where = [*loc, index] if indexed else list(loc)
        raise invalid(f"{'.'.join(str(p) for p in where)}: {exc.reason}", loc=where) from None
    out: list[Any] = [None] * len(inputs)
    for position, result in zip(order, results, strict=True):
        out[position] = result
    return out


@router.post(
    "/{name}/translate",
    summary="Translate a batch; per input: output, score, attention matrix, links, unknown tokens",
    description="`attention` has one row per output token and one column per source token (no padding "
    "columns; each row sums to 1). With `decode: beam` the attention is the chosen hypothesis's. "
    "Bounds (422): ATTENTION_MAX_BATCH inputs, ATTENTION_MAX_INPUT_TOKENS tokens per input (and the "
    "model's own limit), ATTENTION_MAX_BEAM_SIZE, ATTENTION_MAX_OUTPUT_LEN; body size is a 413.",
    response_model=TranslateResponse,
    response_model_exclude_none=True,
)
def translate_route(
    name: ModelName, body: TranslateRequest, state: Runtime, version: VersionQuery = None
) -> Response:
    settings = state.settings
    entry = state.registry.get(name, version)
    limits.check_batch(len(body.inputs), settings)
    beam = limits.beam_width(body.decode, body.beam_size, settings)
    limits.check_max_len(body.max_len, settings)
    limits.check_sources(body.inputs, entry.model, settings, ("body", "inputs"))
    results = run_translate(entry, body.inputs, beam, body.max_len, settings.infer_batch_size)
    # model_construct: the values come from the core with the declared types; validating a
    # thousand attention matrices float by float would cost more than decoding them
    outputs = [
        TranslationOut.model_construct(
            input=r.source,
            source_tokens=r.src_tokens,
            output_tokens=r.tokens,
            output=r.text,
            score=r.score,
            log_prob=r.log_prob,
            finished=r.finished,
            attention=_matrix(r.attention) if body.return_attention else None,
            links=[(int(s), int(t)) for s, t in r.links],
            pharaoh=to_pharaoh(r.links),
            unknown_tokens=r.unknown,
        )
        for r in results
    ]
    return TranslateResponse(
        model=name, version=entry.version, decode=body.decode, beam_size=beam, outputs=outputs
    )


def _gold_links(gold: Any, index: int, n_src: int, n_tgt: int) -> list[tuple[int, int]] | None:
    """Parse pair ``index``'s gold links and check they fall inside its ``n_src`` x ``n_tgt`` tokens."""
    if gold is None:
        return None
    if isinstance(gold, list) and all(isinstance(x, str) for x in gold):
        gold = " ".join(gold)
    try:
        links = from_pharaoh(gold) if isinstance(gold, str) else [(int(s), int(t)) for s, t in gold]
        check_links(links, n_src, n_tgt)
    except ValueError as exc:
        raise invalid(f"gold.{index}: {exc}", loc=["body", "gold", index], type="invalid-links") from None
    return links


def check_targets(
    entry: LoadedSeq2Seq, targets: list[str], settings: Any, loc: tuple[Any, ...] | None = None
) -> None:
    """Every target must be non-blank, in the target vocabulary, and bounded in length.

    Errors name ``["body", "pairs", i, 1]``, or ``loc`` when given (the heatmap's ``target`` parameter).
    """
    model = entry.model
    found: list[tuple[list[Any], str, str]] = []
    unknown_all: list[str] = []
    for i, target in enumerate(targets):
        where = list(loc) if loc is not None else ["body", "pairs", i, 1]
        tokens = model.tokenizer.tokenize(target)
        if not tokens or not target.strip():
            found.append((where, "empty target (blank or no tokens)", "empty-target"))
            continue
        unknown = model.tgt_vocab.unknown(tokens)
        if unknown:
            found.append((where, f"target tokens not in the model's vocabulary: {unknown}", "unknown_tokens"))
            unknown_all += [t for t in unknown if t not in unknown_all]
        if len(tokens) > settings.max_output_len:
            found.append(
                (
                    where,
                    f"target has {len(tokens)} tokens > the limit of {settings.max_output_len}",
                    "too_long",
                )
            )
    if not found:
        return
    if unknown_all:
        raise limits.fail_all(
            found, title="Target cannot be encoded", problem_type="unencodable-target", tokens=unknown_all
        )
    raise limits.fail_all(found)


def _scores(s: Any) -> AlignmentScoresOut:
    return AlignmentScoresOut(precision=s.precision, recall=s.recall, aer=s.aer)


@router.post(
    "/{name}/align",
    summary="Teacher-forced attention and links for given (source, target) pairs; AER against gold links",
    description="A target token outside the model's target vocabulary is a 422 naming the tokens. "
    "With `gold` (Pharaoh strings, one per pair), precision, recall and AER (Och & Ney) per pair and "
    "for the whole request (micro-averaged), and alignment accuracy.",
    response_model=AlignResponse,
    response_model_exclude_none=True,
)
def align_route(
    name: ModelName, body: AlignRequest, state: Runtime, version: VersionQuery = None
) -> Response:
    settings = state.settings
    entry = state.registry.get(name, version)
    limits.check_batch(len(body.pairs), settings, "pairs")
    sources = [p[0] for p in body.pairs]
    limits.check_sources(sources, entry.model, settings, ("body", "pairs"))
    check_targets(entry, [p[1] for p in body.pairs], settings)
    tokenize = entry.model.tokenizer.tokenize
    gold = (
        [
            _gold_links(g, i, len(tokenize(body.pairs[i][0])), len(tokenize(body.pairs[i][1])))
            for i, g in enumerate(body.gold)
        ]
        if body.gold is not None
        else None
    )
    try:
        forced = align(entry.model, [tuple(p) for p in body.pairs], batch_size=settings.infer_batch_size)
    except SourceError as exc:
        raise _source_error(exc, "pairs") from None
    alignments = []
    for i, f in enumerate(forced):
        g = gold[i] if gold is not None else None
        alignments.append(
            AlignmentOut(
                source=f.source,
                target=f.target,
                source_tokens=f.src_tokens,
                target_tokens=f.tgt_tokens,
                attention=_matrix(f.attention),
                links=[list(link) for link in f.links],
                pharaoh=to_pharaoh(f.links),
                log_prob=f.log_prob,
                scores=_scores(alignment_scores(f.links, g)) if g is not None else None,
            )
        )
    corpus = accuracy = None
    if gold is not None and any(g is not None for g in gold):
        idx = [i for i, g in enumerate(gold) if g is not None]
        corpus = _scores(corpus_alignment_scores([forced[i].links for i in idx], [gold[i] for i in idx]))
        accuracy = alignment_accuracy([f.attention for f in forced], gold)
    return json_response(
        AlignResponse(
            model=name,
            version=entry.version,
            alignments=alignments,
            scores=corpus,
            alignment_accuracy=accuracy,
        )
    )


def _heatmap(
    fmt: Literal["png", "svg"],
    name: str,
    input_: str,
    target: str | None,
    decode: Literal["greedy", "beam"],
    beam_size: int,
    state: AttentionRuntime,
    version: int | None,
) -> Response:
    settings = state.settings
    entry = state.registry.get(name, version)
    limits.check_sources([input_], entry.model, settings, ("query", "input"), indexed=False)
    if target is not None:
        check_targets(entry, [target], settings, ("query", "target"))
        f = align(entry.model, [(input_, target)])[0]
        att, src, out = f.attention, f.src_tokens, f.tgt_tokens
        title = f"{name} v{entry.version}, forced: {input_!r} -> {target!r}"
    else:
        beam = limits.beam_width(decode, beam_size, settings, ("query", "beam_size"))
        r = run_translate(entry, [input_], beam, None, 1, ("query", "input"), indexed=False)[0]
        att, src, out = r.attention, r.src_tokens, r.tokens
        title = f"{name} v{entry.version}, {decode}: {input_!r} -> {r.text!r}"
    if not out:
        raise invalid("the output is empty: nothing to draw", loc=["query", "input"], type="empty-output")
    image = attention_heatmap(att, src, out, fmt=fmt, title=title)
    media = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(content=image, media_type=media, headers={"Cache-Control": "no-store"})


_HEATMAP_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "image/svg+xml": {}}, "description": "The heatmap."}
}


@router.get(
    "/{name}/attention.{fmt}",
    summary="Attention heatmap (`attention.png` or `attention.svg`) of a decoded input, or of a given "
    "target (`target=`)",
    response_class=Response,
    responses=_HEATMAP_RESPONSES,
)
def heatmap(
    name: ModelName,
    state: Runtime,
    fmt: Literal["png", "svg"] = PathParam(description="The image format: `png` or `svg`."),
    input: str = Query(  # noqa: A002
        min_length=1, max_length=10_000, description="The source string.", examples=["26 november 2026"]
    ),
    target: str | None = Query(
        None, max_length=10_000, description="Teacher-force this output instead of decoding."
    ),
    decode: Literal["greedy", "beam"] = "greedy",
    beam_size: int | None = Query(
        None, ge=1, le=MAX_BEAM_SIZE, description="With `decode=beam` only (default 4)."
    ),
    version: VersionQuery = None,
) -> Response:
    if beam_size is not None and decode != "beam":
        raise invalid(
            "beam_size is used only with decode=beam; send decode=beam or leave beam_size out",
            loc=["query", "beam_size"],
            type="ignored-option",
        )
    return _heatmap(fmt, name, input, target, decode, beam_size or 4, state, version)


def _split_examples(entry: LoadedSeq2Seq, split: str, state: AttentionRuntime) -> list[Example]:
    source = entry.meta.get("source") or {}
    if "task" in source:
        task = make_task(source["task"]["name"], **source["task"]["kwargs"])
        return task.dev if split == "dev" else task.test
    if split == "dev":
        current = state.store.get(entry.name, entry.version)
        dev_file = Path(current.path) / DEV_FILE if current else None
        if dev_file is not None and dev_file.is_file():
            return read_jsonl(dev_file)
    raise invalid(
        f"model {entry.name!r} has no {split} split (only built-in tasks have a test split); send 'pairs'",
        loc=["body", "split"],
        type="no-such-split",
    )


@router.post(
    "/{name}/evaluate",
    summary="Exact match, token accuracy, BLEU (sacrebleu); AER and alignment accuracy with gold links",
    description="`split` (`dev`, or `test` for models of a built-in task) or `pairs` "
    '(`[source, target]` or `[source, target, "0-0 1-1"]` with gold links).',
    response_model=EvaluateResponse,
    response_model_exclude_none=True,
)
def evaluate_route(
    name: ModelName, body: EvaluateRequest, state: Runtime, version: VersionQuery = None
) -> EvaluateResponse:
    settings = state.settings
    entry = state.registry.get(name, version)
    beam = limits.beam_width(body.decode, body.beam_size, settings)
    if body.pairs is not None:
        try:
            examples = examples_from_pairs([list(p) for p in body.pairs])
        except DataError as exc:
            raise invalid(
                f"pairs.{exc.line - 1}: {exc.reason}", loc=["body", "pairs", exc.line - 1]
            ) from None
        limits.check_batch(len(examples), settings, "pairs")
        limits.check_sources([e.source for e in examples], entry.model, settings, ("body", "pairs"))
        limits.check_example_links(
            examples, entry.model.tokenizer.tokenize, lambda i, why: f"pairs.{i}: {why}"
        )
    else:
        examples = _split_examples(entry, body.split or "dev", state)
    if len(examples) > settings.max_eval_examples:
        raise invalid(f"{len(examples)} examples > the limit of {settings.max_eval_examples}", loc=["body"])
    try:
        m = evaluate(entry.model, examples, beam_size=beam, batch_size=settings.infer_batch_size)
    except SourceError as exc:
        raise _source_error(exc, "pairs") from None
    out = EvaluateResponse(
        model=name,
        version=entry.version,
        n=m["n"],
        decode=body.decode,
        beam_size=beam,
        loss=m["loss"],
        exact_match=m["exact_match"],
        token_accuracy=m["token_accuracy"],
        bleu=m["bleu"],
        alignment_accuracy=m["alignment_accuracy"],
    )
    linked = [e for e in examples if e.links]
    if linked:
        forced = align(
            entry.model, [(e.source, e.target) for e in linked], batch_size=settings.infer_batch_size
        )
        s = corpus_alignment_scores([f.links for f in forced], [list(e.links or ()) for e in linked])
        out.aer, out.precision, out.recall = s.aer, s.precision, s.recall
    return out
