"""Output-quality metrics: exact match, token accuracy, BLEU."""

from __future__ import annotations

from collections.abc import Sequence

import sacrebleu


def exact_match(
    hypotheses: Sequence[Sequence[str]] | Sequence[str], references: Sequence[Sequence[str]] | Sequence[str]
) -> float:
    """Return the share of hypotheses equal to their reference (0.0 for an empty corpus)."""
    _check_lengths(hypotheses, references)
    if not references:
        return 0.0
    return sum(list(h) == list(r) for h, r in zip(hypotheses, references, strict=True)) / len(references)


def token_accuracy(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """Position-wise token accuracy over a corpus.

    Returns ``sum_i #{j : h_i[j] == r_i[j]} / sum_i max(len(h_i), len(r_i))`` (missing or extra
    tokens count as errors); 0.0 when every sequence is empty.
    """
    _check_lengths(hypotheses, references)
    correct = total = 0
    for h, r in zip(hypotheses, references, strict=True):
        correct += sum(a == b for a, b in zip(h, r, strict=False))
        total += max(len(h), len(r))
    return correct / total if total else 0.0


def bleu(hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "13a") -> float:
    """Return corpus BLEU (0-100) of detokenized strings via ``sacrebleu.corpus_bleu``."""
    _check_lengths(hypotheses, references)
    if not references:
        return 0.0
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize).score)


def _check_lengths(hypotheses: Sequence, references: Sequence) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
