"""Versioned models on disk, shared by both services.

Layout under the store's root (``data_dir/<service>/models``)::

    <name>/v1/            one complete version: the service's files plus version.json (its metadata)
    <name>/v2/
    <name>/CURRENT.json   {"version": 2} — which version is served

A version is written into a temporary directory and renamed into place in one step
(:func:`service.kit.storage.atomic_directory`); ``CURRENT.json`` is replaced atomically after that.
A crash at any point leaves the previous version as the current, loadable one.

>>> store = ModelStore(tmp_path / "models")
>>> for text in ("first", "second"):
...     with store.new_version("default", meta={"algorithm": "word2vec"}) as d:
...         _ = (d / "vectors.txt").write_text(text)
>>> current = store.current("default")
>>> current.version, current.meta, (current.path / "vectors.txt").read_text()
(2, {'algorithm': 'word2vec', 'version': 2}, 'second')
>>> sorted(p.name for p in (tmp_path / "models" / "default").iterdir())
['CURRENT.json', 'v1', 'v2']
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.kit.errors import ConflictError, NotFoundError
from service.kit.names import is_valid_name
from service.kit.storage import (
    atomic_write_json,
    fsync_tree,
    read_json,
    remove_temporaries,
    remove_tree,
    tmp_sibling,
)

_VERSION_RE = re.compile(r"^v(\d+)$")
META = "version.json"
CURRENT = "CURRENT.json"


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
    def new_version(self, name: str, meta: dict[str, Any]) -> Iterator[Path]:
        """Yield an empty directory; on success it becomes the next version and the current one.

        ``meta`` (and the ``version`` number, added to it) is written as ``version.json``. The block
        may also update ``meta`` in place before it ends.
        """
        d = self._dir(name)
        d.mkdir(parents=True, exist_ok=True)
        tmp = tmp_sibling(d / "new")
        tmp.mkdir()
        try:
            yield tmp
            while True:
                existing = [int(m.group(1)) for p in d.iterdir() if (m := _VERSION_RE.match(p.name))]
                version = max(existing, default=0) + 1
                meta["version"] = version
                atomic_write_json(tmp / META, meta)
                fsync_tree(tmp)
                try:
                    os.rename(tmp, d / f"v{version}")
                    break
                except OSError as exc:  # another writer took this number: take the next one
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
                    continue
            atomic_write_json(d / CURRENT, {"version": version})
        finally:
            if tmp.exists():
                remove_tree(tmp)

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

    def clean(self) -> int:
        """Remove leftovers of interrupted writes (``.tmp-*``) under the root; returns how many."""
        return remove_temporaries(self.root)
