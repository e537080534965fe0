"""Output-quality metrics: exact match, token accuracy, BLEU, edit distance and token/sequence error rates."""

from __future__ import annotations

from collections.abc import Sequence


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
    import sacrebleu  # here, so the edit-distance metrics import with the standard library alone

    _check_lengths(hypotheses, references)
    if not references:
        return 0.0
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize).score)


def edit_distance(hypothesis: Sequence[str], reference: Sequence[str]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions turning one into the other."""
    h, r = list(hypothesis), list(reference)
    prev = list(range(len(r) + 1))  # distances of h[:0] to every prefix of r
    for i, a in enumerate(h, start=1):
        cur = [i]
        for j, b in enumerate(r, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b)))
        prev = cur
    return prev[-1]


def best_reference(hypothesis: Sequence[str], references: Sequence[Sequence[str]]) -> int:
    """Index of the reference closest to ``hypothesis`` (fewest edits; the first on ties)."""
    if not references:
        raise ValueError("no references")
    distances = [edit_distance(hypothesis, r) for r in references]
    return distances.index(min(distances))


def token_error_rate(
    hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]
) -> float:
    """Corpus token error rate: ``sum_i min_r edits(h_i, r) / sum_i len(r_i*)`` with ``r_i*`` the closest
    of the references of item ``i`` (each item has a non-empty list of references).

    Over phonemes this is the phoneme error rate (PER), over characters the character error rate (CER).
    May exceed 1 (many insertions); the edits count alone when every best reference is empty.
    """
    _check_lengths(hypotheses, references)
    edits = length = 0
    for h, refs in zip(hypotheses, references, strict=True):
        best = refs[best_reference(h, refs)]
        edits += edit_distance(h, best)
        length += len(best)
    return edits / max(length, 1)


def sequence_error_rate(
    hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]
) -> float:
    """Share of hypotheses equal to none of their references (1 - multi-reference exact match); 0.0 when empty.

    For word-to-phoneme conversion this is the word error rate (WER)."""
    _check_lengths(hypotheses, references)
    if not references:
        return 0.0
    wrong = sum(
        list(h) not in [list(r) for r in refs] for h, refs in zip(hypotheses, references, strict=True)
    )
    return wrong / len(references)


def _check_lengths(hypotheses: Sequence, references: Sequence) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
