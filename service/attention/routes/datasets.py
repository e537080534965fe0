"""``/v1/datasets``: upload (streamed, validated), list, read and delete parallel data and vector files."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from service.attention.datasets import FILES, sample, sniff_format, validate
from service.attention.runtime import Runtime
from service.attention.schemas.datasets import DatasetInfo, DatasetList
from service.kit.auth import check_upload_type, require_token
from service.kit.errors import ConflictError
from service.kit.names import NAME_PATTERN
from service.kit.storage import stream_request_to_file
from service.kit.uploads_routes import uploads_router

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

UPLOAD_DOC = """Send the file as the raw request body (it is streamed to disk, never held in memory):

* **TSV**: `source<TAB>target[<TAB>pharaoh links]` per line;
* **JSON lines**: `{"source": ..., "target": ...[, "links": "0-0 1-1"]}` or `["source", "target"]` per line;
* **word2vec** vectors (binary or text; `format=word2vec`), usable as `embeddings_file` of a word model.

```bash
printf '26 nov 2026\\t2026-11-26\\n1/2/2027\\t2027-02-01\\n' |
  curl -s -X POST -H 'Content-Type: text/tab-separated-values' --data-binary @- \\
  'http://127.0.0.1:8002/v1/datasets?format=tsv&name=dates-small'
```

`name` gives the dataset its id (a 409 when taken); without one it gets 32 hex characters. Send the
body as `application/octet-stream`, `text/tab-separated-values` or `application/jsonl`: while no API
token is set, a body a web page could send cross-site (`text/plain`, a form, curl's default
`--data-binary` type) is a 415. A bad line is a 422 naming the line (`errors[0].loc = ["body",
"line", 3]`); nothing is kept."""

#: The content types an upload names (415 for a CORS-simple one while no token is set).
UPLOAD_TYPES = ("application/octet-stream", "text/tab-separated-values", "application/jsonl")


@router.post(
    "",
    status_code=201,
    summary="Upload a dataset (TSV / JSON lines pairs, or word2vec vectors)",
    description=UPLOAD_DOC,
    response_model=DatasetInfo,
    response_model_exclude_none=True,
    dependencies=[Depends(require_token)],
    responses={409: {"description": "A dataset with this name exists"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file itself (TSV, JSON lines or word2vec vectors; `format` says which, or "
            "`auto`). `application/octet-stream` carries any of them; `text/tab-separated-values` and "
            "`application/jsonl` are the same bytes under their own type.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "text/tab-separated-values": {
                    "schema": {"type": "string"},
                    "example": "26 nov 2026\t2026-11-26\n",
                },
                "application/jsonl": {"schema": {"type": "string"}},
            },
        }
    },
)
async def upload_dataset(
    request: Request,
    runtime: Runtime,
    format: Literal["auto", "tsv", "jsonl", "word2vec"] = Query(  # noqa: A002
        "auto", description="`auto` tells TSV from JSON lines by the first character."
    ),
    name: str | None = Query(
        None, pattern=NAME_PATTERN, max_length=64, description="Id to give the dataset (409 when taken)."
    ),
) -> JSONResponse:
    check_upload_type(request, UPLOAD_TYPES)
    store = runtime.uploads
    dataset_id = name or store.new_id()
    if store.exists(dataset_id):
        raise ConflictError(f"a dataset named {dataset_id!r} exists", code="dataset-exists")
    incoming = store.incoming()
    try:
        await stream_request_to_file(request, incoming, runtime.settings.max_upload_bytes)
        fmt = format
        if fmt == "auto":
            with open(incoming, "rb") as fh:
                fmt = sniff_format(fh.read(4096))
        meta = await run_in_threadpool(validate, incoming, fmt, runtime.settings.max_train_pairs)
        meta = await run_in_threadpool(store.commit, dataset_id, incoming, FILES[fmt], meta)
    finally:
        incoming.unlink(missing_ok=True)
    body = DatasetInfo.model_validate(meta).model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, status_code=201, headers={"Location": f"/v1/datasets/{dataset_id}"})


def _with_sample(runtime: Any, name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """A pairs dataset shows its first pairs."""
    if meta.get("kind") != "pairs":
        return meta
    first = sample(runtime.uploads.path(name), meta["format"])
    pairs = [{"source": e.source, "target": e.target} | ({"links": [list(x) for x in e.links]} if e.links else {})
             for e in first]  # fmt: skip
    return {**meta, "sample": pairs}


#: ``GET /v1/datasets``, ``GET`` and ``DELETE /v1/datasets/{name}``: the kit's, as for every upload collection.
shared = uploads_router(
    "/v1/datasets", item=DatasetInfo, listing=DatasetList, show=_with_sample,
    show_summary="One dataset, with its first pairs", exclude_none=True,
)  # fmt: skip
