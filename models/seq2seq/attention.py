"""Attention mechanisms: Bahdanau (additive) and Luong (dot, general, concat).

All mechanisms share one interface::

    proj = attn.project_keys(keys)                       # once per batch
    context, weights = attn(query, keys, mask, proj)     # once per decoder step, or once for all steps

with query (B, H_dec) (one decoder step) or (B, T, H_dec) (T steps at once: the teacher-forced decoder
without input feeding), keys/values (B, S, H_enc) and mask (B, S) (True = real token). A (B, T, H_dec)
query gives what T separate (B, H_dec) queries give, as one batched product.
Scores go through :func:`models.padding.masked_softmax`, so pad columns get exactly 0.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.padding import masked_softmax

ATTENTION_TYPES = ("bahdanau", "luong-dot", "luong-general", "luong-concat")


class Attention(nn.Module):
    """Base class: subclasses implement :meth:`score`."""

    def project_keys(self, keys: Tensor) -> Tensor:
        """Return the per-batch key precomputation (identity by default).

        keys: (B, S, H_enc) -> (B, S, *)
        """
        return keys

    def score(self, query: Tensor, proj_keys: Tensor, keys: Tensor) -> Tensor:
        """Return unnormalised scores (B, T, S) of the queries (B, T, H_dec)."""
        raise NotImplementedError

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor, proj_keys: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Attend with ``query`` over ``keys``.

        query: (B, H_dec) or (B, T, H_dec); keys: (B, S, H_enc); mask: (B, S) bool, True = real.
        Returns ``(context (B, H_enc), weights (B, S))``, or ``(context (B, T, H_enc), weights (B, T, S))``
        for a (B, T, H_dec) query; weights on pads are exactly 0 and every row with at least one real
        position sums to 1.
        """
        if proj_keys is None:
            proj_keys = self.project_keys(keys)
        one_step = query.dim() == 2
        queries = query.unsqueeze(1) if one_step else query  # (B, T, H_dec)
        scores = self.score(queries, proj_keys, keys)  # (B, T, S)
        weights = masked_softmax(scores, mask.unsqueeze(1), dim=-1)  # (B, T, S)
        context = torch.bmm(weights, keys)  # (B, T, H_enc)
        if one_step:
            return context.squeeze(1), weights.squeeze(1)  # (B, H_enc), (B, S)
        return context, weights


class BahdanauAttention(Attention):
    """Additive attention: ``v^T tanh(W_q q + W_k k)``; ``W_k k`` is precomputed once per batch."""

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int | None = None) -> None:
        super().__init__()
        attn_dim = attn_dim or query_dim
        self.key_layer = nn.Linear(key_dim, attn_dim, bias=False)
        self.query_layer = nn.Linear(query_dim, attn_dim, bias=False)
        self.energy_layer = nn.Linear(attn_dim, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.key_layer(keys)  # (B, S, A)

    def score(self, query: Tensor, proj_keys: Tensor, keys: Tensor) -> Tensor:
        q = self.query_layer(query).unsqueeze(2)  # (B, T, 1, A)
        return self.energy_layer(torch.tanh(q + proj_keys.unsqueeze(1))).squeeze(-1)  # (B, T, S)


class DotAttention(Attention):
    """Luong dot: ``q · k``; needs ``H_dec == H_enc``."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__()
        if query_dim != key_dim:
            raise ValueError(f"dot attention needs equal query/key dims, got {query_dim} and {key_dim}")

    def score(self, query: Tensor, proj_keys: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query, proj_keys.transpose(1, 2))  # (B, T, S)


class GeneralAttention(Attention):
    """Luong general: ``q^T W k``; ``W k`` is precomputed once per batch."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__()
        self.key_layer = nn.Linear(key_dim, query_dim, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.key_layer(keys)  # (B, S, H_dec)

    def score(self, query: Tensor, proj_keys: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query, proj_keys.transpose(1, 2))  # (B, T, S)


class ConcatAttention(Attention):
    """Luong concat: ``v^T tanh(W [q; k])`` with one (biased) matrix ``W`` over the concatenation.

    ``W [q; k] + b = W_q q + (W_k k + b)``: the key half (bias included) is precomputed once per batch.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int | None = None) -> None:
        super().__init__()
        attn_dim = attn_dim or query_dim
        self.query_dim = query_dim
        self.layer = nn.Linear(query_dim + key_dim, attn_dim)
        self.energy_layer = nn.Linear(attn_dim, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        w_k = self.layer.weight[:, self.query_dim :]  # (A, H_enc)
        return nn.functional.linear(keys, w_k, self.layer.bias)  # (B, S, A)

    def score(self, query: Tensor, proj_keys: Tensor, keys: Tensor) -> Tensor:
        w_q = self.layer.weight[:, : self.query_dim]  # (A, H_dec)
        q = nn.functional.linear(query, w_q).unsqueeze(2)  # (B, T, 1, A)
        hidden = torch.tanh(q + proj_keys.unsqueeze(1))  # (B, T, S, A)
        return self.energy_layer(hidden).squeeze(-1)  # (B, T, S)


def build_attention(kind: str, query_dim: int, key_dim: int) -> Attention:
    """Return the attention module named ``kind`` (one of :data:`ATTENTION_TYPES`)."""
    if kind == "bahdanau":
        return BahdanauAttention(query_dim, key_dim)
    if kind == "luong-dot":
        return DotAttention(query_dim, key_dim)
    if kind == "luong-general":
        return GeneralAttention(query_dim, key_dim)
    if kind == "luong-concat":
        return ConcatAttention(query_dim, key_dim)
    raise ValueError(f"unknown attention type {kind!r}; expected one of {ATTENTION_TYPES}")
