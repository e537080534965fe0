"""Atomic file writes, shared by every saver in the project (vocabularies, checkpoints, the
services' metadata): write a temporary sibling, ``fsync`` it, then :func:`os.replace` it into
place, so a crash mid-write leaves the previous version intact. Temporaries start with ``.tmp-``.

>>> import tempfile, pathlib, json
>>> path = pathlib.Path(tempfile.mkdtemp()) / "meta.json"
>>> atomic_write_json(path, {"version": 1}); json.loads(path.read_text())
{'version': 1}
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory entry (a rename into it) to disk; best effort where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def tmp_sibling(path: str | os.PathLike[str]) -> Path:
    """A fresh temporary path in the same directory as ``path`` (so a rename is atomic)."""
    path = Path(path)
    return path.parent / f"{TMP_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as UTF-8 JSON to ``path`` atomically (non-JSON values via ``str``)."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, default=str)
    atomic_write_bytes(path, text.encode("utf-8"))
