"""The in-memory registry of served models, the same for every service: name -> loaded version.

A service brings a *loader* (``ModelVersion -> its model object``: gensim vectors with their
queries, a torch encoder-decoder); the registry keeps the current version of each model in memory
and follows the model store on disk:

* every lookup checks the model's ``CURRENT.json`` (one ``stat``): when a job, an import, a
  roll-back or another process made another version current, or the model was deleted, the entry
  is reloaded or dropped, so every process serving a data directory follows within one request;
  a version whose metadata changed in place (``ModelStore.update_meta``: an index added beside
  it, which rewrites ``CURRENT.json``) is reloaded too;
* ``get(name, version=N)`` serves a version that is not the current one (kept in a small
  least-recently-used cache, :attr:`ModelRegistry.pinned_cache`);
* loads of one model are serialised, and an entry is swapped in whole, so a request holds one
  consistent ``(version, model)`` pair even while a new version loads.

>>> store = ModelStore(tmp_path / "models")
>>> for text in ("first", "second"):
...     with store.new_version("default", meta={}) as d:
...         _ = (d / "model.txt").write_text(text)
>>> registry = ModelRegistry(store, loader=lambda v: (v.path / "model.txt").read_text(), service="demo")
>>> entry = registry.get("default")
>>> entry.version, entry.model
(2, 'second')
>>> _ = store.set_current("default", 1)  # another process rolls back: the next lookup follows
>>> registry.get("default").model, registry.get("default", version=2).model, registry.loaded()
('first', 'second', {'default': 1})
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from service.kit.errors import NotFoundError
from service.kit.metrics import MODELS_LOADED
from service.kit.model_store import CURRENT, ModelStore, ModelVersion

log = logging.getLogger("service.registry")

T = TypeVar("T")


@dataclass(frozen=True)
class LoadedModel(Generic[T]):
    """One model version in memory: ``model`` is what the service's loader returned."""

    name: str
    version: int
    meta: dict[str, Any]
    model: T
    #: ``(inode, mtime_ns)`` of ``CURRENT.json`` when this entry was loaded (None: a pinned version).
    stamp: tuple[int, int] | None = None


class ModelRegistry(Generic[T]):
    """Load, look up and drop models of a :class:`ModelStore`; safe to use from many threads."""

    #: Versions other than the current one kept in memory at once (``?version=N`` lookups).
    pinned_cache = 2

    def __init__(self, store: ModelStore, loader: Callable[[ModelVersion], T], *, service: str) -> None:
        self.store = store
        self.loader = loader
        self.service = service
        self._current: dict[str, LoadedModel[T]] = {}
        self._pinned: OrderedDict[tuple[str, int], LoadedModel[T]] = OrderedDict()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()

    # -- lookups ---------------------------------------------------------------------------------

    def get(self, name: str, version: int | None = None) -> LoadedModel[T]:
        """The current version of ``name`` (or version ``version``), loading it when needed.

        Raises :class:`NotFoundError` (``model-not-found`` or ``version-not-found``) when there is
        no such model or version.
        """
        entry = self._get_current(name)
        if version is None or version == entry.version:
            return entry
        return self._get_pinned(name, version)

    def loaded(self) -> dict[str, int]:
        """``{name: version}`` of the current versions in memory."""
        with self._lock:
            return {n: m.version for n, m in sorted(self._current.items())}

    def is_loaded(self, name: str, version: int | None = None) -> bool:
        """True when ``name`` (its current version, or ``version``) is in memory."""
        with self._lock:
            entry = self._current.get(name)
            if version is None or (entry is not None and entry.version == version):
                return entry is not None
            return (name, version) in self._pinned

    # -- loading ---------------------------------------------------------------------------------

    def load(self, name: str) -> LoadedModel[T] | None:
        """(Re)load the current version of ``name``; drop it and return None when there is none."""
        with self._load_lock:
            stamp = self._stamp(name)
            with self._lock:
                entry = self._current.get(name)
            if entry is not None and stamp is not None and stamp == entry.stamp:
                return entry
            current = self.store.current(name) if stamp is not None else None
            if current is None:
                self.drop(name)
                return None
            if entry is not None and entry.version == current.version and entry.meta == current.meta:
                entry = LoadedModel(name, entry.version, entry.meta, entry.model, stamp)  # rolled back to it
            else:
                entry = self._load_version(current, stamp)
            with self._lock:
                self._current[name] = entry
                self._pinned.pop((name, entry.version), None)
                self._gauge()
            return entry

    def load_all(self) -> list[str]:
        """Load every model that has a current version; a damaged one is logged and skipped."""
        loaded = []
        for name in self.store.names():
            try:
                if self.load(name) is not None:
                    loaded.append(name)
            except Exception:
                log.exception("could not load model %s", name)
        return loaded

    def drop(self, name: str) -> None:
        """Forget every version of ``name`` held in memory (its files are not touched)."""
        with self._lock:
            self._current.pop(name, None)
            for key in [k for k in self._pinned if k[0] == name]:
                del self._pinned[key]
            self._gauge()

    def forget_version(self, name: str, version: int) -> None:
        """Forget a non-current version held in memory (after it was deleted)."""
        with self._lock:
            self._pinned.pop((name, version), None)

    # -- internals -------------------------------------------------------------------------------

    def _stamp(self, name: str) -> tuple[int, int] | None:
        try:
            st = os.stat(self.store.root / name / CURRENT)
        except (OSError, ValueError):
            return None
        return (st.st_ino, st.st_mtime_ns)

    def _gauge(self) -> None:
        MODELS_LOADED.labels(self.service).set(len(self._current))

    def _load_version(self, version: ModelVersion, stamp: tuple[int, int] | None) -> LoadedModel[T]:
        model = self.loader(version)
        log.info("model loaded", extra={"model": version.name, "version": version.version})
        return LoadedModel(version.name, version.version, dict(version.meta), model, stamp)

    def _get_current(self, name: str) -> LoadedModel[T]:
        with self._lock:
            entry = self._current.get(name)
        stamp = self._stamp(name)
        if entry is not None and stamp == entry.stamp:
            return entry
        if stamp is None:
            self.drop(name)
            raise NotFoundError("model", name)
        entry = self.load(name)
        if entry is None:
            raise NotFoundError("model", name)
        return entry

    def _get_pinned(self, name: str, version: int) -> LoadedModel[T]:
        key = (name, version)
        with self._lock:
            entry = self._pinned.get(key)
            if entry is not None:
                self._pinned.move_to_end(key)
                return entry
        with self._load_lock:
            with self._lock:
                entry = self._pinned.get(key)
            if entry is None:
                stored = self.store.get(name, version)
                if stored is None:
                    raise NotFoundError(
                        "version", version, detail=f"model {name!r} has no version {version}", model=name
                    )
                entry = self._load_version(stored, None)
            with self._lock:
                self._pinned[key] = entry
                self._pinned.move_to_end(key)
                while len(self._pinned) > self.pinned_cache:
                    self._pinned.popitem(last=False)
            return entry
