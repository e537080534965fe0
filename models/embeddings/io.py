"""Persistence of OUR models, and safe import / export of USER vector files.

Our own format (written and read only by this service -- these files ARE pickles, never load a user's):

    <directory>/meta.json                      {"format_version", "kind", "vector_size", "vocab_size", ...}
    <directory>/vectors.kv                     gensim KeyedVectors (.save), with every numpy array in
    <directory>/vectors.kv.*.npy               its own .npy file so ``mmap='r'`` works
    <directory>/model.gensim (+ .npy files)    the full Word2Vec/FastText model (only when a model was
                                               saved, not bare vectors) -- needed to continue training

The vector norms are computed once, when a version is written, and stored beside the vectors
(``vectors.kv.norms.npy``), so a serving process maps them instead of computing them at start.

Imported word2vec files are stored without any pickle (``"storage": "npy"`` in the meta):

    <directory>/vectors.npy                    float32 (n, D), memory-mapped
    <directory>/norms.npy                      float32 (n,), the L2 norm of each row
    <directory>/words.txt                      UTF-8, word i on line i (words never contain "\n")

(:mod:`models.embeddings.vector_import` writes it while streaming a file; :func:`load_vectors` reads
both layouts.)

User files (:func:`import_vectors`) go only through non-pickle parsers (``load_word2vec_format``,
``load_facebook_vectors``) after sniffing the first bytes: pickles (``\\x80``), zip archives (``PK``:
torch ``.pt``, ``.npz``, ``.zip``) and gzip streams are refused with :class:`NotAPickleSafeFileError` /
:class:`InvalidModelFileError`; header counts are checked against the file size before any allocation;
any parse failure becomes :class:`InvalidModelFileError`.
"""

from __future__ import annotations

import io
import json
import os
import pickletools
import re
import struct
from collections.abc import Iterator
from typing import IO, Any

import gensim
import numpy as np
from gensim.models import FastText, KeyedVectors, Word2Vec
from gensim.models.fasttext import FastTextKeyedVectors, load_facebook_vectors

from .errors import InvalidModelFileError, NotAPickleSafeFileError
from .mapped_vocab import MappedKeyIndex, MappedKeys

FORMAT_VERSION = 1
META_FILE = "meta.json"
VECTORS_FILE = "vectors.kv"
MODEL_FILE = "model.gensim"
NPY_VECTORS_FILE = "vectors.npy"
NORMS_FILE = "norms.npy"

IMPORT_FORMATS: tuple[str, ...] = ("word2vec-text", "word2vec-binary", "fasttext-bin")
EXPORT_FORMATS: tuple[str, ...] = ("word2vec-text", "word2vec-binary")

_FASTTEXT_MAGIC = struct.pack("<i", 793712314)
_W2V_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")
_MAX_HEADER_LINE = 1024
_SNIFF_BYTES = 4096  # read to recognise pickles / archives before any parser sees the file


# --------------------------------------------------------------------------- our own format


def save_model(
    model_or_kv: Word2Vec | FastText | KeyedVectors, directory: str | os.PathLike
) -> dict[str, Any]:
    """Write a model (or bare KeyedVectors) into ``directory`` (created if missing); return the meta dict.

    The caller handles atomicity (write into a temp dir, then rename). Arrays are stored as separate
    ``.npy`` files (``sep_limit=0``) so :func:`load_vectors` can memory-map them, the norms included
    (computed here, once, so serving processes map them rather than compute them).

    >>> save_model(model, "/data/models/default.tmp")      # doctest: +SKIP
    {'format_version': 1, 'kind': 'word2vec', 'has_full_model': True, 'vector_size': 100, ...}

    Raises ``TypeError`` for anything but a gensim Word2Vec / FastText / KeyedVectors.
    """
    if isinstance(model_or_kv, FastText):
        kind, kv, full = "fasttext", model_or_kv.wv, model_or_kv
    elif isinstance(model_or_kv, Word2Vec):
        kind, kv, full = "word2vec", model_or_kv.wv, model_or_kv
    elif isinstance(model_or_kv, FastTextKeyedVectors):
        kind, kv, full = "fasttext-vectors", model_or_kv, None
    elif isinstance(model_or_kv, KeyedVectors):
        kind, kv, full = "word2vec-vectors", model_or_kv, None
    else:
        raise TypeError(f"cannot save a {type(model_or_kv).__name__}")
    os.makedirs(directory, exist_ok=True)
    kv.fill_norms()
    kv.save(os.path.join(directory, VECTORS_FILE), sep_limit=0, ignore=frozenset())
    if full is not None:
        full.save(os.path.join(directory, MODEL_FILE), sep_limit=0)
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "has_full_model": full is not None,
        "vector_size": int(kv.vector_size),
        "vocab_size": len(kv),
        "gensim_version": gensim.__version__,
    }
    with open(os.path.join(directory, META_FILE), "w", encoding="utf-8") as f:
        json.dump(meta, f)
    return meta


def read_meta(directory: str | os.PathLike) -> dict[str, Any]:
    """Return the ``meta.json`` dict of a saved model directory.

    Raises ``FileNotFoundError`` if there is none, ``ValueError`` for an unsupported format version.
    """
    with open(os.path.join(directory, META_FILE), encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported model directory format {meta.get('format_version')!r}")
    return meta


def load_vectors(directory: str | os.PathLike, mmap: bool = True) -> KeyedVectors:
    """Load the KeyedVectors of a directory written by :func:`save_model`.

    With ``mmap=True`` the arrays are opened read-only with ``mmap='r'`` (``np.memmap``), so several worker
    processes share one copy in the page cache. For FastText, ``vectors_vocab`` / ``vectors_ngrams`` are
    mapped, but ``kv.vectors`` (full-word vectors) is recomputed into RAM by gensim at load time.
    Returns a ``KeyedVectors`` (``FastTextKeyedVectors`` for FastText).

    >>> kv = load_vectors("/data/models/default")            # doctest: +SKIP
    >>> isinstance(kv.vectors, np.memmap)                      # doctest: +SKIP
    True

    ONLY for directories this service wrote (gensim ``.load`` unpickles; the ``npy`` layout of imported
    vectors unpickles nothing). Raises ``FileNotFoundError``, ``ValueError`` for an inconsistent directory.
    """
    meta = read_meta(directory)
    if meta.get("storage") == "npy":
        return _load_npy_vectors(directory, mmap)
    cls = FastTextKeyedVectors if meta["kind"].startswith("fasttext") else KeyedVectors
    return cls.load(os.path.join(directory, VECTORS_FILE), mmap="r" if mmap else None)


def _load_npy_vectors(directory: str | os.PathLike, mmap: bool) -> KeyedVectors:
    mode = "r" if mmap else None
    vectors = np.load(os.path.join(directory, NPY_VECTORS_FILE), mmap_mode=mode)  # (n, D)
    norms = np.load(os.path.join(directory, NORMS_FILE), mmap_mode=mode)  # (n,)
    keys = MappedKeys(directory)
    n = vectors.shape[0]
    if len(keys) != n or norms.shape != (n,):
        raise ValueError(f"{directory}: {len(keys)} words, {norms.shape} norms for {vectors.shape} vectors")
    kv = KeyedVectors(int(vectors.shape[1]), count=0, dtype=np.float32)
    kv.vectors = vectors
    kv.norms = norms
    kv.index_to_key = keys
    kv.key_to_index = MappedKeyIndex(keys)
    return kv


def load_full_model(directory: str | os.PathLike) -> Word2Vec | FastText:
    """Load the full trainable model (in RAM, writable) saved by :func:`save_model`, to continue training.

    Raises ``ValueError`` if only vectors were saved (imported files cannot be trained further),
    ``FileNotFoundError`` if the directory has no model. ONLY for directories this service wrote.
    """
    meta = read_meta(directory)
    if not meta.get("has_full_model"):
        raise ValueError("this model has vectors only (e.g. imported); it cannot be trained further")
    cls = FastText if meta["kind"] == "fasttext" else Word2Vec
    return cls.load(os.path.join(directory, MODEL_FILE))


# --------------------------------------------------------------------------- user files: import


def sniff_format(path: str | os.PathLike) -> str:
    """Return the import format of a user file from its first bytes (does not parse it fully).

    ``"fasttext-bin"`` (fastText magic ``0x2F4F16BA``, or a plausible pre-2017 header), ``"word2vec-text"``
    or ``"word2vec-binary"`` (``"<count> <dim>\\n"`` header; text when the first record is a word
    followed by ``dim`` numbers).

    >>> sniff_format(datapath("lee_fasttext.bin"))   # doctest: +SKIP
    'fasttext-bin'

    Raises :class:`NotAPickleSafeFileError` for pickle / zip (torch) files, :class:`InvalidModelFileError`
    for gzip, empty or unrecognised files.
    """
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
        _refuse_unsafe(head, "auto")
        if head[:4] == _FASTTEXT_MAGIC:
            return "fasttext-bin"
        f.seek(0)
        if not _W2V_HEADER.match(f.readline(_MAX_HEADER_LINE)):
            f.seek(0)
            if _fasttext_header(f.read(_FT_NEW.size)) is not None:
                return "fasttext-bin"  # pre-2017 fastText .bin (no magic number)
        f.seek(0)
        count, dim = _read_w2v_header(f, "auto")
        first = f.readline(min(max(64 * 1024, 64 * dim), 16 * 1024 * 1024))
    word, sep, rest = first.partition(b" ")
    try:
        values = rest.decode("ascii").split()
        if sep and len(values) == dim:
            [float(v) for v in values]
            return "word2vec-text"
    except (UnicodeDecodeError, ValueError):
        pass
    return "word2vec-binary"


def _looks_like_text_pickle(head: bytes) -> bool:
    """True when ``head`` reads as a protocol 0/1 pickle (these have no ``\\x80`` header) that imports a
    callable: its opcodes parse up to a ``GLOBAL``/``INST`` naming a dotted identifier pair, like
    ``cposix\\nsystem\\n``. Only parses opcodes (``pickletools.genops``), never loads anything.

    Word2vec files start with a count (digits and a space: no such opcode sequence); text that merely
    starts with ``c`` or ``i`` has no identifier pair on its first two lines.
    """
    try:
        for op, arg, _pos in pickletools.genops(io.BytesIO(head)):
            if op.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                return all(p.isidentifier() for p in module.split(".")) and name.isidentifier()
    except Exception:  # not opcodes, or cut off by the end of ``head``
        return False
    return False


def _refuse_unsafe(head: bytes, fmt: str) -> None:
    if not head:
        raise InvalidModelFileError("file is empty", format=fmt)
    if head[:1] == b"\x80" or _looks_like_text_pickle(head):
        raise NotAPickleSafeFileError("Python pickle", format=fmt)
    if head[:2] == b"PK":
        raise NotAPickleSafeFileError("zip (e.g. torch .pt / .npz)", format=fmt)
    if head[:2] == b"\x1f\x8b":
        raise InvalidModelFileError(
            "gzip-compressed files are not accepted; upload the uncompressed file", format=fmt
        )


def _read_w2v_header(f: IO[bytes], fmt: str) -> tuple[int, int]:
    line = f.readline(_MAX_HEADER_LINE)
    m = _W2V_HEADER.match(line)
    if not m:
        raise InvalidModelFileError(
            'missing word2vec header: the first line must be "<vocab_size> <vector_size>"', format=fmt
        )
    count, dim = int(m.group(1)), int(m.group(2))
    if count < 1 or dim < 1:
        raise InvalidModelFileError(f"header counts must be >= 1, got {count} {dim}", format=fmt)
    return count, dim


def _check_w2v(path: str, fmt: str) -> None:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        count, dim = _read_w2v_header(f, fmt)
        body = size - f.tell()
    per_record = 4 * dim + 2 if fmt == "word2vec-binary" else 2 * dim + 1
    if count * per_record > body:
        raise InvalidModelFileError(
            f"header says {count} vectors of size {dim} but the file is only {size} bytes "
            "(header counts wrong, wrong format, or truncated file)",
            format=fmt,
        )


_FT_NEW = struct.Struct(
    "<2i12id3iq"
)  # magic, version, dim, ws, 10 int args, t, size, nwords, nlabels, ntokens
_FT_OLD = struct.Struct("<12id3iq")  # dim, ws, 10 int args, t, size, nwords, nlabels, ntokens


def _fasttext_header(raw: bytes) -> dict[str, int] | None:
    """Decode a fastText .bin header (new format with magic, or the pre-2017 format); None if implausible."""
    if raw[:4] == _FASTTEXT_MAGIC:
        if len(raw) < _FT_NEW.size:
            return None
        h = _FT_NEW.unpack(raw[: _FT_NEW.size])[2:]
        version = _FT_NEW.unpack(raw[: _FT_NEW.size])[1]
    else:
        if len(raw) < _FT_OLD.size:
            return None
        h = _FT_OLD.unpack(raw[: _FT_OLD.size])
        version = 0
    hdr = {
        "version": version, "dim": h[0], "ws": h[1], "epoch": h[2], "loss": h[6], "model": h[7],
        "bucket": h[8], "minn": h[9], "maxn": h[10], "size": h[13], "nwords": h[14], "nlabels": h[15],
    }  # fmt: skip
    ok = (
        0 < hdr["dim"] <= 100_000
        and 0 < hdr["ws"] <= 10_000
        and 0 <= hdr["bucket"]
        and 0 <= hdr["minn"] <= 1000
        and 0 <= hdr["maxn"] <= 1000
        and 1 <= hdr["loss"] <= 4
        and 1 <= hdr["model"] <= 3
        and 0 < hdr["nwords"] <= hdr["size"]
        and 0 <= hdr["nlabels"] <= hdr["size"]
        and version in (0, 11, 12)
    )
    return hdr if ok else None


def _check_fasttext(path: str, fmt: str) -> None:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(_FT_NEW.size)
    hdr = _fasttext_header(raw)
    if hdr is None:
        raise InvalidModelFileError("not a fastText .bin file (implausible or truncated header)", format=fmt)
    nwords, bucket, dim = hdr["nwords"], hdr["bucket"], hdr["dim"]
    if (nwords + bucket) * dim * 4 + hdr["size"] * 10 > size:
        raise InvalidModelFileError(
            f"header says {nwords} words + {bucket} buckets of size {dim} but the file is only {size} bytes "
            "(truncated or corrupt)",
            format=fmt,
        )


def check_file(path: str | os.PathLike, format: str = "auto") -> str:  # noqa: A002
    """The cheap checks of a user file, before any parsing; returns its format (sniffed for ``"auto"``).

    Reads the first kilobytes only: refuses pickles and archives, checks the header and that the file is
    at least as long as the header's counts need (a file cut in half fails here, at once).

    >>> check_file(datapath("euclidean_vectors.bin"))   # doctest: +SKIP
    'word2vec-binary'

    Raises :class:`~models.embeddings.errors.NotAPickleSafeFileError`, :class:`InvalidModelFileError`,
    ``ValueError`` for an unknown ``format``, ``OSError``.
    """
    spath = os.fspath(path)
    if format != "auto" and format not in IMPORT_FORMATS:
        raise ValueError(f"unknown import format {format!r}; expected 'auto' or one of {IMPORT_FORMATS}")
    with open(spath, "rb") as f:
        _refuse_unsafe(f.read(_SNIFF_BYTES), format)
    fmt = sniff_format(spath) if format == "auto" else format
    if fmt == "fasttext-bin":
        _check_fasttext(spath, fmt)
    else:
        _check_w2v(spath, fmt)
        if fmt == "word2vec-binary" and sniff_format(spath) == "word2vec-text":
            # the binary parser would "succeed" on text, reading digits as float32 bytes
            raise InvalidModelFileError("file is word2vec-text, not word2vec-binary", format=fmt)
    return fmt


def import_vectors(
    path: str | os.PathLike, format: str = "auto", *, limit: int | None = None
) -> KeyedVectors:
    """Parse a USER vectors file without ever unpickling; return ``KeyedVectors``.

    ``format``: ``"word2vec-text"``, ``"word2vec-binary"``, ``"fasttext-bin"`` (Facebook fastText ``.bin``;
    returns ``FastTextKeyedVectors`` which can build vectors for out-of-vocabulary words; quantized ``.ftz``
    is not supported) or ``"auto"`` (:func:`sniff_format`). ``limit``: read at most this many vectors
    (word2vec formats only).

    >>> kv = import_vectors(datapath("euclidean_vectors.bin"), "auto")   # doctest: +SKIP
    >>> kv.vector_size                                                     # doctest: +SKIP
    2

    Raises :class:`NotAPickleSafeFileError` (pickle / zip / torch), :class:`InvalidModelFileError`
    (gzip, bad header, counts not matching the file size, truncated or garbage content, any parser error;
    ``.format`` names the format tried), ``ValueError`` for an unknown ``format``, ``OSError`` if unreadable.
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
                spath, binary=(fmt == "word2vec-binary"), limit=limit, unicode_errors="strict"
            )
    except InvalidModelFileError:
        raise
    except Exception as exc:  # any parser failure on a user file is a 4xx, never a crash
        raise InvalidModelFileError(f"{type(exc).__name__}: {exc}", format=fmt) from exc
    if len(kv) == 0 or not np.all(np.isfinite(kv.vectors)):
        raise InvalidModelFileError("no vectors, or vectors containing NaN/inf", format=fmt)
    return kv


# --------------------------------------------------------------------------- user files: export


def _check_exportable(kv: KeyedVectors) -> None:
    bad = [w for w in kv.index_to_key if not isinstance(w, str) or not w or any(c.isspace() for c in w)]
    if bad:
        raise ValueError(
            f"{len(bad)} keys cannot be written in word2vec format (empty or whitespace): {bad[:5]}"
        )


def iter_export(kv: KeyedVectors, format: str, *, chunk_rows: int = 1024) -> Iterator[bytes]:
    """Yield the file as ``bytes`` chunks (for a streaming HTTP response), vocabulary order.

    ``word2vec-text``: ``"<count> <dim>\\n"`` then ``word v1 ... vD\\n`` (``%.9g``, float32-exact);
    ``word2vec-binary``: same header then ``word + b" " + float32 little-endian`` per vector, as gensim writes
    it. Both load with ``KeyedVectors.load_word2vec_format``. FastText: only in-vocabulary words are written
    (subword information is lost).

    >>> b"".join(iter_export(kv, "word2vec-text"))[:8]    # doctest: +SKIP
    b'3955 100'

    Raises ``ValueError`` for an unknown format or keys with whitespace (checked before the first chunk).
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; expected one of {EXPORT_FORMATS}")
    _check_exportable(kv)
    return _export_chunks(kv, format, chunk_rows)


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


def export_vectors(kv: KeyedVectors, format: str, dest: str | os.PathLike | IO[bytes]) -> int:
    """Write ``kv`` to a path or binary file object in ``format``; return the number of bytes written.

    See :func:`iter_export` for the formats. Raises ``ValueError`` (format / keys), ``OSError``.
    """
    chunks = iter_export(kv, format)
    if isinstance(dest, str | os.PathLike):
        with open(dest, "wb") as f:
            return sum(f.write(c) for c in chunks)
    return sum(dest.write(c) for c in chunks)
