"""The embeddings service: ``create_app(settings)`` (the uvicorn factory of ``python -m service embeddings``).

Start-up (the lifespan): bound BLAS threads (threadpoolctl), remove leftovers of interrupted writes,
start the job manager (interrupted jobs become ``failed``), then -- in a background thread, so that
``/healthz`` answers at once -- load every current model into the registry and, when
``train_default`` is set and the default model is missing, queue its training. ``/readyz`` is 503
until then (until the default model is loaded, when ``train_default``).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from service.embeddings.routers import corpora, jobs, models, queries
from service.embeddings.settings import Settings
from service.embeddings.state import EmbeddingsState
from service.kit.app import create_app as kit_create_app

DESCRIPTION = """
Word embeddings over HTTP: train **Word2Vec** and **FastText** with gensim on your corpus (as
background jobs), import and export vectors, and query them -- nearest words, analogies, pair and
set similarity, odd-one-out, word and sentence vectors, benchmark evaluation -- with exactly
gensim's results.

* Every query has a **batch form**: `POST .../<query>/batch` with `{"queries": [<single body>, ...]}`
  answers `{"results": [...], "errors": [...]}` (failed queries are `null` in `results` and listed in
  `errors` by index).
* Errors are RFC 9457 problems (`application/problem+json`); unknown words are a 404 of type
  `unknown-words` listing all of them in `unknown_words`.
* Mutating routes need `Authorization: Bearer <token>` when `EMBEDDINGS_API_TOKEN` is set.
"""

TAGS = [
    {"name": "corpora", "description": "Upload training corpora (streamed to disk, validated once)."},
    {"name": "models", "description": "Train, continue, import, export, list and delete models."},
    {"name": "jobs", "description": "Training jobs: progress, per-epoch loss, cancel."},
    {
        "name": "queries",
        "description": "Similarity queries with gensim's exact answers; each has a /batch form.",
    },
    {"name": "operations", "description": "Health, readiness, metrics."},
]

UPLOAD_PATHS = [r"/v1/corpora", r"/v1/models/[^/]+/import"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the embeddings app (state is created here; models load in the lifespan)."""
    settings = settings or Settings()
    state = EmbeddingsState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limiter = threadpool_limits(settings.threads)
        state.start()
        loader = threading.Thread(target=state.load_models, name="embeddings-load", daemon=True)
        loader.start()
        try:
            yield
        finally:
            loader.join(timeout=30)
            state.stop()
            limiter.restore_original_limits()

    def readiness(app: FastAPI) -> tuple[bool, dict[str, Any]]:
        return state.readiness()

    app = kit_create_app(
        settings,
        title="embattn embeddings",
        description=DESCRIPTION,
        version="1.0.0",
        routers=[corpora.router, models.router, jobs.router, queries.router],
        lifespan=lifespan,
        readiness=readiness,
        upload_paths=UPLOAD_PATHS,
        openapi_tags=TAGS,
    )
    app.state.embeddings = state
    return app
