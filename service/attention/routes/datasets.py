"""``/v1/datasets``: upload (streamed, validated), list, read and delete parallel data and vector files."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from service.attention.datasets import sniff_format
from service.attention.schemas import DatasetOut
from service.attention.state import ServiceState, get_state
from service.kit.auth import require_query_token, require_token
from service.kit.names import ModelName
from service.kit.storage import stream_request_to_file

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

UPLOAD_DOC = """Send the file as the raw request body (it is streamed to disk, never held in memory):

* **TSV**: `source<TAB>target[<TAB>pharaoh links]` per line;
* **JSON lines**: `{"source": ..., "target": ...[, "links": "0-0 1-1"]}` or `["source", "target"]` per line;
* **word2vec** vectors (binary or text; `format=word2vec`), usable as `embeddings_file` of a word model.

```bash
printf '26 nov 2026\\t2026-11-26\\n1/2/2027\\t2027-02-01\\n' |
  curl -s -X POST --data-binary @- 'http://127.0.0.1:8002/v1/datasets?format=tsv'
```

A bad line is a 422 naming the line (`errors[0].loc = ["body", "line", 3]`); nothing is kept."""


@router.post(
    "",
    status_code=201,
    summary="Upload a dataset (TSV / JSON lines pairs, or word2vec vectors)",
    description=UPLOAD_DOC,
    response_model=DatasetOut,
    response_model_exclude_none=True,
    dependencies=[Depends(require_token)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/tab-separated-values": {
                    "schema": {"type": "string"},
                    "example": "26 nov 2026\t2026-11-26\n",
                },
                "application/jsonl": {"schema": {"type": "string"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def upload_dataset(
    request: Request,
    response: Response,
    format: Literal["auto", "tsv", "jsonl", "word2vec"] = Query(  # noqa: A002
        "auto", description="`auto` tells TSV from JSON lines by the first character."
    ),
    state: ServiceState = Depends(get_state),
) -> dict:
    store = state.datasets
    dataset_id = store.new_id()
    incoming = store.incoming(dataset_id)
    await stream_request_to_file(request, incoming, state.settings.max_upload_bytes)
    fmt = format
    if fmt == "auto":
        with open(incoming, "rb") as fh:
            fmt = sniff_format(fh.read(4096))
    kind = "vectors" if fmt == "word2vec" else "pairs"
    meta = await run_in_threadpool(
        store.commit, dataset_id, incoming, fmt, kind, state.settings.max_train_pairs
    )
    response.headers["Location"] = f"/v1/datasets/{dataset_id}"
    return meta


@router.get(
    "",
    summary="List datasets",
    response_model=list[DatasetOut],
    response_model_exclude_none=True,
    dependencies=[Depends(require_query_token)],
)
def list_datasets(state: ServiceState = Depends(get_state)) -> list[dict]:
    return state.datasets.list()


@router.get(
    "/{name}",
    summary="One dataset, with its first pairs",
    response_model=DatasetOut,
    response_model_exclude_none=True,
    dependencies=[Depends(require_query_token)],
)
def get_dataset(name: ModelName, state: ServiceState = Depends(get_state)) -> dict:
    meta = dict(state.datasets.get(name))
    if meta.get("kind") == "pairs":
        sample = state.datasets.examples(name)[:5]
        meta["sample"] = [
            {"source": e.source, "target": e.target}
            | ({"links": [list(x) for x in e.links]} if e.links else {})
            for e in sample
        ]
    return meta


@router.delete("/{name}", status_code=204, summary="Delete a dataset", dependencies=[Depends(require_token)])
def delete_dataset(name: ModelName, state: ServiceState = Depends(get_state)) -> Response:
    state.datasets.delete(name)
    return Response(status_code=204)
