"""A nearest-neighbour query and its answer, as every search engine of the core takes and gives them.

A :class:`NeighbourQuery` is gensim's ``most_similar`` (words to add and subtract, or one raw
vector), with ``topn``, ``restrict_vocab``, the similarity ``method`` and whether the search must be
``exact``; a :class:`Neighbour` is one ``(word, score)`` of the answer, best first. The engines are
:mod:`models.embeddings.batch` (many cosadd queries in one matrix product) and
:mod:`models.embeddings.ann` (a faiss index); :meth:`models.embeddings.queries.VectorQueries.nearest`
chooses between them and gensim.

>>> q = NeighbourQuery(positive=["king", "woman"], negative=["man"], topn=3)
>>> q.words, q.method
(['king', 'woman', 'man'], 'cosadd')
>>> Neighbour("queen", 0.71)
Neighbour(word='queen', score=0.71)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

SIMILARITY_METHODS: tuple[str, ...] = ("cosadd", "cosmul")


class Neighbour(NamedTuple):
    """One word of an answer: its cosine (cosadd) or 3CosMul (cosmul) score, as gensim computes it."""

    word: str
    score: float


@dataclass
class NeighbourQuery:
    """One nearest-neighbour query: ``positive`` and ``negative`` words, or a raw ``vector`` ``(D,)``.

    ``method``: ``"cosadd"`` (gensim ``most_similar``) or ``"cosmul"`` (``most_similar_cosmul``);
    ``restrict_vocab``: only the first N words are candidates; ``exact``: ``True`` forces exact search,
    ``None``/``False`` lets an index answer (cosadd without ``restrict_vocab`` only).
    """

    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    vector: np.ndarray | None = None  # (D,)
    topn: int = 10
    method: str = "cosadd"
    restrict_vocab: int | None = None
    exact: bool | None = None

    @property
    def words(self) -> list[str]:
        """The query's words, positive first."""
        return [*self.positive, *self.negative]


@dataclass
class Neighbours:
    """The answer to a :class:`NeighbourQuery`: ``neighbours`` best first; ``exact`` says whether exact
    search (``True``) or an ANN index (``False``; its scores are still exact) found them."""

    neighbours: list[Neighbour]
    exact: bool = True
