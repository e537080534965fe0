"""A user's vectors file, sniffed and checked before any parser reads it: its format, and refusal of
what cannot be a vectors file.

The import formats (:data:`IMPORT_FORMATS`) are word2vec text, word2vec binary, GloVe (word2vec text
without the header line: ``<word> <float> <float> ...`` from the first line on, as Stanford's
``glove.6B.100d.txt``) and Facebook fastText ``.bin``. A user file is recognised from its first bytes
(:func:`sniff_format`): pickles (``\\x80``, or a protocol 0/1 pickle naming a callable), zip archives
(``PK``: torch ``.pt``, ``.npz``, ``.zip``) and gzip streams are refused with
:class:`NotAPickleSafeFileError` / :class:`InvalidModelFileError`, and header counts are checked
against the file size and the first records before any allocation (:func:`check_file`). Only then do
the non-pickle parsers of :mod:`models.embeddings.vector_import` read the file.

>>> from gensim.test.utils import datapath
>>> check_file(datapath("lee_fasttext.bin")), check_file(datapath("test_glove.txt"))
('fasttext-bin', 'glove')
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
from dataclasses import dataclass
from typing import IO

from .errors import InvalidModelFileError, NotAPickleSafeFileError

IMPORT_FORMATS: tuple[str, ...] = ("word2vec-text", "word2vec-binary", "glove", "fasttext-bin")
#: The formats read as lines of text (a word, then its numbers).
TEXT_FORMATS: tuple[str, ...] = ("word2vec-text", "glove")

_FASTTEXT_MAGIC = struct.pack("<i", 793712314)
_W2V_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")
_MAX_HEADER_LINE = 1024
_SNIFF_BYTES = 4096  # read to recognise pickles / archives before any parser sees the file
#: Binary records whose words are checked by :func:`check_file` (a vector size in the header that
#: does not match the records makes float bytes read as words: not UTF-8).
_CHECKED_RECORDS = 16
#: A fastText dictionary word longer than this (no NUL byte) means a corrupt file.
_MAX_FT_WORD = 1 << 16


def sniff_format(path: str | os.PathLike) -> str:
    """Return the import format of a user file from its first bytes (does not parse it fully).

    ``"fasttext-bin"`` (fastText magic ``0x2F4F16BA``, or a plausible pre-2017 header), ``"word2vec-text"``
    or ``"word2vec-binary"`` (``"<count> <dim>\\n"`` header; text when the first record is a word
    followed by numbers), ``"glove"`` (no header: the first line is a word followed by numbers).

    >>> from gensim.test.utils import datapath
    >>> sniff_format(datapath("lee_fasttext.bin")), sniff_format(datapath("lee_fasttext.vec"))
    ('fasttext-bin', 'word2vec-text')
    >>> sniff_format(datapath("test_glove.txt"))
    'glove'

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
            if glove_dim(f.readline(_MAX_TEXT_LINE)) is not None:
                return "glove"
            raise InvalidModelFileError(
                'unrecognised file: the first line is neither a word2vec header ("<vocab_size> '
                '<vector_size>") nor a GloVe vector ("<word> <number> <number> ..."), and the file has '
                "no fastText .bin header",
                format="auto",
            )
        f.seek(0)
        count, dim = read_w2v_header(f, "auto")
        first = f.readline(min(max(64 * 1024, 64 * dim), 16 * 1024 * 1024))
    word, sep, rest = first.partition(b" ")
    try:
        values = rest.decode("ascii").split()
        if sep and values:  # numbers: text (how many: check_file's concern)
            [float(v) for v in values[max(0, len(values) - dim) :]]
            return "word2vec-text"
    except (UnicodeDecodeError, ValueError):
        pass
    return "word2vec-binary"


def check_file(path: str | os.PathLike, format: str = "auto") -> str:  # noqa: A002
    """The cheap checks of a user file, before any parsing; returns its format (sniffed for ``"auto"``).

    Reads the first kilobytes only (a fastText ``.bin``: its dictionary too, to reach the matrix):
    refuses pickles and archives, checks the header, that the first records fit the header's vector
    size and that the file is at least as long as the header's counts need (a file cut in half fails
    here, at once).

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
    >>> _ = (tmp_path / "dim.txt").write_bytes(b"2 3\\nking 0.1 0.2\\nqueen 0.3 0.4\\n")
    >>> check_file(tmp_path / "dim.txt")
    Traceback (most recent call last):
    ...
    models.embeddings.errors.InvalidModelFileError: invalid model file (word2vec-text): line 2, byte offset 4:
    2 numbers, the header says vectors have 3

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
        read_fasttext_layout(spath)
    elif fmt == "glove":
        _check_glove(spath)
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
        hint = ""
        if glove_dim(line + (b"" if line.endswith(b"\n") else f.readline(_MAX_TEXT_LINE))) is not None:
            hint = (
                "; the first line is a vector: a GloVe file (no header), import it with format glove or auto"
            )
        raise InvalidModelFileError(
            f'missing word2vec header: the first line must be "<vocab_size> <vector_size>"{hint}', format=fmt
        )
    count, dim = int(m.group(1)), int(m.group(2))
    if count < 1 or dim < 1:
        raise InvalidModelFileError(f"header counts must be >= 1, got {count} {dim}", format=fmt)
    return count, dim


#: The longest line of a text file the checks read whole (a 1 M-dimensional vector's line is longer).
_MAX_TEXT_LINE = 16 * 1024 * 1024


def glove_dim(line: bytes) -> int | None:
    """The vector size of a GloVe line ``<word> <number> ... <number>`` (its numbers after the first
    space), or None when it is not one (no number, a number that is not one, no space)."""
    _word, sep, rest = line.rstrip().partition(b" ")
    values = rest.split()
    if not sep or not values:
        return None
    try:
        [float(v) for v in values]
    except ValueError:
        return None
    return len(values)


def read_glove_dim(f: IO[bytes], fmt: str = "glove") -> int:
    """The vector size of the GloVe file at ``f`` (the numbers of its first line, as gensim's
    ``load_word2vec_format(no_header=True)`` finds it); ``f`` is left at its start.

    Raises :class:`InvalidModelFileError` when the first line is not ``<word> <number> ...`` (or is a
    word2vec header: that file is ``word2vec-text``).
    """
    start = f.tell()
    line = f.readline(_MAX_TEXT_LINE)
    f.seek(start)
    if _W2V_HEADER.match(line):
        raise InvalidModelFileError(
            f"the first line {line.strip()[:40].decode('ascii', 'replace')!r} is a word2vec header, not a "
            "vector: import the file as word2vec-text (or auto)",
            format=fmt,
            line=1,
            offset=0,
        )
    dim = glove_dim(line)
    if dim is None:
        raise InvalidModelFileError(
            'line 1, byte offset 0: not a GloVe vector ("<word> <number> <number> ...")',
            format=fmt,
            line=1,
            offset=0,
        )
    return dim


def read_fasttext_header(f: IO[bytes]) -> dict[str, int] | None:
    """Read and decode a fastText ``.bin`` header at ``f``'s position (new format with magic, or the
    pre-2017 format); return its fields (``dim``, ``bucket``, ``nwords``, ``size``, ...) or None if
    implausible or truncated."""
    return _fasttext_header(f.read(_FT_NEW.size + 8))


@dataclass(frozen=True)
class FastTextLayout:
    """Where the parts of a fastText ``.bin`` are (:func:`read_fasttext_layout`).

    ``header``: the fields of :func:`read_fasttext_header`; ``entries_offset``: the first dictionary
    entry (``word\\0``, int64 count, int8 type); ``matrix_offset``: the first float of the input
    matrix, ``rows`` (= ``nwords + bucket``) x ``dim`` float32 -- the words' rows, then the buckets'.
    """

    header: dict[str, int]
    entries_offset: int
    matrix_offset: int
    rows: int
    dim: int

    @property
    def nwords(self) -> int:
        return self.header["nwords"]

    @property
    def bucket(self) -> int:
        return self.header["bucket"]


def read_fasttext_layout(
    path: str | os.PathLike, words: list[bytes] | None = None, fmt: str = "fasttext-bin"
) -> FastTextLayout:
    """Read a fastText ``.bin``'s header and dictionary (streamed) up to its input matrix, as gensim's
    ``_fasttext_bin.load`` does; check them. ``words``, when given, gets the dictionary's words (raw bytes).

    Refuses, with :class:`InvalidModelFileError`: an implausible header; a supervised model (labels);
    a dictionary that ends early or is corrupt (an entry whose type is not "word", a word without its
    end); a quantized model (``.ftz``: its matrix is product-quantized, not floats); an input matrix
    whose shape is not ``(nwords + bucket) x dim``; a file shorter than that matrix. Reads the
    dictionary only (2 M words: ~1 s), never the matrix.
    """
    spath = os.fspath(path)
    size = os.path.getsize(spath)
    with open(spath, "rb") as f:
        raw = f.read(_FT_NEW.size + 8)
        hdr = _fasttext_header(raw)
        if hdr is None:
            raise InvalidModelFileError(
                "not a fastText .bin file (implausible or truncated header)", format=fmt
            )
        new = hdr["version"] != 0
        supervised = (
            f"a supervised fastText model ({hdr['nlabels']} labels): only unsupervised word vectors "
            "(cbow, skipgram) can be imported"
        )
        if hdr["size"] != hdr["nwords"] + hdr["nlabels"]:
            raise InvalidModelFileError(
                f"the dictionary says {hdr['size']} entries but {hdr['nwords']} words and "
                f"{hdr['nlabels']} labels (corrupt header)",
                format=fmt,
            )
        nwords, bucket, dim = hdr["nwords"], hdr["bucket"], hdr["dim"]
        if (nwords + bucket) * dim * 4 + nwords * 10 > size:
            raise InvalidModelFileError(
                f"header says {nwords} words + {bucket} buckets of size {dim} but the file is only {size} "
                "bytes (truncated or corrupt)",
                format=fmt,
            )
        entries = _FT_NEW.size + 8 if new else _FT_OLD.size
        prune = struct.unpack_from("<q", raw, _FT_NEW.size)[0] if new else 0
        f.seek(entries)
        pos = _skip_fasttext_entries(f, entries, hdr["nwords"], hdr["size"], size, words, fmt)
        if new:
            pos += 8 * max(prune, 0)  # the pruned index: (int32, int32) pairs, read and dropped by gensim
            f.seek(pos)
            flag = f.read(1)
            if flag == b"\x01":
                also = f" (it is also a supervised model, {hdr['nlabels']} labels)" if hdr["nlabels"] else ""
                raise InvalidModelFileError(
                    "a quantized fastText model (.ftz): its vectors are compressed (product quantization) "
                    f"and cannot be imported{also}; import an unsupervised model's .bin file",
                    format=fmt,
                    offset=pos,
                )
            if flag != b"\x00":
                raise InvalidModelFileError(
                    f"byte offset {pos}: the input matrix's quantization flag is {flag!r}, not 0 or 1 "
                    "(corrupt file, or a dictionary that does not end where its header says)",
                    format=fmt,
                    offset=pos,
                )
            pos += 1
        f.seek(pos)
        shape = f.read(16)
        if len(shape) < 16:
            raise InvalidModelFileError(
                f"the file ends at byte offset {pos + len(shape)}, before the input matrix",
                format=fmt,
                offset=pos,
            )
        rows, cols = struct.unpack("<2q", shape)
    if hdr["nlabels"]:
        raise InvalidModelFileError(supervised, format=fmt)
    if rows != nwords + bucket or cols != dim:
        raise InvalidModelFileError(
            f"byte offset {pos}: the input matrix is {rows} x {cols} but the header says {nwords} words + "
            f"{bucket} buckets = {nwords + bucket} rows of size {dim}",
            format=fmt,
            offset=pos,
        )
    start = pos + 16
    end = start + rows * cols * 4
    if end > size:
        raise InvalidModelFileError(
            f"the file ends at byte offset {size} inside the input matrix ({rows} x {cols} float32 from byte "
            f"offset {start} to {end}): truncated file",
            format=fmt,
            offset=size,
        )
    return FastTextLayout(header=hdr, entries_offset=entries, matrix_offset=start, rows=rows, dim=dim)


def _skip_fasttext_entries(
    f: IO[bytes], base: int, nwords: int, count: int, size: int, words: list[bytes] | None, fmt: str
) -> int:
    """Walk ``count`` dictionary entries (``word\\0``, int64 count, int8 type: 0 for the first
    ``nwords``, 1 for the labels after them, as fastText sorts them) from file offset ``base``; append
    the words to ``words``; return the offset after the last one."""
    buf = b""
    pos = 0  # in buf; buf[0] is at file offset base
    done = 0
    eof = False
    while done < count:
        z = buf.find(b"\0", pos, pos + _MAX_FT_WORD + 1)
        if z == -1 or z + 10 > len(buf):
            if eof:
                raise InvalidModelFileError(
                    f"the file ends at byte offset {base + len(buf)} after {done} of {count} dictionary "
                    "words (truncated or corrupt file)",
                    format=fmt,
                    offset=base + pos,
                )
            if z == -1 and len(buf) - pos > _MAX_FT_WORD:
                raise InvalidModelFileError(
                    f"byte offset {base + pos}: dictionary word {done + 1} has no end within {_MAX_FT_WORD} "
                    "bytes (corrupt file)",
                    format=fmt,
                    offset=base + pos,
                )
            data = f.read(8 << 20)
            eof = len(data) < (8 << 20)
            base += pos
            buf = buf[pos:] + data
            pos = 0
            continue
        if buf[z + 9] != (done >= nwords):
            what = "a label" if done >= nwords else "a word"
            raise InvalidModelFileError(
                f"byte offset {base + pos}: dictionary entry {done + 1} is of type {buf[z + 9]}, not {what} "
                "(corrupt file, or a header whose counts do not match its dictionary)",
                format=fmt,
                offset=base + pos,
            )
        if words is not None and done < nwords:
            words.append(buf[pos:z])
        pos = z + 10
        done += 1
    return base + pos


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
        if fmt == "word2vec-binary":
            _check_binary_records(f, count, dim, fmt)
        else:
            _check_text_record(f, dim, fmt)


def _check_text_record(f: IO[bytes], dim: int, fmt: str) -> None:
    """The first record of a word2vec text file has the header's number of numbers (a word with
    spaces, as in glove.840B, has them after it)."""
    offset = f.tell()
    line = f.readline(_MAX_TEXT_LINE)
    _word, _sep, rest = line.rstrip().partition(b" ")
    values = rest.split()
    if len(values) != dim and not (len(values) > dim and text_word_with_spaces(values, dim)):
        raise InvalidModelFileError(
            f"line 2, byte offset {offset}: {len(values)} numbers, the header says vectors have {dim}",
            format=fmt,
            line=2,
            offset=offset,
        )


def text_word_with_spaces(values: list[bytes], dim: int) -> bool:
    """Whether a text line whose fields after the first space are ``values`` (more than ``dim``) is a
    word containing spaces followed by ``dim`` numbers: the last ``dim`` fields are numbers and the
    first extra ones are not all numbers (then it would be a vector of the wrong size)."""
    extra = values[: len(values) - dim]
    try:
        [float(v) for v in values[len(values) - dim :]]
    except ValueError:
        return False
    return not all(_is_number(v) for v in extra)


def _is_number(text: bytes) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_binary_records(f: IO[bytes], count: int, dim: int, fmt: str) -> None:
    """The words of the first records of a word2vec binary file, read with the header's vector size,
    are UTF-8 text: a vector size that does not match the records reads float bytes as words."""
    base = f.tell()
    buf = f.read(min(_CHECKED_RECORDS * (4 * dim + 256), 8 << 20))
    pos = 0
    for k in range(min(count, _CHECKED_RECORDS)):
        while pos < len(buf) and buf[pos] == 0x0A:
            pos += 1
        space = buf.find(b" ", pos, pos + 4096)
        if space == -1 or space + 1 + 4 * dim > len(buf):
            return  # a long word, or past what was read: the stream checks the rest
        word = buf[pos:space]
        try:
            text = word.decode("utf-8")
            fault = "contains a newline or NUL" if "\n" in text or "\x00" in text else None
        except UnicodeDecodeError as exc:
            fault = f"is not valid UTF-8 ({exc.reason})"
        if fault:
            raise InvalidModelFileError(
                f"byte offset {base + pos}: the word of record {k + 1} {fault}, read with the header's "
                f"vector size {dim} (a vector size that does not match the records reads floats as "
                "words; or a corrupt file)",
                format=fmt,
                offset=base + pos,
            )
        pos = space + 1 + 4 * dim


def _check_glove(path: str) -> None:
    with open(path, "rb") as f:
        read_glove_dim(f)


_FT_NEW = struct.Struct(
    "<2i12id3iq"
)  # magic, version, dim, ws, 10 int args, t, size, nwords, nlabels, ntokens
_FT_OLD = struct.Struct("<12id3iq")  # dim, ws, 10 int args, t, size, nwords, nlabels, ntokens


def _fasttext_header(raw: bytes) -> dict[str, int] | None:
    """Decode a fastText .bin header (new format with magic, or the pre-2017 format); None if implausible."""
    if raw[:4] == _FASTTEXT_MAGIC:
        if len(raw) < _FT_NEW.size + 8:  # + the pruned index's size
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
