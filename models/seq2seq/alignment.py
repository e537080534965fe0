"""Alignments from attention: hard links, Pharaoh strings, precision/recall/AER, accuracy.

A link is a pair ``(src_idx, tgt_idx)`` of 0-based token positions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

Link = tuple[int, int]


def hard_links(attention: np.ndarray) -> list[Link]:
    """Return one link per output row: ``(argmax_s attention[t, s], t)`` for attention (T, S).

    Rows without any weight (all zeros) produce no link.
    """
    attention = np.asarray(attention)
    if attention.ndim != 2:
        raise ValueError(f"attention must be 2-D (T, S), got shape {attention.shape}")
    return [(int(row.argmax()), t) for t, row in enumerate(attention) if row.size and row.max() > 0]


def to_pharaoh(links: Iterable[Link]) -> str:
    """Return links as a Pharaoh string ``"s-t s-t ..."`` sorted by (src, tgt)."""
    return " ".join(f"{s}-{t}" for s, t in sorted(set(links)))


def from_pharaoh(text: str) -> list[Link]:
    """Parse a Pharaoh string ``"0-0 1-2"`` (``"s?t"`` possible-link marks not supported); ValueError if bad."""
    links = []
    for item in text.split():
        parts = item.split("-")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"bad Pharaoh link {item!r}")
        links.append((int(parts[0]), int(parts[1])))
    return links


def check_links(links: Iterable[Link], n_src: int, n_tgt: int) -> None:
    """ValueError naming the first link ``(s, t)`` outside ``0 <= s < n_src``, ``0 <= t < n_tgt``."""
    for s, t in links:
        if not (0 <= s < n_src and 0 <= t < n_tgt):
            raise ValueError(
                f"link {s}-{t} is outside the pair's {n_src} source x {n_tgt} target tokens "
                f"(source index 0..{n_src - 1}, target index 0..{n_tgt - 1})"
            )


@dataclass
class AlignmentScores:
    """Precision = |A∩P|/|A|, recall = |A∩S|/|S|, AER = 1 - (|A∩S| + |A∩P|)/(|A| + |S|)."""

    precision: float
    recall: float
    aer: float


def alignment_scores(
    predicted: Iterable[Link], sure: Iterable[Link], possible: Iterable[Link] | None = None
) -> AlignmentScores:
    """Score one (or a corpus's concatenated, sentence-tagged) link set against gold (Och & Ney 2003).

    With only ``sure`` given, possible = sure. P is always extended to contain S.
    Empty A gives precision 1.0; empty S gives recall 1.0; empty A and S give AER 0.0.
    """
    a = set(predicted)
    s = set(sure)
    p = set(possible) | s if possible is not None else set(s)
    a_s, a_p = len(a & s), len(a & p)
    precision = a_p / len(a) if a else 1.0
    recall = a_s / len(s) if s else 1.0
    aer = 1.0 - (a_s + a_p) / (len(a) + len(s)) if (a or s) else 0.0
    return AlignmentScores(precision, recall, aer)


def corpus_alignment_scores(
    predicted: Sequence[Iterable[Link]],
    sure: Sequence[Iterable[Link]],
    possible: Sequence[Iterable[Link]] | None = None,
) -> AlignmentScores:
    """Micro-averaged scores over sentences (link sets are tagged with the sentence index)."""
    if len(predicted) != len(sure):
        raise ValueError(f"{len(predicted)} predicted link sets but {len(sure)} gold ones")
    a = {(i, *link) for i, links in enumerate(predicted) for link in links}
    s = {(i, *link) for i, links in enumerate(sure) for link in links}
    p = None if possible is None else {(i, *link) for i, links in enumerate(possible) for link in links}
    return alignment_scores(a, s, p)


def alignment_accuracy(
    attentions: Sequence[np.ndarray], gold: Sequence[Iterable[Link] | None]
) -> float | None:
    """Share of gold links ``(s, t)`` where ``argmax attention[t]`` is ``s``.

    attentions: one (T, S) array per example; ``gold[i] is None`` skips example i; links whose
    target row is outside the attention are counted as misses. Returns None when there are no gold links.
    """
    if len(attentions) != len(gold):
        raise ValueError(f"{len(attentions)} attention matrices but {len(gold)} gold link sets")
    hits = total = 0
    for att, links in zip(attentions, gold, strict=True):
        if links is None:
            continue
        att = np.asarray(att)
        for s, t in links:
            total += 1
            if 0 <= t < att.shape[0] and att.shape[1] > 0 and int(att[t].argmax()) == s:
                hits += 1
    return hits / total if total else None


def alignment_error_rate(
    attentions: Sequence[np.ndarray], gold: Sequence[Iterable[Link] | None]
) -> float | None:
    """Corpus alignment error rate (Och & Ney 2003) of the hard links of ``attentions`` against gold.

    attentions: one (T, S) array per example; ``gold[i]`` its gold links (sure = possible), ``None``
    or empty skips example i. A = :func:`hard_links` of every row of the kept examples (rows
    without gold links included: the attention must look somewhere), S = P = the gold links, and
    ``AER = 1 - 2|A∩S| / (|A| + |S|)`` over the corpus (micro-averaged, as
    :func:`corpus_alignment_scores`). Returns None when no example has gold links.

    >>> att = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])   # hard links 0-0 0-1 1-2
    >>> alignment_error_rate([att], [[(0, 0), (1, 1), (1, 2)]])  # |A∩S| = 2: 1 - 4/6
    0.33333333333333337
    """
    if len(attentions) != len(gold):
        raise ValueError(f"{len(attentions)} attention matrices but {len(gold)} gold link sets")
    kept = [(att, links) for att, links in zip(attentions, gold, strict=True) if links]
    if not kept:
        return None
    predicted = [hard_links(att) for att, _ in kept]
    return corpus_alignment_scores(predicted, [list(links) for _, links in kept]).aer
