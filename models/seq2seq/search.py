"""Batched greedy decoding and beam search over a padded source batch.

Both return one :class:`Hypothesis` per input row. Every row is computed independently of
the others (no cross-row normalisation, per-row stopping), so an input decodes the same
alone or padded into a batch. Both switch the model to eval mode for the call and restore
the previous mode afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .limits import MAX_BEAM_SIZE
from .model import Seq2Seq

__all__ = ["MAX_BEAM_SIZE", "Hypothesis", "beam_search", "decode", "greedy_search"]


@dataclass
class Hypothesis:
    """A decoded output for one input.

    ids: output ids without BOS and EOS.
    log_prob: sum of the log-probabilities of the emitted tokens, EOS included when emitted.
    score: greedy: ``log_prob``; beam: ``log_prob / length`` with ``length`` = number of emitted
        tokens including EOS (``max_len`` when EOS was never emitted).
    attention: (len(ids), S_real) float array, one row per output token (the EOS step's row is
        dropped), no pad columns; each row sums to 1.
    finished: whether EOS was emitted before ``max_len``.
    """

    ids: list[int]
    score: float
    log_prob: float
    attention: np.ndarray
    finished: bool


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
        prev = torch.full((batch,), vocab.bos_id, dtype=torch.long)  # (B,)
        finished = torch.zeros(batch, dtype=torch.bool)  # (B,)
        log_prob = torch.zeros(batch)  # (B,)
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
        ids = torch.stack(ids_steps, dim=1)  # (B, T)
        att = torch.stack(att_steps, dim=1)  # (B, T, S)
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
    model: Seq2Seq, src: Tensor, src_lengths: Tensor, beam_size: int = 4, max_len: int | None = None
) -> list[Hypothesis]:
    """Beam search, batched across inputs (each input has its own beam of ``beam_size``).

    src: (B, S); src_lengths: (B,). ``beam_size`` must be in 1..16 (it is clamped to the target
    vocabulary size minus PAD/BOS). Finished hypotheses stay in the beam with a frozen score; search stops when
    all are finished or after ``max_len`` steps. The returned hypothesis is the one with the best
    length-normalised score ``log_prob / length`` (length counts EOS), preferring finished ones.
    """
    if not 1 <= beam_size <= MAX_BEAM_SIZE:
        raise ValueError(f"beam_size must be in 1..{MAX_BEAM_SIZE}, got {beam_size}")
    max_len = int(max_len or model.config.max_tgt_len)
    was_training = model.training
    model.eval()
    try:
        vocab = model.tgt_vocab
        n_vocab = len(vocab)
        k = max(1, min(beam_size, n_vocab - 2))  # PAD and BOS are never emitted
        batch = src.size(0)
        enc_outputs, enc_final, proj_keys, src_mask = model.encode(src, src_lengths)
        expand = torch.arange(batch).repeat_interleave(k)  # (B*K,)
        enc_outputs = enc_outputs.index_select(0, expand)  # (B*K, S, H_enc)
        proj_keys = proj_keys.index_select(0, expand)  # (B*K, S, *)
        src_mask = src_mask.index_select(0, expand)  # (B*K, S)
        state = model.decoder.init_state(enc_final).index_select(expand)
        scores = torch.full((batch, k), float("-inf"))  # (B, K)
        scores[:, 0] = 0.0
        prev = torch.full((batch * k,), vocab.bos_id, dtype=torch.long)  # (B*K,)
        finished = torch.zeros(batch * k, dtype=torch.bool)  # (B*K,)
        lengths = torch.zeros(batch * k, dtype=torch.long)  # (B*K,)
        history = torch.zeros(batch * k, 0, dtype=torch.long)  # (B*K, t)
        att_history = torch.zeros(batch * k, 0, src.size(1))  # (B*K, t, S)
        frozen = torch.full((n_vocab,), float("-inf"))  # (V,) continuation of a finished hyp
        frozen[vocab.eos_id] = 0.0
        offsets = (torch.arange(batch) * k).unsqueeze(1)  # (B, 1)
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
        norm = scores.view(-1) / lengths.clamp(min=1).float()  # (B*K,)
        src_lens = src_lengths.tolist()
        out = []
        for b in range(batch):
            rows = torch.arange(b * k, (b + 1) * k)
            fin = finished[rows]
            cand_norm = torch.where(fin, norm[rows], torch.full_like(norm[rows], float("-inf")))
            if not bool(fin.any()):
                cand_norm = norm[rows]
            best = int(rows[int(cand_norm.argmax())])
            out.append(
                _to_hypothesis(
                    history[best].tolist(),
                    att_history[best],
                    src_lens[b],
                    float(scores.view(-1)[best]),
                    float(norm[best]),
                    vocab.eos_id,
                )
            )
        return out
    finally:
        model.train(was_training)


def decode(
    model: Seq2Seq, src: Tensor, src_lengths: Tensor, beam_size: int = 1, max_len: int | None = None
) -> list[Hypothesis]:
    """Greedy decoding for ``beam_size == 1``, beam search otherwise (see the two functions)."""
    if beam_size == 1:
        return greedy_search(model, src, src_lengths, max_len)
    return beam_search(model, src, src_lengths, beam_size, max_len)
