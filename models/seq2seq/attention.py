"""Attention mechanisms: Bahdanau (additive) and Luong (dot, general, concat).

All mechanisms share one interface::

    proj = attn.project_keys(keys)                       # once per batch
    context, weights = attn(query, keys, mask, proj)     # once per decoder step

with query (B, H_dec), keys/values (B, S, H_enc) and mask (B, S) (True = real token).
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
        """Return unnormalised scores (B, S)."""
        raise NotImplementedError

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor, proj_keys: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Attend with ``query`` over ``keys``.

        query: (B, H_dec); keys: (B, S, H_enc); mask: (B, S) bool, True = real.
        Returns ``(context (B, H_enc), weights (B, S))``; weights on pads are exactly 0
        and every row with at least one real position sums to 1.
        """
        if proj_keys is None:
            proj_keys = self.project_keys(keys)
        scores = self.score(query, proj_keys, keys)  # (B, S)
        weights = masked_softmax(scores, mask, dim=-1)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B, H_enc)
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
        q = self.query_layer(query).unsqueeze(1)  # (B, 1, A)
        return self.energy_layer(torch.tanh(q + proj_keys)).squeeze(-1)  # (B, S)


class DotAttention(Attention):
    """Luong dot: ``q · k``; needs ``H_dec == H_enc``."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__()
        if query_dim != key_dim:
            raise ValueError(f"dot attention needs equal query/key dims, got {query_dim} and {key_dim}")

    def score(self, query: Tensor, proj_keys: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(proj_keys, query.unsqueeze(2)).squeeze(2)  # (B, S)


class GeneralAttention(Attention):
    """Luong general: ``q^T W k``; ``W k`` is precomputed once per batch."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__()
        self.key_layer = nn.Linear(key_dim, query_dim, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.key_layer(keys)  # (B, S, H_dec)

    def score(self, query: Tensor, proj_keys: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(proj_keys, query.unsqueeze(2)).squeeze(2)  # (B, S)


class ConcatAttention(Attention):
    """Luong concat: ``v^T tanh(W [q; k])`` with one (biased) matrix ``W`` over the concatenation."""

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int | None = None) -> None:
        super().__init__()
        attn_dim = attn_dim or query_dim
        self.layer = nn.Linear(query_dim + key_dim, attn_dim)
        self.energy_layer = nn.Linear(attn_dim, 1, bias=False)

    def score(self, query: Tensor, proj_keys: Tensor, keys: Tensor) -> Tensor:
        q = query.unsqueeze(1).expand(-1, keys.size(1), -1)  # (B, S, H_dec)
        hidden = torch.tanh(self.layer(torch.cat([q, keys], dim=-1)))  # (B, S, A)
        return self.energy_layer(hidden).squeeze(-1)  # (B, S)


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
