"""Evaluate a model on examples: loss, exact match, token accuracy, BLEU, alignment accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as F

from .alignment import alignment_accuracy
from .data import Example, encode_examples, iterate_batches
from .inference import align, translate
from .metrics import bleu, exact_match, token_accuracy
from .model import Seq2Seq


@torch.no_grad()
def teacher_forced_loss(model: Seq2Seq, examples: Sequence[Example], batch_size: int = 128) -> float:
    """Mean cross-entropy per target token (EOS included, pads ignored), eval mode."""
    data = encode_examples(examples, model.tokenizer, model.src_vocab, model.tgt_vocab)
    was_training = model.training
    model.eval()
    try:
        total, count = 0.0, 0
        for batch in iterate_batches(data, model.tgt_vocab, batch_size):
            logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
            pad = model.tgt_vocab.pad_id
            total += float(
                F.cross_entropy(
                    logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=pad, reduction="sum"
                )
            )
            count += int((batch.tgt_out != pad).sum())
        return total / max(count, 1)
    finally:
        model.train(was_training)


def evaluate(
    model: Seq2Seq,
    examples: Sequence[Example],
    beam_size: int = 1,
    batch_size: int = 128,
    with_bleu: bool = True,
) -> dict[str, Any]:
    """Return ``{"n", "loss", "exact_match", "token_accuracy", "bleu", "alignment_accuracy"}``.

    Exact match / token accuracy / BLEU use decoded outputs (greedy or beam); loss and alignment
    accuracy are teacher-forced. ``alignment_accuracy`` is None when no example has gold links;
    ``bleu`` is None when ``with_bleu`` is False.
    """
    examples = list(examples)
    if not examples:
        raise ValueError("no examples to evaluate")
    outputs = translate(model, [e.source for e in examples], beam_size=beam_size, batch_size=batch_size)
    hyp_tokens = [o.tokens for o in outputs]
    ref_tokens = [model.tokenizer.tokenize(e.target) for e in examples]
    metrics: dict[str, Any] = {
        "n": len(examples),
        "loss": teacher_forced_loss(model, examples, batch_size),
        "exact_match": exact_match(hyp_tokens, ref_tokens),
        "token_accuracy": token_accuracy(hyp_tokens, ref_tokens),
        "bleu": bleu([o.text for o in outputs], [e.target for e in examples]) if with_bleu else None,
        "alignment_accuracy": None,
    }
    linked = [e for e in examples if e.links]
    if linked:
        forced = align(model, [(e.source, e.target) for e in linked], batch_size)
        metrics["alignment_accuracy"] = alignment_accuracy(
            [f.attention for f in forced], [e.links for e in linked]
        )
    return metrics
