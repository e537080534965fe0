"""Inference on strings: translate a batch (greedy/beam) and teacher-forced alignment of given pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .alignment import Link, hard_links
from .data import pad_ids
from .model import Seq2Seq
from .search import Hypothesis, decode


class SourceError(ValueError):
    """A source string that cannot be encoded; ``index`` is its 0-based position in the request."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"source {index}: {message}")
        self.index = index
        self.reason = message


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


def _encode_sources(model: Seq2Seq, texts: Sequence[str]) -> list[list[str]]:
    tokens = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise SourceError(i, "not a string")
        toks = model.src_tokenizer.tokenize(text)
        if not toks:
            raise SourceError(i, "empty source")
        if len(toks) > model.config.max_src_len:
            raise SourceError(i, f"{len(toks)} tokens > max_src_len {model.config.max_src_len}")
        tokens.append(toks)
    return tokens


def translate(
    model: Seq2Seq,
    texts: Sequence[str],
    beam_size: int = 1,
    max_len: int | None = None,
    batch_size: int = 64,
    *,
    n_best: int = 1,
    length_penalty: float | None = None,
    coverage_penalty: float = 0.0,
) -> list[Translation]:
    """Translate ``texts`` in padded batches of ``batch_size``; greedy when ``beam_size == 1`` (and no
    beam option is given). ``n_best``, ``length_penalty``, ``coverage_penalty``: see
    :func:`~models.seq2seq.search.beam_search`.

    Raises :class:`SourceError` (a ValueError) for an empty or too-long source, ValueError for a
    beam size outside 1..16 or bad beam options. Results are independent of the batching.
    """

    def shaped(text: str, src_toks: list[str], hyp: Hypothesis) -> Translation:
        tokens = [model.tgt_vocab.token(i) for i in hyp.ids]
        return Translation(
            source=text,
            src_tokens=src_toks,
            tokens=tokens,
            text=model.tgt_tokenizer.detokenize(tokens),
            ids=hyp.ids,
            score=hyp.score,
            log_prob=hyp.log_prob,
            attention=hyp.attention,
            links=hard_links(hyp.attention),
            finished=hyp.finished,
            unknown=model.src_vocab.unknown(src_toks),
        )

    src_tokens = _encode_sources(model, texts)
    out: list[Translation] = []
    for start in range(0, len(texts), batch_size):
        chunk = src_tokens[start : start + batch_size]
        ids = [model.src_vocab.encode(toks) for toks in chunk]
        src = pad_ids(ids, model.src_vocab.pad_id)  # (B, S)
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)  # (B,)
        hyps = decode(
            model,
            src,
            lengths,
            beam_size=beam_size,
            max_len=max_len,
            n_best=n_best,
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty,
        )
        for j, hyp in enumerate(hyps):
            result = shaped(texts[start + j], chunk[j], hyp)
            if hyp.n_best:
                result.hypotheses = [shaped(texts[start + j], chunk[j], h) for h in hyp.n_best]
            out.append(result)
    return out


@torch.no_grad()
def align(model: Seq2Seq, pairs: Sequence[tuple[str, str]], batch_size: int = 64) -> list[ForcedAlignment]:
    """Teacher-force each ``(source, target)`` and return its attention and hard links (eval mode)."""
    src_tokens = _encode_sources(model, [p[0] for p in pairs])
    tgt_tokens = [model.tgt_tokenizer.tokenize(p[1]) for p in pairs]
    was_training = model.training
    model.eval()
    try:
        out: list[ForcedAlignment] = []
        vocab = model.tgt_vocab
        for start in range(0, len(pairs), batch_size):
            stoks, ttoks = src_tokens[start : start + batch_size], tgt_tokens[start : start + batch_size]
            sids = [model.src_vocab.encode(t) for t in stoks]
            tids = [vocab.encode(t) for t in ttoks]
            src = pad_ids(sids, vocab.pad_id)  # (B, S)
            lengths = torch.tensor([len(x) for x in sids], dtype=torch.long)  # (B,)
            tgt_in = pad_ids([[vocab.bos_id, *t] for t in tids], vocab.pad_id)  # (B, T)
            tgt_out = pad_ids([[*t, vocab.eos_id] for t in tids], vocab.pad_id)  # (B, T)
            logits, att = model(src, lengths, tgt_in)  # (B, T, V), (B, T, S)
            lp = torch.log_softmax(logits.float(), -1).gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)  # (B, T)
            lp = lp.masked_fill(tgt_out == vocab.pad_id, 0.0).sum(-1)  # (B,)
            for j in range(len(sids)):
                a = att[j, : len(tids[j]), : len(sids[j])].numpy().astype(np.float32)  # (T_j, S_j)
                p = pairs[start + j]
                out.append(ForcedAlignment(p[0], p[1], stoks[j], ttoks[j], a, hard_links(a), float(lp[j])))
        return out
    finally:
        model.train(was_training)
