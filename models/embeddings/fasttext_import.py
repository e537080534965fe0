"""Facebook fastText ``.bin`` files streamed into a memory-mapped layout that every serving process
shares, instead of gensim's ``load_facebook_vectors`` loading the whole model into each process.

The file (gensim's ``gensim/models/_fasttext_bin.py`` reads the same): a header (``dim``, ``minn``,
``maxn``, ``bucket``...), the dictionary (``nwords`` words, each ``word\\0``, int64 count, int8 type),
in the newer format a pruned index and a quantization flag, then the *input matrix*: ``nwords + bucket``
rows of ``dim`` float32 -- the words' own rows, then one row per character n-gram hash bucket (then the
output matrix, which only training needs: never read). :func:`import_fasttext` checks the header and
dictionary (:func:`~models.embeddings.formats.read_fasttext_layout`: a quantized ``.ftz`` or a
supervised model is refused), copies the input matrix a chunk at a time into::

    <directory>/vectors_vocab.npy    float32 (nwords, D)  the words' rows (gensim's ``vectors_vocab``)
    <directory>/vectors_ngrams.npy   float32 (bucket, D)  the buckets' rows (gensim's ``vectors_ngrams``)

then composes each word's vector as gensim's ``FastTextKeyedVectors.adjust_vectors`` does -- its own
row plus the rows of its n-grams' buckets (``ft_ngram_hashes``), summed in that order in float32,
divided by their number -- into::

    <directory>/vectors.npy          float32 (nwords, D)  what queries search (gensim's ``vectors``)
    <directory>/norms.npy            float32 (nwords,)
    <directory>/words.txt, word_offsets.npy, word_order.npy   the vocabulary, memory-mapped

with ``min_n``, ``max_n`` and ``bucket`` in ``meta.json`` (``"kind": "fasttext-vectors"``,
``"storage": "npy"``). :func:`models.embeddings.storage.load_vectors` maps all of it read-only into a
``FastTextKeyedVectors``: gensim's own ``get_vector`` then builds an out-of-vocabulary word's vector
from the mapped bucket rows, exactly as for a model it loaded itself.

Memory: the words (a Python list while importing), one chunk of the matrix (8 MiB), and while
composing a block of words, its vectors and n-gram hashes (:data:`BLOCK_SHARE` of the largest matrix
each, at least :data:`BLOCK_BYTES`) and the rows of the buckets it needs, gathered by reading the
bucket file in order (at most :data:`COMPOSE_SHARE` of the largest matrix, at least
:data:`GATHER_MIN_ROWS` rows; never a memory map of it: the kernel maps a file's cached pages in
large folios, so touching a few thousand random rows makes the whole matrix this process's RSS).
Nothing is held whole. Each block reads the bucket file once: the fewer blocks, the less reading.

>>> from gensim.test.utils import datapath
>>> from models.embeddings.storage import load_vectors
>>> meta = import_fasttext(datapath("lee_fasttext.bin"), tmp_path)
>>> meta["kind"], meta["vocab_size"], meta["vector_size"], meta["bucket"], meta["min_n"], meta["max_n"]
('fasttext-vectors', 1762, 10, 1000, 3, 6)
>>> ft = load_vectors(tmp_path)
>>> type(ft).__name__, type(ft.vectors_ngrams).__name__, "kingg" in ft.key_to_index, ft["kingg"].shape
('FastTextKeyedVectors', 'memmap', False, (10,))
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable
from typing import Any

import gensim
import numpy as np
from gensim.models.fasttext import ft_ngram_hashes

from .errors import InvalidModelFileError
from .formats import FastTextLayout, read_fasttext_layout
from .mapped_vocab import write_vocabulary
from .storage import FORMAT_VERSION, META_FILE, NGRAMS_FILE, NORMS_FILE, NPY_VECTORS_FILE, VOCAB_FILE
from .vector_import import CHUNK_BYTES, npy_header

FORMAT = "fasttext-bin"
#: The share of the largest matrix the bucket rows gathered for one block of words may take.
COMPOSE_SHARE = 0.4
#: ... or at least this many rows.
GATHER_MIN_ROWS = 1 << 16
#: Words hashed at a time (a block of words is one or more of these).
HASH_BATCH = 8192
#: Most bytes of a block's composed vectors (its words x D float32) and of its n-gram hashes (int64):
#: this share of the largest matrix, at least :data:`BLOCK_BYTES`.
BLOCK_SHARE = 0.05
BLOCK_BYTES = 32 << 20

#: ``progress(fraction)``, 0..1, about twice a second.
Progress = Callable[[float], None]


def import_fasttext(
    path: str | os.PathLike, directory: str | os.PathLike, progress: Progress | None = None
) -> dict[str, Any]:
    """Import the fastText ``.bin`` at ``path`` into ``directory`` (the layout above); return the meta.

    The meta has the :func:`~models.embeddings.storage.save_model` keys plus ``storage`` (``"npy"``),
    ``min_n``, ``max_n``, ``bucket``, ``import_records`` and ``duplicates`` (0: a dictionary with a
    word twice is refused, as gensim fails on it).

    Raises :class:`InvalidModelFileError` (``.offset`` where it is found) for what
    :func:`~models.embeddings.formats.read_fasttext_layout` refuses, a word that contains a newline or
    comes twice, and NaN or infinity in the matrix; ``OSError`` (unreadable file, full disk).
    """
    spath, out = os.fspath(path), os.fspath(directory)
    report = _Progress(progress)
    raw: list[bytes] = []
    layout = read_fasttext_layout(spath, words=raw)
    words = _decode_words(raw)
    del raw
    hdr, dim = layout.header, layout.dim
    os.makedirs(out, exist_ok=True)
    _copy_matrix(spath, out, layout, report)
    norms = _compose(out, words, layout, report)
    np.save(os.path.join(out, NORMS_FILE), norms)
    del norms
    write_vocabulary(out, words)
    report(1.0)
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "fasttext-vectors",
        "storage": "npy",
        "has_full_model": False,
        "vector_size": dim,
        "vocab_size": len(words),
        "gensim_version": gensim.__version__,
        "min_n": hdr["minn"],
        "max_n": hdr["maxn"],
        "bucket": hdr["bucket"],
        "import_records": len(words),
        "duplicates": 0,
    }
    with open(os.path.join(out, META_FILE), "w", encoding="utf-8") as f:
        json.dump(meta, f)
    return meta


class _Progress:
    """Share of the work done: copying the matrix is the first half, composing the words the second."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if self.progress is not None and (fraction >= 1.0 or now - self.last >= 0.5):
            self.last = now
            self.progress(min(max(fraction, 0.0), 1.0))


def _decode_words(raw: list[bytes]) -> list[str]:
    """The dictionary's words as gensim decodes them (UTF-8; bytes that are not: ``backslashreplace``);
    a newline or a word that comes twice is refused."""
    words: list[str] = []
    seen: dict[str, int] = {}
    for i, b in enumerate(raw):
        try:
            w = b.decode("utf-8")
        except UnicodeDecodeError:
            w = b.decode("utf-8", errors="backslashreplace")  # as gensim's _load_vocab
        if "\n" in w:
            raise InvalidModelFileError(
                f"dictionary word {i + 1} ({w[:40]!r}) contains a newline", format=FORMAT
            )
        j = seen.setdefault(w, i)
        if j != i:
            raise InvalidModelFileError(
                f"dictionary word {i + 1} ({w[:40]!r}) is word {j + 1} again: a fastText dictionary "
                "holds each word once (corrupt file; gensim fails on it too)",
                format=FORMAT,
            )
        words.append(w)
    return words


def _copy_matrix(path: str, out: str, layout: FastTextLayout, report: _Progress) -> None:
    """The input matrix, a chunk at a time, into ``vectors_vocab.npy`` (the words' rows) and
    ``vectors_ngrams.npy`` (the buckets'); each chunk checked for NaN / infinity."""
    dim, nwords, rows = layout.dim, layout.nwords, layout.rows
    row_bytes = 4 * dim
    chunk = max(1, CHUNK_BYTES // row_bytes)
    buf = np.empty((chunk, dim), dtype="<f4")
    with (
        open(path, "rb", buffering=0) as src,
        open(os.path.join(out, VOCAB_FILE), "wb") as vocab,
        open(os.path.join(out, NGRAMS_FILE), "wb") as ngrams,
    ):
        vocab.write(npy_header((nwords, dim)))
        ngrams.write(npy_header((layout.bucket, dim)))
        src.seek(layout.matrix_offset)
        r = 0
        while r < rows:
            k = min(chunk, rows - r, nwords - r if r < nwords else rows - r)  # never across the two parts
            view = buf[:k]
            got = _read_into(src, view)
            if got < k * row_bytes:
                raise InvalidModelFileError(
                    f"the file ends at byte offset {layout.matrix_offset + r * row_bytes + got} inside the "
                    f"input matrix (row {r + got // row_bytes} of {rows}): truncated file",
                    format=FORMAT,
                    offset=layout.matrix_offset + r * row_bytes + got,
                )
            finite = np.isfinite(view).all(axis=1)  # (k,)
            if not finite.all():
                i = r + int(np.argmin(finite))
                what = f"word {i + 1}" if i < nwords else f"n-gram bucket {i - nwords}"
                raise InvalidModelFileError(
                    f"byte offset {layout.matrix_offset + i * row_bytes}: the input matrix's row {i} ({what}) "
                    "contains NaN or infinity",
                    format=FORMAT,
                    offset=layout.matrix_offset + i * row_bytes,
                )
            (vocab if r < nwords else ngrams).write(view.data)
            r += k
            report(0.5 * r / rows)


def _read_into(f: Any, view: np.ndarray) -> int:
    """Fill ``view`` (C-contiguous) from the unbuffered file ``f``; the bytes read (fewer at its end)."""
    mem = memoryview(view).cast("B")
    got = 0
    while got < len(mem):
        n = f.readinto(mem[got:])
        if not n:
            break
        got += n
    return got


def _compose(out: str, words: list[str], layout: FastTextLayout, report: _Progress) -> np.ndarray:
    """``vectors.npy``: each word's row + its n-gram buckets' rows, in ``ft_ngram_hashes`` order, in
    float32, divided by their number -- gensim's ``adjust_vectors``, bit for bit. Returns the norms."""
    dim, nwords, bucket = layout.dim, layout.nwords, layout.bucket
    minn, maxn = layout.header["minn"], layout.header["maxn"]
    row_bytes = 4 * dim
    largest = max(nwords, bucket) * row_bytes
    cap = max(GATHER_MIN_ROWS, int(COMPOSE_SHARE * largest) // row_bytes)  # bucket rows gathered per block
    block_bytes = max(BLOCK_BYTES, int(BLOCK_SHARE * largest))
    max_words = max(HASH_BATCH, block_bytes // row_bytes)  # words per block
    max_hashes = block_bytes // 8  # n-gram hashes per block
    norms = np.empty(nwords, dtype=np.float32)
    seen = np.zeros(max(bucket, 1), dtype=bool)  # buckets of the block so far
    where = np.zeros(max(bucket, 1), dtype=np.int32)  # bucket -> its row among the block's
    vocab_header = len(npy_header((nwords, dim)))
    ngrams_header = len(npy_header((bucket, dim)))
    with (
        open(os.path.join(out, VOCAB_FILE), "rb", buffering=0) as vocab,
        open(os.path.join(out, NGRAMS_FILE), "rb", buffering=0) as ngrams,
        open(os.path.join(out, NPY_VECTORS_FILE), "wb") as dest,
    ):
        dest.write(npy_header((nwords, dim)))
        block: list[tuple[np.ndarray, np.ndarray]] = []  # (lens, flat hashes) of each batch
        start = 0  # the block's first word
        in_block = 0  # its words
        distinct = 0  # its buckets
        hashed = 0  # its n-gram hashes

        def flush() -> None:
            nonlocal start, in_block, distinct, hashed
            if not in_block:
                return
            lens = np.concatenate([b[0] for b in block])  # (k,)
            flat = np.concatenate([b[1] for b in block])  # (sum lens,)
            acc = np.empty((in_block, dim), dtype=np.float32)  # (k, D)
            vocab.seek(vocab_header + start * row_bytes)
            _read_into(vocab, acc)
            if flat.size:
                uniq = np.flatnonzero(seen)  # (U,) the block's buckets, sorted
                seen[uniq] = False
                where[uniq] = np.arange(uniq.size, dtype=np.int32)
                inv = where[flat]  # (sum lens,) each hash's row in ``rows``
                rows = _gather(ngrams, ngrams_header, row_bytes, uniq)  # (U, D)
                # words by descending number of n-grams: the words with a j-th n-gram are a prefix
                order = np.argsort(-lens, kind="stable")  # (k,)
                lens_o = lens[order]
                first = (np.cumsum(lens) - lens)[order]  # (k,) where each word's hashes start in flat
                have = np.searchsorted(-lens_o, -np.arange(int(lens_o[0])), side="left")  # (max,)
                part = acc[order]  # (k, D)
                for j, c in enumerate(have.tolist()):  # gensim's order: the j-th n-gram of every word
                    part[:c] += rows[inv[first[:c] + j]]
                part /= (lens_o + 1).astype(np.float32)[:, None]
                acc[order] = part
            norms[start : start + in_block] = np.linalg.norm(acc, axis=1)
            dest.write(acc.data)
            start += in_block
            in_block = distinct = hashed = 0
            block.clear()
            report(0.5 + 0.5 * start / max(nwords, 1))

        for b0 in range(0, nwords, HASH_BATCH):
            batch = words[b0 : b0 + HASH_BATCH]
            lens, flat = ngram_hashes(batch, minn, maxn, bucket)
            new = np.unique(flat[~seen[flat]]) if flat.size else flat
            full = in_block + len(batch) > max_words or hashed + flat.size > max_hashes
            if in_block and (full or distinct + new.size > cap):
                flush()
                new = np.unique(flat) if flat.size else flat
            seen[new] = True
            distinct += new.size
            hashed += flat.size
            block.append((lens, flat))
            in_block += len(batch)
        flush()
    return norms


def ngram_hashes(words: list[str], minn: int, maxn: int, bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """gensim's ``ft_ngram_hashes`` of each word: ``(lens, flat)``, the number of each word's n-grams
    (k,) and their buckets, one word after the other (sum lens,). No bucket: no n-gram.

    >>> lens, flat = ngram_hashes(["king", "naïve"], 3, 6, 2_000_000)
    >>> lens.tolist(), flat[:3].tolist()
    ([10, 14], [299675, 1736367, 824152])
    """
    hashes = [ft_ngram_hashes(w, minn, maxn, bucket) for w in words] if bucket else [[]] * len(words)
    lens = np.fromiter(map(len, hashes), dtype=np.int64, count=len(words))
    flat = np.fromiter(itertools.chain.from_iterable(hashes), dtype=np.int64, count=int(lens.sum()))
    return lens, flat


def _gather(f: Any, header: int, row_bytes: int, rows: np.ndarray) -> np.ndarray:
    """The rows ``rows`` (sorted, distinct) of the ``.npy`` matrix open as ``f`` (header ``header``
    bytes), read in order a window of at most ``CHUNK_BYTES`` at a time, skipping the gaps."""
    dim = row_bytes // 4
    out = np.empty((rows.size, dim), dtype=np.float32)  # (U, D)
    window = max(1, CHUNK_BYTES // row_bytes)
    buf = np.empty((window, dim), dtype=np.float32)
    i = 0
    while i < rows.size:
        r0 = int(rows[i])
        j = int(np.searchsorted(rows, r0 + window, side="left"))  # rows[i:j] within the window
        span = int(rows[j - 1]) - r0 + 1
        f.seek(header + r0 * row_bytes)
        _read_into(f, buf[:span])
        out[i:j] = buf[rows[i:j] - r0]
        i = j
    return out
