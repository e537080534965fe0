"""The attention service: ``create_app(settings)`` (the uvicorn factory of ``python -m service attention``).

Everything about start-up, readiness, jobs and versions is the kit's (:mod:`service.kit.runtime`,
:mod:`service.kit.app`); this module names the service's runtime, routes and views.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from models.seq2seq.model import EARLIER_BEHAVIOUR, attention_name
from service.attention.jobs import JOB_DESCRIPTION, job_view
from service.attention.routes import datasets, inference, models
from service.attention.runtime import AttentionRuntime
from service.attention.schemas.jobs import JobInfo
from service.attention.settings import Settings
from service.kit.app import create_app as create_kit_app

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


def version_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /v1/models/{name}/versions`` shows of each version."""
    config = dict(meta.get("config") or {})
    if "attention" in config:
        config["attention"] = attention_name(config["attention"])
    if config:  # a version written before a field shows the behaviour it was trained with
        config = EARLIER_BEHAVIOUR | config
    keys = ("dev_metrics", "test_metrics", "training_time_s", "params", "source")
    return {"config": config, **{k: meta.get(k) for k in keys}}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the attention service's FastAPI app (the runtime starts in the lifespan)."""
    settings = settings or Settings()
    return create_kit_app(
        settings,
        AttentionRuntime(settings),
        title="embattn attention",
        description=DESCRIPTION,
        routers=[inference.router, models.router, datasets.router, datasets.shared],
        job_view=job_view,
        job_model=JobInfo,
        job_description=JOB_DESCRIPTION,
        version_summary=version_summary,
        upload_paths=[r"^/v1/datasets$"],
        openapi_tags=TAGS,
    )
