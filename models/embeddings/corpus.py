"""Tokenizers and streaming corpus readers for training.

Readers never hold the file in memory: each iteration re-opens the file and yields one sentence
(a ``list[str]`` of tokens) per line, so they are *restartable* iterables as gensim needs
(``build_vocab`` makes one pass, ``train`` one per epoch).

Formats (``format=``):

* ``"text"``  -- plain UTF-8 text, one sentence per line, tokenized by a :class:`Tokenizer`.
* ``"jsonl"`` -- one JSON array of strings per line, e.g. ``["the", "cat"]``; taken as is (no tokenizer;
  a token may not be empty or contain whitespace).

Either may be gzip-compressed: compression is detected from the magic bytes ``1f 8b``, not the extension.
Blank lines (and lines with no token) are skipped. Errors name the 1-based line number
(:class:`~models.embeddings.errors.CorpusFormatError`, a ``ValueError``). ``max_decompressed_bytes``
bounds what a gzip file may inflate to: past it, reading stops at once with
:class:`~models.embeddings.errors.CorpusTooLargeError` (a small gzip bomb never fills the disk or the
scan's time); ``max_ratio`` bounds how many times its compressed size it may inflate to (past a first
MiB), so a bomb is refused after about a MiB of output instead of at the size limit
(:class:`~models.embeddings.errors.CorpusRatioError`). With either bound, the file is first inflated
once without reading its lines (zlib alone), so a bomb is refused in milliseconds.

>>> import gzip
>>> text = "Hundreds of people have been forced\\n\\nThe cat sat.\\n"
>>> _ = (tmp_path / "corpus.txt").write_text(text)
>>> sentences = LineCorpus(tmp_path / "corpus.txt")
>>> list(sentences)
[['hundreds', 'of', 'people', 'have', 'been', 'forced'], ['the', 'cat', 'sat']]
>>> with gzip.open(tmp_path / "corpus.data", "wt") as f:  # gzip, whatever the name
...     _ = f.write(text)
>>> list(LineCorpus(tmp_path / "corpus.data")) == list(sentences)
True
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Literal

from gensim.utils import simple_preprocess, tokenize

from models.unicode import escape_surrogates, has_surrogate

from .errors import CorpusFormatError, CorpusRatioError, CorpusTooLargeError

CorpusFormat = Literal["text", "jsonl"]
CORPUS_FORMATS: tuple[str, ...] = ("text", "jsonl")
TOKENIZER_KINDS: tuple[str, ...] = ("simple", "whitespace")

_GZIP_MAGIC = b"\x1f\x8b"

#: Longest line (one sentence) a reader accepts, in bytes after decompression. Lines are read with
#: this bound, so a huge line (or a small gzip that inflates to one) is a CorpusFormatError naming
#: the line instead of exhausting memory. gensim truncates sentences beyond 10,000 tokens anyway.
MAX_LINE_BYTES = 1 << 20

#: How many decompressed bytes a gzip file may have before ``max_ratio`` applies (a small file
#: compresses badly or very well, whatever it is); past them its output may be at most ``max_ratio``
#: times the compressed bytes read so far.
RATIO_GRACE_BYTES = 1 << 20


@dataclass(frozen=True)
class Tokenizer:
    """Turns one line of text into tokens.

    ``kind="simple"`` (default) is gensim's :func:`~gensim.utils.simple_preprocess`: alphabetic tokens
    (``\\w`` without digits), ``min_len <= len <= max_len``, tokens starting with ``_`` dropped,
    accents stripped when ``deacc``; lowercased unless ``keep_case``.
    ``kind="whitespace"`` is ``str.split()``; lowercased unless ``keep_case``
    (``min_len``/``max_len``/``deacc`` do not apply).

    >>> Tokenizer()("Hello, World! It's 2024")
    ['hello', 'world', 'it']
    >>> Tokenizer(kind="whitespace", keep_case=True)("Hello, World!")
    ['Hello,', 'World!']
    """

    kind: str = "simple"
    keep_case: bool = False
    deacc: bool = False
    min_len: int = 2
    max_len: int = 15

    def __post_init__(self) -> None:
        if self.kind not in TOKENIZER_KINDS:
            raise ValueError(f"unknown tokenizer {self.kind!r}; expected one of {TOKENIZER_KINDS}")
        if self.min_len < 1 or self.max_len < self.min_len:
            raise ValueError(
                f"need 1 <= min_len <= max_len, got min_len={self.min_len} max_len={self.max_len}"
            )

    def __call__(self, text: str) -> list[str]:
        if self.kind == "whitespace":
            return text.split() if self.keep_case else text.lower().split()
        if not self.keep_case:
            return simple_preprocess(text, deacc=self.deacc, min_len=self.min_len, max_len=self.max_len)
        # simple_preprocess without lowercasing (same filter as gensim's implementation)
        return [
            t
            for t in tokenize(text, lower=False, deacc=self.deacc, errors="ignore")
            if self.min_len <= len(t) <= self.max_len and not t.startswith("_")
        ]


DEFAULT_TOKENIZER = Tokenizer()


def is_gzip(path: str | os.PathLike) -> bool:
    """Return True when the file starts with the gzip magic bytes ``1f 8b`` (whatever its extension)."""
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _reader(raw: IO[bytes], gz: bool) -> IO[bytes]:
    """The file's lines as bytes: ``raw`` itself, or its gzip stream (``raw.tell()`` then counts the
    compressed bytes read)."""
    if gz:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return contextlib.nullcontext(raw)  # type: ignore[return-value]


def _raw_lines(
    path: str | os.PathLike,
    max_decompressed_bytes: int | None = None,
    max_ratio: float | None = None,
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_bytes)``; a corrupt/truncated gzip stream becomes CorpusFormatError.

    A gzip file that inflates past ``max_decompressed_bytes`` raises :class:`CorpusTooLargeError` as
    soon as the line that crosses the limit is read (lines are read at most ``MAX_LINE_BYTES`` at a
    time); one that, past its first ``RATIO_GRACE_BYTES``, has inflated to more than ``max_ratio``
    times the compressed bytes read so far raises :class:`CorpusRatioError` as soon as it has. With
    either bound, a first pass inflates the file without reading lines (:func:`_check_inflation`),
    so a bomb is refused before a single line is tokenized.
    """
    line_no = 0
    gz = is_gzip(path)
    limit = max_decompressed_bytes if max_decompressed_bytes is not None and gz else None
    ratio = max_ratio if max_ratio is not None and gz else None
    total = 0
    if limit is not None or ratio is not None:
        _check_inflation(path, limit, ratio)
    try:
        with open(path, "rb") as compressed, _reader(compressed, gz) as f:
            while raw := f.readline(MAX_LINE_BYTES + 1):
                line_no += 1
                total += len(raw)
                if limit is not None and total > limit:
                    raise CorpusTooLargeError(limit, line=line_no, path=os.fspath(path))
                if ratio is not None and total > RATIO_GRACE_BYTES and total > ratio * compressed.tell():
                    raise CorpusRatioError(
                        ratio, RATIO_GRACE_BYTES, limit=int(ratio * compressed.tell()), line=line_no,
                        path=os.fspath(path),
                    )  # fmt: skip
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    raise CorpusFormatError(
                        line_no,
                        f"longer than {MAX_LINE_BYTES} bytes; put one sentence per line",
                        path=os.fspath(path),
                    )
                yield line_no, raw
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise CorpusFormatError(line_no + 1, f"corrupt gzip stream ({exc})", path=os.fspath(path)) from None


def _check_inflation(path: str | os.PathLike, limit: int | None, ratio: float | None) -> None:
    """Inflate a gzip file without reading its lines (zlib alone: hundreds of MB a second) and raise
    the size or ratio error the line reader would raise, before any line is tokenized: a bomb is
    refused in milliseconds, not after seconds of tokenizing its first MiB. A corrupt stream ends
    this pass quietly; the line reader then reports it with its line number."""
    total = newlines = 0
    try:
        with open(path, "rb") as compressed, gzip.GzipFile(fileobj=compressed, mode="rb") as f:
            while chunk := f.read(1 << 16):
                before, total = total, total + len(chunk)
                if limit is not None and total > limit:  # the line holding byte `limit`, as the reader says
                    line = newlines + chunk[: limit - before].count(b"\n") + 1
                    raise CorpusTooLargeError(limit, line=line, path=os.fspath(path))
                newlines += chunk.count(b"\n")
                if ratio is not None and total > RATIO_GRACE_BYTES and total > ratio * compressed.tell():
                    raise CorpusRatioError(
                        ratio, RATIO_GRACE_BYTES, limit=int(ratio * compressed.tell()), line=newlines + 1,
                        path=os.fspath(path),
                    )  # fmt: skip
    except (gzip.BadGzipFile, EOFError, zlib.error):
        return


def _decode(raw: bytes, line_no: int, path: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusFormatError(
            line_no, f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path=path
        ) from None


def _parse_json_tokens(text: str, line_no: int, path: str) -> list[str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusFormatError(line_no, f"invalid JSON: {exc.msg}", path=path) from None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise CorpusFormatError(line_no, "expected a JSON array of strings", path=path)
    for i, token in enumerate(value):
        # a token becomes a vocabulary key: empty or whitespace keys cannot be exported (word2vec format)
        if not token or any(c.isspace() for c in token):
            raise CorpusFormatError(
                line_no,
                f"token {i} ({escape_surrogates(token)!r}) is empty or contains whitespace",
                path=path,
            )
        # "\ud800" alone is not Unicode text: the model could never be saved (nor the token sent back)
        if has_surrogate(token):
            raise CorpusFormatError(
                line_no,
                f"token {i} ({escape_surrogates(token)!r}) has a lone UTF-16 surrogate escape "
                "(\\ud800-\\udfff): not Unicode text",
                path=path,
            )
    return value


_BLANK = re.compile(r"^\s*$")


def iter_sentences(
    path: str | os.PathLike,
    format: str = "text",
    tokenizer: Tokenizer | None = None,
    *,
    max_decompressed_bytes: int | None = None,
    max_ratio: float | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, tokens)`` for each non-empty sentence, streaming from disk.

    >>> _ = (tmp_path / "corpus.jsonl").write_text('["a", "b"]\\n\\n["the", "Cat"]\\n')
    >>> list(iter_sentences(tmp_path / "corpus.jsonl", "jsonl"))
    [(1, ['a', 'b']), (3, ['the', 'Cat'])]
    >>> _ = (tmp_path / "bad.jsonl").write_text('["a", "b"]\\n["the" "cat"]\\n')
    >>> list(iter_sentences(tmp_path / "bad.jsonl", "jsonl"))
    Traceback (most recent call last):
    ...
    models.embeddings.errors.CorpusFormatError: line 2: invalid JSON: Expecting ',' delimiter

    Raises :class:`CorpusFormatError` (``ValueError``) naming the line for bad UTF-8 or bad JSON lines
    and for a corrupt / truncated gzip stream, :class:`CorpusTooLargeError` when a gzip file inflates
    past ``max_decompressed_bytes`` and :class:`CorpusRatioError` past ``max_ratio`` (see
    :func:`scan_corpus`), ``ValueError`` for an unknown format, ``OSError`` if the file cannot be read.
    """
    if format not in CORPUS_FORMATS:
        raise ValueError(f"unknown corpus format {format!r}; expected one of {CORPUS_FORMATS}")
    tok = tokenizer or DEFAULT_TOKENIZER
    spath = os.fspath(path)
    for line_no, raw in _raw_lines(path, max_decompressed_bytes, max_ratio):
        text = _decode(raw, line_no, spath)
        if _BLANK.match(text):
            continue
        tokens = _parse_json_tokens(text, line_no, spath) if format == "jsonl" else tok(text)
        if tokens:
            yield line_no, tokens


class LineCorpus:
    """Restartable iterable of sentences (``list[str]``) read lazily from ``path``.

    Every ``iter()`` re-opens the file, so gensim can iterate it once per epoch; nothing is cached.
    See :func:`iter_sentences` for formats and errors.

    >>> from gensim.test.utils import datapath
    >>> corpus = LineCorpus(datapath("lee_background.cor"))
    >>> sum(1 for _ in corpus), next(iter(corpus))[:6]
    (300, ['hundreds', 'of', 'people', 'have', 'been', 'forced'])
    """

    def __init__(self, path: str | os.PathLike, format: str = "text", tokenizer: Tokenizer | None = None):
        if format not in CORPUS_FORMATS:
            raise ValueError(f"unknown corpus format {format!r}; expected one of {CORPUS_FORMATS}")
        self.path = os.fspath(path)
        self.format = format
        self.tokenizer = tokenizer or DEFAULT_TOKENIZER

    def __iter__(self) -> Iterator[list[str]]:
        for _, tokens in iter_sentences(self.path, self.format, self.tokenizer):
            yield tokens

    def __repr__(self) -> str:
        return f"LineCorpus({self.path!r}, format={self.format!r}, tokenizer={self.tokenizer!r})"


def read_corpus(
    path: str | os.PathLike, format: str = "text", tokenizer: Tokenizer | None = None
) -> LineCorpus:
    """Return a restartable streaming :class:`LineCorpus` over ``path`` (same as the constructor)."""
    return LineCorpus(path, format, tokenizer)


@dataclass(frozen=True)
class CorpusStats:
    """Result of :func:`scan_corpus`.

    ``lines``: physical lines in the (decompressed) file; ``sentences``: non-empty sentences (what gensim
    sees); ``tokens``: total tokens; ``distinct``: distinct tokens (``None`` if not counted);
    ``bytes``: size of the file on disk (compressed size for gzip); ``gzip``: whether it was gzip;
    ``max_sentence_tokens``: the longest sentence (gensim silently truncates sentences beyond 10000 tokens);
    ``max_token_count``: how often the most frequent token occurs (exact; ``None`` when distinct tokens
    were not counted or the count was given up): a ``min_count`` above it leaves an empty vocabulary.
    """

    lines: int
    sentences: int
    tokens: int
    distinct: int | None
    bytes: int
    gzip: bool
    max_sentence_tokens: int
    max_token_count: int | None = None


class ScanCancelled(Exception):
    """A scan ended early because its ``should_stop()`` said so."""


def scan_corpus(
    path: str | os.PathLike,
    format: str = "text",
    tokenizer: Tokenizer | None = None,
    *,
    count_distinct: bool = True,
    max_distinct: int | None = None,
    max_decompressed_bytes: int | None = None,
    max_ratio: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CorpusStats:
    """Validate the whole file in one streaming pass and return its :class:`CorpusStats`.

    Meant for right after an upload: any bad line raises here, before training starts.
    ``count_distinct=True`` counts each distinct token (memory ~ vocabulary size), which gives
    ``distinct`` and ``max_token_count``; past ``max_distinct`` of them both are given up (``None``)
    so the table stays bounded. ``max_decompressed_bytes`` bounds what a gzip file may inflate to
    (:class:`CorpusTooLargeError` as soon as it is crossed), ``max_ratio`` how many times its
    compressed size it may inflate to past its first ``RATIO_GRACE_BYTES`` (:class:`CorpusRatioError`
    as soon as it does: a decompression bomb is refused after about a MiB of output, however large it
    would grow). ``should_stop()`` is asked every few
    thousand lines; when it answers True the scan ends with :class:`ScanCancelled` (the client that
    sent the upload has gone, say).

    >>> from gensim.test.utils import datapath
    >>> scan_corpus(datapath("lee_background.cor"))
    CorpusStats(lines=300, sentences=300, tokens=58152, distinct=6981, bytes=360082, gzip=False,
                max_sentence_tokens=607, max_token_count=4135)

    Raises :class:`CorpusFormatError` (``ValueError``) naming the line (bad UTF-8, bad JSON, a lone
    surrogate escape, corrupt gzip), :class:`CorpusTooLargeError` past ``max_decompressed_bytes``
    (:class:`CorpusRatioError`, a subclass, past ``max_ratio``),
    ``ValueError`` for an unknown format, ``OSError`` for unreadable files.
    """
    if format not in CORPUS_FORMATS:
        raise ValueError(f"unknown corpus format {format!r}; expected one of {CORPUS_FORMATS}")
    tok = tokenizer or DEFAULT_TOKENIZER
    spath = os.fspath(path)
    gz = is_gzip(path)
    lines = sentences = tokens = longest = 0
    counts: Counter[str] | None = Counter() if count_distinct else None
    for line_no, raw in _raw_lines(path, max_decompressed_bytes, max_ratio):
        lines = line_no
        if should_stop is not None and line_no % 4096 == 0 and should_stop():
            raise ScanCancelled(f"the scan of {spath} was stopped at line {line_no}")
        text = _decode(raw, line_no, spath)
        if _BLANK.match(text):
            continue
        toks = _parse_json_tokens(text, line_no, spath) if format == "jsonl" else tok(text)
        if not toks:
            continue
        sentences += 1
        tokens += len(toks)
        longest = max(longest, len(toks))
        if counts is not None:
            counts.update(toks)
            if max_distinct is not None and len(counts) > max_distinct:
                counts = None
    return CorpusStats(
        lines=lines,
        sentences=sentences,
        tokens=tokens,
        distinct=None if counts is None else len(counts),
        bytes=os.path.getsize(path),
        gzip=gz,
        max_sentence_tokens=longest,
        max_token_count=None if counts is None else max(counts.values(), default=0),
    )
