"""Versioned models on disk, shared by both services.

Layout under the store's root (``data_dir/<service>/models``)::

    <name>/v1/            one complete version: the service's files plus version.json (its metadata)
    <name>/v2/
    <name>/CURRENT.json   {"version": 2} — which version is served

**Publish last.** A version is written into a hidden draft, ``<name>/.tmp-new-<pid>-<hex>/``
(:meth:`ModelStore.draft`), which no reader lists; a job writes every file of the version there —
an index included — and publishes it as its very last step (:meth:`Draft.publish`): the files are
fsync'd, then the draft is renamed to ``v<N>`` and ``CURRENT.json`` is replaced, under a journal
(``<name>/.publish-<pid>-<hex>.json``: the version, the one it replaces, the writer's pid). Until
the journal is removed the publication can be undone: a writer that fails between the rename and
the end undoes it itself; one that died (``kill -9``) is undone by :meth:`ModelStore.clean` /
:meth:`ModelStore.clean_model`, which put ``CURRENT.json`` back and remove the version. A draft
that is abandoned is removed with the model's directory when that is left empty; one whose writer
died is removed by the same cleaning. Files added beside an existing version (an index) are
written into a hidden directory too and moved in with the metadata change at the end
(:meth:`ModelStore.add_files`). So a cancel or a crash at any point before the end leaves
``CURRENT.json`` and the list of versions as they were.

The drafts and journals carry their writer's pid: the cleaning removes only those whose writer is
gone (processes of one host, as the service's locks assume).

>>> store = ModelStore(tmp_path / "models")
>>> for text in ("first", "second"):
...     with store.new_version("default", meta={"algorithm": "word2vec"}) as d:
...         _ = (d / "vectors.txt").write_text(text)
>>> current = store.current("default")
>>> current.version, current.meta, (current.path / "vectors.txt").read_text()
(2, {'algorithm': 'word2vec', 'version': 2}, 'second')
>>> sorted(p.name for p in (tmp_path / "models" / "default").iterdir())
['CURRENT.json', 'v1', 'v2']
>>> with store.draft("default") as draft:  # what a job does: every file first, publish last
...     _ = (draft.path / "vectors.txt").write_text("third")
...     _ = draft.publish({"algorithm": "word2vec"})
>>> store.current("default").version
3
>>> store.set_current("default", 1).version  # roll back
1
>>> store.delete_version("default", 1)
Traceback (most recent call last):
...
service.kit.errors.ConflictError: version 1 is the current version of model 'default'; make another version
current first (PUT /v1/models/{name}/current) or delete the model
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.kit.errors import ConflictError, NotFoundError
from service.kit.names import is_valid_name
from service.kit.storage import (
    TMP_PREFIX,
    atomic_write_json,
    fsync_dir,
    fsync_tree,
    read_json,
    remove_temporaries,
    remove_tree,
    tmp_sibling,
)

_VERSION_RE = re.compile(r"^v(\d+)$")
META = "version.json"
CURRENT = "CURRENT.json"
#: A hidden directory of one writer: a draft version (``new``) or files to add beside one (``add``).
_SCRATCH_RE = re.compile(rf"^{re.escape(TMP_PREFIX)}(?:new|add)-(\d+)-[0-9a-f]{{8}}$")
#: The journal of a publication under way.
_JOURNAL_RE = re.compile(r"^\.publish-(\d+)-[0-9a-f]{8}\.json$")


@dataclass(frozen=True)
class ModelVersion:
    """One stored version of a model: where it lives and its metadata."""

    name: str
    version: int
    path: Path
    meta: dict[str, Any]


class ModelStore:
    """Create, find and delete versioned model directories under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str) -> Path:
        if not is_valid_name(name):
            raise ValueError(f"invalid model name {name!r}")
        return self.root / name

    def names(self) -> list[str]:
        """Names of the models that have a current version, sorted."""
        if not self.root.exists():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and is_valid_name(p.name) and (p / CURRENT).exists()
        )

    def versions(self, name: str) -> list[int]:
        """Complete versions of ``name`` on disk, ascending."""
        d = self._dir(name)
        if not d.exists():
            return []
        out = []
        for p in d.iterdir():
            m = _VERSION_RE.match(p.name)
            if m and p.is_dir() and (p / META).exists():
                out.append(int(m.group(1)))
        return sorted(out)

    def current(self, name: str) -> ModelVersion | None:
        """The served version of ``name``, or None when there is no such model."""
        d = self._dir(name)
        try:
            version = int(read_json(d / CURRENT)["version"])
            path = d / f"v{version}"
            return ModelVersion(name, version, path, read_json(path / META))
        except (FileNotFoundError, KeyError, ValueError, TypeError):
            return None

    def get(self, name: str, version: int) -> ModelVersion | None:
        """A specific version of ``name``, or None."""
        path = self._dir(name) / f"v{version}"
        try:
            return ModelVersion(name, version, path, read_json(path / META))
        except (FileNotFoundError, ValueError):
            return None

    def exists(self, name: str) -> bool:
        """True when ``name`` has a current version."""
        return self.current(name) is not None

    @contextmanager
    def draft(self, name: str) -> Iterator[Draft]:
        """Yield a :class:`Draft`: an empty hidden directory for the files of ``name``'s next version.

        Nothing is visible until :meth:`Draft.publish`; when the block ends without publishing
        (an error, a cancel), the draft is removed, and so is the model's directory when it is left
        empty (a failed first version leaves no trace).
        """
        d = self._dir(name)
        draft = Draft(self, name, _scratch_dir(d, "new"))
        try:
            yield draft
        finally:
            if not draft.published:
                shutil.rmtree(draft.path, ignore_errors=True)
                _remove_if_empty(d)

    @contextmanager
    def new_version(self, name: str, meta: dict[str, Any]) -> Iterator[Path]:
        """Yield an empty directory; on success it becomes the next version and the current one.

        ``meta`` (and the ``version`` number, added to it) is written as ``version.json``. The block
        may also update ``meta`` in place before it ends. (:meth:`draft` in one step.)
        """
        with self.draft(name) as draft:
            yield draft.path
            draft.publish(meta)

    @contextmanager
    def add_files(self, name: str, version: int) -> Iterator[FileAddition]:
        """Yield a :class:`FileAddition`: files to add beside stored ``version`` of ``name`` (an index),
        written into a hidden directory and moved in, with the metadata change, by its ``commit``.

        Without ``commit`` (an error, a cancel) nothing of it reaches the version. Raises
        :class:`NotFoundError` when the version does not exist.
        """
        if self.get(name, version) is None:
            raise NotFoundError("version", version, detail=f"model {name!r} has no version {version}")
        addition = FileAddition(self, name, version, _scratch_dir(self._dir(name), "add"))
        try:
            yield addition
        finally:
            shutil.rmtree(addition.path, ignore_errors=True)

    def all_versions(self, name: str) -> list[ModelVersion]:
        """Every complete version of ``name`` with its metadata, ascending."""
        return [v for n in self.versions(name) if (v := self.get(name, n)) is not None]

    def set_current(self, name: str, version: int) -> ModelVersion:
        """Make ``version`` the served version of ``name`` (one atomic replace of ``CURRENT.json``).

        Raises :class:`NotFoundError` when the model or the version does not exist. Every process
        serving the store follows on its next lookup (the registry watches ``CURRENT.json``).
        """
        if self.current(name) is None:
            raise NotFoundError("model", name)
        target = self.get(name, version)
        if target is None:
            raise NotFoundError("version", version, detail=f"model {name!r} has no version {version}")
        atomic_write_json(self._dir(name) / CURRENT, {"version": version})
        return target

    def update_meta(
        self, name: str, version: int, changes: dict[str, Any], *, remove: tuple[str, ...] = ()
    ) -> ModelVersion:
        """Add ``changes`` to (and drop ``remove`` from) a version's metadata, atomically.

        For what is added beside a version after it was written (an index). When it is the current
        version, ``CURRENT.json`` is rewritten as it was, so every process's registry sees a new
        stamp and reloads it. Raises :class:`NotFoundError` when the version does not exist.
        """
        target = self.get(name, version)
        if target is None:
            raise NotFoundError("version", version, detail=f"model {name!r} has no version {version}")
        meta = {k: v for k, v in target.meta.items() if k not in remove}
        meta.update(changes)
        atomic_write_json(target.path / META, meta)
        current = self.current(name)
        if current is not None and current.version == version:
            atomic_write_json(self._dir(name) / CURRENT, {"version": version})
        return ModelVersion(name, version, target.path, meta)

    def delete_version(self, name: str, version: int) -> None:
        """Remove one version that is not the current one.

        Raises :class:`NotFoundError` when it does not exist, :class:`ConflictError`
        (``version-current``) when it is the served version (roll back or forward first).
        """
        current = self.current(name)
        if current is None:
            raise NotFoundError("model", name)
        if self.get(name, version) is None:
            raise NotFoundError("version", version, detail=f"model {name!r} has no version {version}")
        if current.version == version:
            raise ConflictError(
                f"version {version} is the current version of model {name!r}; make another version "
                "current first (PUT /v1/models/{name}/current) or delete the model",
                code="version-current",
            )
        remove_tree(self._dir(name) / f"v{version}")

    def delete(self, name: str) -> bool:
        """Remove every version of ``name``; returns False when it did not exist."""
        d = self._dir(name)
        if not d.exists():
            return False
        remove_tree(d)
        return True

    def clean(self, *, wait_s: float = 5.0) -> int:
        """Remove what interrupted writes left under the root; returns how many leftovers.

        For the process that starts running the jobs, before any runs: every model's
        :meth:`clean_model` (waiting up to ``wait_s`` for writers that are still ending, such as the
        workers of a runner that was killed), then every other temporary (``.tmp-*``).
        """
        count = 0
        if self.root.exists():
            for p in sorted(self.root.iterdir()):
                if p.is_dir() and is_valid_name(p.name):
                    count += self.clean_model(p.name, wait_s=wait_s)
        live = {p for p in self._scratch_dirs() if _alive(_pid_of(p))}
        count += remove_temporaries(self.root, live)
        return count

    def clean_model(self, name: str, *, wait_s: float = 0.0) -> int:
        """Undo the unfinished publications and remove the drafts of writers of ``name`` that are
        gone, then the model's directory when it is left empty; returns how many leftovers.

        A writer still alive is waited for up to ``wait_s`` seconds, then left alone. Safe beside
        live writers of any process (their drafts and journals are theirs until they end).
        """
        d = self._dir(name)
        if not d.is_dir():
            return 0
        leftovers = [p for p in d.iterdir() if _SCRATCH_RE.match(p.name) or _JOURNAL_RE.match(p.name)]
        deadline = time.monotonic() + wait_s
        while any(_alive(_pid_of(p)) for p in leftovers) and time.monotonic() < deadline:
            time.sleep(0.05)
        gone = [p for p in leftovers if not _alive(_pid_of(p))]
        for journal in (p for p in gone if _JOURNAL_RE.match(p.name)):  # before the drafts
            _undo_publication(d, journal)
        for scratch in (p for p in gone if _SCRATCH_RE.match(p.name)):
            shutil.rmtree(scratch, ignore_errors=True)
        _remove_if_empty(d)
        return len(gone)

    def _scratch_dirs(self) -> list[Path]:
        if not self.root.exists():
            return []
        return [
            p
            for d in self.root.iterdir()
            if d.is_dir() and is_valid_name(d.name)
            for p in d.iterdir()
            if _SCRATCH_RE.match(p.name)
        ]


class Draft:
    """A version being written (:meth:`ModelStore.draft`): files go into :attr:`path`, hidden from
    every reader until :meth:`publish`."""

    def __init__(self, store: ModelStore, name: str, path: Path) -> None:
        self.store, self.name, self.path = store, name, path
        self.published: ModelVersion | None = None

    def publish(
        self, meta: dict[str, Any], *, before_commit: Callable[[], None] | None = None
    ) -> ModelVersion:
        """Make the draft the next version of its model and the current one; returns it.

        The last step of whatever wrote it: the files are flushed, ``before_commit()`` is called
        (a job's worker stops honouring cancels there: :func:`service.kit.job_worker.commit_point`),
        then the draft is renamed to ``v<N>`` and ``CURRENT.json`` replaced, under a journal that
        lets a crash in between be undone (:meth:`ModelStore.clean_model`). ``meta``, with the
        ``version`` number added to it (in place too), is written as ``version.json``.
        """
        if self.published is not None:
            raise RuntimeError("this draft is published already")
        d = self.store._dir(self.name)
        fsync_tree(self.path)
        if before_commit is not None:
            before_commit()
        current = self.store.current(self.name)
        journal = d / f".publish-{os.getpid()}-{os.urandom(4).hex()}.json"
        inode = os.stat(self.path).st_ino
        try:
            while True:
                existing = [int(m.group(1)) for p in d.iterdir() if (m := _VERSION_RE.match(p.name))]
                version = max(existing, default=0) + 1
                meta["version"] = version
                atomic_write_json(self.path / META, meta)
                atomic_write_json(
                    journal,
                    {
                        "version": version,
                        "previous": None if current is None else current.version,
                        "pid": os.getpid(),
                        "inode": inode,
                    },
                )
                try:
                    os.rename(self.path, d / f"v{version}")
                    break
                except OSError as exc:  # another writer took this number: take the next one
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
            fsync_dir(d)
            atomic_write_json(d / CURRENT, {"version": version})
        except BaseException:
            _undo_publication(d, journal)
            raise
        journal.unlink()
        fsync_dir(d)
        self.published = ModelVersion(self.name, version, d / f"v{version}", meta)
        return self.published


class FileAddition:
    """Files to add beside a stored version (:meth:`ModelStore.add_files`): written into
    :attr:`path`, moved in by :meth:`commit`."""

    def __init__(self, store: ModelStore, name: str, version: int, path: Path) -> None:
        self.store, self.name, self.version, self.path = store, name, version, path

    def commit(
        self,
        changes: dict[str, Any],
        *,
        remove: tuple[str, ...] = (),
        before_commit: Callable[[], None] | None = None,
    ) -> ModelVersion:
        """Move every file of :attr:`path` into the version (replacing files of the same name) and
        change its metadata (:meth:`ModelStore.update_meta`); returns the version.

        The files are flushed before ``before_commit()``; then the moves and the metadata change
        take milliseconds. A crash between them leaves a file the metadata does not name yet (an
        index the loader ignores without its metadata).
        """
        target = self.store.get(self.name, self.version)
        if target is None:
            raise NotFoundError(
                "version", self.version, detail=f"model {self.name!r} has no version {self.version}"
            )
        fsync_tree(self.path)
        if before_commit is not None:
            before_commit()
        for p in sorted(self.path.iterdir()):
            os.replace(p, target.path / p.name)
        fsync_dir(target.path)
        return self.store.update_meta(self.name, self.version, changes, remove=remove)


def _scratch_dir(d: Path, kind: str) -> Path:
    """A new hidden directory of this process in model directory ``d`` (created when missing)."""
    while True:
        d.mkdir(parents=True, exist_ok=True)
        path = tmp_sibling(d / f"{kind}-{os.getpid()}")
        try:
            path.mkdir()
            return path
        except FileNotFoundError:  # an empty model directory was removed meanwhile: again
            continue


def _pid_of(path: Path) -> int:
    m = _SCRATCH_RE.match(path.name) or _JOURNAL_RE.match(path.name)
    return int(m.group(1)) if m else 0


def _alive(pid: int) -> bool:
    """Whether process ``pid`` (of this host) is running; a zombie is not."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return not os.path.isdir("/proc/self")
    except (OSError, IndexError):
        return True


def _undo_publication(d: Path, journal: Path) -> None:
    """Undo what the publication of ``journal`` did: ``CURRENT.json`` back to the version it
    replaced, its new version removed; then the journal. Idempotent (a crash meanwhile is undone
    by the next cleaning)."""
    try:
        entry = read_json(journal)
        version = int(entry["version"])
    except FileNotFoundError:
        return
    except (ValueError, KeyError, TypeError):  # written atomically: cannot happen; drop it
        journal.unlink(missing_ok=True)
        return
    target = d / f"v{version}"
    try:
        ours = os.stat(target).st_ino == entry.get("inode")
    except FileNotFoundError:
        ours = False
    if ours:
        try:
            current = int(read_json(d / CURRENT)["version"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            current = None
        if current == version:
            previous = entry.get("previous")
            if previous is None:
                (d / CURRENT).unlink(missing_ok=True)
                fsync_dir(d)
            else:
                atomic_write_json(d / CURRENT, {"version": int(previous)})
        remove_tree(target)
    journal.unlink(missing_ok=True)
    fsync_dir(d)


def _remove_if_empty(d: Path) -> None:
    try:
        os.rmdir(d)
    except OSError:  # not empty (or gone): keep it
        pass
