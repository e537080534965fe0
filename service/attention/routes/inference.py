"""Queries of a served model: translate, align, attention heatmaps, evaluate.

``translate``, ``align`` and the heatmap reach the model through the process's micro-batcher
(:mod:`service.attention.decoding`): concurrent requests to one model are decoded together in the
batcher's worker thread, and each gets the answer it would have had alone. Their answers are shaped
in the threadpool (a thousand attention matrices are no work for the event loop); ``evaluate`` is a
plain ``def`` route (the threadpool). Torch work never runs on the event loop.
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from models.seq2seq import evaluation as core_evaluation
from models.seq2seq import inference as core_inference
from models.seq2seq.alignment import (
    alignment_accuracy,
    alignment_scores,
    check_links,
    corpus_alignment_scores,
    from_pharaoh,
    to_pharaoh,
)
from models.seq2seq.data import DataError, Example, examples_from_pairs, read_jsonl
from models.seq2seq.heatmap import attention_heatmap
from models.seq2seq.inference import ForcedAlignment, InvalidInputs, Translation
from models.seq2seq.limits import MAX_BEAM_SIZE
from models.seq2seq.tasks import make_task
from service.attention import limits
from service.attention.checkpoints import DEV_FILE
from service.attention.decoding import (
    Decoding,
    Forcing,
    answer_align,
    answer_translate,
    estimated_cost,
    inputs_of,
)
from service.attention.errors import input_error, pair_error
from service.attention.runtime import AttentionRuntime, LoadedSeq2Seq, Runtime
from service.attention.schemas import DEFAULT_BEAM_SIZE
from service.attention.schemas.inference import (
    AlignmentOut,
    AlignmentScoresOut,
    AlignRequest,
    AlignResponse,
    EvaluateRequest,
    EvaluateResponse,
    HypothesisOut,
    TranslateRequest,
    TranslateResponse,
    TranslationOut,
)
from service.attention.training import check_example_links
from service.kit.auth import require_query_token
from service.kit.errors import InvalidInputError
from service.kit.models_routes import VersionQuery
from service.kit.names import ModelName
from service.kit.responses import json_response

router = APIRouter(prefix="/v1/models", tags=["inference"], dependencies=[Depends(require_query_token)])


@router.post(
    "/{name}/translate",
    summary="Translate a batch; per input: output, score, attention matrix, links, unknown tokens",
    description="`attention` has one row per output token and one column per source token (no padding "
    "columns; each row sums to 1). With `decode: beam` the attention is the chosen hypothesis's. "
    "Bounds (422): ATTENTION_MAX_BATCH inputs, ATTENTION_MAX_INPUT_TOKENS tokens per input (and the "
    "model's own limit), ATTENTION_MAX_BEAM_SIZE, ATTENTION_MAX_OUTPUT_LEN; body size is a 413. "
    "Concurrent requests are decoded together (ATTENTION_BATCH_WAIT_MS, ATTENTION_MAX_BATCH_SIZE); "
    "each gets the answer it would have had alone.",
    response_model=TranslateResponse,
    response_model_exclude_none=True,
)
async def translate(
    name: ModelName, body: TranslateRequest, runtime: Runtime, request: Request, version: VersionQuery = None
) -> Response:
    settings = runtime.settings
    limits.check_batch(len(body.inputs), settings)
    limits.check_max_len(body.max_len, settings)
    beam = limits.beam_width(body.decode, body.beam_size, settings)
    query = Decoding(body.inputs, beam, body.max_len, body.n_best, body.length_penalty, body.coverage_penalty)
    batching = runtime.batching
    cost = partial(estimated_cost, max_output_len=settings.max_output_len)
    results, model = await batching.answer(
        answer_translate, name, version, query, request=request, rows=inputs_of, cost=cost
    )
    return await run_in_threadpool(_translation_response, name, model.version, body, beam, results)


@router.post(
    "/{name}/align",
    summary="Teacher-forced attention and links for given (source, target) pairs; AER against gold links",
    description="A target token outside the model's target vocabulary is a 422 naming the tokens. "
    "With `gold` (Pharaoh strings, one per pair), precision, recall and AER (Och & Ney) per pair and "
    "for the whole request (micro-averaged), and alignment accuracy. Concurrent requests are "
    "teacher-forced together (ATTENTION_BATCH_WAIT_MS, ATTENTION_MAX_BATCH_SIZE).",
    response_model=AlignResponse,
    response_model_exclude_none=True,
)
async def align(
    name: ModelName, body: AlignRequest, runtime: Runtime, request: Request, version: VersionQuery = None
) -> Response:
    limits.check_batch(len(body.pairs), runtime.settings, "pairs")
    query = Forcing([(s, t) for s, t in body.pairs])
    batching = runtime.batching
    cost = partial(estimated_cost, max_output_len=runtime.settings.max_output_len)
    forced, model = await batching.answer(
        answer_align, name, version, query, request=request, rows=inputs_of, cost=cost
    )
    return await run_in_threadpool(_alignment_response, name, model.version, forced, body.gold)


@router.get(
    "/{name}/attention.{fmt}",
    summary="Attention heatmap (`attention.png` or `attention.svg`) of a decoded input, or of a given "
    "target (`target=`)",
    response_class=Response,
    responses={
        200: {
            "description": "The heatmap: `image/png` for `attention.png`, `image/svg+xml` for `attention.svg`.",
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/svg+xml": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def heatmap(
    name: ModelName,
    runtime: Runtime,
    request: Request,
    fmt: Literal["png", "svg"] = PathParam(description="The image format: `png` or `svg`."),
    input: str = Query(  # noqa: A002
        min_length=1, max_length=10_000, description="The source string.", examples=["26 november 2026"]
    ),
    target: str | None = Query(
        None, max_length=10_000, description="Teacher-force this output instead of decoding."
    ),
    decode: Literal["greedy", "beam"] = "greedy",
    beam_size: int | None = Query(
        None, ge=1, le=MAX_BEAM_SIZE, description=f"With `decode=beam` only (default {DEFAULT_BEAM_SIZE})."
    ),
    version: VersionQuery = None,
) -> Response:
    if beam_size is not None and decode != "beam":
        raise InvalidInputError(
            "beam_size is used only with decode=beam; send decode=beam or leave beam_size out",
            loc=["query", "beam_size"],
            code="ignored-option",
        )
    batching = runtime.batching
    if target is not None:
        query = Forcing([(input, target)], ("query", "input"), ("query", "target"), indexed=False)
        [f], model = await batching.answer(
            answer_align, name, version, query, request=request, rows=inputs_of
        )
        att, src, out = f.attention, f.src_tokens, f.tgt_tokens
        title = f"{name} v{model.version}, forced: {input!r} -> {target!r}"
    else:
        beam = limits.beam_width(
            decode, beam_size or DEFAULT_BEAM_SIZE, runtime.settings, ("query", "beam_size")
        )
        query = Decoding([input], beam, loc=("query", "input"), indexed=False)
        [r], model = await batching.answer(
            answer_translate, name, version, query, request=request, rows=inputs_of
        )
        att, src, out = r.attention, r.src_tokens, r.tokens
        title = f"{name} v{model.version}, {decode}: {input!r} -> {r.text!r}"
    if not out:
        raise InvalidInputError(
            "the output is empty: nothing to draw", loc=["query", "input"], code="empty-output"
        )
    _check_heatmap_size(len(src), len(out), runtime.settings.max_heatmap_tokens)
    image = await run_in_threadpool(_render, att, src, out, fmt, title)
    media = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(content=image, media_type=media, headers={"Cache-Control": "no-store"})


@router.post(
    "/{name}/evaluate",
    summary="Exact match, token accuracy, BLEU (sacrebleu), token/sequence error rates; AER and alignment "
    "accuracy with gold links",
    description="`split` (`dev`, or `test` for models of a built-in task) or `pairs` "
    '(`[source, target]` or `[source, target, "0-0 1-1"]` with gold links).',
    response_model=EvaluateResponse,
    response_model_exclude_none=True,
)
def evaluate(
    name: ModelName, body: EvaluateRequest, runtime: Runtime, version: VersionQuery = None
) -> EvaluateResponse:
    settings = runtime.settings
    model = runtime.registry.get(name, version)
    beam = limits.beam_width(body.decode, body.beam_size, settings)
    examples = _examples(model, body, runtime)
    if len(examples) > settings.max_eval_examples:
        raise InvalidInputError(
            f"{len(examples)} examples > the limit of {settings.max_eval_examples}", loc=["body"]
        )
    try:
        m = core_evaluation.evaluate(
            model.model, examples, beam_size=beam, batch_size=settings.infer_batch_size,
            max_src_tokens=settings.max_input_tokens,
        )  # fmt: skip
    except InvalidInputs as exc:
        raise input_error(exc, ("body", "pairs")) from None
    out = EvaluateResponse(model=name, version=model.version, decode=body.decode, beam_size=beam, **m)
    linked = [e for e in examples if e.links]
    if linked:
        forced = core_inference.align(
            model.model, [(e.source, e.target) for e in linked], batch_size=settings.infer_batch_size
        )
        s = corpus_alignment_scores([f.links for f in forced], [list(e.links or ()) for e in linked])
        out.aer, out.precision, out.recall = s.aer, s.precision, s.recall
    return out


# --------------------------------------------------------------------------- shaping the answers

#: One heatmap drawn at a time per process (a render holds its whole image in memory).
_RENDERING = threading.Lock()


def _render(att: np.ndarray, src: list[str], out: list[str], fmt: str, title: str) -> bytes:
    with _RENDERING:
        return attention_heatmap(att, src, out, fmt=fmt, title=title)


def _check_heatmap_size(n_src: int, n_out: int, limit: int) -> None:
    """422 ``heatmap-too-large`` when a side has more tokens than ``ATTENTION_MAX_HEATMAP_TOKENS``."""
    if max(n_src, n_out) > limit:
        raise InvalidInputError(
            f"a heatmap of {n_src} source x {n_out} output tokens is over the limit of {limit} tokens a "
            "side (ATTENTION_MAX_HEATMAP_TOKENS); use /translate or /align for the attention values",
            loc=["query", "input"],
            code="heatmap-too-large",
            title="Heatmap too large",
        )


def _matrix(att: np.ndarray) -> list[list[float]]:
    return np.asarray(att, dtype=np.float64).tolist()


def _hypothesis_out(h: Translation, with_attention: bool) -> HypothesisOut:
    return HypothesisOut.model_construct(
        output_tokens=h.tokens,
        output=h.text,
        score=h.score,
        log_prob=h.log_prob,
        finished=h.finished,
        attention=_matrix(h.attention) if with_attention else None,
        links=[(int(s), int(t)) for s, t in h.links],
        pharaoh=to_pharaoh(h.links),
    )


def _translation_response(
    name: str, version: int, body: TranslateRequest, beam: int, results: list[Translation]
) -> Response:
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
            hypotheses=[_hypothesis_out(h, body.return_attention) for h in r.hypotheses]
            if r.hypotheses
            else None,
        )
        for r in results
    ]
    response = TranslateResponse.model_construct(
        model=name, version=version, decode=body.decode, beam_size=beam, outputs=outputs
    )
    return json_response(response, exclude_none=True)


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
        raise InvalidInputError(
            f"gold.{index}: {exc}", loc=["body", "gold", index], code="invalid-links"
        ) from None
    return links


def _scores(s: Any) -> AlignmentScoresOut:
    return AlignmentScoresOut(precision=s.precision, recall=s.recall, aer=s.aer)


def _alignment_response(
    name: str, version: int, forced: list[ForcedAlignment], gold_in: list[Any] | None
) -> Response:
    gold = None
    if gold_in is not None:
        gold = [
            _gold_links(g, i, len(f.src_tokens), len(f.tgt_tokens))
            for i, (g, f) in enumerate(zip(gold_in, forced, strict=True))
        ]
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
    response = AlignResponse(
        model=name, version=version, alignments=alignments, scores=corpus, alignment_accuracy=accuracy
    )
    return json_response(response, exclude_none=True)


def _examples(model: LoadedSeq2Seq, body: EvaluateRequest, runtime: AttentionRuntime) -> list[Example]:
    """What ``evaluate`` scores: the inline pairs (checked: count, gold links inside their tokens), or
    the model's ``dev`` / ``test`` split."""
    if body.pairs is not None:
        try:
            examples = examples_from_pairs([list(p) for p in body.pairs])
        except DataError as exc:
            raise pair_error(exc) from None
        limits.check_batch(len(examples), runtime.settings, "pairs")
        check_example_links(
            examples,
            model.model.src_tokenizer.tokenize,
            lambda i, why: f"pairs.{i}: {why}",
            model.model.tgt_tokenizer.tokenize,
        )
        return examples
    split = body.split or "dev"
    source = model.meta.get("source") or {}
    if "task" in source:
        task = make_task(source["task"]["name"], **source["task"]["kwargs"])
        return task.dev if split == "dev" else task.test
    if split == "dev":
        current = runtime.store.get(model.name, model.version)
        dev_file = Path(current.path) / DEV_FILE if current else None
        if dev_file is not None and dev_file.is_file():
            return read_jsonl(dev_file)
    raise InvalidInputError(
        f"model {model.name!r} has no {split} split (only built-in tasks have a test split); send 'pairs'",
        loc=["body", "split"],
        code="no-such-split",
    )
