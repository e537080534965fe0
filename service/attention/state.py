"""The service's shared objects, kept on ``app.state`` and handed to routes as dependencies."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

from service.attention.datasets import DatasetStore
from service.attention.registry import ModelRegistry
from service.attention.settings import Settings
from service.kit.jobs import JobManager
from service.kit.model_store import ModelStore

#: API attention names -> the core's (:data:`models.seq2seq.attention.ATTENTION_TYPES`).
ATTENTION_TO_CORE = {
    "bahdanau": "bahdanau",
    "luong-dot": "dot",
    "luong-general": "general",
    "luong-concat": "concat",
}
ATTENTION_FROM_CORE = {v: k for k, v in ATTENTION_TO_CORE.items()}

TRAIN_TARGET = "service.attention.worker:train_job"


@dataclass
class ServiceState:
    settings: Settings
    store: ModelStore
    registry: ModelRegistry
    datasets: DatasetStore
    jobs: JobManager
    #: Held while checking that no job is active for a model and acting on it (submit, delete),
    #: so that two concurrent requests cannot both pass the check.
    lock: threading.Lock = field(default_factory=threading.Lock)


async def get_state(request: Request) -> ServiceState:
    """Dependency: the running service's state (async: no threadpool hop per request)."""
    return request.app.state.attention
