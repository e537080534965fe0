"""Uploaded datasets: parallel pairs (TSV / JSON lines) and word vectors, validated before the kit's
upload store keeps them.

An upload is streamed to disk (never held in memory), then validated with the core's parsers
(:mod:`models.seq2seq.data`) or the safe vector reader (:mod:`models.embeddings.vector_import`); a bad line is
a 422 naming the line and nothing is kept. What is kept (:class:`service.kit.uploads.UploadStore`)::

    <id>/data.tsv | data.jsonl | vectors.bin   the upload as sent
    <id>/meta.json                              {id, kind, format, pairs | words+dim, bytes, created}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.seq2seq.data import DataError, Example, parse_jsonl, parse_tsv, read_jsonl, read_tsv
from service.kit.errors import InvalidInputError

FILES = {"tsv": "data.tsv", "jsonl": "data.jsonl", "word2vec": "vectors.bin"}


def sniff_format(head: bytes) -> str:
    """Guess ``jsonl`` (first non-blank char ``{`` or ``[``) or ``tsv`` from the first bytes."""
    stripped = head.lstrip()
    return "jsonl" if stripped[:1] in (b"{", b"[") else "tsv"


def read_pairs(path: Path, fmt: str, max_pairs: int | None = None) -> list[Example]:
    """Parse a stored pairs file; :class:`DataError` (with ``line``) for a bad line or more than
    ``max_pairs`` pairs, ValueError for bad UTF-8."""
    return read_jsonl(path, max_pairs) if fmt == "jsonl" else read_tsv(path, max_pairs)


def validate(upload: Path, fmt: str, max_pairs: int | None = None) -> dict[str, Any]:
    """Validate an upload; returns what the store keeps beside it (``kind``, ``format``, ``pairs``…).

    A pairs file with more than ``max_pairs`` pairs is refused (422) while it is parsed, so its
    examples never all sit in memory; a bad line is a 422 naming the line.
    """
    if fmt == "word2vec":
        return {"kind": "vectors", "format": fmt, **_check_vectors(upload)}
    examples = _parse_upload(upload, fmt, max_pairs)
    return {
        "kind": "pairs",
        "format": fmt,
        "pairs": len(examples),
        "linked": sum(1 for e in examples if e.links),
    }


def sample(path: Path, fmt: str, n: int = 5) -> list[Example]:
    """The first ``n`` pairs of a stored (already validated) pairs file, reading no further."""
    lines: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                lines.append(line)
                if len(lines) == n:
                    break
    text = "".join(lines)
    return parse_jsonl(text) if fmt == "jsonl" else parse_tsv(text)


def _parse_upload(path: Path, fmt: str, max_pairs: int | None = None) -> list[Example]:
    try:
        examples = read_pairs(path, fmt, max_pairs)
    except DataError as exc:
        raise InvalidInputError.at_line(
            "Invalid dataset", "invalid-dataset", exc.line, exc.reason, "invalid-line"
        ) from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        bad = exc.object[exc.start : exc.start + 1].hex()
        reason = f"not UTF-8 text: byte 0x{bad} at offset {exc.start} ({exc.reason})"
        raise InvalidInputError.at_line(
            "Invalid dataset", "invalid-dataset", line, reason, "invalid-encoding"
        ) from None
    if not examples:
        raise InvalidInputError(
            "the upload contains no pairs", code="invalid-dataset", title="Invalid dataset"
        )
    return examples


def _check_vectors(path: Path) -> dict[str, Any]:
    """Validate a word2vec (binary or text) file with the safe reader; returns ``{words, dim}``."""
    from models.embeddings.vector_import import import_vectors

    try:
        kv = import_vectors(path, "auto")
    except Exception as exc:  # any parse failure of a client's file is the client's problem
        raise InvalidInputError(
            f"not a readable word2vec file: {exc}", code="invalid-vectors", title="Invalid vectors"
        ) from None
    return {"words": len(kv.index_to_key), "dim": int(kv.vector_size)}
