"""A vocabulary read from memory-mapped files, shared by every process that serves it.

A 1 M-word vocabulary held as Python objects (``index_to_key`` list, ``key_to_index`` dict, a
``str`` per word) costs each serving process ~150 MB of private memory. The ``npy`` layout of
imported vectors stores it instead as three files that every process maps, read-only:

    words.txt          UTF-8, word i on line i
    word_offsets.npy   int64 (n + 1,): byte offset of word i in words.txt (the last: the file size)
    word_order.npy     int64 (n,): the word indices in code-point (= UTF-8 byte) order

:class:`MappedKeys` is the ``index_to_key`` (a sequence: ``keys[i]``, slices, ``len``, iteration)
and :class:`MappedKeyIndex` the ``key_to_index`` (a mapping: ``index[word]``, ``get``, ``in``,
``len``), a lookup being a binary search over ``word_order`` (~20 probes). gensim's
``KeyedVectors`` uses no more than these interfaces, so its queries answer unchanged.

>>> write_vocabulary(tmp_path, ["</s>", "the", "queen", "king"])
>>> keys = MappedKeys(tmp_path)
>>> keys[0], len(keys), keys[1:3], MappedKeyIndex(keys)["king"]
('</s>', 4, ['the', 'queen'], 3)
>>> index = MappedKeyIndex(keys)
>>> "prince" in index, index.get("prince", -1)
(False, -1)
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import overload

import numpy as np

WORDS_FILE = "words.txt"
OFFSETS_FILE = "word_offsets.npy"
ORDER_FILE = "word_order.npy"


def write_vocabulary(directory: str | os.PathLike, words: list[str]) -> None:
    """Write the three files of ``words`` (no word may contain ``"\\n"``) into ``directory``."""
    encoded = [w.encode("utf-8") for w in words]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)  # (n + 1,)
    np.cumsum([len(b) + 1 for b in encoded], out=offsets[1:])
    with open(os.path.join(directory, WORDS_FILE), "wb") as f:
        for start in range(0, len(encoded), 65536):
            f.write(b"".join(b + b"\n" for b in encoded[start : start + 65536]))
    np.save(os.path.join(directory, OFFSETS_FILE), offsets)
    order = sorted(range(len(encoded)), key=encoded.__getitem__)
    np.save(os.path.join(directory, ORDER_FILE), np.asarray(order, dtype=np.int64))


class MappedKeys(Sequence[str]):
    """The words of a vocabulary directory, by index (gensim's ``index_to_key``), memory-mapped."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = os.fspath(directory)
        with open(os.path.join(self.directory, WORDS_FILE), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self._blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._offsets = np.load(os.path.join(self.directory, OFFSETS_FILE), mmap_mode="r")  # (n + 1,)
        self.order = np.load(os.path.join(self.directory, ORDER_FILE), mmap_mode="r")  # (n,)
        self._n = int(self._offsets.shape[0]) - 1
        if self._n < 0 or self.order.shape != (self._n,) or int(self._offsets[-1]) != size:
            raise ValueError(f"{self.directory}: the vocabulary files do not agree")

    def __len__(self) -> int:
        return self._n

    def raw(self, i: int) -> bytes:
        """The UTF-8 bytes of word ``i``."""
        return self._blob[int(self._offsets[i]) : int(self._offsets[i + 1]) - 1]

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            start, stop, step = i.indices(self._n)
            if step != 1:
                return [self[j] for j in range(start, stop, step)]
            if stop <= start:
                return []
            lo, hi = int(self._offsets[start]), int(self._offsets[stop])
            return self._blob[lo : hi - 1].decode("utf-8").split("\n")
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("word index out of range")
        return self.raw(i).decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        for start in range(0, self._n, 65536):
            yield from self[start : start + 65536]

    def __eq__(self, other: object) -> bool:  # as a list compares
        if not isinstance(other, list | tuple | MappedKeys):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def find(self, word: str) -> int:
        """The index of ``word``, or -1."""
        try:
            key = word.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: never a stored word
            return -1
        lo, hi = 0, self._n
        order = self.order
        while lo < hi:
            mid = (lo + hi) // 2
            if self.raw(int(order[mid])) < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < self._n and self.raw(int(order[lo])) == key:
            return int(order[lo])
        return -1

    def sorted_view(self) -> SortedKeys:
        """The words in code-point order (a sequence, for ``bisect``)."""
        return SortedKeys(self)

    def __reduce__(self) -> tuple[type, tuple[str]]:  # pickled by path (a worker gets its own map)
        return (MappedKeys, (self.directory,))


class SortedKeys(Sequence[str]):
    """:meth:`MappedKeys.sorted_view`: word ``order[i]`` at position ``i``."""

    def __init__(self, keys: MappedKeys):
        self.keys = keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.keys[int(self.keys.order[i])]


class MappedKeyIndex(Mapping[str, int]):
    """gensim's ``key_to_index`` over :class:`MappedKeys`: ``word -> index``."""

    def __init__(self, keys: MappedKeys):
        self.keys = keys

    def __getitem__(self, word: str) -> int:
        i = self.keys.find(word) if isinstance(word, str) else -1
        if i < 0:
            raise KeyError(word)
        return i

    def get(self, word, default=None):  # type: ignore[override]
        i = self.keys.find(word) if isinstance(word, str) else -1
        return default if i < 0 else i

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.keys.find(word) >= 0

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys)
