"""Queries of a served model: translate, align, attention heatmaps, evaluate.

``translate``, ``align`` and the heatmap's decoding go through the runtime's micro-batcher: concurrent
requests to one model are decoded as one padded batch in the batcher's worker thread (decoding is
batch-invariant, so each gets the answer it would have had alone); their checks and the shaping of
each answer run in that thread too. ``evaluate`` is a plain ``def`` (the threadpool). Torch work
never runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

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
    HypothesisOut,
    TranslateRequest,
    TranslateResponse,
    TranslationOut,
)
from service.attention.worker import DEV_FILE
from service.kit.auth import require_query_token
from service.kit.batching import attempt, group_by, split
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
    options: tuple[int, float | None, float] = (1, None, 0.0),
) -> list[Any]:
    """Decode ``inputs`` in length-sorted padded batches (less padding, earlier stops), answered in input order.

    ``options``: ``(n_best, length_penalty, coverage_penalty)`` of the beam search.

    Decoding is batch-invariant (the core computes every row independently), so sorting changes
    only the speed, never a result.
    """
    tokenize = entry.model.src_tokenizer.tokenize
    order = sorted(range(len(inputs)), key=lambda i: len(tokenize(inputs[i])))
    try:
        n_best, length_penalty, coverage_penalty = options
        results = translate(
            entry.model,
            [inputs[i] for i in order],
            beam_size=beam,
            max_len=max_len,
            batch_size=batch_size,
            n_best=n_best,
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty,
        )
    except SourceError as exc:
        index = order[exc.index]
        where = [*loc, index] if indexed else list(loc)
        raise invalid(f"{'.'.join(str(p) for p in where)}: {exc.reason}", loc=where) from None
    out: list[Any] = [None] * len(inputs)
    for position, result in zip(order, results, strict=True):
        out[position] = result
    return out


@dataclass(frozen=True)
class DecodeItem:
    """One request's share of a decoding batch.

    ``check(entry)`` validates the request against the model (raising its problem), ``respond(entry,
    results)`` shapes the answer from the core's results (one per input); both run in the batch's
    worker thread. Items of one model, version, beam width, ``max_len`` and beam ``options``
    (``(n_best, length_penalty, coverage_penalty)``) decode as one batch.
    """

    name: str
    version: int | None
    inputs: list[str]
    beam: int
    max_len: int | None
    check: Callable[[LoadedSeq2Seq], None]
    respond: Callable[[LoadedSeq2Seq, list[Any]], Any]
    loc: tuple[str, ...] = ("body", "inputs")
    indexed: bool = True
    options: tuple[int, float | None, float] = (1, None, 0.0)


def decode_items(state: AttentionRuntime, items: list[DecodeItem]) -> list[Any]:
    """The batch function of the ``translate`` batcher: one outcome (answer or problem) per item.

    Decoding is batch-invariant, so an input decoded beside others' inputs gets the answer it
    would have had alone.
    """
    outcomes: list[Any] = [None] * len(items)
    for entry, group in state.models_of(items, lambda it: (it.name, it.version), outcomes):
        ready = []
        for i in group:
            problem = attempt(items[i].check, entry)
            if problem is None:
                ready.append(i)
            else:
                outcomes[i] = problem
        for sub in group_by([items[i] for i in ready], lambda it: (it.beam, it.max_len, it.options)).values():
            members = [items[ready[j]] for j in sub]
            first = members[0]
            inputs = [text for it in members for text in it.inputs]
            results = run_translate(
                entry, inputs, first.beam, first.max_len, state.settings.infer_batch_size,
                first.loc, first.indexed, first.options,
            )  # fmt: skip
            shares = split(results, [len(it.inputs) for it in members])
            for j, it, mine in zip(sub, members, shares, strict=True):
                outcomes[ready[j]] = attempt(it.respond, entry, mine)
    return outcomes


async def decode(state: AttentionRuntime, request: Request, item: DecodeItem) -> Any:
    """Decode ``item`` through the micro-batcher (or alone when batching is off)."""
    run = partial(decode_items, state)
    return await state.run_batched("translate", run, item, request=request, rows=_inputs)


def _inputs(item: Any) -> int:
    return len(item.inputs if isinstance(item, DecodeItem) else item.pairs)


def _hypothesis_out(h: Any, with_attention: bool) -> HypothesisOut:
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
    name: str, body: TranslateRequest, beam: int, entry: LoadedSeq2Seq, results: list[Any]
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
    return json_response(
        TranslateResponse.model_construct(
            model=name, version=entry.version, decode=body.decode, beam_size=beam, outputs=outputs
        )
    )


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
async def translate_route(
    name: ModelName, body: TranslateRequest, state: Runtime, request: Request, version: VersionQuery = None
) -> Response:
    settings = state.settings

    def check(entry: LoadedSeq2Seq) -> None:
        limits.check_batch(len(body.inputs), settings)
        limits.beam_width(body.decode, body.beam_size, settings)
        limits.check_max_len(body.max_len, settings)
        limits.check_sources(body.inputs, entry.model, settings, ("body", "inputs"))

    beam = 1 if body.decode == "greedy" else body.beam_size
    respond = partial(_translation_response, name, body, beam)
    options = (body.n_best, body.length_penalty, body.coverage_penalty)
    item = DecodeItem(name, version, body.inputs, beam, body.max_len, check, respond, options=options)
    return await decode(state, request, item)


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
        tokens = model.tgt_tokenizer.tokenize(target)
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


@dataclass(frozen=True)
class AlignItem:
    """One request's share of a teacher-forcing batch (see :class:`DecodeItem`).

    ``check(entry)`` validates and returns what ``respond(entry, forced, checked)`` needs (the
    parsed gold links, say).
    """

    name: str
    version: int | None
    pairs: list[tuple[str, str]]
    check: Callable[[LoadedSeq2Seq], Any]
    respond: Callable[[LoadedSeq2Seq, list[Any], Any], Any]


def align_items(state: AttentionRuntime, items: list[AlignItem]) -> list[Any]:
    """The batch function of the ``align`` batcher: one outcome (answer or problem) per item."""
    outcomes: list[Any] = [None] * len(items)
    for entry, group in state.models_of(items, lambda it: (it.name, it.version), outcomes):
        ready: list[tuple[int, Any]] = []
        for i in group:
            checked = attempt(items[i].check, entry)
            if isinstance(checked, Exception):
                outcomes[i] = checked
            else:
                ready.append((i, checked))
        if not ready:
            continue
        pairs = [pair for i, _ in ready for pair in items[i].pairs]
        try:
            forced = align(entry.model, pairs, batch_size=state.settings.infer_batch_size)
        except SourceError as exc:
            if len(ready) > 1:
                raise  # the batcher runs each item alone, so the error names its own pair
            raise _source_error(exc, "pairs") from None
        shares = split(forced, [len(items[i].pairs) for i, _ in ready])
        for (i, checked), mine in zip(ready, shares, strict=True):
            outcomes[i] = attempt(items[i].respond, entry, mine, checked)
    return outcomes


async def teacher_force(state: AttentionRuntime, request: Request, item: AlignItem) -> Any:
    """Align ``item`` through the micro-batcher (or alone when batching is off)."""
    run = partial(align_items, state)
    return await state.run_batched("align", run, item, request=request, rows=_inputs)


def _alignment_response(
    name: str, entry: LoadedSeq2Seq, forced: list[Any], gold: list[Any] | None
) -> Response:
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
async def align_route(
    name: ModelName, body: AlignRequest, state: Runtime, request: Request, version: VersionQuery = None
) -> Response:
    settings = state.settings

    def check(entry: LoadedSeq2Seq) -> list[Any] | None:
        limits.check_batch(len(body.pairs), settings, "pairs")
        sources = [p[0] for p in body.pairs]
        limits.check_sources(sources, entry.model, settings, ("body", "pairs"))
        check_targets(entry, [p[1] for p in body.pairs], settings)
        if body.gold is None:
            return None
        src_tok, tgt_tok = entry.model.src_tokenizer.tokenize, entry.model.tgt_tokenizer.tokenize
        return [
            _gold_links(g, i, len(src_tok(body.pairs[i][0])), len(tgt_tok(body.pairs[i][1])))
            for i, g in enumerate(body.gold)
        ]

    def respond(entry: LoadedSeq2Seq, forced: list[Any], gold: list[Any] | None) -> Response:
        return _alignment_response(name, entry, forced, gold)

    item = AlignItem(name, version, [(p[0], p[1]) for p in body.pairs], check, respond)
    return await teacher_force(state, request, item)


async def _heatmap(
    fmt: Literal["png", "svg"],
    name: str,
    input_: str,
    target: str | None,
    decode_mode: Literal["greedy", "beam"],
    beam_size: int,
    state: AttentionRuntime,
    request: Request,
    version: int | None,
) -> Response:
    settings = state.settings

    def check_source(entry: LoadedSeq2Seq) -> None:
        limits.check_sources([input_], entry.model, settings, ("query", "input"), indexed=False)

    if target is not None:

        def check_pair(entry: LoadedSeq2Seq) -> None:
            check_source(entry)
            check_targets(entry, [target], settings, ("query", "target"))

        def forced(entry: LoadedSeq2Seq, results: list[Any], _checked: Any) -> tuple[LoadedSeq2Seq, Any]:
            return entry, results[0]

        entry, f = await teacher_force(
            state, request, AlignItem(name, version, [(input_, target)], check_pair, forced)
        )
        att, src, out = f.attention, f.src_tokens, f.tgt_tokens
        title = f"{name} v{entry.version}, forced: {input_!r} -> {target!r}"
    else:
        beam = 1 if decode_mode == "greedy" else beam_size

        def check(entry: LoadedSeq2Seq) -> None:
            check_source(entry)
            limits.beam_width(decode_mode, beam_size, settings, ("query", "beam_size"))

        def decoded(entry: LoadedSeq2Seq, results: list[Any]) -> tuple[LoadedSeq2Seq, Any]:
            return entry, results[0]

        item = DecodeItem(name, version, [input_], beam, None, check, decoded, ("query", "input"), False)
        entry, r = await decode(state, request, item)
        att, src, out = r.attention, r.src_tokens, r.tokens
        title = f"{name} v{entry.version}, {decode_mode}: {input_!r} -> {r.text!r}"
    if not out:
        raise invalid("the output is empty: nothing to draw", loc=["query", "input"], type="empty-output")
    image = await run_in_threadpool(attention_heatmap, att, src, out, fmt=fmt, title=title)
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
async def heatmap(
    name: ModelName,
    state: Runtime,
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
    return await _heatmap(fmt, name, input, target, decode, beam_size or 4, state, request, version)


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
    summary="Exact match, token accuracy, BLEU (sacrebleu), token/sequence error rates; AER and alignment "
    "accuracy with gold links",
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
            examples,
            entry.model.src_tokenizer.tokenize,
            lambda i, why: f"pairs.{i}: {why}",
            entry.model.tgt_tokenizer.tokenize,
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
        token_error_rate=m["token_error_rate"],
        sequence_error_rate=m["sequence_error_rate"],
        alignment_accuracy=m["alignment_accuracy"],
        alignment_error_rate=m["alignment_error_rate"],
    )
    linked = [e for e in examples if e.links]
    if linked:
        forced = align(
            entry.model, [(e.source, e.target) for e in linked], batch_size=settings.infer_batch_size
        )
        s = corpus_alignment_scores([f.links for f in forced], [list(e.links or ()) for e in linked])
        out.aer, out.precision, out.recall = s.aer, s.precision, s.recall
    return out
