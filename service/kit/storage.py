"""Files on disk that survive crashes: atomic writes, atomic directories, streamed uploads.

Every durable write goes to a temporary sibling first, is flushed with ``fsync``, and is then moved
into place with :func:`os.replace` (or :func:`os.rename` for directories), so a crash mid-write
leaves the previous version intact. Temporaries are named ``.tmp-*`` and removed at start-up by
:func:`remove_temporaries`.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_json(d / "meta.json", {"version": 1}); read_json(d / "meta.json")
{'version': 1}
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

# The file primitives live in models/atomic.py, so that models/ savers share them without importing
# service/; they are re-exported here for the services.
from models.atomic import TMP_PREFIX, atomic_write_bytes, atomic_write_json, fsync_dir, tmp_sibling
from service.kit.errors import InvalidInputError, TooLargeError

__all__ = [
    "TMP_PREFIX",
    "atomic_directory",
    "atomic_write_bytes",
    "atomic_write_json",
    "fsync_dir",
    "fsync_tree",
    "read_json",
    "remove_temporaries",
    "remove_tree",
    "run_while_connected",
    "stream_request_to_file",
    "tmp_sibling",
]


def read_json(path: Path) -> Any:
    """Return the JSON document stored at ``path``."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(Path(dirpath))


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``final`` when the block succeeds.

    ``final`` must not exist yet (versions are new directories, never overwritten). On an
    exception the temporary directory is removed and ``final`` is untouched.
    """
    final = Path(final)
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(final)
    tmp.mkdir()
    try:
        yield tmp
        fsync_tree(tmp)
        os.rename(tmp, final)
        fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_temporaries(root: Path, keep: Collection[Path] = ()) -> int:
    """Delete ``.tmp-*`` leftovers of interrupted writes under ``root`` (but ``keep`` and what is
    inside it); return how many."""
    root = Path(root)
    if not root.exists():
        return 0
    count = 0
    for path in sorted(root.rglob(f"{TMP_PREFIX}*"), key=lambda p: len(p.parts), reverse=True):
        if path in keep or any(k in path.parents for k in keep):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        count += 1
    return count


def remove_tree(path: Path) -> None:
    """Delete a directory atomically from readers' point of view: rename aside, then remove."""
    path = Path(path)
    if not path.exists():
        return
    aside = tmp_sibling(path)
    os.rename(path, aside)
    shutil.rmtree(aside, ignore_errors=True)


async def stream_request_to_file(request: Request, dest: Path, max_bytes: int) -> int:
    """Stream the request body to ``dest`` (atomically) without holding it in memory.

    Returns the number of bytes written. Raises a 413 problem when the body exceeds ``max_bytes``
    and a 422 when it is empty; ``dest`` is then left untouched. Disk writes and the final fsync
    run in worker threads (about 1 MiB at a time), so a large upload never stalls the event loop.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(dest)
    size = 0
    pending: list[bytes] = []
    pending_bytes = 0
    try:
        with open(tmp, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise TooLargeError(f"the upload exceeds the limit of {max_bytes} bytes")
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= _WRITE_BATCH:
                    await run_in_threadpool(fh.writelines, pending)
                    pending, pending_bytes = [], 0
            await run_in_threadpool(_write_and_sync, fh, pending)
        if size == 0:
            raise InvalidInputError("the request body is empty", code="empty-upload", title="Empty upload")
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return size


_WRITE_BATCH = 1 << 20


def _write_and_sync(fh: Any, chunks: list[bytes]) -> None:
    fh.writelines(chunks)
    fh.flush()
    os.fsync(fh.fileno())


async def run_while_connected(request: Request, work: Callable[[Callable[[], bool]], Any]) -> Any:
    """Run ``work(should_stop)`` in a worker thread; ``should_stop()`` turns True once the client
    that sent ``request`` has disconnected, so a long validation of an upload stops with it.

    Returns what ``work`` returns (or raises what it raises).
    """
    gone = threading.Event()

    async def watch() -> None:
        while not gone.is_set():
            if await request.is_disconnected():
                gone.set()
                return
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch())
    try:
        return await run_in_threadpool(work, gone.is_set)
    finally:
        gone.set()
        watcher.cancel()
