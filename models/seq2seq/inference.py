"""Inference on strings: translate a batch (greedy/beam) and teacher-forced alignment of given pairs.

Every input is tokenized once, by :func:`prepare_sources` (and :func:`prepare_targets`), which checks
it against the model and the caller's bounds and reports every bad input at once
(:class:`InvalidInputs`); :func:`translate` and :func:`align` take strings or prepared inputs, sort
them by length (less padding, earlier stops) and answer in input order. Decoding is batch-invariant:
the sort and the batch size change only the speed, never a result.

>>> from models.seq2seq.model import Seq2SeqConfig
>>> from models.vocab import Vocabulary
>>> model = Seq2Seq(Seq2SeqConfig(emb_dim=4, hidden=6), Vocabulary(list("abc")), Vocabulary(list("xyz")))
>>> [out] = translate(model.eval(), ["abc"], max_len=3)
>>> out.src_tokens, out.attention.shape == (len(out.tokens), 3)
(['a', 'b', 'c'], True)
>>> prepare_sources(model, ["ab", " ", "abcabc"], max_tokens=4)
Traceback (most recent call last):
...
models.seq2seq.inference.InvalidInputs: source 1: empty input (blank or no tokens); source 2: 6 tokens > the limit of 4
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .alignment import Link, hard_links
from .data import pad_ids
from .devices import model_device
from .model import Seq2Seq
from .search import Hypothesis, search


@dataclass(frozen=True)
class InputProblem:
    """Why the input at ``index`` (0-based, in the call's order) cannot be used: ``message`` for a
    person, ``kind`` for a program (``empty_input``, ``input_too_long``, ``empty-target``,
    ``unknown_tokens``, ``too_long``)."""

    index: int
    message: str
    kind: str


class InvalidInputs(ValueError):
    """Some inputs of a call cannot be encoded: ``problems`` lists every one, in input order.

    ``side`` is ``"source"`` or ``"target"``; ``unknown`` lists the target tokens outside the model's
    target vocabulary (unique, in order of appearance).
    """

    def __init__(
        self, problems: list[InputProblem], side: str = "source", unknown: Sequence[str] = ()
    ) -> None:
        super().__init__("; ".join(f"{side} {p.index}: {p.message}" for p in problems))
        self.problems = problems
        self.side = side
        self.unknown = list(unknown)


@dataclass(frozen=True)
class Source:
    """A source string with its tokens, checked against the model (:func:`prepare_sources`)."""

    text: str
    tokens: list[str]


def prepare_sources(model: Seq2Seq, texts: Sequence[str], max_tokens: int | None = None) -> list[Source]:
    """Tokenize and check ``texts``: each must be non-blank with at most ``max_tokens`` tokens (and at
    most the model's ``max_src_len``). Returns one :class:`Source` each; raises :class:`InvalidInputs`
    naming every bad one."""
    limit = min(max_tokens or model.config.max_src_len, model.config.max_src_len)
    out: list[Source] = []
    problems: list[InputProblem] = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            problems.append(InputProblem(i, "not a string", "string_type"))
            continue
        tokens = model.src_tokenizer.tokenize(text)
        if not tokens or not text.strip():
            problems.append(InputProblem(i, "empty input (blank or no tokens)", "empty_input"))
        elif len(tokens) > limit:
            problems.append(InputProblem(i, f"{len(tokens)} tokens > the limit of {limit}", "input_too_long"))
        out.append(Source(text, tokens))
    if problems:
        raise InvalidInputs(problems)
    return out


def prepare_targets(model: Seq2Seq, texts: Sequence[str], max_tokens: int | None = None) -> list[list[str]]:
    """Tokenize and check target ``texts`` for teacher forcing: each must be non-blank, in the target
    vocabulary and at most ``max_tokens`` tokens long. Returns the tokens of each; raises
    :class:`InvalidInputs` (``side="target"``, ``unknown`` naming the unknown tokens) naming every bad
    one."""
    out: list[list[str]] = []
    problems: list[InputProblem] = []
    unknown_all: list[str] = []
    for i, text in enumerate(texts):
        tokens = model.tgt_tokenizer.tokenize(text)
        out.append(tokens)
        if not tokens or not text.strip():
            problems.append(InputProblem(i, "empty target (blank or no tokens)", "empty-target"))
            continue
        unknown = model.tgt_vocab.unknown(tokens)
        if unknown:
            problems.append(
                InputProblem(i, f"target tokens not in the model's vocabulary: {unknown}", "unknown_tokens")
            )
            unknown_all += [t for t in unknown if t not in unknown_all]
        if max_tokens is not None and len(tokens) > max_tokens:
            problems.append(
                InputProblem(i, f"target has {len(tokens)} tokens > the limit of {max_tokens}", "too_long")
            )
    if problems:
        raise InvalidInputs(problems, "target", unknown_all)
    return out


def _sources(model: Seq2Seq, sources: Sequence[str | Source], max_tokens: int | None) -> list[Source]:
    """``sources`` as :class:`Source`: strings are prepared (and checked) here, once."""
    if all(isinstance(s, Source) for s in sources):
        return list(sources)  # type: ignore[arg-type]
    texts = [s.text if isinstance(s, Source) else s for s in sources]
    return prepare_sources(model, texts, max_tokens)


def _by_length(sources: Sequence[Source]) -> list[int]:
    """Positions of ``sources``, shortest first (stable)."""
    return sorted(range(len(sources)), key=lambda i: len(sources[i].tokens))


@dataclass
class Translation:
    """One decoded input.

    attention: (len(tokens), len(src_tokens)), one row per output token (EOS excluded), rows sum to 1.
    links: hard links ``(src_idx, tgt_idx)`` = argmax of each attention row.
    score / log_prob: see :class:`~models.seq2seq.search.Hypothesis`.
    unknown: source tokens not in the source vocabulary (encoded as ``<unk>``).
    hypotheses: beam search with ``n_best > 1``: the n best translations of this input, best first
        (the first is this one's output), each with its own attention, links and scores; else None.
    """

    source: str
    src_tokens: list[str]
    tokens: list[str]
    text: str
    ids: list[int]
    score: float
    log_prob: float
    attention: np.ndarray
    links: list[Link]
    finished: bool
    unknown: list[str]
    hypotheses: list[Translation] | None = None


@dataclass
class ForcedAlignment:
    """Teacher-forced attention of a given (source, target) pair.

    attention: (len(tgt_tokens), len(src_tokens)) (the EOS step's row excluded); links: argmax per row;
    log_prob: sum of the log-probabilities of the target tokens and EOS.
    """

    source: str
    target: str
    src_tokens: list[str]
    tgt_tokens: list[str]
    attention: np.ndarray
    links: list[Link]
    log_prob: float


def translate(
    model: Seq2Seq,
    sources: Sequence[str | Source],
    beam_size: int = 1,
    max_len: int | None = None,
    batch_size: int = 64,
    *,
    n_best: int = 1,
    length_penalty: float | None = None,
    coverage_penalty: float = 0.0,
    max_src_tokens: int | None = None,
) -> list[Translation]:
    """Translate ``sources`` (strings, or :func:`prepare_sources`' output) in length-sorted padded
    batches of ``batch_size``; greedy when ``beam_size == 1`` (and no beam option is given).
    ``n_best``, ``length_penalty``, ``coverage_penalty``: see :func:`~models.seq2seq.search.beam_search`.

    Returns one :class:`Translation` per source, in input order. Raises :class:`InvalidInputs` (a
    ValueError) for empty or too-long sources (``max_src_tokens``, and the model's ``max_src_len``),
    ValueError for a beam size outside 1..16 or bad beam options.
    """

    def shaped(src: Source, hyp: Hypothesis) -> Translation:
        tokens = [model.tgt_vocab.token(i) for i in hyp.ids]
        return Translation(
            source=src.text,
            src_tokens=src.tokens,
            tokens=tokens,
            text=model.tgt_tokenizer.detokenize(tokens),
            ids=hyp.ids,
            score=hyp.score,
            log_prob=hyp.log_prob,
            attention=hyp.attention,
            links=hard_links(hyp.attention),
            finished=hyp.finished,
            unknown=model.src_vocab.unknown(src.tokens),
        )

    prepared = _sources(model, sources, max_src_tokens)
    order = _by_length(prepared)
    device = model_device(model)  # batches go where the model is
    out: list[Translation | None] = [None] * len(prepared)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids = [model.src_vocab.encode(prepared[i].tokens) for i in chunk]
        src = pad_ids(ids, model.src_vocab.pad_id).to(device)  # (B, S)
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.long, device=device)  # (B,)
        hyps = search(
            model,
            src,
            lengths,
            beam_size=beam_size,
            max_len=max_len,
            n_best=n_best,
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty,
        )
        for i, hyp in zip(chunk, hyps, strict=True):
            result = shaped(prepared[i], hyp)
            if hyp.n_best:
                result.hypotheses = [shaped(prepared[i], h) for h in hyp.n_best]
            out[i] = result
    return out  # type: ignore[return-value]


@torch.no_grad()
def align(
    model: Seq2Seq,
    pairs: Sequence[tuple[str | Source, str | list[str]]],
    batch_size: int = 64,
    *,
    max_src_tokens: int | None = None,
) -> list[ForcedAlignment]:
    """Teacher-force each ``(source, target)`` and return its attention and hard links (eval mode), in
    input order. Sources are strings or :class:`Source`; targets strings or their tokens
    (:func:`prepare_targets`). Raises :class:`InvalidInputs` for empty or too-long sources."""
    prepared = _sources(model, [p[0] for p in pairs], max_src_tokens)
    targets = [t if isinstance(t, list) else model.tgt_tokenizer.tokenize(t) for _, t in pairs]
    texts = [t if isinstance(t, str) else model.tgt_tokenizer.detokenize(t) for _, t in pairs]
    order = _by_length(prepared)
    device = model_device(model)  # batches go where the model is
    was_training = model.training
    model.eval()
    try:
        out: list[ForcedAlignment | None] = [None] * len(pairs)
        vocab = model.tgt_vocab
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            sids = [model.src_vocab.encode(prepared[i].tokens) for i in chunk]
            tids = [vocab.encode(targets[i]) for i in chunk]
            src = pad_ids(sids, model.src_vocab.pad_id).to(device)  # (B, S)
            lengths = torch.tensor([len(x) for x in sids], dtype=torch.long, device=device)  # (B,)
            tgt_in = pad_ids([[vocab.bos_id, *t] for t in tids], vocab.pad_id).to(device)  # (B, T)
            tgt_out = pad_ids([[*t, vocab.eos_id] for t in tids], vocab.pad_id).to(device)  # (B, T)
            logits, att = model(src, lengths, tgt_in)  # (B, T, V), (B, T, S)
            lp = torch.log_softmax(logits.float(), -1).gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)  # (B, T)
            lp = lp.masked_fill(tgt_out == vocab.pad_id, 0.0).sum(-1).cpu()  # (B,)
            att = att.cpu()  # (B, T, S)
            for j, i in enumerate(chunk):
                a = att[j, : len(tids[j]), : len(sids[j])].numpy().astype(np.float32)  # (T_j, S_j)
                out[i] = ForcedAlignment(
                    prepared[i].text, texts[i], prepared[i].tokens, targets[i], a, hard_links(a), float(lp[j])
                )
        return out  # type: ignore[return-value]
    finally:
        model.train(was_training)
