"""Batched greedy decoding and beam search over a padded source batch.

Both return one :class:`Hypothesis` per input row. Every row is computed independently of
the others (no cross-row normalisation, per-row stopping), so an input decodes the same
alone or padded into a batch. Both switch the model to eval mode for the call and restore
the previous mode afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .limits import MAX_BEAM_SIZE
from .model import Seq2Seq

__all__ = ["MAX_BEAM_SIZE", "Hypothesis", "beam_search", "greedy_search", "search"]


@dataclass
class Hypothesis:
    """A decoded output for one input.

    ids: output ids without BOS and EOS.
    log_prob: sum of the log-probabilities of the emitted tokens, EOS included when emitted.
    score: greedy: ``log_prob``; beam: ``log_prob / length`` with ``length`` = number of emitted
        tokens including EOS (``max_len`` when EOS was never emitted); with a GNMT length penalty α,
        ``log_prob / ((5 + length) / 6) ** α``; plus the coverage penalty when β > 0 (see
        :func:`beam_search`).
    attention: (len(ids), S_real) float array, one row per output token (the EOS step's row is
        dropped), no pad columns; each row sums to 1.
    finished: whether EOS was emitted before ``max_len``.
    n_best: beam search with ``n_best > 1``: the best hypotheses of the input, best first (this one
        first), each with its own ids, scores and attention; empty otherwise.
    """

    ids: list[int]
    score: float
    log_prob: float
    attention: np.ndarray
    finished: bool
    n_best: list[Hypothesis] = field(default_factory=list)


def length_penalty_of(length: int, alpha: float) -> float:
    """GNMT length penalty (Wu et al. 2016): ``((5 + length) / 6) ** alpha``."""
    return ((5.0 + length) / 6.0) ** alpha


def coverage_penalty_of(attention: Tensor, beta: float) -> float:
    """GNMT coverage penalty ``beta * sum_j log(min(sum_t a[t, j], 1))`` (<= 0) of ``attention`` (T, S_real):
    a source position the output has barely attended to costs; the log is floored at log(1e-10)."""
    if beta == 0.0:
        return 0.0
    coverage = attention.sum(0).clamp(min=1e-10, max=1.0)  # (S_real,)
    return beta * float(coverage.log().sum())


def _log_probs(logits: Tensor, banned: list[int]) -> Tensor:
    """Log-softmax over the vocabulary with ``banned`` ids (PAD, BOS) impossible. (N, V) -> (N, V)."""
    logits = logits.float().clone()
    logits[:, banned] = float("-inf")
    return torch.log_softmax(logits, dim=-1)


def _to_hypothesis(
    ids: list[int], att: Tensor, src_len: int, log_prob: float, score: float, eos_id: int
) -> Hypothesis:
    """Cut ``ids`` (T,) at the first EOS and ``att`` (T, S) to matching rows and real columns."""
    finished = eos_id in ids
    n = ids.index(eos_id) if finished else len(ids)
    attention = att[:n, :src_len].cpu().numpy().astype(np.float32)  # (n, S_real)
    return Hypothesis(ids=ids[:n], score=score, log_prob=log_prob, attention=attention, finished=finished)


@torch.no_grad()
def greedy_search(
    model: Seq2Seq, src: Tensor, src_lengths: Tensor, max_len: int | None = None
) -> list[Hypothesis]:
    """Greedy decoding of a padded batch.

    src: (B, S) ids; src_lengths: (B,). Decodes at most ``max_len`` tokens (default
    ``model.config.max_tgt_len``) per row, EOS included. Returns B hypotheses (``score == log_prob``).
    """
    max_len = int(max_len or model.config.max_tgt_len)
    was_training = model.training
    model.eval()
    try:
        vocab = model.tgt_vocab
        enc_outputs, enc_final, proj_keys, src_mask = model.encode(src, src_lengths)
        batch = src.size(0)
        state = model.decoder.init_state(enc_final)
        dev = src.device  # the model's: every tensor of the search lives there
        prev = torch.full((batch,), vocab.bos_id, dtype=torch.long, device=dev)  # (B,)
        finished = torch.zeros(batch, dtype=torch.bool, device=dev)  # (B,)
        log_prob = torch.zeros(batch, device=dev)  # (B,)
        ids_steps, att_steps = [], []
        for _ in range(max_len):
            logits, state, weights = model.decoder.step(prev, state, enc_outputs, proj_keys, src_mask)
            lp = _log_probs(logits, [vocab.pad_id, vocab.bos_id])  # (B, V)
            tok_lp, tok = lp.max(dim=-1)  # (B,), (B,)
            log_prob += torch.where(finished, torch.zeros_like(tok_lp), tok_lp)
            ids_steps.append(tok)
            att_steps.append(weights)
            finished |= tok == vocab.eos_id
            if bool(finished.all()):
                break
            prev = tok
        ids = torch.stack(ids_steps, dim=1).cpu()  # (B, T)
        att = torch.stack(att_steps, dim=1).cpu()  # (B, T, S)
        log_prob = log_prob.cpu()  # (B,)
        lengths = src_lengths.tolist()
        return [
            _to_hypothesis(
                ids[b].tolist(), att[b], lengths[b], float(log_prob[b]), float(log_prob[b]), vocab.eos_id
            )
            for b in range(batch)
        ]
    finally:
        model.train(was_training)


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    beam_size: int = 4,
    max_len: int | None = None,
    *,
    n_best: int = 1,
    length_penalty: float | None = None,
    coverage_penalty: float = 0.0,
) -> list[Hypothesis]:
    """Beam search, batched across inputs (each input has its own beam of ``beam_size``).

    src: (B, S); src_lengths: (B,). ``beam_size`` must be in 1..16 (it is clamped to the target
    vocabulary size minus PAD/BOS). Finished hypotheses stay in the beam with a frozen score; search stops when
    all are finished or after ``max_len`` steps. The beam is pruned on the summed log-probability; the
    final beam is ranked by the score, finished hypotheses first:

    * default: ``log_prob / length`` (length counts EOS);
    * ``length_penalty`` α (GNMT): ``log_prob / ((5 + length) / 6) ** α`` (α = 0: the raw log-probability);
    * ``coverage_penalty`` β > 0 (GNMT) adds ``β * sum_j log(min(sum_t a[t, j], 1))`` over the real
      source positions ``j`` and the hypothesis's steps ``t`` (EOS step included).

    Returns the best hypothesis of every input; with ``n_best`` in 2..``beam_size`` its ``n_best`` list holds
    the ``n_best`` best (fewer when the beam was clamped), each with its own attention and scores.
    """
    if not 1 <= beam_size <= MAX_BEAM_SIZE:
        raise ValueError(f"beam_size must be in 1..{MAX_BEAM_SIZE}, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be in 1..beam_size ({beam_size}), got {n_best}")
    if length_penalty is not None and not (math.isfinite(length_penalty) and length_penalty >= 0):
        raise ValueError(f"length_penalty must be >= 0, got {length_penalty}")
    if not (math.isfinite(coverage_penalty) and coverage_penalty >= 0):
        raise ValueError(f"coverage_penalty must be >= 0, got {coverage_penalty}")
    max_len = int(max_len or model.config.max_tgt_len)
    was_training = model.training
    model.eval()
    try:
        vocab = model.tgt_vocab
        n_vocab = len(vocab)
        k = max(1, min(beam_size, n_vocab - 2))  # PAD and BOS are never emitted
        batch = src.size(0)
        enc_outputs, enc_final, proj_keys, src_mask = model.encode(src, src_lengths)
        dev = src.device  # the model's: every tensor of the search lives there
        expand = torch.arange(batch, device=dev).repeat_interleave(k)  # (B*K,)
        enc_outputs = enc_outputs.index_select(0, expand)  # (B*K, S, H_enc)
        proj_keys = proj_keys.index_select(0, expand)  # (B*K, S, *)
        src_mask = src_mask.index_select(0, expand)  # (B*K, S)
        state = model.decoder.init_state(enc_final).index_select(expand)
        scores = torch.full((batch, k), float("-inf"), device=dev)  # (B, K)
        scores[:, 0] = 0.0
        prev = torch.full((batch * k,), vocab.bos_id, dtype=torch.long, device=dev)  # (B*K,)
        finished = torch.zeros(batch * k, dtype=torch.bool, device=dev)  # (B*K,)
        lengths = torch.zeros(batch * k, dtype=torch.long, device=dev)  # (B*K,)
        history = torch.zeros(batch * k, 0, dtype=torch.long, device=dev)  # (B*K, t)
        att_history = torch.zeros(batch * k, 0, src.size(1), device=dev)  # (B*K, t, S)
        frozen = torch.full((n_vocab,), float("-inf"), device=dev)  # (V,) continuation of a finished hyp
        frozen[vocab.eos_id] = 0.0
        offsets = (torch.arange(batch, device=dev) * k).unsqueeze(1)  # (B, 1)
        for _ in range(max_len):
            logits, state, weights = model.decoder.step(prev, state, enc_outputs, proj_keys, src_mask)
            lp = _log_probs(logits, [vocab.pad_id, vocab.bos_id])  # (B*K, V)
            lp = torch.where(finished.unsqueeze(1), frozen.unsqueeze(0), lp)
            cand = (scores.view(-1, 1) + lp).view(batch, k * n_vocab)  # (B, K*V)
            scores, flat = cand.topk(k, dim=-1)  # (B, K), (B, K)
            origin = (offsets + torch.div(flat, n_vocab, rounding_mode="floor")).view(-1)  # (B*K,)
            tok = (flat % n_vocab).view(-1)  # (B*K,)
            state = state.index_select(origin)
            finished = finished.index_select(0, origin)
            lengths = lengths.index_select(0, origin) + (~finished).long()
            history = torch.cat([history.index_select(0, origin), tok.unsqueeze(1)], dim=1)
            att_history = torch.cat(
                [att_history.index_select(0, origin), weights.index_select(0, origin)[:, None]], 1
            )
            finished = finished | (tok == vocab.eos_id)
            if bool(finished.all()):
                break
            prev = tok
        flat_scores = scores.view(-1).cpu()  # (B*K,)
        finished, history, att_history = finished.cpu(), history.cpu(), att_history.cpu()  # ranked on the CPU
        src_lens, lengths_list = src_lengths.tolist(), lengths.tolist()
        out = []
        for b in range(batch):
            ranked = []  # (finished, score, row) of the input's beam
            for row in range(b * k, (b + 1) * k):
                if flat_scores[row] == float("-inf"):
                    continue  # an empty beam slot (fewer live candidates than k)
                length = max(int(lengths_list[row]), 1)
                log_prob = float(flat_scores[row])
                if length_penalty is None:
                    score = log_prob / length
                else:
                    score = log_prob / length_penalty_of(length, length_penalty)
                if coverage_penalty:
                    score += coverage_penalty_of(att_history[row, :length, : src_lens[b]], coverage_penalty)
                ranked.append((bool(finished[row]), score, row))
            ranked.sort(key=lambda x: (x[0], x[1]), reverse=True)  # finished first, then by score
            hyps = [
                _to_hypothesis(
                    history[row].tolist(),
                    att_history[row],
                    src_lens[b],
                    float(flat_scores[row]),
                    score,
                    vocab.eos_id,
                )
                for _fin, score, row in ranked[: max(n_best, 1)]
            ]
            best = hyps[0]
            if n_best > 1:
                best.n_best = hyps
            out.append(best)
        return out
    finally:
        model.train(was_training)


def search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    beam_size: int = 1,
    max_len: int | None = None,
    *,
    n_best: int = 1,
    length_penalty: float | None = None,
    coverage_penalty: float = 0.0,
) -> list[Hypothesis]:
    """Greedy decoding for ``beam_size == 1`` without beam options, beam search otherwise (see the two
    functions)."""
    if beam_size == 1 and n_best == 1 and length_penalty is None and not coverage_penalty:
        return greedy_search(model, src, src_lengths, max_len)
    return beam_search(
        model,
        src,
        src_lengths,
        beam_size,
        max_len,
        n_best=n_best,
        length_penalty=length_penalty,
        coverage_penalty=coverage_penalty,
    )
