"""Uploaded files (embeddings corpora, attention datasets), the same layout for every service.

Layout under the store's root (``data_dir/<service>/<collection>``)::

    <id>/<file>       the upload as it was sent (``data.txt``, ``data.tsv``, ``vectors.bin`` …)
    <id>/meta.json    what validation found: {id, kind, format, bytes, created, …}

An upload is streamed to a temporary file (:meth:`UploadStore.incoming`), validated by the
service, then moved into a new ``<id>/`` directory written atomically (:meth:`UploadStore.commit`).
A failed or interrupted upload leaves nothing but ``.tmp-*`` files, removed at start-up by
:meth:`UploadStore.clean`. The ``meta.json`` files are the index: a directory without one is not
an upload.

>>> store = UploadStore(tmp_path / "corpora", kind="corpus")
>>> tmp = store.incoming()  # the upload is streamed here, then validated
>>> _ = tmp.write_text("the cat sat\\n")
>>> store.commit("cats", tmp, "data.txt", {"format": "text"})
{'id': 'cats', 'kind': 'corpus', 'format': 'text', 'bytes': 12, 'created': '...'}
>>> store.path("cats").read_text(), [m["id"] for m in store.list()]
('the cat sat\\n', ['cats'])
>>> again = store.incoming()
>>> _ = again.write_text("the dog sat\\n")
>>> store.commit("cats", again, "data.txt", {"format": "text"})
Traceback (most recent call last):
...
service.kit.errors.ConflictError: a corpus named 'cats' exists
>>> again.exists()  # removed either way
False
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.kit.errors import ConflictError, NotFoundError
from service.kit.names import is_valid_name
from service.kit.storage import (
    TMP_PREFIX,
    atomic_directory,
    atomic_write_json,
    read_json,
    remove_temporaries,
    remove_tree,
)

META = "meta.json"


class UploadStore:
    """Create, list, read and delete uploads of one ``kind`` (``"corpus"``, ``"dataset"``) under ``root``."""

    def __init__(self, root: Path, *, kind: str) -> None:
        self.root = Path(root)
        self.kind = kind
        self._lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh id (32 hex characters) for an upload the client did not name."""
        return uuid.uuid4().hex

    def incoming(self) -> Path:
        """A temporary path to stream an upload to (removed at start-up if a crash left it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f"{TMP_PREFIX}incoming-{uuid.uuid4().hex}"

    def commit(self, upload_id: str, upload: Path, filename: str, meta: dict[str, Any]) -> dict[str, Any]:
        """Move the validated ``upload`` into a new upload ``upload_id``; returns its metadata.

        ``meta`` gets ``id``, ``kind``, ``bytes`` and ``created`` added. Raises
        :class:`ConflictError` (``<kind>-exists``) when the id was taken meanwhile; ``upload`` is
        removed either way.
        """
        final = self._dir(upload_id)
        try:
            meta = {
                "id": upload_id,
                "kind": meta.pop("kind", self.kind),
                **meta,
                "bytes": upload.stat().st_size,
                "created": datetime.now(UTC).isoformat(),
            }
            with self._lock:
                if final.exists():
                    raise ConflictError(
                        f"a {self.kind} named {upload_id!r} exists", code=f"{self.kind}-exists"
                    )
                with atomic_directory(final) as tmp:
                    os.replace(upload, tmp / filename)
                    atomic_write_json(tmp / META, {**meta, "file": filename})
            return meta
        finally:
            upload.unlink(missing_ok=True)

    def delete(self, upload_id: str) -> None:
        """Remove an upload (renamed aside first, so it disappears from listings at once)."""
        with self._lock:
            self.get(upload_id)
            remove_tree(self._dir(upload_id))

    def clean(self) -> int:
        """Remove leftovers of interrupted uploads; returns how many were removed."""
        self.root.mkdir(parents=True, exist_ok=True)
        return remove_temporaries(self.root)

    # -- reading ---------------------------------------------------------------------------------

    def exists(self, upload_id: str) -> bool:
        return (self._dir(upload_id) / META).exists()

    def get(self, upload_id: str) -> dict[str, Any]:
        """The upload's metadata; :class:`NotFoundError` (``<kind>-not-found``) when there is none."""
        try:
            meta = read_json(self._dir(upload_id) / META)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise NotFoundError(self.kind, upload_id) from None
        meta.pop("file", None)
        return meta

    def path(self, upload_id: str) -> Path:
        """The stored file of an upload; :class:`NotFoundError` when there is none."""
        d = self._dir(upload_id)
        try:
            meta = read_json(d / META)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise NotFoundError(self.kind, upload_id) from None
        if "file" in meta:
            return d / meta["file"]
        # written before meta.json named its file: the one other file of the directory
        return next(p for p in sorted(d.iterdir()) if p.name != META)

    def list(self) -> list[dict[str, Any]]:
        """Every upload's metadata, newest first."""
        if not self.root.exists():
            return []
        out = []
        for d in self.root.iterdir():
            if d.is_dir() and is_valid_name(d.name):
                try:
                    meta = read_json(d / META)
                except (OSError, ValueError):
                    continue
                meta.pop("file", None)
                out.append(meta)
        return sorted(out, key=lambda m: m.get("created", ""), reverse=True)

    def _dir(self, upload_id: str) -> Path:
        if not is_valid_name(upload_id):
            raise NotFoundError(self.kind, upload_id)
        return self.root / upload_id
