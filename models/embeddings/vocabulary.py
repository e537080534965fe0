"""Words of a vocabulary by prefix: the keys sorted once, then two binary searches per prefix.

>>> index = PrefixIndex.build(["the", "of", "then", "there", "a"])
>>> [int(r) for r in index.matches("the")]  # frequency ranks (index_to_key positions), in order
[0, 2, 3]
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.embeddings.mapped_vocab import MappedKeys


@dataclass(frozen=True)
class PrefixIndex:
    """The vocabulary's keys sorted (code-point order) with each key's frequency rank."""

    keys: Sequence[str]  # (V,) sorted
    ranks: np.ndarray  # (V,) int64: ranks[i] is the index_to_key position of keys[i]

    @classmethod
    def build(cls, index_to_key: Sequence[str]) -> PrefixIndex:
        """The index of ``index_to_key`` (gensim's): a memory-mapped vocabulary's sorted order as it
        is on disk (shared by every process), else one sort of the keys."""
        if isinstance(index_to_key, MappedKeys):
            return cls(index_to_key.sorted_view(), index_to_key.order)
        order = sorted(range(len(index_to_key)), key=index_to_key.__getitem__)
        return cls([index_to_key[i] for i in order], np.asarray(order, dtype=np.int64))

    def matches(self, prefix: str) -> np.ndarray:
        """Ranks of the keys starting with ``prefix``, in frequency order: (M,) int64."""
        lo = bisect.bisect_left(self.keys, prefix)
        # Every key with the prefix sorts before prefix + the largest code point.
        hi = bisect.bisect_left(self.keys, prefix + "\U0010ffff", lo)
        while hi < len(self.keys) and self.keys[hi].startswith(prefix):  # keys holding U+10FFFF itself
            hi += 1
        return np.sort(self.ranks[lo:hi])
