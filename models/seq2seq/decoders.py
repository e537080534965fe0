"""GRU decoder with attention and input feeding (Luong et al., 2015)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .attention import build_attention


@dataclass
class DecoderState:
    """Recurrent state carried between decoder steps.

    hidden: (L, B, H_dec) GRU state; att_vector: (B, H_dec) previous attentional vector.
    """

    hidden: Tensor
    att_vector: Tensor

    def index_select(self, index: Tensor) -> DecoderState:
        """Return the state of the rows ``index`` (B',), e.g. to reorder beams."""
        return DecoderState(self.hidden.index_select(1, index), self.att_vector.index_select(0, index))


class AttentionDecoder(nn.Module):
    """One step: ``[emb(y_{t-1}); att_{t-1}] -> GRU -> h_t -> attention -> att_t = tanh(W_c[h_t; c_t]) -> logits``.

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
    ) -> None:
        super().__init__()
        self.layers = layers
        self.hidden_size = hidden
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.emb_dropout = nn.Dropout(dropout)
        self.rnn = nn.GRU(
            emb_dim + hidden,
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
        rnn_in = torch.cat([emb, state.att_vector], dim=-1).unsqueeze(1)  # (B, 1, E + H)
        out, hidden = self.rnn(rnn_in, state.hidden)  # out: (B, 1, H); hidden: (L, B, H)
        query = self.layer_norm(out.squeeze(1))  # (B, H)
        context, weights = self.attention(query, enc_outputs, src_mask, proj_keys)  # (B, H_enc), (B, S)
        att_vector = torch.tanh(self.att_layer(torch.cat([query, context], dim=-1)))  # (B, H)
        logits = self.output_layer(self.att_dropout(att_vector))  # (B, V)
        return logits, DecoderState(hidden, att_vector), weights
