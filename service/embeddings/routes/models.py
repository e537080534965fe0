"""``/v1/models``: train, continue, list, show, delete, import and export models; build their ANN index."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from gensim.models.fasttext import FastTextKeyedVectors

from models.embeddings.ann import HnswParams
from models.embeddings.errors import InvalidModelFileError
from models.embeddings.io import import_vectors, iter_export, save_model, sniff_format
from models.embeddings.training import TrainParams
from service.embeddings.errors import model_file_error
from service.embeddings.runtime import EmbeddingsRuntime, Runtime
from service.embeddings.schemas import (
    ContinueRequest,
    IndexRequest,
    ModelInfo,
    ModelList,
    TrainRequest,
    VersionInfo,
)
from service.kit.auth import require_query_token, require_token
from service.kit.errors import ConflictError, InvalidInputError, NotFoundError
from service.kit.jobs_routes import accepted
from service.kit.models_routes import VersionQuery
from service.kit.names import ModelName
from service.kit.schemas import JobAccepted
from service.kit.storage import stream_request_to_file

router = APIRouter(prefix="/v1/models", tags=["models"])


def model_info(state: EmbeddingsRuntime, name: str) -> ModelInfo:
    current = state.store.current(name)
    if current is None:
        raise NotFoundError("model", name)
    meta = dict(current.meta)
    versions = [
        VersionInfo(
            version=v.version,
            created=v.meta.get("created"),
            source=v.meta.get("source"),
            vocab_size=v.meta.get("vocab_size"),
        )
        for v in state.store.all_versions(name)
    ]
    meta.pop("version", None)
    return ModelInfo(
        **{k: v for k, v in meta.items() if k not in ModelInfo.model_fields},
        name=name,
        version=current.version,
        algorithm=meta.get("algorithm"),
        source=meta.get("source"),
        vector_size=int(meta.get("vector_size", 0)),
        vocab_size=int(meta.get("vocab_size", 0)),
        oov_vectors=bool(meta.get("oov_vectors", False)),
        trainable=bool(meta.get("has_full_model", False)),
        created=meta.get("created"),
        training_time_s=meta.get("training_time_s"),
        params=meta.get("params"),
        corpus=meta.get("corpus"),
        index=meta.get("index"),
        loaded=state.registry.loaded().get(name) == current.version,
        versions=versions,
    )


def _check_ngram_table(body: TrainRequest, limit: int) -> None:
    """422 when a FastText n-gram table would exceed ``EMBEDDINGS_MAX_NGRAM_BYTES`` (the worker would be OOM-killed)."""
    if body.algorithm != "fasttext":
        return
    bucket = body.params.bucket or TrainParams.bucket
    dim = body.params.vector_size or TrainParams.vector_size
    need = bucket * dim * 4
    if need > limit:
        raise InvalidInputError(
            f"a FastText n-gram table of bucket={bucket} x vector_size={dim} needs {need / 2**30:.1f} GiB, "
            f"over the limit of {limit / 2**30:.1f} GiB (EMBEDDINGS_MAX_NGRAM_BYTES); lower params.bucket",
            loc=["body", "params", "bucket"],
            code="model-too-large",
        )


@router.post(
    "",
    status_code=202,
    response_model=JobAccepted,
    summary="Train a Word2Vec or FastText model (a job)",
    description="Queues a training job and answers 202 with its URL (also in `Location`). Train on an "
    "uploaded corpus (`corpus_id`) or on a few inline `sentences`. 409 when the name exists (send "
    "`overwrite: true` for a new version) or a job for it is queued or running.",
    dependencies=[Depends(require_token)],
    responses={409: {"description": "The model exists, or a job for it is active"}},
)
def train_model(body: TrainRequest, state: Runtime) -> JSONResponse:
    _check_ngram_table(body, state.settings.max_ngram_bytes)
    sentences = None
    if body.sentences is not None:
        sentences = state.tokenize_inline(body.sentences, body.tokenizer.kind, body.tokenizer.lowercase)
        state.check_min_count(sentences, body.params.min_count or TrainParams.min_count)
    rec = state.submit_training(
        mode="train",
        name=body.name,
        algorithm=body.algorithm,
        params=body.params.given(),
        overwrite=body.overwrite,
        corpus_id=body.corpus_id,
        sentences=sentences,
    )
    return accepted(rec)


@router.post(
    "/{name}/continue",
    status_code=202,
    response_model=JobAccepted,
    summary="Continue training a model on new sentences (a job; new version)",
    description="gensim's vocabulary update: new words reaching `min_count` in the new corpus are added, "
    "then the model trains on the new corpus only. Imported models (vectors only) cannot continue (422).",
    dependencies=[Depends(require_token)],
)
def continue_training(name: ModelName, body: ContinueRequest, state: Runtime) -> JSONResponse:
    if not state.store.exists(name):
        raise NotFoundError("model", name)
    sentences = None
    if body.sentences is not None:
        sentences = state.tokenize_inline(body.sentences, body.tokenizer.kind, body.tokenizer.lowercase)
    params = {
        k: v
        for k, v in {"epochs": body.epochs, "alpha": body.alpha, "min_alpha": body.min_alpha}.items()
        if v is not None
    }
    current = state.store.current(name)
    if current is not None:
        stored = current.meta.get("params") or {}
        alpha = params.get("alpha", stored.get("alpha", 0.025))
        min_alpha = params.get("min_alpha", stored.get("min_alpha", 0.0001))
        if min_alpha > alpha:
            raise InvalidInputError(
                f"min_alpha ({min_alpha}) must be <= alpha ({alpha})", title="Invalid parameters"
            )
    rec = state.submit_training(
        mode="continue",
        name=name,
        algorithm=None,
        params=params,
        overwrite=True,
        corpus_id=body.corpus_id,
        sentences=sentences,
    )
    return accepted(rec)


@router.get("", response_model=ModelList, summary="List models", dependencies=[Depends(require_query_token)])
def list_models(state: Runtime) -> ModelList:
    out = []
    for name in state.store.names():
        try:
            out.append(model_info(state, name))
        except NotFoundError:  # deleted meanwhile
            continue
    return ModelList(models=out)


@router.get(
    "/{name}",
    response_model=ModelInfo,
    summary="Show a model: metadata of the current version and every version",
    dependencies=[Depends(require_query_token)],
)
def get_model(name: ModelName, state: Runtime) -> ModelInfo:
    return model_info(state, name)


IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The raw vectors file (word2vec text or binary, or a Facebook fastText `.bin`). "
        "Parsed only by non-pickle loaders: pickles, zip/torch archives and gzip are refused.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _import(
    state: EmbeddingsRuntime, name: str, path: Any, fmt: str, overwrite: bool, size: int
) -> ModelInfo:
    try:
        if fmt == "auto":
            fmt = sniff_format(path)  # refuses pickles/archives from the first bytes
        kv = import_vectors(path, fmt)
    except InvalidModelFileError as exc:
        raise model_file_error(exc) from None
    fasttext = isinstance(kv, FastTextKeyedVectors) and kv.bucket > 0
    meta: dict[str, Any] = {
        "algorithm": "fasttext" if fasttext else "word2vec",
        "source": "imported",
        "import_format": fmt,
        "import_bytes": size,
        "created": datetime.now(UTC).isoformat(),
        "oov_vectors": fasttext,
        "params": None,
        "corpus": None,
        "training_time_s": None,
    }
    with state.lock:
        state.check_no_active_job(name)
        state.check_name_free(name, overwrite)
        with state.store.new_version(name, meta) as directory:
            meta.update(save_model(kv, directory))
    state.registry.load(name)
    info = model_info(state, name)
    if info.vocab_size >= state.settings.index_min_vocab:
        try:  # a large vocabulary gets its ANN index at once (a job; the model serves exactly meanwhile)
            rec = state.submit_index(name, info.version, HnswParams())
            info.index_job = {"job_id": rec.id, "location": f"/v1/jobs/{rec.id}"}  # type: ignore[attr-defined]
        except ConflictError:  # another job for the model started meanwhile
            pass
    return info


@router.post(
    "/{name}/import",
    status_code=201,
    response_model=ModelInfo,
    summary="Import vectors from a word2vec or fastText file",
    description="The body is the file, streamed to disk up to `EMBEDDINGS_MAX_UPLOAD_BYTES`. `auto` sniffs "
    "the format from the first bytes. A pickle or zip archive is 415 (never loaded); a file that does not "
    "parse is 422. 409 when the model exists (unless `overwrite=true`: new version). A vocabulary of at "
    "least `EMBEDDINGS_INDEX_MIN_VOCAB` words starts the job that builds its ANN index (`index_job`).",
    dependencies=[Depends(require_token)],
    openapi_extra=IMPORT_BODY,
)
async def import_model(
    name: ModelName,
    request: Request,
    state: Runtime,
    format: Literal["auto", "word2vec-text", "word2vec-binary", "fasttext-bin"] = Query("auto"),  # noqa: A002
    overwrite: bool = Query(False, description="Store a new version when the model exists."),
) -> JSONResponse:
    state.check_no_active_job(name)
    state.check_name_free(name, overwrite)
    tmp = state.tmp_dir / f".tmp-import-{uuid.uuid4().hex}"
    try:
        size = await stream_request_to_file(request, tmp, state.settings.max_upload_bytes)
        info = await run_in_threadpool(_import, state, name, tmp, format, overwrite, size)
    finally:
        tmp.unlink(missing_ok=True)
    return JSONResponse(
        info.model_dump(mode="json"), status_code=201, headers={"Location": f"/v1/models/{name}"}
    )


@router.get(
    "/{name}/vectors",
    summary="Export the vectors (word2vec text or binary), streamed",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}, "text/plain": {}}, "description": "The file"}
    },
    dependencies=[Depends(require_query_token)],
)
def export_model(
    name: ModelName,
    state: Runtime,
    version: VersionQuery = None,
    format: Literal["word2vec-text", "word2vec-binary"] = Query("word2vec-binary"),  # noqa: A002
) -> StreamingResponse:
    model = state.registry.get(name, version)
    try:
        chunks = iter_export(model.model.kv, format)
    except ValueError as exc:
        raise InvalidInputError(str(exc), code="cannot-export", title="Cannot export") from None
    ext, media = (
        ("txt", "text/plain; charset=utf-8")
        if format == "word2vec-text"
        else ("bin", "application/octet-stream")
    )
    filename = f"{name}-v{model.version}.{ext}"
    return StreamingResponse(
        chunks, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.post(
    "/{name}/index",
    status_code=202,
    response_model=JobAccepted,
    summary="Build the ANN index of a model version (a job)",
    description="Queues a job that builds a faiss HNSW index (inner product over unit vectors) of the current "
    "version (or `version`), stores it beside the version (memory-mapped by every process serving it) and "
    "records its parameters, build time, size and recall@10 against exact search (over `sample` vocabulary "
    "words) in the model's `index`. Cosadd `/similar` and `/analogy` then use it unless `exact: true`. "
    "404 for an unknown model or version, 409 while a job for the model is queued or running.",
    dependencies=[Depends(require_token)],
    responses={409: {"description": "A job for the model is active"}},
)
def build_index(name: ModelName, state: Runtime, body: IndexRequest | None = None) -> JSONResponse:
    body = body or IndexRequest()
    params = HnswParams(m=body.m, ef_construction=body.ef_construction, ef_search=body.ef_search)
    return accepted(state.submit_index(name, body.version, params, body.sample))


@router.delete(
    "/{name}/index",
    status_code=204,
    summary="Remove the ANN index of a model version",
    description="Queries of that version answer exactly from then on. 404 when it has no index, 409 while a "
    "job for the model is active.",
    dependencies=[Depends(require_token)],
)
def delete_index(name: ModelName, state: Runtime, version: VersionQuery = None) -> Response:
    state.delete_index(name, version)
    return Response(status_code=204)
