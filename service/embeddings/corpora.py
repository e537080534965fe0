"""Uploaded training corpora on disk: ``corpora/<id>.data`` plus its metadata ``corpora/<id>.json``.

An upload is streamed to a temporary file (never held in memory), validated by one streaming scan
(:func:`models.embeddings.corpus.scan_corpus`), and only then moved into place and described by its
metadata file (written atomically). A bad upload leaves nothing behind. The ``.json`` files are the
index: a ``.data`` file without one is not a corpus.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.embeddings.corpus import Tokenizer, scan_corpus
from service.kit.names import is_valid_name
from service.kit.problems import ProblemError, not_found
from service.kit.storage import TMP_PREFIX, atomic_write_json, read_json

#: Most distinct tokens an upload's scan counts (a set of about 100 bytes each, in the API process);
#: beyond it ``distinct_tokens`` is null, so a corpus of unique tokens cannot exhaust its memory.
MAX_DISTINCT = 2_000_000


class CorpusStore:
    """Create, list, read and delete corpora under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def data_path(self, corpus_id: str) -> Path:
        if not is_valid_name(corpus_id):
            raise ValueError(f"invalid corpus id {corpus_id!r}")
        return self.root / f"{corpus_id}.data"

    def meta_path(self, corpus_id: str) -> Path:
        if not is_valid_name(corpus_id):
            raise ValueError(f"invalid corpus id {corpus_id!r}")
        return self.root / f"{corpus_id}.json"

    def new_id(self) -> str:
        return uuid.uuid4().hex[:16]

    def temp_path(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f"{TMP_PREFIX}upload-{uuid.uuid4().hex}"

    def exists(self, corpus_id: str) -> bool:
        return self.meta_path(corpus_id).exists()

    def get(self, corpus_id: str) -> dict[str, Any]:
        """The corpus' metadata; a 404 problem when there is none."""
        try:
            return read_json(self.meta_path(corpus_id))
        except (FileNotFoundError, ValueError):
            raise not_found("corpus", corpus_id) from None

    def list(self) -> list[dict[str, Any]]:
        """Every corpus' metadata, newest first."""
        if not self.root.exists():
            return []
        out = []
        for p in self.root.glob("*.json"):
            if p.name.startswith(TMP_PREFIX):
                continue
            try:
                out.append(read_json(p))
            except (OSError, ValueError):
                continue
        return sorted(out, key=lambda m: m.get("created", ""), reverse=True)

    def scan(self, path: Path, fmt: str, tokenizer: Tokenizer) -> dict[str, Any]:
        """Validate ``path`` in one streaming pass; raises ``CorpusFormatError`` naming the line."""
        stats = scan_corpus(path, fmt, tokenizer, count_distinct=True, max_distinct=MAX_DISTINCT)
        return asdict(stats)

    def commit(
        self, tmp: Path, corpus_id: str, *, fmt: str, tokenizer: str, lowercase: bool, stats: dict[str, Any]
    ) -> dict[str, Any]:
        """Move a validated upload into place and write its metadata; 409 if the id was taken meanwhile."""
        meta = {
            "id": corpus_id,
            "format": fmt,
            "tokenizer": tokenizer,
            "lowercase": lowercase,
            "lines": stats["lines"],
            "sentences": stats["sentences"],
            "tokens": stats["tokens"],
            "distinct_tokens": stats["distinct"],
            "bytes": stats["bytes"],
            "gzip": stats["gzip"],
            "max_sentence_tokens": stats["max_sentence_tokens"],
            "created": datetime.now(UTC).isoformat(),
        }
        with self._lock:
            if self.exists(corpus_id):
                raise ProblemError(
                    409, "Conflict", f"a corpus named {corpus_id!r} exists", type="corpus-exists"
                )
            os.replace(tmp, self.data_path(corpus_id))
            atomic_write_json(self.meta_path(corpus_id), meta)
        return meta

    def delete(self, corpus_id: str) -> None:
        """Remove the corpus (metadata first, so it disappears from listings at once); 404 if none."""
        with self._lock:
            if not self.exists(corpus_id):
                raise not_found("corpus", corpus_id)
            self.meta_path(corpus_id).unlink(missing_ok=True)
            self.data_path(corpus_id).unlink(missing_ok=True)


def tokenizer_for(kind: str, lowercase: bool) -> Tokenizer:
    """The corpus tokenizer for the API's options."""
    return Tokenizer(kind=kind, keep_case=not lowercase)
