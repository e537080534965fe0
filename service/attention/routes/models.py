"""``/v1/models``: train (a job), list, describe and delete models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from models.seq2seq.model import EARLIER_BEHAVIOUR, attention_name
from service.attention.runtime import Runtime
from service.attention.schemas.models import ModelInfo, ModelList, TrainRequest
from service.attention.training import submit_training
from service.kit.auth import require_query_token, require_token
from service.kit.errors import NotFoundError
from service.kit.jobs_routes import accepted
from service.kit.model_store import ModelVersion
from service.kit.names import ModelName
from service.kit.redact import redact_url
from service.kit.schemas import JobAccepted

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.post(
    "",
    status_code=202,
    summary="Train a model (a background job)",
    description="Exactly one data source: a built-in `task`, an uploaded `dataset_id`, or inline `pairs`. "
    "Watch the job at the returned `location`; the model is served once the job succeeds. A taken name is "
    "a 409 (`model-exists`) unless `overwrite: true`, which trains a new version (the current one is "
    "replaced atomically when the job succeeds; earlier versions stay under `/versions`). 409 `job-active` "
    "while a job for the name is queued or running.",
    responses={409: {"description": "The model exists, or a job for it is active"}},
    response_model=JobAccepted,
    dependencies=[Depends(require_token)],
)
def train_model(body: TrainRequest, state: Runtime) -> JSONResponse:
    return accepted(submit_training(body, state))


def _shown_embeddings(emb: dict[str, Any] | None) -> dict[str, Any] | None:
    """Where the source embeddings came from, a URL without its credentials (a request's URL has
    none -- they are refused --, but ATTENTION_EMBEDDINGS_URL may)."""
    if emb and isinstance(emb.get("url"), str):
        return {**emb, "url": redact_url(emb["url"])}
    return emb


def model_info(version: ModelVersion, loaded: bool) -> ModelInfo:
    meta = version.meta
    config = dict(meta.get("config", {}))
    if "attention" in config:
        config["attention"] = attention_name(config["attention"])
    if config:  # a version written before a field shows the behaviour it was trained with
        config = EARLIER_BEHAVIOUR | config
    return ModelInfo(
        name=version.name,
        version=version.version,
        loaded=loaded,
        config=config,
        src_vocab_size=meta.get("src_vocab_size"),
        tgt_vocab_size=meta.get("tgt_vocab_size"),
        dev_metrics=meta.get("dev_metrics") or {},
        test_metrics=meta.get("test_metrics"),
        training_time_s=meta.get("training_time_s"),
        source=meta.get("source") or {},
        params=meta.get("params") or {},
        embeddings=_shown_embeddings(meta.get("embeddings")),
        created=meta.get("created"),
    )


@router.get("", summary="List models", response_model=ModelList, dependencies=[Depends(require_query_token)])
def list_models(state: Runtime) -> ModelList:
    out = []
    for name in state.store.names():
        current = state.store.current(name)
        if current is not None:
            out.append(model_info(current, state.registry.is_loaded(name, current.version)))
    return ModelList(models=out)


@router.get(
    "/{name}",
    summary="A model: config, vocabulary sizes, dev metrics, training time, version",
    response_model=ModelInfo,
    dependencies=[Depends(require_query_token)],
)
def get_model(name: ModelName, state: Runtime) -> ModelInfo:
    current = state.store.current(name)
    if current is None:
        raise NotFoundError("model", name)
    return model_info(current, state.registry.is_loaded(name, current.version))
