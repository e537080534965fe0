"""A user's vectors file, sniffed and checked before any parser reads it: its format, and refusal of
what cannot be a vectors file.

The import formats (:data:`IMPORT_FORMATS`) are word2vec text, word2vec binary and Facebook fastText
``.bin``. A user file is recognised from its first bytes (:func:`sniff_format`): pickles (``\\x80``, or a
protocol 0/1 pickle naming a callable), zip archives (``PK``: torch ``.pt``, ``.npz``, ``.zip``) and gzip
streams are refused with :class:`NotAPickleSafeFileError` / :class:`InvalidModelFileError`, and header
counts are checked against the file size before any allocation (:func:`check_file`). Only then do the
non-pickle parsers of :mod:`models.embeddings.vector_import` read the file.

>>> from gensim.test.utils import datapath
>>> check_file(datapath("lee_fasttext.bin"))
'fasttext-bin'
>>> check_file(datapath("word2vec_pre_kv_sep_py3"))  # a model gensim pickled
Traceback (most recent call last):
...
models.embeddings.errors.NotAPickleSafeFileError: invalid model file (auto): file looks like a Python pickle
archive; pickled/archived objects are never loaded from user files
"""

from __future__ import annotations

import io
import os
import pickletools
import re
import struct
from typing import IO

from .errors import InvalidModelFileError, NotAPickleSafeFileError

IMPORT_FORMATS: tuple[str, ...] = ("word2vec-text", "word2vec-binary", "fasttext-bin")

_FASTTEXT_MAGIC = struct.pack("<i", 793712314)
_W2V_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")
_MAX_HEADER_LINE = 1024
_SNIFF_BYTES = 4096  # read to recognise pickles / archives before any parser sees the file


def sniff_format(path: str | os.PathLike) -> str:
    """Return the import format of a user file from its first bytes (does not parse it fully).

    ``"fasttext-bin"`` (fastText magic ``0x2F4F16BA``, or a plausible pre-2017 header), ``"word2vec-text"``
    or ``"word2vec-binary"`` (``"<count> <dim>\\n"`` header; text when the first record is a word
    followed by ``dim`` numbers).

    >>> from gensim.test.utils import datapath
    >>> sniff_format(datapath("lee_fasttext.bin")), sniff_format(datapath("lee_fasttext.vec"))
    ('fasttext-bin', 'word2vec-text')

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
            if read_fasttext_header(f) is not None:
                return "fasttext-bin"  # pre-2017 fastText .bin (no magic number)
        f.seek(0)
        count, dim = read_w2v_header(f, "auto")
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


def check_file(path: str | os.PathLike, format: str = "auto") -> str:  # noqa: A002
    """The cheap checks of a user file, before any parsing; returns its format (sniffed for ``"auto"``).

    Reads the first kilobytes only: refuses pickles and archives, checks the header and that the file is
    at least as long as the header's counts need (a file cut in half fails here, at once).

    >>> from gensim.test.utils import datapath
    >>> check_file(datapath("euclidean_vectors.bin"))
    'word2vec-binary'
    >>> from pathlib import Path
    >>> whole = Path(datapath("euclidean_vectors.bin")).read_bytes()
    >>> _ = (tmp_path / "half.bin").write_bytes(whole[: len(whole) // 2])
    >>> check_file(tmp_path / "half.bin")
    Traceback (most recent call last):
    ...
    models.embeddings.errors.InvalidModelFileError: invalid model file (word2vec-binary): header says 2747
    vectors of size 10 but the file is only 65265 bytes (header counts wrong, wrong format, or truncated file)

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


def read_w2v_header(f: IO[bytes], fmt: str) -> tuple[int, int]:
    """Read the ``"<count> <dim>"`` first line of a word2vec file at ``f``'s position; return ``(count, dim)``.

    ``f`` is left at the first record. Raises :class:`InvalidModelFileError` (``.format`` = ``fmt``) for a
    missing header or counts below 1.
    """
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


def read_fasttext_header(f: IO[bytes]) -> dict[str, int] | None:
    """Read and decode a fastText ``.bin`` header at ``f``'s position (new format with magic, or the
    pre-2017 format); return its fields (``dim``, ``bucket``, ``nwords``, ``size``, ...) or None if
    implausible or truncated."""
    return _fasttext_header(f.read(_FT_NEW.size))


# --------------------------------------------------------------------------- refusals and header checks


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


def _check_w2v(path: str, fmt: str) -> None:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        count, dim = read_w2v_header(f, fmt)
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
        hdr = read_fasttext_header(f)
    if hdr is None:
        raise InvalidModelFileError("not a fastText .bin file (implausible or truncated header)", format=fmt)
    nwords, bucket, dim = hdr["nwords"], hdr["bucket"], hdr["dim"]
    if (nwords + bucket) * dim * 4 + hdr["size"] * 10 > size:
        raise InvalidModelFileError(
            f"header says {nwords} words + {bucket} buckets of size {dim} but the file is only {size} bytes "
            "(truncated or corrupt)",
            format=fmt,
        )
