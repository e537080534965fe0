"""The routes of an upload collection (corpora, datasets), the same in both services: list, show, delete.

``GET /v1/<collection>`` answers ``{"<collection>": [...]}`` (newest first), ``GET
/v1/<collection>/{name}`` one upload's metadata, ``DELETE /v1/<collection>/{name}`` removes it (409
while a queued or running job uses it). Each service adds its own ``POST`` (what an upload is, and
how it is validated, differs) and may add to what one upload shows (``show``).

>>> from pydantic import BaseModel
>>> class CorpusInfo(BaseModel):
...     id: str
...     bytes: int
>>> class CorpusList(BaseModel):
...     corpora: list[CorpusInfo]
>>> router = uploads_router("/v1/corpora", item=CorpusInfo, listing=CorpusList, one="corpus")
>>> [f"{method} {route.path} {route.name}" for route in router.routes for method in sorted(route.methods)]
['GET /v1/corpora list_corpora', 'GET /v1/corpora/{name} get_corpus', 'DELETE /v1/corpora/{name} delete_corpus']

(Each route's name, its ``operationId``, is named after the collection: ``list_datasets``,
``get_dataset``, ``delete_dataset`` for ``/v1/datasets``.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from service.kit.auth import require_query_token, require_token
from service.kit.names import ModelName
from service.kit.runtime import get_runtime

Show = Callable[[Any, str, dict[str, Any]], dict[str, Any]]


def uploads_router(
    prefix: str,
    *,
    item: type[BaseModel],
    listing: type[BaseModel],
    one: str | None = None,
    show: Show | None = None,
    show_summary: str | None = None,
    exclude_none: bool = False,
) -> APIRouter:
    """The list/show/delete routes of the runtime's upload store under ``prefix``.

    ``item`` is one upload's response model, ``listing`` the envelope whose one field is named after
    the collection; ``one`` names one item (``corpus``; by default the collection without its final
    ``s``), for the routes' names; ``show(runtime, name, meta)`` adds to what ``GET .../{name}``
    answers.
    """
    collection = prefix.rstrip("/").rsplit("/", 1)[-1]
    one = one or collection.removesuffix("s")
    router = APIRouter(prefix=prefix, tags=[collection])

    def dump(meta: dict[str, Any]) -> dict[str, Any]:
        return item.model_validate(meta).model_dump(mode="json", exclude_none=exclude_none)

    @router.get(
        "", response_model=listing, summary=f"List {collection}, newest first", name=f"list_{collection}",
        dependencies=[Depends(require_query_token)],
    )  # fmt: skip
    def list_uploads(runtime: Any = Depends(get_runtime)) -> Any:
        return JSONResponse({collection: [dump(m) for m in runtime.uploads.list()]})

    @router.get(
        "/{name}", response_model=item, summary=show_summary or f"Show one of the {collection}",
        name=f"get_{one}", dependencies=[Depends(require_query_token)],
    )  # fmt: skip
    def show_upload(name: ModelName, runtime: Any = Depends(get_runtime)) -> Any:
        meta = runtime.uploads.get(name)
        return JSONResponse(dump(show(runtime, name, meta) if show else meta))

    @router.delete(
        "/{name}", status_code=204, summary=f"Delete one of the {collection}", name=f"delete_{one}",
        description="409 while a queued or running job uses it.", dependencies=[Depends(require_token)],
    )  # fmt: skip
    def delete_upload(name: ModelName, runtime: Any = Depends(get_runtime)) -> None:
        runtime.delete_upload(name)

    return router
