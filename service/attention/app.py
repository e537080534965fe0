"""The attention service: ``create_app(settings)`` (the uvicorn factory of ``python -m service attention``).

The lifespan bounds torch's threads, opens the stores, loads every stored model into the registry,
starts the job manager (training runs in worker processes) and, when ``train_default`` is set and
the default model does not exist, submits a job that trains it with the core's dates recipe.
``/readyz`` is 503 until the default model is loaded.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import torch
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from models.seq2seq.recipes import DEFAULT_DATES_RECIPE
from service.attention.datasets import DatasetStore
from service.attention.registry import ModelRegistry
from service.attention.routes import datasets, inference, jobs, models
from service.attention.settings import Settings
from service.attention.state import TRAIN_TARGET, ServiceState
from service.kit.app import create_app as create_kit_app
from service.kit.jobs import JobManager, JobRecord
from service.kit.model_store import ModelStore

log = logging.getLogger("service.attention")

VERSION = "0.1.0"

DESCRIPTION = """A padded-batch GRU encoder–decoder with Bahdanau or Luong attention, served with its
alignments: translate a batch (greedy or beam) and read each output's attention matrix and links,
force-align given (source, target) pairs and score them against gold links (AER), draw heatmaps,
evaluate, and train new models from built-in tasks, uploaded datasets or inline pairs (background
jobs). Every error is `application/problem+json`."""

TAGS = [
    {"name": "inference", "description": "Translate, align, heatmaps, evaluate."},
    {"name": "models", "description": "Train (a job), list, describe and delete models."},
    {"name": "jobs", "description": "Watch and cancel training jobs."},
    {"name": "datasets", "description": "Upload parallel data and word vectors."},
    {"name": "operations", "description": "Health, readiness and metrics."},
]


def default_spec(settings: Settings, store: ModelStore) -> dict[str, Any]:
    """The job spec of the default model: the core's :data:`DEFAULT_DATES_RECIPE`."""
    recipe = copy.deepcopy(DEFAULT_DATES_RECIPE)
    return {
        "name": settings.default_model,
        "models_dir": str(store.root),
        "threads": settings.threads,
        "config": recipe["config"],
        "params": recipe["params"],
        "source": {"task": {"name": "dates", "kwargs": recipe["task"]}},
        "dev": None,
        "embeddings": None,
        "max_src_len": settings.max_input_tokens,
        "max_output_len": settings.max_output_len,
        "request": {"name": settings.default_model, "recipe": "DEFAULT_DATES_RECIPE"},
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the attention service's FastAPI app."""
    settings = settings or Settings()
    status: dict[str, Any] = {"started": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        torch.set_num_threads(settings.threads)
        root = settings.service_dir
        store = ModelStore(root / "models")
        store.clean()
        registry = ModelRegistry(store)

        def on_finished(record: JobRecord) -> None:
            if record.status == "succeeded" and record.model:
                try:
                    registry.load(record.model)
                except Exception:
                    log.exception("cannot load model %s after job %s", record.model, record.id)

        manager = JobManager(
            root / "jobs",
            settings.max_concurrent_jobs,
            service=settings.service_name,
            threads=settings.threads,
            preload=["service.attention.worker"],
            on_finished=on_finished,
            keep_finished=settings.max_finished_jobs,
        )
        state = ServiceState(settings, store, registry, DatasetStore(root / "datasets"), manager)
        app.state.attention = state
        await run_in_threadpool(registry.load_all)
        manager.start()
        if (
            settings.train_default
            and not store.exists(settings.default_model)
            and not manager.active_for(settings.default_model)
        ):
            job = manager.submit(
                "train", TRAIN_TARGET, default_spec(settings, store), model=settings.default_model
            )
            log.info("training the default model", extra={"job": job.id, "model": settings.default_model})
        status["started"] = True
        try:
            yield
        finally:
            status["started"] = False
            manager.shutdown()

    def readiness(app: FastAPI) -> tuple[bool, dict[str, Any]]:
        state: ServiceState | None = getattr(app.state, "attention", None)
        if state is None or not status["started"]:
            return False, {"started": False}
        loaded = state.registry.names()
        details: dict[str, Any] = {"started": True, "models_loaded": loaded}
        if settings.train_default:
            details["default_model"] = settings.default_model
            ready = settings.default_model in loaded
            if not ready:
                jobs = state.jobs.list(model=settings.default_model)
                if jobs:  # the newest job training it: progress, or why it failed
                    details["default_job"] = {
                        "id": jobs[0].id,
                        "status": jobs[0].status,
                        "progress": jobs[0].progress,
                        "error": jobs[0].error,
                    }
            return ready, details
        return True, details

    return create_kit_app(
        settings,
        title="embattn attention",
        description=DESCRIPTION,
        version=VERSION,
        routers=[inference.router, models.router, jobs.router, datasets.router],
        lifespan=lifespan,
        readiness=readiness,
        upload_paths=[r"^/v1/datasets$"],
        named_collections=("/v1/models/", "/v1/jobs/", "/v1/datasets/"),
        openapi_tags=TAGS,
    )
