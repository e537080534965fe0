"""The encoder-decoder model and its configuration."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from models.padding import lengths_to_mask
from models.vocab import Vocabulary

from .attention import ATTENTION_TYPES
from .decoders import AttentionDecoder
from .encoders import RecurrentEncoder
from .tokenizers import get_tokenizer, normalize_tokenization, tokenization_sides


@dataclass
class Seq2SeqConfig:
    """Architecture + tokenization of a :class:`Seq2Seq` model (JSON-serialisable)."""

    emb_dim: int = 32
    hidden: int = 64
    layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0
    attention: str = "bahdanau"
    layer_norm: bool = False
    input_feeding: bool = False  # True: Luong input feeding (step-by-step training; checkpoints before it)
    tokenization: str | dict[str, str] = "char"  # "char", "word" or {"source": ..., "target": ...}
    max_src_len: int = 64
    max_tgt_len: int = 64

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_TYPES:
            raise ValueError(f"unknown attention type {self.attention!r}; expected one of {ATTENTION_TYPES}")
        self.tokenization = normalize_tokenization(self.tokenization)
        for name in ("emb_dim", "hidden", "layers", "max_src_len", "max_tgt_len"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.attention == "luong-dot" and self.bidirectional:
            raise ValueError("luong-dot attention needs bidirectional=False (query and key sizes must match)")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError("dropout must be in [0, 1)")

    @property
    def src_tokenization(self) -> str:
        """The source side's tokenization ("char" or "word")."""
        return tokenization_sides(self.tokenization)[0]

    @property
    def tgt_tokenization(self) -> str:
        """The target side's tokenization ("char" or "word")."""
        return tokenization_sides(self.tokenization)[1]

    def to_dict(self) -> dict[str, Any]:
        """Return a plain JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Seq2SeqConfig:
        """Build from a dict; unknown keys raise ValueError. Checkpoints written before the attention
        names were the API's (``dot``, ``general``, ``concat``) load under their current names."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if "attention" in data:
            data = {**data, "attention": attention_name(data["attention"])}
        return cls(**data)

    @classmethod
    def from_checkpoint(cls, data: dict[str, Any]) -> Seq2SeqConfig:
        """Build from a checkpoint's ``config.json``: as :meth:`from_dict`, and a checkpoint written
        before a field existed gets the behaviour it was trained with (:data:`EARLIER_BEHAVIOUR`),
        not today's default.

        >>> Seq2SeqConfig.from_checkpoint({"hidden": 8}).input_feeding
        True
        """
        return cls.from_dict(EARLIER_BEHAVIOUR | data)


#: Fields added after the first release -> the value every checkpoint written before them implies.
EARLIER_BEHAVIOUR: dict[str, Any] = {"input_feeding": True}


#: Attention names of checkpoints written by earlier releases -> the current ones.
_EARLIER_ATTENTION_NAMES = {"dot": "luong-dot", "general": "luong-general", "concat": "luong-concat"}


def attention_name(name: str) -> str:
    """The current name of an attention type: checkpoints of earlier releases say ``dot``,
    ``general``, ``concat``.

    >>> attention_name("general"), attention_name("bahdanau")
    ('luong-general', 'bahdanau')
    """
    return _EARLIER_ATTENTION_NAMES.get(name, name)


class Seq2Seq(nn.Module):
    """GRU encoder-decoder with attention; owns its vocabularies and its source and target tokenizers
    (``src_tokenizer``, ``tgt_tokenizer``; not in the state_dict)."""

    def __init__(self, config: Seq2SeqConfig, src_vocab: Vocabulary, tgt_vocab: Vocabulary) -> None:
        super().__init__()
        self.config = config
        self.src_vocab = src_vocab
        self.tgt_vocab = tgt_vocab
        self.src_tokenizer = get_tokenizer(config.src_tokenization)
        self.tgt_tokenizer = get_tokenizer(config.tgt_tokenization)
        self.encoder = RecurrentEncoder(
            len(src_vocab),
            config.emb_dim,
            config.hidden,
            layers=config.layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            pad_id=src_vocab.pad_id,
        )
        self.decoder = AttentionDecoder(
            len(tgt_vocab),
            config.emb_dim,
            config.hidden,
            self.encoder.output_size,
            layers=config.layers,
            attention=config.attention,
            dropout=config.dropout,
            layer_norm=config.layer_norm,
            pad_id=tgt_vocab.pad_id,
            input_feeding=config.input_feeding,
        )

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Encode a padded batch.

        src: (B, S); src_lengths: (B,).
        Returns ``(enc_outputs (B, S, H_enc), enc_final (B, H_enc), proj_keys (B, S, *), src_mask (B, S))``.
        """
        src_lengths = src_lengths.to(torch.long)
        if bool((src_lengths < 1).any()):
            raise ValueError("every source must have at least one token")
        enc_outputs, enc_final = self.encoder(src, src_lengths)
        src_mask = lengths_to_mask(src_lengths, src.size(1))  # (B, S)
        proj_keys = self.decoder.project_keys(enc_outputs)
        return enc_outputs, enc_final, proj_keys, src_mask

    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Teacher-forced pass.

        src: (B, S); src_lengths: (B,); tgt_in: (B, T) starting with BOS.
        With ``teacher_forcing < 1`` each row, at each step, feeds back its own argmax
        prediction instead of the gold token with probability ``1 - teacher_forcing``.
        Without input feeding and with full teacher forcing the decoder runs all steps at once
        (:meth:`AttentionDecoder.teacher_forced`), otherwise step by step.
        Returns ``(logits (B, T, V), attention (B, T, S))``.
        """
        enc_outputs, enc_final, proj_keys, src_mask = self.encode(src, src_lengths)
        state = self.decoder.init_state(enc_final)
        if not self.config.input_feeding and teacher_forcing >= 1.0:
            return self.decoder.teacher_forced(tgt_in, state, enc_outputs, proj_keys, src_mask)
        logits_steps, att_steps = [], []
        prev = tgt_in[:, 0]  # (B,)
        for t in range(tgt_in.size(1)):
            logits, state, weights = self.decoder.step(prev, state, enc_outputs, proj_keys, src_mask)
            logits_steps.append(logits)
            att_steps.append(weights)
            if t + 1 < tgt_in.size(1):
                prev = tgt_in[:, t + 1]
                if teacher_forcing < 1.0:
                    draw = torch.rand(prev.shape, generator=generator).to(prev.device)  # (B,) CPU generator
                    use_gold = draw < teacher_forcing  # (B,)
                    prev = torch.where(use_gold, prev, logits.argmax(-1).detach())
        return torch.stack(logits_steps, dim=1), torch.stack(att_steps, dim=1)
