"""Vocabulary: a token <-> id mapping with reserved special tokens.

Ids ``0..3`` are always the specials, in this order: ``PAD="<pad>"=0`` (distinct from BOS, so a
padded batch is never confused with a sentence start), ``UNK="<unk>"=1``, ``BOS="<s>"=2``,
``EOS="</s>"=3``. Ordinary tokens follow from id 4. Saved as JSON
``{"specials": [...], "tokens": [...]}`` (``tokens`` = the ordinary tokens only), written atomically.
"""

from __future__ import annotations

import json
import operator
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from models.atomic import atomic_write_json

__all__ = ["BOS", "EOS", "PAD", "SPECIALS", "UNK", "Vocabulary"]

PAD = "<pad>"
UNK = "<unk>"
BOS = "<s>"
EOS = "</s>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)


def _is_int(value: object) -> bool:
    """True for ints and int-likes (numpy integers), False for bools and floats."""
    if isinstance(value, bool):
        return False
    try:
        operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


class Vocabulary:
    """Token <-> id mapping; ids 0-3 are the specials ``<pad> <unk> <s> </s>``, ordinary tokens follow.

    ``Vocabulary(tokens)`` takes the ordinary tokens in id order (the specials are prepended).
    Raises ``ValueError`` for a duplicate token, a token that is a special, or a non-string token.

    >>> vocab = Vocabulary(["the", "cat"])
    >>> len(vocab), vocab.lookup("cat"), vocab.lookup("dog") == vocab.unk_id
    (6, 5, True)
    >>> vocab.encode(["the", "dog"], add_bos=True, add_eos=True)
    [2, 4, 1, 3]
    """

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        ordinary = list(tokens)
        itos: list[str] = list(SPECIALS)
        stoi: dict[str, int] = {tok: i for i, tok in enumerate(SPECIALS)}
        for tok in ordinary:
            if not isinstance(tok, str):
                raise ValueError(f"tokens must be strings, got {tok!r} ({type(tok).__name__})")
            if tok in stoi:
                kind = "a reserved special token" if tok in SPECIALS else "a duplicate token"
                raise ValueError(f"{tok!r} is {kind}")
            stoi[tok] = len(itos)
            itos.append(tok)
        self._itos = itos
        self._stoi = stoi

    # -- construction ----------------------------------------------------------------------------------

    @classmethod
    def build(
        cls, token_sequences: Iterable[Iterable[str]], min_freq: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """Count tokens over ``token_sequences`` and return a vocabulary of the frequent ones.

        Keeps tokens seen at least ``min_freq`` times, ordered by descending frequency then by token
        (so the result is deterministic), at most ``max_size`` ordinary tokens (specials not counted).
        Special tokens appearing in the data are not counted as ordinary tokens.

        >>> Vocabulary.build([["b", "a", "b"], ["c", "a"]], min_freq=2).tokens
        ['<pad>', '<unk>', '<s>', '</s>', 'a', 'b']
        """
        if not _is_int(min_freq) or min_freq < 1:
            raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and (not _is_int(max_size) or max_size < 0):
            raise ValueError(f"max_size must be a non-negative int or None, got {max_size!r}")
        min_freq = operator.index(min_freq)
        max_size = None if max_size is None else operator.index(max_size)
        counts: Counter[str] = Counter()
        for seq in token_sequences:
            if isinstance(seq, str):
                raise ValueError("token_sequences must be sequences of tokens, got a bare string")
            counts.update(seq)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted((tok for tok, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept)

    # -- mapping ---------------------------------------------------------------------------------------

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>`` (0)."""
        return 0

    @property
    def unk_id(self) -> int:
        """Id of ``<unk>`` (1)."""
        return 1

    @property
    def bos_id(self) -> int:
        """Id of ``<s>`` (2)."""
        return 2

    @property
    def eos_id(self) -> int:
        """Id of ``</s>`` (3)."""
        return 3

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, specials first (a copy)."""
        return list(self._itos)

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._itos == other._itos

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"

    def lookup(self, token: str) -> int:
        """Id of ``token``; ``unk_id`` for a token not in the vocabulary.

        >>> Vocabulary(["a"]).lookup("a"), Vocabulary(["a"]).lookup("zzz")
        (4, 1)
        """
        return self._stoi.get(token, 1)

    def token(self, idx: int) -> str:
        """Token of id ``idx``; raises ``KeyError`` for an id out of range."""
        if isinstance(idx, bool) or not 0 <= int(idx) < len(self._itos):
            raise KeyError(idx)
        return self._itos[int(idx)]

    def encode(self, tokens: Iterable[str], add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Ids of ``tokens`` (unknown tokens -> ``unk_id``), optionally wrapped in ``<s>`` ... ``</s>``.

        >>> Vocabulary(["hi"]).encode(["hi", "there"], add_eos=True)
        [4, 1, 3]
        """
        if isinstance(tokens, str):
            raise ValueError("encode expects a sequence of tokens, got a bare string")
        ids = [self._stoi.get(tok, 1) for tok in tokens]
        if add_bos:
            ids.insert(0, 2)
        if add_eos:
            ids.append(3)
        return ids

    def decode(self, ids: Iterable[int], strip_special: bool = True) -> list[str]:
        """Tokens of ``ids``.

        With ``strip_special=True`` (default) decoding stops at the first ``</s>`` and drops
        ``<pad>`` and ``<s>``; ``<unk>`` is kept (it stands for a real word). With ``False`` every id
        maps to its token. Raises ``ValueError`` for an id out of range.

        >>> v = Vocabulary(["hi"])
        >>> v.decode([2, 4, 1, 3, 0, 0]), v.decode([2, 4, 3], strip_special=False)
        (['hi', '<unk>'], ['<s>', 'hi', '</s>'])
        """
        out: list[str] = []
        n = len(self._itos)
        for raw in ids:
            idx = int(raw)
            if not 0 <= idx < n:
                raise ValueError(f"id {idx} out of range for a vocabulary of {n} tokens")
            if strip_special:
                if idx == 3:
                    break
                if idx in (0, 2):
                    continue
            out.append(self._itos[idx])
        return out

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """Distinct tokens not in the vocabulary, in order of first appearance.

        >>> Vocabulary(["a"]).unknown(["x", "a", "y", "x"])
        ['x', 'y']
        """
        seen: dict[str, None] = {}
        for tok in tokens:
            if tok not in self._stoi and tok not in seen:
                seen[tok] = None
        return list(seen)

    # -- persistence -----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, list[str]]:
        """JSON-ready ``{"specials": [...], "tokens": [...ordinary tokens...]}``."""
        return {"specials": list(SPECIALS), "tokens": self._itos[len(SPECIALS) :]}

    @classmethod
    def from_dict(cls, data: Any) -> Vocabulary:
        """Inverse of :meth:`to_dict`; ``ValueError`` if the specials differ, tokens repeat or the shape is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"vocabulary data must be an object, got {type(data).__name__}")
        missing = {"specials", "tokens"} - data.keys()
        if missing:
            raise ValueError(f"vocabulary data lacks keys {sorted(missing)}")
        specials, tokens = data["specials"], data["tokens"]
        if specials != list(SPECIALS):
            raise ValueError(f"vocabulary specials {specials!r} differ from the expected {list(SPECIALS)!r}")
        if not isinstance(tokens, list):
            raise ValueError(f"vocabulary tokens must be a list, got {type(tokens).__name__}")
        return cls(tokens)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary as JSON to ``path`` atomically (temp file in the same dir, fsync, replace)."""
        atomic_write_json(path, self.to_dict(), indent=0)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`; ``ValueError`` for a malformed or invalid file."""
        raw = Path(path).read_bytes()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"vocabulary file {str(path)!r} is not valid JSON: {e}") from e
        return cls.from_dict(data)
