"""The app factory both services are built with.

:func:`create_app` wires what every service needs, so each service only brings its routers, its
lifespan (where it loads models) and a readiness check:

* ``/healthz`` (liveness: the process answers) and ``/readyz`` (503 until the models are loaded);
* ``/metrics`` (Prometheus);
* request ids, JSON access logs and latency metrics (:mod:`service.kit.middleware`);
* the request-body size limit (413 while the body streams in);
* problem+json for every error (:mod:`service.kit.problems`), including invalid model names that
  never reach a route (``/v1/models/a%2F..%2Fb/similar`` is a 422, not a 404).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.kit.logging import configure_logging
from service.kit.metrics import metrics_endpoint
from service.kit.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from service.kit.names import NAME_DESCRIPTION, is_valid_name
from service.kit.problems import install_problem_handlers, problem_response
from service.kit.settings import ServiceSettings

Readiness = Callable[[FastAPI], tuple[bool, dict[str, Any]]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    version: str,
    routers: Sequence[APIRouter],
    lifespan: Lifespan | None = None,
    readiness: Readiness | None = None,
    upload_paths: Sequence[str] = (),
    named_collections: Sequence[str] = ("/v1/models/", "/v1/corpora/", "/v1/datasets/", "/v1/jobs/"),
    openapi_tags: list[dict[str, str]] | None = None,
) -> FastAPI:
    """Return a FastAPI app with the kit's middleware, error format, health and metrics routes.

    ``lifespan`` is the service's own async context manager (load models on enter, stop jobs on
    exit); ``readiness(app)`` returns ``(ready, details)`` for ``/readyz``; ``upload_paths`` are
    path regexes that get ``max_upload_bytes`` instead of ``max_body_bytes``.
    """
    configure_logging(settings.log_level, json_lines=settings.log_json)

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        if lifespan is None:
            yield
            return
        async with lifespan(app):
            yield

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=_lifespan,
        openapi_tags=openapi_tags,
        responses={
            "4XX": {"description": "A problem (RFC 9457)", "content": {"application/problem+json": {}}},
        },
    )
    app.state.settings = settings
    install_problem_handlers(app)
    _install_name_check(app, named_collections)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: 200 once the service's models are loaded, 503 before",
        responses={503: {"description": "Not ready yet", "content": {"application/problem+json": {}}}},
    )
    async def readyz(request: Request) -> JSONResponse:
        ready, details = readiness(app) if readiness else (True, {})
        if not ready:
            return problem_response(
                request,
                503,
                "Service Unavailable",
                "the service is still loading its models",
                type="not-ready",
                extensions={"checks": details},
                headers={"Retry-After": "2"},
            )
        return JSONResponse({"status": "ready", "service": settings.service_name, "checks": details})

    app.add_api_route(
        "/metrics",
        metrics_endpoint,
        methods=["GET"],
        tags=["operations"],
        summary="Prometheus metrics",
        include_in_schema=True,
    )
    for router in routers:
        app.include_router(router)

    # Outermost first: the request context wraps the body limit, so a 413 carries a request id.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        upload_paths=upload_paths,
    )
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    return app


def _install_name_check(app: FastAPI, collections: Sequence[str]) -> None:
    """Answer 422 (not 404) when an unmatched URL names a resource with an invalid name.

    A name with an encoded slash or a dot-dot segment never matches a route; the raw path tells
    which name the client meant, so the client learns the name is invalid rather than missing.
    """
    prefixes = tuple(collections)
    previous = app.exception_handlers[StarletteHTTPException]

    async def handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            raw = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0]
            for prefix in prefixes:
                if raw.startswith(prefix):
                    segment = raw[len(prefix) :].split("/", 1)[0]
                    name = unquote(segment)
                    if segment and not is_valid_name(name):
                        kind = prefix.strip("/").split("/")[-1].rstrip("s") or "resource"
                        msg = f"invalid {kind} name {name!r}: {NAME_DESCRIPTION}"
                        return problem_response(
                            request,
                            422,
                            "Invalid name",
                            msg,
                            type="invalid-name",
                            errors=[{"loc": ["path", "name"], "msg": msg, "type": "string_pattern_mismatch"}],
                        )
        return await previous(request, exc)

    app.exception_handlers[StarletteHTTPException] = handler
