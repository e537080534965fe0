"""Locks that hold across the processes serving one data directory (``--workers N``, replicas
sharing a volume on one host): advisory ``flock`` locks on files beside the data they guard.

* :class:`FileLock` — a blocking, re-entrant lock held while a rule is checked and acted on (a
  name is free, no job uses an upload); within a process it is also a thread lock.
* :class:`RoleLock` — a non-blocking lock that makes one process *the* holder of a role (the job
  runner); the kernel releases it when its holder dies, ``kill -9`` included, so another process
  can take the role over.

``flock`` locks work across processes and containers on one host (one kernel); on network file
systems they may not, so there the services need one host per data directory (see the README).

>>> import tempfile, pathlib
>>> lock = FileLock(pathlib.Path(tempfile.mkdtemp()) / "rules.lock")
>>> with lock:
...     with lock:  # re-entrant
...         pass
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from types import TracebackType


class FileLock:
    """A re-entrant lock over threads and processes (``flock(LOCK_EX)`` on ``path``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        self._thread_lock.acquire()
        try:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None
        finally:
            self._thread_lock.release()


class RoleLock:
    """Hold ``path``'s lock for as long as this process keeps the role; never blocks.

    >>> import tempfile, pathlib
    >>> role = RoleLock(pathlib.Path(tempfile.mkdtemp()) / "runner.lock")
    >>> role.try_acquire(), role.held
    (True, True)
    >>> role.release()
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._guard = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the role if no other process holds it; returns whether this process holds it now."""
        with self._guard:
            if self._fd is not None:
                return True
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return True

    def release(self) -> None:
        """Give the role up (another process may take it)."""
        with self._guard:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None
