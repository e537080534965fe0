"""The embeddings service: ``create_app(settings)`` (the uvicorn factory of ``python -m service embeddings``).

Everything about start-up, readiness, jobs and versions is the kit's (:mod:`service.kit.runtime`,
:mod:`service.kit.app`); this module names the service's runtime, routes and views.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from service.embeddings.jobs import JOB_DESCRIPTION, job_view
from service.embeddings.routes import corpora, models, openai, queries, vocabulary
from service.embeddings.runtime import EmbeddingsRuntime
from service.embeddings.schemas.jobs import JobInfo
from service.embeddings.schemas.models import ImportRequest
from service.embeddings.settings import Settings
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
* `POST /v1/embeddings` is OpenAI's embeddings API (for the OpenAI SDKs, LangChain, LlamaIndex): the
  sentence vectors, with OpenAI's body and error envelope `{"error": {...}}` (on that route only).
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
    {"name": "openai", "description": "OpenAI-compatible embeddings (`POST /v1/embeddings`)."},
    {"name": "operations", "description": "Health, readiness, metrics."},
]

UPLOAD_PATHS = [r"/v1/corpora", r"/v1/models/[^/]+/import"]


#: What ``GET /v1/models/{name}/versions`` shows of each version.
VERSION_FIELDS = ("algorithm", "source", "vocab_size", "vector_size", "params", "corpus", "training_time_s")


def version_summary(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta.get(k) for k in VERSION_FIELDS}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the embeddings app (the runtime starts in the lifespan; models load in the background)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limiter = threadpool_limits(settings.threads)
        try:
            yield
        finally:
            limiter.restore_original_limits()

    return kit_create_app(
        settings,
        EmbeddingsRuntime(settings),
        title="embattn embeddings",
        description=DESCRIPTION,
        routers=[
            corpora.router,
            corpora.shared,
            models.router,
            queries.router,
            vocabulary.router,
            openai.router,
        ],
        job_view=job_view,
        job_model=JobInfo,
        job_description=JOB_DESCRIPTION,
        version_summary=version_summary,
        upload_paths=UPLOAD_PATHS,
        openapi_tags=TAGS,
        openapi_schemas=[ImportRequest],  # the JSON body of POST /v1/models/{name}/import, read by the route
        lifespan=lifespan,
    )
