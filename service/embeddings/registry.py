"""The in-memory registry of served models: name -> loaded vectors, thread-safe.

Each entry holds the current version's ``KeyedVectors`` (memory-mapped when ``settings.mmap``) and a
:class:`~models.embeddings.queries.VectorQueries` whose norms are computed at load time (gensim fills
them lazily otherwise, and concurrent threads would race). A lookup checks the model's
``CURRENT.json`` (one ``stat``): when a job or an import made a new version current, or the model was
deleted, the entry is reloaded or dropped, so a reader never sees a stale model after a job ended.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from gensim.models import KeyedVectors

from models.embeddings.io import load_vectors
from models.embeddings.queries import VectorQueries
from service.kit.metrics import MODELS_LOADED
from service.kit.model_store import CURRENT, ModelStore
from service.kit.problems import not_found

log = logging.getLogger("service.embeddings.registry")


@dataclass(frozen=True)
class LoadedModel:
    """One served model version."""

    name: str
    version: int
    meta: dict[str, Any]
    kv: KeyedVectors
    queries: VectorQueries
    stamp: tuple[int, int]


class ModelRegistry:
    """Load, look up and drop models; safe to use from many request threads."""

    def __init__(self, store: ModelStore, *, mmap: bool = True, service: str = "embeddings") -> None:
        self.store = store
        self.mmap = mmap
        self.service = service
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()

    def _stamp(self, name: str) -> tuple[int, int] | None:
        try:
            st = os.stat(self.store.root / name / CURRENT)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def _gauge(self) -> None:
        MODELS_LOADED.labels(self.service).set(len(self._models))

    def load(self, name: str) -> LoadedModel | None:
        """(Re)load the current version of ``name``; drop it and return None when there is none."""
        with self._load_lock:
            stamp = self._stamp(name)
            with self._lock:
                entry = self._models.get(name)
            if entry is not None and stamp == entry.stamp:
                return entry
            current = self.store.current(name)
            if current is None or stamp is None:
                self.drop(name)
                return None
            kv = load_vectors(current.path, mmap=self.mmap)
            queries = VectorQueries(kv)
            queries.warm()
            entry = LoadedModel(name, current.version, dict(current.meta), kv, queries, stamp)
            with self._lock:
                self._models[name] = entry
                self._gauge()
            log.info("model loaded", extra={"model": name, "version": current.version})
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
        """Forget ``name`` (its files are not touched)."""
        with self._lock:
            self._models.pop(name, None)
            self._gauge()

    def is_loaded(self, name: str) -> bool:
        with self._lock:
            return name in self._models

    def loaded(self) -> dict[str, int]:
        """``{name: version}`` of the models in memory."""
        with self._lock:
            return {n: m.version for n, m in self._models.items()}

    def get(self, name: str) -> LoadedModel:
        """The current version of ``name``, loading or reloading it when it changed on disk; 404 if none."""
        with self._lock:
            entry = self._models.get(name)
        stamp = self._stamp(name)
        if entry is not None and stamp == entry.stamp:
            return entry
        if stamp is None:
            self.drop(name)
            raise not_found("model", name)
        entry = self.load(name)
        if entry is None:
            raise not_found("model", name)
        return entry
