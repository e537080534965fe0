"""Importing a user's vectors file, never unpickling it: whole into memory (:func:`import_vectors`),
or streamed into a version directory (:func:`import_into`), the matrix never held in memory.

Every file is first sniffed and checked by :func:`models.embeddings.formats.check_file` (pickles,
archives and gzip refused, header counts against the file size and the first records), then read
only by non-pickle parsers; any parse failure becomes :class:`InvalidModelFileError`.

:func:`import_vectors` parses a small file within a request with gensim's ``load_word2vec_format`` /
``load_facebook_vectors`` and returns its ``KeyedVectors``.

:func:`import_into` reads a word2vec file (text or binary) or a GloVe file once, a block of rows at
a time; each block is checked (UTF-8 words, exactly ``D`` finite numbers per vector, duplicates
dropped as gensim drops them: the first occurrence wins) and appended to ``vectors.npy``; the rows'
L2 norms are kept (``4 n`` bytes) and written as ``norms.npy``, the words as ``words.txt`` with their
offsets and sorted order (the ``npy`` layout of :mod:`models.embeddings.storage`;
:mod:`models.embeddings.mapped_vocab`). What stays in memory is the vocabulary itself (the words and
their index), so importing a 1 M x 300 file (1.2 GB of floats) needs a few hundred MB, not the matrix
twice. The result loads with :func:`models.embeddings.storage.load_vectors` into the ``KeyedVectors``
that gensim's ``load_word2vec_format(path, binary=..., limit=limit)`` would build (GloVe:
``no_header=True``): same words, same order, same vectors and norms.

A GloVe file has no header: its vector size is the count of numbers on its first line (as gensim
finds it), and its row count is found while it is read, in the same single pass (``vectors.npy``'s
header has room for any count and is rewritten at the end). A text line with more than ``D`` fields
whose extra leading ones are not numbers is a word containing spaces (glove.840B has a few, like
``at name@domain.com``): the word is everything before its last ``D`` numbers. gensim fails on such a
line (``could not convert string to float``); a line with too many *numbers* is still an error.

The header of a word2vec file is held to its word: a file that goes on after the header's count of
vectors fails (naming both counts and the byte offset where the rest starts) rather than being cut
silently, as gensim cuts it; one that ends before fails likewise; a vector size that does not match
the records fails on the first of them (:func:`~models.embeddings.formats.check_file`) or where the
stream finds it. With a ``limit`` up to the header's count, the rest of the file is not read (nor checked).

Facebook fastText ``.bin`` files are streamed by :mod:`models.embeddings.fasttext_import` into the
memory-mapped layout of a ``FastTextKeyedVectors`` (word, n-gram bucket and composed matrices).

A fault names where it is: :class:`InvalidModelFileError` with ``.line`` (text files; the header is
line 1) and ``.offset`` (the byte offset of the record) -- a truncated 4 GB file says at which byte it
ends.

>>> from gensim.test.utils import datapath
>>> from models.embeddings.storage import load_vectors
>>> meta = import_into(datapath("euclidean_vectors.bin"), tmp_path / "new.tmp", limit=1000)
>>> meta["vocab_size"], meta["vector_size"], meta["storage"], meta["import_format"]
(1000, 10, 'npy', 'word2vec-binary')
>>> kv = load_vectors(tmp_path / "new.tmp")
>>> kv.index_to_key[:3], type(kv.vectors).__name__
(['the', 'to', 'of'], 'memmap')
>>> meta = import_into(datapath("test_glove.txt"), tmp_path / "glove.tmp")
>>> meta["vocab_size"], meta["vector_size"], meta["import_format"]
(76, 50, 'glove')
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Callable
from typing import IO, Any

import gensim
import numpy as np
from gensim.models import KeyedVectors
from gensim.models.fasttext import load_facebook_vectors

from .errors import InvalidModelFileError
from .formats import (
    check_file,
    read_fasttext_header,
    read_glove_dim,
    read_w2v_header,
    text_word_with_spaces,
)
from .mapped_vocab import write_vocabulary
from .storage import FORMAT_VERSION, META_FILE, NORMS_FILE, NPY_VECTORS_FILE

#: Bytes read from the file at a time.
CHUNK_BYTES = 8 << 20
#: Rows checked and written at a time.
BLOCK_ROWS = 4096
#: A binary record whose word runs longer than this without a space is corrupt.
MAX_WORD_BYTES = 1 << 16
#: The row count written into a ``vectors.npy`` header while the count is not known yet: its digits
#: leave room for any final count (the header is rewritten, padded to the same length, at the end).
_UNKNOWN_ROWS = 10**15

#: ``progress(fraction)``: the share of the file read, 0..1; called about twice a second.
Progress = Callable[[float], None]


def import_vectors(
    path: str | os.PathLike, format: str = "auto", *, limit: int | None = None
) -> KeyedVectors:
    """Parse a USER vectors file without ever unpickling; return ``KeyedVectors``.

    ``format``: ``"word2vec-text"``, ``"word2vec-binary"``, ``"glove"`` (text without a header),
    ``"fasttext-bin"`` (Facebook fastText ``.bin``; returns ``FastTextKeyedVectors`` which can build
    vectors for out-of-vocabulary words; quantized ``.ftz`` is not supported) or ``"auto"``
    (:func:`~models.embeddings.formats.sniff_format`). ``limit``: read at most this many vectors
    (word2vec and GloVe formats only).

    >>> from gensim.test.utils import datapath
    >>> kv = import_vectors(datapath("euclidean_vectors.bin"), "auto")
    >>> type(kv).__name__, len(kv), kv.vector_size
    ('KeyedVectors', 2747, 10)
    >>> ft = import_vectors(datapath("lee_fasttext.bin"))
    >>> type(ft).__name__, "kingg" in ft.key_to_index, ft["kingg"].shape  # a vector for an unseen word
    ('FastTextKeyedVectors', False, (10,))
    >>> len(import_vectors(datapath("test_glove.txt"), "glove", limit=5))
    5

    Raises :class:`~models.embeddings.errors.NotAPickleSafeFileError` (pickle / zip / torch),
    :class:`InvalidModelFileError` (gzip, bad header, counts not matching the file size, truncated or
    garbage content, any parser error; ``.format`` names the format tried), ``ValueError`` for an unknown
    ``format``, ``OSError`` if unreadable.
    """
    spath = os.fspath(path)
    if limit is not None and limit < 1:
        raise ValueError("limit must be >= 1")
    fmt = check_file(spath, format)
    try:
        if fmt == "fasttext-bin":
            kv = load_facebook_vectors(spath)
        else:
            kv = KeyedVectors.load_word2vec_format(
                spath,
                binary=(fmt == "word2vec-binary"),
                limit=limit,
                unicode_errors="strict",
                no_header=(fmt == "glove"),
            )
    except InvalidModelFileError:
        raise
    except Exception as exc:  # any parser failure on a user file is a 4xx, never a crash
        raise InvalidModelFileError(f"{type(exc).__name__}: {exc}", format=fmt) from exc
    if len(kv) == 0 or not np.all(np.isfinite(kv.vectors)):
        raise InvalidModelFileError("no vectors, or vectors containing NaN/inf", format=fmt)
    return kv


def import_into(
    path: str | os.PathLike,
    directory: str | os.PathLike,
    format: str = "auto",  # noqa: A002 - the API's name
    *,
    limit: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Import the user file ``path`` into ``directory`` (created if missing); return its meta dict.

    ``format``: ``"auto"`` (sniffed from the first bytes) or one of
    :data:`~models.embeddings.formats.IMPORT_FORMATS`; ``limit``: keep the first ``limit`` vectors
    (gensim's ``limit=``; word2vec and GloVe formats only). The meta has the
    :func:`~models.embeddings.storage.save_model` keys plus ``import_format``, ``import_bytes``,
    ``import_records`` (vectors read), ``duplicates`` (dropped), ``limit`` and ``import_s``.

    >>> from gensim.test.utils import datapath
    >>> import_into(datapath("word2vec_pre_kv_c"), tmp_path / "v1", limit=10)
    {'format_version': 1, 'kind': 'word2vec-vectors', 'storage': 'npy', 'has_full_model': False,
     'vector_size': 10, 'vocab_size': 10, 'gensim_version': '4.4.0', 'import_records': 10, 'duplicates': 0,
     'import_format': 'word2vec-text', 'import_bytes': 180659, 'limit': 10, 'import_s': ...}

    Raises :class:`~models.embeddings.errors.NotAPickleSafeFileError` (pickle / zip / torch),
    :class:`InvalidModelFileError` (anything that does not parse, with ``line`` / ``offset``),
    ``ValueError`` (unknown ``format``, ``limit < 1``), ``OSError`` (unreadable file, full disk).
    """
    spath = os.fspath(path)
    if limit is not None and limit < 1:
        raise ValueError("limit must be >= 1")
    fmt = check_file(spath, format)
    t0 = time.perf_counter()
    size = os.path.getsize(spath)
    os.makedirs(directory, exist_ok=True)
    if fmt == "fasttext-bin":
        from .fasttext_import import import_fasttext  # noqa: PLC0415 - it imports this module

        meta = import_fasttext(spath, os.fspath(directory), progress or _quiet)
    else:
        meta = _stream_word2vec(spath, os.fspath(directory), fmt, limit, progress or _quiet)
    meta.update(
        import_format=fmt, import_bytes=size, limit=limit, import_s=round(time.perf_counter() - t0, 3)
    )
    return meta


def matrix_bytes(path: str | os.PathLike, fmt: str, limit: int | None = None) -> int:
    """Return the bytes the stored matrices of a checked file will take: ``n x D x 4`` from a word2vec
    header; for GloVe (no header) ``n`` estimated from the file's size and its first lines' length; for
    fastText the word, composed and bucket matrices, ``(2 nwords + bucket) x D x 4``."""
    with open(path, "rb") as f:
        if fmt == "fasttext-bin":
            hdr = read_fasttext_header(f) or {"nwords": 0, "bucket": 0, "dim": 0}
            return (2 * hdr["nwords"] + hdr["bucket"]) * hdr["dim"] * 4
        if fmt == "glove":
            dim = read_glove_dim(f)
            head = f.read(1 << 20)
            lines = head.count(b"\n")
            per_line = (head.rindex(b"\n") + 1) / lines if lines else max(len(head), 1)
            count = int(os.path.getsize(path) / per_line) + 1
        else:
            count, dim = read_w2v_header(f, fmt)
    return min(count, limit or count) * dim * 4


def _quiet(_fraction: float) -> None:
    return None


class _RowWriter:
    """Appends checked blocks of rows to ``vectors.npy``; keeps the words, their index and the norms.

    ``n_max``: the most rows there can be (the header's count), or None when unknown (GloVe).
    """

    def __init__(self, directory: str, n_max: int | None, dim: int, fmt: str):
        self.directory, self.n_max, self.dim, self.fmt = directory, n_max, dim, fmt
        self.file = open(os.path.join(directory, NPY_VECTORS_FILE), "wb")  # noqa: SIM115 - closed in finish
        self.header = npy_header((_UNKNOWN_ROWS if n_max is None else n_max, dim))
        self.file.write(self.header)
        self.norms: list[np.ndarray] = []  # per block, (k',)
        self.words: list[str] = []
        self.index: dict[str, int] = {}
        self.duplicates = 0

    def add(self, words: list[str], block: np.ndarray, where: list[tuple[int | None, int]]) -> None:
        """Append ``block`` (k, D) float32 for ``words`` (k); ``where[i]`` = (line, offset) of row i."""
        finite = np.isfinite(block).all(axis=1)  # (k,)
        if not finite.all():
            i = int(np.argmin(finite))
            line, offset = where[i]
            raise InvalidModelFileError(
                f"the vector of {words[i]!r} ({_place(line, offset)}) contains NaN or infinity",
                format=self.fmt,
                line=line,
                offset=offset,
            )
        keep = []
        for i, word in enumerate(words):
            if word in self.index:  # gensim: "duplicate word in word2vec file, ignoring all but first"
                self.duplicates += 1
                continue
            self.index[word] = len(self.words)
            self.words.append(word)
            keep.append(i)
        rows = block if len(keep) == len(words) else block[keep]  # (k', D)
        self.norms.append(np.linalg.norm(rows, axis=1))  # as gensim's fill_norms
        self.file.write(np.ascontiguousarray(rows, dtype="<f4").tobytes())

    def finish(self) -> int:
        """Close the files (the header gets the final row count); return the number of rows."""
        n = len(self.words)
        if n != self.n_max:  # duplicates dropped, or a count found while reading: same header length
            self.file.seek(0)
            self.file.write(npy_header((n, self.dim), len(self.header)))
        self.file.close()
        norms = np.concatenate(self.norms) if self.norms else np.empty(0, np.float32)
        np.save(os.path.join(self.directory, NORMS_FILE), norms.astype(np.float32, copy=False))
        write_vocabulary(self.directory, self.words)
        return n

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()


def npy_header(shape: tuple[int, ...], total: int | None = None) -> bytes:
    """A ``.npy`` (format 1.0) header of a C-order little-endian float32 array of ``shape``.

    ``total`` pads it to that many bytes (a multiple of 64), so a smaller shape can replace a larger one.
    """
    d = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}".encode("latin1")
    if total is None:
        total = -(-(10 + len(d) + 1 + 16) // 64) * 64  # room for a shorter shape, aligned to 64
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", total - 10) + d + b" " * (total - 11 - len(d)) + b"\n"


def _place(line: int | None, offset: int) -> str:
    return f"line {line}, byte offset {offset}" if line is not None else f"byte offset {offset}"


def _stream_word2vec(
    path: str, directory: str, fmt: str, limit: int | None, progress: Progress
) -> dict[str, Any]:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if fmt == "glove":
            count, dim = None, read_glove_dim(f)
            n_max = limit
        else:
            count, dim = read_w2v_header(f, fmt)
            n_max = min(count, limit) if limit else count
        whole = count is not None and (limit is None or limit > count)  # then nothing may follow
        writer = _RowWriter(directory, n_max, dim, fmt)
        try:
            tick = _Ticker(progress, size)
            if fmt == "word2vec-binary":
                records = _read_binary(f, writer, n_max, dim, fmt, tick, check_rest=whole)
            else:
                records = _read_text(f, writer, n_max, dim, fmt, tick, check_rest=whole)
            n = writer.finish()
        finally:
            writer.close()
    if n == 0:
        raise InvalidModelFileError("no vectors", format=fmt)
    progress(1.0)
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "word2vec-vectors",
        "storage": "npy",
        "has_full_model": False,
        "vector_size": dim,
        "vocab_size": n,
        "gensim_version": gensim.__version__,
        "import_records": records,
        "duplicates": writer.duplicates,
    }
    with open(os.path.join(directory, META_FILE), "w", encoding="utf-8") as f:
        json.dump(meta, f)  # what load_vectors reads
    return meta


class _Ticker:
    """Calls ``progress`` with the share of the file read, at most twice a second."""

    def __init__(self, progress: Progress, size: int):
        self.progress, self.size, self.last = progress, max(size, 1), time.monotonic()

    def __call__(self, offset: int) -> None:
        now = time.monotonic()
        if now - self.last >= 0.5:
            self.last = now
            self.progress(min(offset / self.size, 1.0))


def _truncated(
    fmt: str, done: int, n_max: int, offset: int, line: int | None = None
) -> InvalidModelFileError:
    return InvalidModelFileError(
        f"the file ends at byte offset {offset} after {done} of {n_max} vectors "
        "(truncated file, or a header count that is too large)",
        format=fmt,
        line=line,
        offset=offset,
    )


def _read_text(
    f: IO[bytes],
    writer: _RowWriter,
    n_max: int | None,
    dim: int,
    fmt: str,
    tick: _Ticker,
    *,
    check_rest: bool,
) -> int:
    """Text lines: ``word v1 ... vD`` (gensim: the line right-stripped, the word up to the first space;
    a word containing spaces: see :func:`_parse_text_block`). word2vec text: ``n_max`` records after
    the header line; GloVe: until the end of the file (or ``n_max`` records, the limit), blank lines at
    its very end allowed. ``check_rest``: nothing but blank lines may follow the last record. Returns the number of
    records read."""
    offset = f.tell()
    line_no = 1 if fmt == "glove" else 2  # of the next line
    done = 0
    words: list[str] = []
    numbers: list[bytes] = []
    where: list[tuple[int | None, int]] = []
    glove = fmt == "glove"  # no count: the file's end is the end
    while n_max is None or done < n_max:
        raw = f.readline()
        if not raw:
            if glove:
                break
            raise _truncated(fmt, done, n_max, offset, line=line_no)
        if not raw.strip():  # blank lines may only end the file
            more = _more_lines(f)
            if more is None:
                if glove:
                    offset += len(raw)
                    break
                raise _truncated(fmt, done, n_max, offset, line=line_no)
            raise InvalidModelFileError(
                f"{_place(line_no, offset)}: a blank line, with {_lines(more[0])} after it",
                format=fmt,
                line=line_no,
                offset=offset,
            )
        word_b, sep, rest = raw.rstrip().partition(b" ")
        if not sep:
            raise InvalidModelFileError(
                f"{_place(line_no, offset)}: no vector after the word (is this really the text format?)",
                format=fmt,
                line=line_no,
                offset=offset,
            )
        try:
            words.append(word_b.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InvalidModelFileError(
                f"{_place(line_no, offset)}: the word is not valid UTF-8 ({exc.reason})",
                format=fmt,
                line=line_no,
                offset=offset,
            ) from None
        numbers.append(rest)
        where.append((line_no, offset))
        offset += len(raw)
        line_no += 1
        done += 1
        if len(words) == BLOCK_ROWS or done == n_max:
            writer.add(words, _parse_text_block(words, numbers, where, dim, fmt), where)
            words, numbers, where = [], [], []
            tick(offset)
    if words:
        writer.add(words, _parse_text_block(words, numbers, where, dim, fmt), where)
    if check_rest:
        more = _more_lines(f)
        if more is not None:
            extra, line_no, offset = more[0], line_no + more[1], offset + more[2]
            raise InvalidModelFileError(
                f"the header says {done} vectors, but the file holds {done + extra}: {_lines(extra, 'more ')} "
                f"follow the last of them, from {_place(line_no, offset)} (the header's count is too small)",
                format=fmt,
                line=line_no,
                offset=offset,
            )
    return done


def _lines(n: int, what: str = "") -> str:
    return f"{n} {what}line" + ("" if n == 1 else "s")


def _more_lines(f: IO[bytes]) -> tuple[int, int, int] | None:
    """The non-blank lines from ``f``'s position to its end: ``(how many, blank lines before the first,
    their bytes)``, or None when there is none. Reads to the end."""
    count, blank_lines, blank_bytes = 0, 0, 0
    for raw in f:
        if raw.strip():
            count += 1
        elif count == 0:
            blank_lines += 1
            blank_bytes += len(raw)
    return (count, blank_lines, blank_bytes) if count else None


def _parse_text_block(
    words: list[str], numbers: list[bytes], where: list[tuple[int | None, int]], dim: int, fmt: str
) -> np.ndarray:
    """The numbers of a block of lines as a (k, D) float32 array; the first bad line named on failure.

    A line with more than ``D`` fields whose extra leading ones are not all numbers holds a word with
    spaces (``at name@domain.com`` in glove.840B): its word (in ``words``, changed in place) is all
    before its last ``D`` fields, as the file has it."""
    try:
        flat = np.fromstring(b"\n".join(numbers), dtype=np.float32, sep=" ")  # (k * D,)
        if flat.size == len(numbers) * dim:
            return flat.reshape(len(numbers), dim)  # (k, D)
    except ValueError:
        pass
    fixed = list(numbers)
    for i, (rest, (line, offset)) in enumerate(zip(numbers, where, strict=True)):  # find the line at fault
        parts = rest.split()
        if len(parts) > dim and text_word_with_spaces(parts, dim):
            whole = (words[i].encode("utf-8") + b" " + rest).rsplit(None, dim)
            try:
                words[i] = whole[0].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidModelFileError(
                    f"{_place(line, offset)}: the word is not valid UTF-8 ({exc.reason})",
                    format=fmt,
                    line=line,
                    offset=offset,
                ) from None
            fixed[i] = b" ".join(whole[1:])
            continue
        bad = next((p for p in parts if not _is_float(p)), None)
        if bad is not None:
            raise InvalidModelFileError(
                f"{_place(line, offset)}: {bad[:40].decode('utf-8', 'replace')!r} is not a number",
                format=fmt,
                line=line,
                offset=offset,
            )
        if len(parts) != dim:
            says = "the first line has" if fmt == "glove" else "the header says vectors have"
            raise InvalidModelFileError(
                f"{_place(line, offset)}: {len(parts)} numbers, {says} {dim}",
                format=fmt,
                line=line,
                offset=offset,
            )
    flat = np.fromstring(b"\n".join(fixed), dtype=np.float32, sep=" ")
    if flat.size != len(fixed) * dim:  # pragma: no cover - every line was checked above
        raise InvalidModelFileError("unparseable numbers in a block of lines", format=fmt)
    return flat.reshape(len(fixed), dim)


def _is_float(text: bytes) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_binary(
    f: IO[bytes], writer: _RowWriter, n_max: int, dim: int, fmt: str, tick: _Ticker, *, check_rest: bool
) -> int:
    """word2vec binary: ``word`` + ``b" "`` + ``D`` little-endian float32 per record, optionally preceded
    by newlines (gensim strips them from the word). ``check_rest``: nothing but newlines may follow the
    last record. Returns the number of records read."""
    vbytes = 4 * dim
    base = f.tell()  # file offset of buf[0]
    buf = b""
    pos = 0
    eof = False
    done = 0
    words: list[str] = []
    rows: list[bytes] = []
    where: list[tuple[int | None, int]] = []
    while done < n_max:
        while pos < len(buf) and buf[pos] == 0x0A:  # newlines between records (gensim strips them)
            pos += 1
        space = buf.find(b" ", pos, pos + MAX_WORD_BYTES + 1)
        if space == -1 or len(buf) - (space + 1) < vbytes:
            if eof:
                raise _truncated(fmt, done, n_max, base + pos)
            if space == -1 and len(buf) - pos > MAX_WORD_BYTES:
                raise InvalidModelFileError(
                    f"byte offset {base + pos}: no space within {MAX_WORD_BYTES} bytes where record "
                    f"{done + 1} should start (corrupt file, or not word2vec-binary)",
                    format=fmt,
                    offset=base + pos,
                )
            data = f.read(CHUNK_BYTES)
            eof = len(data) < CHUNK_BYTES
            base += pos
            buf = buf[pos:] + data
            pos = 0
            continue
        try:
            word = buf[pos:space].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidModelFileError(
                f"byte offset {base + pos}: the word of record {done + 1} is not valid UTF-8 ({exc.reason}; "
                f"a header whose vector size {dim} does not match the records reads floats as words)",
                format=fmt,
                offset=base + pos,
            ) from None
        if "\n" in word:
            raise InvalidModelFileError(
                f"byte offset {base + pos}: the word of record {done + 1} contains a newline",
                format=fmt,
                offset=base + pos,
            )
        words.append(word)
        rows.append(buf[space + 1 : space + 1 + vbytes])
        where.append((None, base + pos))
        pos = space + 1 + vbytes
        done += 1
        if len(words) == BLOCK_ROWS or done == n_max:
            block = np.frombuffer(b"".join(rows), dtype="<f4").reshape(len(rows), dim)  # (k, D)
            writer.add(words, block, where)
            words, rows, where = [], [], []
            tick(base + pos)
    if check_rest:
        _binary_rest(f, buf[pos:], base + pos, eof, done, dim, fmt)
    return done


def _binary_rest(f: IO[bytes], buf: bytes, base: int, eof: bool, count: int, dim: int, fmt: str) -> None:
    """After the header's ``count`` records (``buf`` starts at file offset ``base``): only newlines may
    follow. Otherwise counts the records of size ``dim`` that do, and fails naming both counts."""
    vbytes = 4 * dim
    pos = 0
    more = 0
    start = None  # offset of the first byte after the records that is not a newline
    while True:
        while pos < len(buf) and buf[pos] in b"\n\r\t ":
            pos += 1
        if pos < len(buf) and start is None:
            start = base + pos
        space = buf.find(b" ", pos, pos + MAX_WORD_BYTES + 1)
        whole = space != -1 and len(buf) - (space + 1) >= vbytes
        if not whole and not eof and (space != -1 or len(buf) - pos <= MAX_WORD_BYTES):
            data = f.read(CHUNK_BYTES)
            eof = len(data) < CHUNK_BYTES
            base += pos
            buf = buf[pos:] + data
            pos = 0
            continue
        if not whole:
            break
        more += 1
        pos = space + 1 + vbytes
    if start is None:
        return
    stray = len(buf) - pos
    found = (
        f"{more} more record{'' if more == 1 else 's'} of size {dim} ({count + more} in all)"
        if more
        else "no whole record"
    )
    tail = f" and {stray} bytes that are not one" if more and stray else (f", {stray} bytes" if stray else "")
    raise InvalidModelFileError(
        f"the header says {count} vectors of size {dim}, but the file goes on after the last of them, "
        f"at byte offset {start}: {found}{tail} (the header's count is too small, or its vector size wrong)",
        format=fmt,
        offset=start,
    )
