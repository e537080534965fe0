"""Recurrent encoder: embedding + (bi)directional GRU run over packed sequences."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.padding import pack, unpack


class RecurrentEncoder(nn.Module):
    """Embed source ids and run an n-layer (bi)GRU over the real positions only."""

    def __init__(
        self,
        vocab_size: int,
        emb_dim: int,
        hidden: int,
        layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.GRU(
            emb_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.layers = layers
        self.directions = 2 if bidirectional else 1
        self.output_size = hidden * self.directions

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Encode a padded batch.

        src: (B, S) ids; src_lengths: (B,) all >= 1.
        Returns ``(outputs (B, S, H_enc), final (B, H_enc))`` where ``H_enc = hidden * directions``;
        outputs at pad positions are 0 and ``final`` is the last layer's final state
        (forward and backward concatenated when bidirectional).
        """
        emb = self.dropout(self.embedding(src))  # (B, S, E)
        packed_out, h_n = self.rnn(pack(emb, src_lengths))  # h_n: (L * D, B, H)
        outputs, _ = unpack(packed_out, total_length=src.size(1))  # (B, S, H_enc)
        h_n = h_n.view(self.layers, self.directions, src.size(0), -1)  # (L, D, B, H)
        final = torch.cat([h_n[-1, d] for d in range(self.directions)], dim=-1)  # (B, H_enc)
        return outputs, final
