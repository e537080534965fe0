"""Exporting a model's vectors to a user's file: word2vec text or binary, streamed in chunks.

Both formats load with gensim's ``KeyedVectors.load_word2vec_format`` (and import back through
:mod:`models.embeddings.vector_import`); vectors are written float32-exact. FastText: only in-vocabulary
words are written (subword information is lost).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO

import numpy as np
from gensim.models import KeyedVectors

EXPORT_FORMATS: tuple[str, ...] = ("word2vec-text", "word2vec-binary")


def iter_export(kv: KeyedVectors, format: str, *, chunk_rows: int = 1024) -> Iterator[bytes]:
    """Yield the file as ``bytes`` chunks (for a streaming HTTP response), vocabulary order.

    ``word2vec-text``: ``"<count> <dim>\\n"`` then ``word v1 ... vD\\n`` (``%.9g``, float32-exact);
    ``word2vec-binary``: same header then ``word + b" " + float32 little-endian`` per vector, as gensim writes
    it. Both load with ``KeyedVectors.load_word2vec_format``. FastText: only in-vocabulary words are written
    (subword information is lost).

    >>> lines = b"".join(iter_export(kv, "word2vec-text")).splitlines()
    >>> lines[:2]
    [b'12 6', b'king 0.899999976 0.5 0.100000001 0 0 0']

    Raises ``ValueError`` for an unknown format or keys with whitespace (checked before the first chunk).
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; expected one of {EXPORT_FORMATS}")
    _check_exportable(kv)
    return _export_chunks(kv, format, chunk_rows)


def export_vectors(kv: KeyedVectors, format: str, dest: str | os.PathLike | IO[bytes]) -> int:
    """Write ``kv`` to a path or binary file object in ``format``; return the number of bytes written.

    See :func:`iter_export` for the formats. Raises ``ValueError`` (format / keys), ``OSError``.

    >>> export_vectors(kv, "word2vec-binary", tmp_path / "vectors.bin")
    359
    >>> back = KeyedVectors.load_word2vec_format(tmp_path / "vectors.bin", binary=True)
    >>> back.index_to_key == kv.index_to_key, bool((back.vectors == kv.vectors).all())
    (True, True)
    """
    chunks = iter_export(kv, format)
    if isinstance(dest, str | os.PathLike):
        with open(dest, "wb") as f:
            return sum(f.write(c) for c in chunks)
    return sum(dest.write(c) for c in chunks)


def _check_exportable(kv: KeyedVectors) -> None:
    bad = [w for w in kv.index_to_key if not isinstance(w, str) or not w or any(c.isspace() for c in w)]
    if bad:
        raise ValueError(
            f"{len(bad)} keys cannot be written in word2vec format (empty or whitespace): {bad[:5]}"
        )


def _export_chunks(kv: KeyedVectors, format: str, chunk_rows: int) -> Iterator[bytes]:
    n, dim = len(kv), kv.vector_size
    yield f"{n} {dim}\n".encode()
    for start in range(0, n, chunk_rows):
        rows = np.asarray(kv.vectors[start : start + chunk_rows], dtype="<f4")  # (rows, D)
        words = kv.index_to_key[start : start + chunk_rows]
        if format == "word2vec-text":
            lines = [
                w + " " + " ".join(f"{v:.9g}" for v in row) + "\n"
                for w, row in zip(words, rows.tolist(), strict=True)
            ]
            yield "".join(lines).encode("utf-8")
        else:
            yield b"".join(
                w.encode("utf-8") + b" " + row.tobytes() for w, row in zip(words, rows, strict=True)
            )
