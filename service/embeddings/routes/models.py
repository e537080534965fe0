"""``/v1/models``: train, continue, list, show, delete, import and export models; build their ANN index."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from models.embeddings.ann import IndexParams
from models.embeddings.export import iter_export
from service.embeddings import importing
from service.embeddings.runtime import EmbeddingsRuntime, Runtime
from service.embeddings.schemas.models import (
    ContinueRequest,
    ImportFormat,
    IndexRequest,
    ModelInfo,
    ModelList,
    TrainRequest,
    VersionInfo,
)
from service.embeddings.training import submit_continuation, submit_training
from service.kit.auth import check_upload_type, require_query_token, require_token
from service.kit.errors import InvalidInputError, NotFoundError
from service.kit.jobs_routes import accepted
from service.kit.models_routes import VersionQuery
from service.kit.names import ModelName
from service.kit.schemas import JobAccepted

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
    return accepted(submit_training(body, state))


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
    return accepted(submit_continuation(name, body, state))


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


#: The import body as OpenAPI says it (``ImportRequest`` joins the document's schemas: the app's
#: ``openapi_schemas``).
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "Either the raw vectors file (word2vec text or binary, or a Facebook fastText `.bin`), "
        "or, as JSON, the name of a file in the import directory (`EMBEDDINGS_IMPORT_DIR`). Parsed only by "
        "non-pickle loaders: pickles, zip/torch archives and gzip are refused.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/ImportRequest"}},
        },
    }
}


@router.post(
    "/{name}/import",
    status_code=201,
    response_model=ModelInfo,
    summary="Import vectors from a word2vec or fastText file (uploaded, or in the import directory)",
    description="Two ways in. **Upload**: the body is the file (`application/octet-stream`), streamed to "
    "disk up to `EMBEDDINGS_MAX_UPLOAD_BYTES`; a file under `EMBEDDINGS_IMPORT_JOB_BYTES` is imported within "
    "the request (201 with the model), a larger one by a job (202 with the job; `format`, `limit` and "
    '`overwrite` are query parameters). **Server-side file**: a JSON body `{"path": ...}` names a file in '
    "`EMBEDDINGS_IMPORT_DIR` (the way to deliver a multi-GB file); always a job (202). Either way the file "
    "is parsed as a stream (the matrix is never held in memory twice), `limit` keeps the first N vectors, "
    "`auto` sniffs the format. A pickle or zip archive is 415 (never loaded); a file whose header or size "
    "is wrong is 422 at once, one that breaks further in fails its job naming the line and byte offset — "
    "with nothing stored. 409 when the model exists (unless `overwrite`: new version) or a job for it is "
    "active. A vocabulary of at least `EMBEDDINGS_INDEX_MIN_VOCAB` words gets its ANN index (in the job, "
    "or an `index_job` after a 201). While no API token is set, an upload sent as a type a web page could "
    "send cross-site (`text/plain`, a form, no type from a browser, curl's default `--data-binary` type) is "
    "a 415: send `application/octet-stream`.",
    dependencies=[Depends(require_token)],
    openapi_extra=IMPORT_BODY,
    responses={202: {"model": JobAccepted, "description": "A job imports the file"}},
)
async def import_vectors(
    name: ModelName,
    request: Request,
    state: Runtime,
    format: ImportFormat = Query("auto"),  # noqa: A002
    overwrite: bool = Query(False, description="Store a new version when the model exists."),
    limit: int | None = Query(None, ge=1, description="Keep only the first `limit` vectors."),
) -> JSONResponse:
    if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
        return accepted(await importing.import_named_file(state, name, request))
    check_upload_type(request, ("application/octet-stream",))  # (or a JSON body naming a server-side file)
    job = await importing.import_upload(state, name, request, format, limit, overwrite)
    if job is not None:
        return accepted(job)
    info = model_info(state, name)
    index_job = importing.index_if_large(state, name, info.version, info.vocab_size)
    if index_job is not None:
        info.index_job = {"job_id": index_job.id, "location": f"/v1/jobs/{index_job.id}"}  # type: ignore[attr-defined]
    return JSONResponse(
        info.model_dump(mode="json"), status_code=201, headers={"Location": f"/v1/models/{name}"}
    )


@router.get(
    "/{name}/vectors",
    summary="Export the vectors (word2vec text or binary), streamed",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "text/plain": {"schema": {"type": "string"}},
            },
            "description": "The file: `application/octet-stream` for `word2vec-binary`, `text/plain` for "
            "`word2vec-text`",
        }
    },
    dependencies=[Depends(require_query_token)],
)
def export_vectors(
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
def build_index(
    name: ModelName, state: Runtime, body: Annotated[IndexRequest, Body(default_factory=IndexRequest)]
) -> JSONResponse:
    # an optional body (no body: the defaults), documented as the schema itself, not "IndexRequest or
    # null": a generated client leaves an optional body it was not given out (openapi-python-client
    # 0.29.1 sends a nullable one it was not given as an unserialisable placeholder)
    kind = body.kind or state.settings.index_kind
    ivf = kind.startswith("ivf")
    wrong = ("m", "ef_construction", "ef_search") if ivf else ("nlist", "nprobe")
    for field in wrong:
        if getattr(body, field) is not None:
            raise InvalidInputError(
                f"{field} does not apply to an index of kind {kind!r}",
                code="validation-error",
                loc=["body", field],
            )
    given = {f: getattr(body, f) for f in ("m", "ef_construction", "ef_search", "nlist", "nprobe")}
    params = IndexParams(kind=kind, **{f: v for f, v in given.items() if v is not None})
    return accepted(state.submit_index(name, body.version, params, body.sample, body.recall_target))


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
