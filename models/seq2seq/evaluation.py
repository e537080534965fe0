"""Evaluate a model on examples: loss, exact match, token accuracy, BLEU, token/sequence error rates,
alignment accuracy and alignment error rate. An example with alternative targets (``Example.alternatives``) is scored against the
reference closest to the output (fewest token edits)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as F

from .alignment import alignment_accuracy, alignment_error_rate
from .data import Example, encode_examples, iterate_batches
from .devices import model_device
from .inference import align, translate
from .metrics import (
    best_reference,
    bleu,
    exact_match,
    sequence_error_rate,
    token_accuracy,
    token_error_rate,
)
from .model import Seq2Seq


@torch.no_grad()
def teacher_forced_loss(model: Seq2Seq, examples: Sequence[Example], batch_size: int = 128) -> float:
    """Mean cross-entropy per target token (EOS included, pads ignored), eval mode."""
    data = encode_examples(
        examples, model.src_tokenizer, model.src_vocab, model.tgt_vocab, tgt_tokenizer=model.tgt_tokenizer
    )
    was_training = model.training
    model.eval()
    try:
        total, count = 0.0, 0
        device = model_device(model)
        for batch in iterate_batches(data, model.tgt_vocab, batch_size):
            batch = batch.to(device)
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


def _bleu(
    model: Seq2Seq,
    hyp_tokens: Sequence[Sequence[str]],
    ref_tokens: Sequence[Sequence[str]],
    hyp_texts: Sequence[str],
    ref_texts: Sequence[str],
) -> float:
    """Corpus BLEU: of the detokenized strings (sacrebleu's 13a) for word models; over the model's own
    tokens for character models (a character string is one 13a "word", which would make BLEU 0 for
    every output that is not exactly right). Whitespace characters become "\u2581" there."""
    if model.tgt_tokenizer.kind != "char":
        return bleu(hyp_texts, list(ref_texts))

    def spaced(tokens: Sequence[str]) -> str:
        return " ".join("\u2581" if t.isspace() else t for t in tokens)

    return bleu([spaced(h) for h in hyp_tokens], [spaced(r) for r in ref_tokens], tokenize="none")


def evaluate(
    model: Seq2Seq,
    examples: Sequence[Example],
    beam_size: int = 1,
    batch_size: int = 128,
    with_bleu: bool = True,
    *,
    max_src_tokens: int | None = None,
) -> dict[str, Any]:
    """Return ``{"n", "loss", "exact_match", "token_accuracy", "bleu", "token_error_rate",
    "sequence_error_rate", "alignment_accuracy", "alignment_error_rate"}``.

    Exact match / token accuracy / BLEU / error rates use decoded outputs (greedy or beam; BLEU over
    characters for character targets, see :func:`_bleu`), each scored against the example's reference
    closest to the output (``target`` or one of ``alternatives``). ``token_error_rate`` is the corpus
    Levenshtein distance over the reference token count (PER for phonemes, CER for characters);
    ``sequence_error_rate`` is 1 - exact match (WER for g2p). Loss and the alignment figures are
    teacher-forced: ``alignment_accuracy`` is the share of gold links that are their row's argmax,
    ``alignment_error_rate`` the corpus AER of the rows' argmax links against the gold links
    (:func:`~models.seq2seq.alignment.alignment_error_rate`, sure = possible = gold); both are None
    when no example has gold links. ``bleu`` is None when ``with_bleu`` is False. Raises
    :class:`~models.seq2seq.inference.InvalidInputs` for empty or too-long sources (``max_src_tokens``).
    """
    examples = list(examples)
    if not examples:
        raise ValueError("no examples to evaluate")
    outputs = translate(
        model,
        [e.source for e in examples],
        beam_size=beam_size,
        batch_size=batch_size,
        max_src_tokens=max_src_tokens,
    )
    hyp_tokens = [o.tokens for o in outputs]
    tokenize = model.tgt_tokenizer.tokenize
    all_refs = [[tokenize(r) for r in e.references] for e in examples]
    chosen = [
        e.references[best_reference(h, refs)]
        for h, refs, e in zip(hyp_tokens, all_refs, examples, strict=True)
    ]
    ref_tokens = [tokenize(r) for r in chosen]
    metrics: dict[str, Any] = {
        "n": len(examples),
        "loss": teacher_forced_loss(model, examples, batch_size),
        "exact_match": exact_match(hyp_tokens, ref_tokens),
        "token_accuracy": token_accuracy(hyp_tokens, ref_tokens),
        "bleu": _bleu(model, hyp_tokens, ref_tokens, [o.text for o in outputs], chosen)
        if with_bleu
        else None,
        "token_error_rate": token_error_rate(hyp_tokens, all_refs),
        "sequence_error_rate": sequence_error_rate(hyp_tokens, all_refs),
        "alignment_accuracy": None,
        "alignment_error_rate": None,
    }
    linked = [e for e in examples if e.links]
    if linked:
        forced = align(model, [(e.source, e.target) for e in linked], batch_size)
        attentions, gold = [f.attention for f in forced], [e.links for e in linked]
        metrics["alignment_accuracy"] = alignment_accuracy(attentions, gold)
        metrics["alignment_error_rate"] = alignment_error_rate(attentions, gold)
    return metrics
