"""Decoding batches: how ``translate``, ``align`` and the heatmap reach the model.

A request's inputs come here through the process's micro-batcher
(:class:`service.kit.batching.Batching`): concurrent requests to one model version are answered by
one call of an answer function below. Each request's inputs are tokenized and checked once, by the
core (:func:`models.seq2seq.inference.prepare_sources`, bounded by the settings); a request the core
refuses fails alone, its errors named at its own fields. The others are decoded together, one core
call per set of alike options (beam width, ``max_len``, beam options), which sorts every input by
length and pads them in batches of ``ATTENTION_INFER_BATCH_SIZE``. Decoding is batch-invariant, so
each request gets the answer it would have had alone.

Each request's answer is counted before it is decoded (the output budget,
:func:`service.kit.budget.check_answer`): every hypothesis the search keeps (the beam's, or the n
best) may hold ``max_len`` tokens, each with a row of attention over its source's tokens; a pair's
teacher-forced attention is its target's tokens (and EOS) times its source's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.seq2seq.inference import (
    ForcedAlignment,
    InvalidInputs,
    Source,
    Translation,
    align,
    prepare_sources,
    prepare_targets,
    translate,
)
from service.attention.errors import input_error
from service.attention.runtime import AttentionRuntime, LoadedSeq2Seq
from service.kit.batching import Outcome, attempt, group_by, split
from service.kit.budget import check_answer


@dataclass(frozen=True)
class Decoding:
    """One request's inputs to decode, and how: greedy when ``beam`` is 1 with no beam option.

    ``loc`` names the inputs in errors: ``[*loc, i]``, or ``loc`` itself when not ``indexed`` (the
    heatmap's single ``input`` parameter).
    """

    inputs: list[str]
    beam: int = 1
    max_len: int | None = None
    n_best: int = 1
    length_penalty: float | None = None
    coverage_penalty: float = 0.0
    loc: tuple[str | int, ...] = ("body", "inputs")
    indexed: bool = True

    @property
    def options(self) -> tuple[int, int | None, int, float | None, float]:
        """What must be alike for requests to be decoded by one core call."""
        return self.beam, self.max_len, self.n_best, self.length_penalty, self.coverage_penalty


@dataclass(frozen=True)
class Forcing:
    """One request's ``(source, target)`` pairs to teacher-force.

    Errors name a source ``[*loc, i]`` and a target ``[*target_loc, i, 1]`` (``target_loc``
    defaults to ``loc``), or the locs themselves when not ``indexed`` (the heatmap's parameters).
    """

    pairs: list[tuple[str, str]]
    loc: tuple[str | int, ...] = ("body", "pairs")
    target_loc: tuple[str | int, ...] | None = None
    indexed: bool = True


def inputs_of(query: Decoding | Forcing) -> int:
    """The rows a request brings to a batch: its inputs or pairs."""
    return len(query.inputs) if isinstance(query, Decoding) else len(query.pairs)


def estimated_cost(query: Decoding | Forcing, max_output_len: int) -> int:
    """An upper bound of the values a request's answer holds, before its model and tokens are known
    (a token is at least one character; ``max_output_len``: the longest decode): the micro-batcher's
    bound on a batch."""
    if isinstance(query, Decoding):
        length = query.max_len or max_output_len
        return max(query.beam, query.n_best) * length * sum(len(text) + 1 for text in query.inputs)
    return sum((len(target) + 2) * (len(source) + 1) for source, target in query.pairs)


def decoding_cost(model: LoadedSeq2Seq, query: Decoding, sources: list[Source]) -> tuple[int, str]:
    """The values a decode's answer may hold, and how they were counted."""
    length = query.max_len or model.model.config.max_tgt_len
    kept = max(query.beam, query.n_best)
    values = kept * length * sum(len(s.tokens) + 1 for s in sources)
    return values, f"{len(sources)} inputs x {kept} hypotheses x {length} tokens x their source tokens"


def answer_translate(
    runtime: AttentionRuntime, model: LoadedSeq2Seq, queries: list[Decoding]
) -> list[Outcome]:
    """Each request's ``(translations, model)`` (one :class:`~models.seq2seq.inference.Translation` per
    input, in order; the model version that decoded them), or the error its inputs are."""
    outcomes: list[Outcome] = [None] * len(queries)
    prepared: dict[int, list[Source]] = {}
    for i, q in enumerate(queries):
        try:
            sources = prepare_sources(model.model, q.inputs, runtime.settings.max_input_tokens)
        except InvalidInputs as exc:
            outcomes[i] = input_error(exc, q.loc, indexed=q.indexed)
            continue
        values, counted = decoding_cost(model, q, sources)
        outcomes[i] = attempt(check_answer, values, runtime.settings, counted)
        if outcomes[i] is None:
            prepared[i] = sources
    ready = list(prepared)
    for options, positions in group_by(ready, lambda i: queries[i].options).items():
        beam, max_len, n_best, length_penalty, coverage_penalty = options
        members = [ready[p] for p in positions]
        results: list[Translation] = translate(
            model.model,
            [source for i in members for source in prepared[i]],
            beam,
            max_len,
            runtime.settings.infer_batch_size,
            n_best=n_best,
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty,
        )
        for i, mine in zip(members, split(results, [len(prepared[i]) for i in members]), strict=True):
            outcomes[i] = (mine, model)
    return outcomes


def answer_align(runtime: AttentionRuntime, model: LoadedSeq2Seq, queries: list[Forcing]) -> list[Outcome]:
    """Each request's ``(alignments, model)`` (one :class:`~models.seq2seq.inference.ForcedAlignment`
    per pair, in order; the model version that aligned them), or the error its pairs are: sources
    first (empty, too long), then targets (empty, too long, outside the vocabulary)."""
    outcomes: list[Outcome] = [None] * len(queries)
    prepared: dict[int, list[tuple[Source, list[str]]]] = {}
    settings = runtime.settings
    for i, q in enumerate(queries):
        try:
            sources = prepare_sources(model.model, [s for s, _ in q.pairs], settings.max_input_tokens)
            targets = prepare_targets(model.model, [t for _, t in q.pairs], settings.max_output_len)
        except InvalidInputs as exc:
            loc = q.target_loc or q.loc if exc.side == "target" else q.loc
            outcomes[i] = input_error(exc, loc, indexed=q.indexed)
            continue
        values = sum((len(t) + 1) * len(s.tokens) for s, t in zip(sources, targets, strict=True))
        outcomes[i] = attempt(check_answer, values, runtime.settings, f"{len(sources)} attention matrices")
        if outcomes[i] is None:
            prepared[i] = list(zip(sources, targets, strict=True))
    members = list(prepared)
    if members:
        pairs: list[tuple[Any, Any]] = [pair for i in members for pair in prepared[i]]
        forced: list[ForcedAlignment] = align(model.model, pairs, batch_size=settings.infer_batch_size)
        for i, mine in zip(members, split(forced, [len(prepared[i]) for i in members]), strict=True):
            outcomes[i] = (mine, model)
    return outcomes
