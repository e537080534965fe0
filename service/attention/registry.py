"""The in-memory registry of served models: name -> (model in eval mode, vocabularies, config, meta).

Loaded from the :class:`~service.kit.model_store.ModelStore` in the lifespan and reloaded when a
training job finishes. A swap replaces the whole entry under a lock, so a request holds one
consistent (model, version) pair even while a new version is being loaded.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from models.seq2seq.model import Seq2Seq
from service.attention import checkpoints
from service.kit.metrics import MODELS_LOADED
from service.kit.model_store import ModelStore
from service.kit.problems import not_found

log = logging.getLogger("service.attention.registry")


@dataclass(frozen=True)
class LoadedModel:
    """One served model version."""

    name: str
    version: int
    model: Seq2Seq
    meta: dict[str, Any]


class ModelRegistry:
    """Thread-safe name -> :class:`LoadedModel` map backed by a model store."""

    def __init__(self, store: ModelStore, service: str = "attention") -> None:
        self.store = store
        self.service = service
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def load_all(self) -> None:
        """Load the current version of every stored model (a broken one is logged and skipped)."""
        for name in self.store.names():
            try:
                self.load(name)
            except Exception:
                log.exception("cannot load model %s", name)

    def load(self, name: str) -> LoadedModel | None:
        """(Re)load the current version of ``name``; None when it has none."""
        current = self.store.current(name)
        if current is None:
            self.drop(name)
            return None
        with self._lock:
            held = self._models.get(name)
        if held is not None and held.version == current.version:
            return held
        model = checkpoints.load(current.path)
        entry = LoadedModel(name, current.version, model, current.meta)
        with self._lock:
            self._models[name] = entry
            MODELS_LOADED.labels(self.service).set(len(self._models))
        log.info("model loaded", extra={"model": name, "version": current.version})
        return entry

    def drop(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)
            MODELS_LOADED.labels(self.service).set(len(self._models))

    def get(self, name: str) -> LoadedModel:
        """The loaded model ``name``; a 404 problem when there is none."""
        with self._lock:
            entry = self._models.get(name)
        if entry is None:
            raise not_found("model", name)
        return entry

    def loaded(self, name: str) -> bool:
        with self._lock:
            return name in self._models

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)
