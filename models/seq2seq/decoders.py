"""GRU decoder with attention (Luong et al., 2015), with or without input feeding."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .attention import build_attention


@dataclass
class DecoderState:
    """Recurrent state carried between decoder steps.

    hidden: (L, B, H_dec) GRU state; att_vector: (B, H_dec) previous attentional vector (fed back
    into the GRU input with input feeding; carried but unused without).
    """

    hidden: Tensor
    att_vector: Tensor

    def index_select(self, index: Tensor) -> DecoderState:
        """Return the state of the rows ``index`` (B',), e.g. to reorder beams."""
        return DecoderState(self.hidden.index_select(1, index), self.att_vector.index_select(0, index))


class AttentionDecoder(nn.Module):
    """One step: ``[emb(y_{t-1}) (; att_{t-1})] -> GRU -> h_t -> attention -> att_t = tanh(W_c[h_t; c_t]) -> logits``.

    With ``input_feeding`` (Luong's input feeding) the GRU input is the embedding and
    the previous attentional vector ``att_{t-1}``, so step t needs step t-1's attention: teacher-forced
    training runs step by step. Without it the GRU input is ``emb(y_{t-1})`` alone (input size
    ``emb_dim``: the weights differ) and :meth:`teacher_forced` runs the GRU over the whole target in
    one call, then attention and the output layers as one batched product over all steps; it equals
    :meth:`step` applied T times. No input feeding is the default: 1.3x (idle machine) to 2.4x (busy)
    the training steps/s of input feeding and a lower dev loss per minute on g2p (bench/attention_bench.py).

    The encoder's final state goes through a bridge (linear + tanh) to initialise every layer.
    With ``layer_norm`` the GRU output ``h_t`` is layer-normalised before attention (row-wise,
    so batch rows never mix). Every attention type (``bahdanau`` included) is queried with the
    current state ``h_t`` (Luong-style ordering); the types differ in how they score.
    """

    def __init__(
        self,
        vocab_size: int,
        emb_dim: int,
        hidden: int,
        enc_dim: int,
        layers: int = 1,
        attention: str = "bahdanau",
        dropout: float = 0.0,
        layer_norm: bool = False,
        pad_id: int = 0,
        input_feeding: bool = False,
    ) -> None:
        super().__init__()
        self.layers = layers
        self.input_feeding = input_feeding
        self.hidden_size = hidden
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.emb_dropout = nn.Dropout(dropout)
        self.rnn = nn.GRU(
            emb_dim + hidden if input_feeding else emb_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.bridge = nn.Linear(enc_dim, hidden * layers)
        self.layer_norm = nn.LayerNorm(hidden) if layer_norm else nn.Identity()
        self.attention = build_attention(attention, hidden, enc_dim)
        self.att_layer = nn.Linear(hidden + enc_dim, hidden)
        self.att_dropout = nn.Dropout(dropout)
        self.output_layer = nn.Linear(hidden, vocab_size)

    def init_state(self, enc_final: Tensor) -> DecoderState:
        """Return the initial state from the encoder's final state ``enc_final`` (B, H_enc)."""
        batch = enc_final.size(0)
        bridged = torch.tanh(self.bridge(enc_final))  # (B, L * H)
        hidden = bridged.view(batch, self.layers, self.hidden_size).transpose(0, 1).contiguous()  # (L, B, H)
        att_vector = enc_final.new_zeros(batch, self.hidden_size)  # (B, H)
        return DecoderState(hidden, att_vector)

    def project_keys(self, enc_outputs: Tensor) -> Tensor:
        """Precompute the attention's key projection once per batch: (B, S, H_enc) -> (B, S, *)."""
        return self.attention.project_keys(enc_outputs)

    def step(
        self,
        prev_ids: Tensor,
        state: DecoderState,
        enc_outputs: Tensor,
        proj_keys: Tensor,
        src_mask: Tensor,
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """Run one decoder step (used by teacher forcing and by search).

        prev_ids: (B,) previous output ids; enc_outputs: (B, S, H_enc); proj_keys: (B, S, *);
        src_mask: (B, S) True = real.
        Returns ``(logits (B, V), new state, attention weights (B, S))``.
        """
        emb = self.emb_dropout(self.embedding(prev_ids))  # (B, E)
        if self.input_feeding:
            emb = torch.cat([emb, state.att_vector], dim=-1)  # (B, E + H)
        out, hidden = self.rnn(emb.unsqueeze(1), state.hidden)  # out: (B, 1, H); hidden: (L, B, H)
        logits, att_vector, weights = self._attend(out.squeeze(1), enc_outputs, proj_keys, src_mask)
        return logits, DecoderState(hidden, att_vector), weights

    def teacher_forced(
        self,
        tgt_in: Tensor,
        state: DecoderState,
        enc_outputs: Tensor,
        proj_keys: Tensor,
        src_mask: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Run every step of a gold prefix at once (needs ``input_feeding=False``).

        tgt_in: (B, T) gold inputs (BOS first); state: from :meth:`init_state`; the rest as in :meth:`step`.
        Returns ``(logits (B, T, V), attention weights (B, T, S))``, what T calls of :meth:`step` give.
        """
        if self.input_feeding:
            raise ValueError("teacher_forced runs all steps at once, which input feeding forbids")
        emb = self.emb_dropout(self.embedding(tgt_in))  # (B, T, E)
        out, _ = self.rnn(emb, state.hidden)  # (B, T, H)
        logits, _, weights = self._attend(out, enc_outputs, proj_keys, src_mask)
        return logits, weights

    def _attend(
        self, out: Tensor, enc_outputs: Tensor, proj_keys: Tensor, src_mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """GRU output(s) -> ``(logits, attentional vector, attention weights)``.

        out: (B, H) or (B, T, H). Returns (B, V), (B, H), (B, S) or (B, T, V), (B, T, H), (B, T, S).
        """
        query = self.layer_norm(out)  # (B, [T,] H)
        # context: (B, [T,] H_enc); weights: (B, [T,] S)
        context, weights = self.attention(query, enc_outputs, src_mask, proj_keys)
        att_vector = torch.tanh(self.att_layer(torch.cat([query, context], dim=-1)))  # (B, [T,] H)
        logits = self.output_layer(self.att_dropout(att_vector))  # (B, [T,] V)
        return logits, att_vector, weights
