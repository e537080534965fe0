"""Exceptions raised by the embeddings ML core.

Plain Python exceptions carrying data; the HTTP layer maps them to RFC 9457 problem+json 4xx.

* :class:`UnknownWordsError` (``KeyError``) -- words absent from the vocabulary; ``.words`` lists ALL of them.
* :class:`InvalidModelFileError` (``ValueError``) -- a user-supplied vectors file that cannot be parsed.
* :class:`NotAPickleSafeFileError` (``InvalidModelFileError``) -- a user file that looks like a pickle /
  zip / torch archive; refused before any parsing, never unpickled.
* :class:`CorpusFormatError` (``ValueError``) -- a corpus line that cannot be decoded or parsed;
  ``.line`` is the 1-based line number.
* :class:`CorpusTooLargeError` (``ValueError``) -- a gzip corpus that inflates past the limit on
  decompressed bytes; ``.limit`` is that limit, ``.line`` the line being read when it was crossed.
* :class:`CorpusRatioError` (``CorpusTooLargeError``) -- a gzip corpus that inflates more than a
  given ratio of its compressed size (a decompression bomb); ``.ratio`` is that ratio.
* :class:`DatasetFormatError` (``ValueError``) -- an evaluation dataset line that cannot be parsed.
"""

from __future__ import annotations


class UnknownWordsError(KeyError):
    """Some words of a query are not in the vocabulary.

    ``.words`` is the list of all unknown words, in query order, without duplicates.

    >>> str(UnknownWordsError(["foo", "bar"]))
    "words not in vocabulary: 'foo', 'bar'"
    """

    def __init__(self, words: list[str]):
        self.words: list[str] = list(dict.fromkeys(words))
        super().__init__(self.words)

    def __str__(self) -> str:
        return "words not in vocabulary: " + ", ".join(repr(w) for w in self.words)


class InvalidModelFileError(ValueError):
    """A user-supplied vectors file could not be imported.

    ``.format`` is the format that was tried (or ``"auto"``), ``.reason`` a human-readable message;
    ``.line`` (1-based, the header is line 1) and ``.offset`` (byte offset of the record) say where,
    when the streaming parser found the fault.

    >>> str(InvalidModelFileError("truncated", format="word2vec-binary", line=3, offset=1210))
    'invalid model file (word2vec-binary): truncated'
    """

    def __init__(
        self,
        reason: str,
        *,
        format: str | None = None,
        line: int | None = None,
        offset: int | None = None,
    ):
        self.reason = reason
        self.format = format
        self.line = line
        self.offset = offset
        super().__init__(
            f"invalid model file ({format}): {reason}" if format else f"invalid model file: {reason}"
        )


class NotAPickleSafeFileError(InvalidModelFileError):
    """The file is (or embeds) a Python pickle / zip / torch archive; refused without being unpickled.

    ``.kind`` names what was detected: ``"pickle"``, ``"zip"`` (includes torch ``.pt`` archives).
    """

    def __init__(self, kind: str, *, format: str | None = None):
        self.kind = kind
        super().__init__(
            f"file looks like a {kind} archive; pickled/archived objects are never loaded from user files",
            format=format,
        )


class CorpusFormatError(ValueError):
    """A corpus file line is not valid (bad UTF-8, bad JSON, not a list of strings).

    ``.line`` is the 1-based line number, ``.reason`` the message.
    """

    def __init__(self, line: int, reason: str, *, path: str | None = None):
        self.line = line
        self.reason = reason
        self.path = path
        super().__init__(f"line {line}: {reason}")


class CorpusTooLargeError(ValueError):
    """A gzip corpus decompresses to more than ``limit`` bytes (reading stopped as soon as it did).

    ``.limit`` is the limit in bytes, ``.line`` the 1-based line that crossed it, ``.path`` the file.

    >>> str(CorpusTooLargeError(1024, line=7))
    'the corpus decompresses to more than 1024 bytes (the limit; crossed at line 7)'
    """

    def __init__(self, limit: int, *, line: int | None = None, path: str | None = None):
        self.limit = limit
        self.line = line
        self.path = path
        where = f"; crossed at line {line}" if line is not None else ""
        super().__init__(f"the corpus decompresses to more than {limit} bytes (the limit{where})")


class CorpusRatioError(CorpusTooLargeError):
    """A gzip corpus inflates more than ``ratio`` times its compressed size (past a first ``grace``
    of bytes): a decompression bomb, refused as soon as the ratio is crossed, long before the size
    limit would stop it.

    ``.ratio`` is the ratio allowed, ``.limit`` the decompressed bytes it allowed at the point where
    reading stopped, ``.line`` that line.

    >>> str(CorpusRatioError(100, 1 << 20, limit=2_000_000, line=9))
    'the corpus inflates more than 100:1 (past its first 1048576 bytes; crossed at line 9)'
    """

    def __init__(
        self, ratio: float, grace: int, *, limit: int, line: int | None = None, path: str | None = None
    ):
        super().__init__(limit, line=line, path=path)
        self.ratio = ratio
        self.grace = grace
        where = f"; crossed at line {line}" if line is not None else ""
        self.args = (f"the corpus inflates more than {ratio:g}:1 (past its first {grace} bytes{where})",)

    def __str__(self) -> str:
        return str(self.args[0])


class DatasetFormatError(ValueError):
    """An evaluation dataset line is not valid. ``.line`` is the 1-based line number."""

    def __init__(self, line: int, reason: str):
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")
