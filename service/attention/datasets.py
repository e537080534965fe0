"""Uploaded files under ``service_dir/datasets/<id>/``: parallel pairs (TSV / JSON lines) and word vectors.

An upload is streamed to disk (never held in memory), then validated with the core's parsers
(:mod:`models.seq2seq.data`) or the safe vector reader (:mod:`models.embeddings.io`); a bad line is
a 422 naming the line and nothing is kept. What is kept is a directory written atomically::

    <id>/data.tsv | data.jsonl | vectors.bin   the upload as sent
    <id>/meta.json                              {id, kind, format, pairs | words+dim, bytes, created}
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.seq2seq.data import DataError, Example, read_jsonl, read_tsv
from service.kit.problems import ProblemError, line_problem, not_found
from service.kit.storage import (
    TMP_PREFIX,
    atomic_directory,
    atomic_write_json,
    read_json,
    remove_temporaries,
    remove_tree,
)

FILES = {"tsv": "data.tsv", "jsonl": "data.jsonl", "word2vec": "vectors.bin"}


def sniff_format(head: bytes) -> str:
    """Guess ``jsonl`` (first non-blank char ``{`` or ``[``) or ``tsv`` from the first bytes."""
    stripped = head.lstrip()
    return "jsonl" if stripped[:1] in (b"{", b"[") else "tsv"


def read_pairs(path: Path, fmt: str, max_pairs: int | None = None) -> list[Example]:
    """Parse a stored pairs file; :class:`DataError` (with ``line``) for a bad line or more than
    ``max_pairs`` pairs, ValueError for bad UTF-8."""
    return read_jsonl(path, max_pairs) if fmt == "jsonl" else read_tsv(path, max_pairs)


class DatasetStore:
    """Create, read and delete uploaded datasets."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        remove_temporaries(self.root)

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def incoming(self, dataset_id: str) -> Path:
        """Where an upload is streamed before validation (a temporary: removed at start-up if a crash left it)."""
        return self.root / f"{TMP_PREFIX}incoming-{dataset_id}"

    def commit(
        self, dataset_id: str, upload: Path, fmt: str, kind: str, max_pairs: int | None = None
    ) -> dict[str, Any]:
        """Validate ``upload`` and move it into a new dataset directory; returns its meta.

        A pairs file with more than ``max_pairs`` pairs is refused (422) while it is parsed, so its
        examples never all sit in memory."""
        try:
            meta: dict[str, Any] = {
                "id": dataset_id,
                "kind": kind,
                "format": fmt,
                "bytes": upload.stat().st_size,
            }
            if kind == "vectors":
                meta.update(_check_vectors(upload))
            else:
                examples = _parse_upload(upload, fmt, max_pairs)
                meta.update(pairs=len(examples), linked=sum(1 for e in examples if e.links))
            meta["created"] = datetime.now(UTC).isoformat()
            with atomic_directory(self.root / dataset_id) as tmp:
                upload.rename(tmp / FILES[fmt])
                atomic_write_json(tmp / "meta.json", meta)
            return meta
        finally:
            upload.unlink(missing_ok=True)

    def get(self, dataset_id: str) -> dict[str, Any]:
        try:
            return read_json(self.root / dataset_id / "meta.json")
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise not_found("dataset", dataset_id) from None

    def path(self, dataset_id: str) -> tuple[Path, dict[str, Any]]:
        """The stored file of a dataset and its meta (404 when missing)."""
        meta = self.get(dataset_id)
        return self.root / dataset_id / FILES[meta["format"]], meta

    def examples(self, dataset_id: str) -> list[Example]:
        path, meta = self.path(dataset_id)
        if meta.get("kind") != "pairs":
            raise ProblemError(
                422, "Not a pairs dataset", f"dataset {dataset_id!r} holds vectors", type="wrong-dataset-kind"
            )
        return read_pairs(path, meta["format"])

    def list(self) -> list[dict[str, Any]]:
        out = []
        for d in sorted(self.root.iterdir()):
            if d.is_dir() and not d.name.startswith("."):
                try:
                    out.append(read_json(d / "meta.json"))
                except (FileNotFoundError, ValueError):
                    continue
        return sorted(out, key=lambda m: m.get("created", ""), reverse=True)

    def delete(self, dataset_id: str) -> None:
        self.get(dataset_id)
        remove_tree(self.root / dataset_id)


def _parse_upload(path: Path, fmt: str, max_pairs: int | None = None) -> list[Example]:
    try:
        examples = read_pairs(path, fmt, max_pairs)
    except DataError as exc:
        raise line_problem(
            "Invalid dataset", "invalid-dataset", exc.line, exc.reason, "invalid-line"
        ) from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        bad = exc.object[exc.start : exc.start + 1].hex()
        reason = f"not UTF-8 text: byte 0x{bad} at offset {exc.start} ({exc.reason})"
        raise line_problem("Invalid dataset", "invalid-dataset", line, reason, "invalid-encoding") from None
    if not examples:
        raise ProblemError(422, "Invalid dataset", "the upload contains no pairs", type="invalid-dataset")
    return examples


def _check_vectors(path: Path) -> dict[str, Any]:
    """Validate a word2vec (binary or text) file with the safe reader; returns ``{words, dim}``."""
    from models.embeddings.io import import_vectors

    try:
        kv = import_vectors(path, "auto")
    except Exception as exc:  # any parse failure of a client's file is the client's problem
        raise ProblemError(
            422, "Invalid vectors", f"not a readable word2vec file: {exc}", type="invalid-vectors"
        ) from None
    return {"words": len(kv.index_to_key), "dim": int(kv.vector_size)}
