"""What every service does with its stored models, the same in both: delete one, and its versions
as a resource.

* ``DELETE /v1/models/{name}`` removes a model and all its versions (409 while a job for it is
  queued or running);
* ``GET /v1/models/{name}/versions`` -> ``{"model", "current": N, "versions": [{version, created,
  current, loaded, …the version's metrics and params}]}``;
* ``PUT /v1/models/{name}/current`` with ``{"version": N}`` rolls back or forward atomically (one
  replace of ``CURRENT.json``); every process serving the data directory follows on its next
  request;
* ``DELETE /v1/models/{name}/versions/{version}`` removes a version that is not current (409 for
  the current one, 404 for a missing one).

Every query and inference route takes ``?version=N`` (:data:`VersionQuery`) to use another version
than the current one.

>>> router = models_router(summary=lambda meta: {"vocab_size": meta.get("vocab_size")})
>>> [f"{method} {route.path}" for route in router.routes for method in sorted(route.methods)]
['DELETE /v1/models/{name}', 'GET /v1/models/{name}/versions', 'PUT /v1/models/{name}/current',
 'DELETE /v1/models/{name}/versions/{version}']

(Each service adds its own ``POST /v1/models`` and ``GET /v1/models[/{name}]``: what a model is
differs between them.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from service.kit.auth import require_query_token, require_token
from service.kit.model_store import ModelVersion
from service.kit.names import ModelName
from service.kit.runtime import ServiceRuntime, get_runtime
from service.kit.schemas import Int, RequestModel

#: ``?version=N`` of query and inference routes: serve version N instead of the current one.
VersionQuery = Annotated[
    int | None,
    Query(ge=1, le=2**31 - 1, description="Use this version of the model instead of the current one."),
]

VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="A version number (from 1).")]

Summary = Callable[[dict[str, Any]], dict[str, Any]]


class VersionOut(BaseModel):
    """One stored version of a model, with what its job or import recorded about it."""

    model_config = ConfigDict(extra="allow")

    version: int = Field(description="Version number, from 1.")
    created: str | None = Field(None, description="When it was written (ISO 8601).")
    current: bool = Field(description="Whether this is the version served by default.")
    loaded: bool = Field(description="Whether this process holds it in memory.")


class VersionList(BaseModel):
    """The versions of a model and which one is current."""

    model: str
    current: int = Field(description="The version served when a request names none.")
    versions: list[VersionOut]


class CurrentVersionIn(RequestModel):
    """Which version to serve from now on."""

    version: Int = Field(ge=1, le=2**31 - 1, description="An existing version of the model.")


def models_router(*, summary: Summary) -> APIRouter:
    """The shared model routes; ``summary(meta)`` picks what a version shows of its stored metadata."""
    router = APIRouter(prefix="/v1/models", tags=["models"])

    @router.delete(
        "/{name}",
        status_code=204,
        summary="Delete a model and all its versions",
        description="409 while a job for it is queued or running.",
        dependencies=[Depends(require_token)],
    )
    def delete_model(name: ModelName, runtime: Any = Depends(get_runtime)) -> None:
        runtime.delete_model(name)

    def listing(runtime: ServiceRuntime, name: str) -> VersionList:
        current, versions = runtime.versions(name)
        return VersionList(
            model=name, current=current, versions=[view(runtime, v, current) for v in versions]
        )

    def view(runtime: ServiceRuntime, v: ModelVersion, current: int) -> VersionOut:
        return VersionOut(
            **summary(v.meta),
            version=v.version,
            created=v.meta.get("created"),
            current=v.version == current,
            loaded=runtime.registry.is_loaded(v.name, v.version),
        )

    @router.get(
        "/{name}/versions",
        response_model=VersionList,
        summary="List a model's versions and which one is current",
        dependencies=[Depends(require_query_token)],
    )
    async def list_versions(name: ModelName, runtime: Any = Depends(get_runtime)) -> VersionList:
        return listing(runtime, name)

    @router.put(
        "/{name}/current",
        response_model=VersionList,
        summary="Roll back or forward: make a version the current one",
        description="Atomic: the version is loaded first, then `CURRENT.json` is replaced in one step; every "
        "process serving the model follows on its next request. 404 when the version does not exist, 409 "
        "while a job for the model is queued or running.",
        dependencies=[Depends(require_token)],
    )
    def set_current_version(
        name: ModelName, body: CurrentVersionIn, runtime: Any = Depends(get_runtime)
    ) -> VersionList:
        runtime.set_current(name, body.version)
        return listing(runtime, name)

    @router.delete(
        "/{name}/versions/{version}",
        status_code=204,
        summary="Delete a version that is not the current one",
        description="409 for the current version (make another current first, or delete the model).",
        dependencies=[Depends(require_token)],
    )
    def delete_version(name: ModelName, version: VersionNumber, runtime: Any = Depends(get_runtime)) -> None:
        runtime.delete_version(name, version)

    return router
