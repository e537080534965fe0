"""Uploaded training corpora: validation of an upload before the kit's upload store keeps it.

An upload is streamed to a temporary file (never held in memory), validated by one streaming scan
(:func:`models.embeddings.corpus.scan_corpus`), and only then committed to the store
(:class:`service.kit.uploads.UploadStore`, ``corpora/<id>/data.txt`` + ``meta.json``). A bad upload
leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from models.embeddings.corpus import Tokenizer, scan_corpus

#: Most distinct tokens an upload's scan counts (a set of about 100 bytes each, in the API process);
#: beyond it ``distinct_tokens`` is null, so a corpus of unique tokens cannot exhaust its memory.
MAX_DISTINCT = 2_000_000

#: The name of the stored file inside a corpus' directory.
DATA_FILE = "data.txt"


def scan(path: Path, fmt: str, tokenizer: Tokenizer, **limits: Any) -> dict[str, Any]:
    """Validate ``path`` in one streaming pass; returns its statistics.

    Raises ``CorpusFormatError`` naming the line (and the scan's own size errors, see
    :func:`models.embeddings.corpus.scan_corpus`).
    """
    stats = scan_corpus(path, fmt, tokenizer, count_distinct=True, max_distinct=MAX_DISTINCT, **limits)
    return asdict(stats)


def corpus_meta(*, fmt: str, tokenizer: str, lowercase: bool, stats: dict[str, Any]) -> dict[str, Any]:
    """The metadata stored with a corpus (``bytes``, ``id`` and ``created`` are added by the store)."""
    return {
        "format": fmt,
        "tokenizer": tokenizer,
        "lowercase": lowercase,
        "lines": stats["lines"],
        "sentences": stats["sentences"],
        "tokens": stats["tokens"],
        "distinct_tokens": stats["distinct"],
        "max_token_count": stats.get("max_token_count"),
        "gzip": stats["gzip"],
        "max_sentence_tokens": stats["max_sentence_tokens"],
    }
