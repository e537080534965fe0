"""The app factory both services are built with.

:func:`create_app` wires what every service needs, so each service only brings its runtime
(:class:`~service.kit.runtime.ServiceRuntime`: stores, registry, jobs), its routers and its views:

* the lifecycle: the runtime starts in the lifespan and stops after it;
* ``/healthz`` (liveness: the process answers) and ``/readyz`` (:meth:`ServiceRuntime.readiness`);
* ``/metrics`` (Prometheus text), ``/v1/jobs`` and the model-versions routes;
* ``/docs`` and ``/redoc`` from packaged assets (:mod:`service.kit.docs`), the web page ``/ui/``
  and CORS for the peer service's page (:mod:`service.kit.ui`);
* request ids, JSON access logs and latency metrics (:mod:`service.kit.middleware`);
* the request-body size limit (413 while the body streams in) and timeout (408 for a body that
  stalls or drips);
* problem+json for every error (:mod:`service.kit.problems`), including invalid model names that
  never reach a route (``/v1/models/a%2F..%2Fb/similar`` is a 422, not a 404), and the pages its
  ``type`` URIs point to, ``/problems/{slug}`` (:mod:`service.kit.problem_types`);
* an OpenAPI document generated clients can use (:func:`finish_openapi`): each operation's
  ``operationId`` is its route's name (the route function's: ``similar``, ``train_model``), every
  4xx/5xx response it declares is a ``Problem``, and the optional token is said to be optional.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.kit.auth import require_query_token
from service.kit.docs import install_offline_docs
from service.kit.jobs_routes import JobView, jobs_router
from service.kit.logging import configure_logging
from service.kit.metrics import METRICS_RESPONSES, PrometheusResponse, metrics_endpoint
from service.kit.middleware import BodySizeLimitMiddleware, BodyTimeoutMiddleware, RequestContextMiddleware
from service.kit.models_routes import Summary, models_router
from service.kit.names import NAME_DESCRIPTION, is_valid_name
from service.kit.problem_types import problem_types_router
from service.kit.problems import install_problem_handlers, problem_response
from service.kit.roles import WriterRouting, depends_on, writer_routes
from service.kit.runtime import ServiceRuntime
from service.kit.schemas import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES
from service.kit.settings import ServiceSettings
from service.kit.ui import install_cors, install_ui

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

#: The one version string of both services (the package's).
try:
    VERSION = importlib.metadata.version("embattn")
except importlib.metadata.PackageNotFoundError:  # running from a source tree that is not installed
    VERSION = "0.0.0"


def create_app(
    settings: ServiceSettings,
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    job_view: JobView,
    job_model: type[BaseModel],
    job_description: str = "",
    version_summary: Summary,
    upload_paths: Sequence[str] = (),
    openapi_tags: list[dict[str, str]] | None = None,
    openapi_schemas: Sequence[type[BaseModel]] = (),
    lifespan: Lifespan | None = None,
) -> FastAPI:
    """Return a FastAPI app with the kit's lifecycle, routes, middleware and error format.

    ``runtime`` is the service's :class:`~service.kit.runtime.ServiceRuntime` (started in the
    lifespan, reachable as ``app.state.runtime``); ``routers`` are the service's own routes; the
    kit adds ``/healthz``, ``/readyz``, ``/metrics``, ``/v1/jobs`` (each job shown through
    ``job_view`` as ``job_model``) and the model-versions routes (each version summarised by
    ``version_summary``). ``upload_paths`` are path regexes that get ``max_upload_bytes`` instead of
    ``max_body_bytes``; ``openapi_schemas`` are models a route reads itself (its ``openapi_extra``
    refers to them as ``#/components/schemas/<Name>``), added to the document's components;
    ``lifespan`` wraps anything else the service needs around start-up.
    """
    configure_logging(settings.log_level, json_lines=settings.log_json)

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            await run_in_threadpool(runtime.stop)

    app = FastAPI(
        title=title,
        description=description,
        version=VERSION,
        lifespan=_lifespan,
        openapi_tags=openapi_tags,
        responses=PROBLEM_RESPONSES,
        generate_unique_id_function=operation_id,
        docs_url=None,  # served from packaged assets below (offline)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    install_problem_handlers(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: 200 once start-up loading is done (and a first default model is trained)",
        responses={503: {"description": "Not ready yet", "content": {"application/problem+json": {}}}},
    )
    async def readyz(request: Request) -> JSONResponse:
        ready, details = runtime.readiness()
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
        summary="Prometheus metrics (text exposition format)",
        response_class=PrometheusResponse,
        responses=METRICS_RESPONSES,
        name="metrics",
    )
    app.include_router(problem_types_router())
    all_routers = (
        *routers,
        models_router(summary=version_summary),
        jobs_router(view=job_view, job_model=job_model, show_description=job_description),
    )
    for router in all_routers:
        app.include_router(router)
    _install_name_check(app, _named_collections(all_routers))
    _finish_openapi(app, settings, _query_operations(all_routers), openapi_schemas)
    install_offline_docs(app)
    install_ui(app, settings)

    #: The routes a ``query`` process hands to the writer (service.kit.roles).
    app.state.writer_routes = writer_routes(all_routers, f"/v1/{type(runtime).uploads_name}")
    if settings.role == "query":  # innermost: a forwarded write has its request id and size limit
        app.add_middleware(WriterRouting, fastapi_app=app, routes=app.state.writer_routes)
    # Outermost first: the request context wraps the body limit and timeout, so a 413 or 408 carries a
    # request id.
    app.add_middleware(
        BodyTimeoutMiddleware,
        timeout_s=settings.body_timeout_s,
        min_rate=settings.body_min_rate,
        prefix=settings.model_config.get("env_prefix", ""),
    )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        upload_paths=upload_paths,
    )
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    install_cors(app, settings)  # outermost: preflights and every answer get the CORS headers
    return app


def _query_operations(routers: Sequence[APIRouter]) -> set[tuple[str, str]]:
    """``(path, method)`` of the routes guarded by :func:`require_query_token` (not by ``require_token``)."""

    out = set()
    for router in routers:
        for route in router.routes:
            if depends_on(route, require_query_token):
                out |= {(route.path, m.lower()) for m in getattr(route, "methods", ())}
    return out


def operation_id(route: APIRoute) -> str:
    """The ``operationId`` of a route: its name, i.e. the route function's (``similar``,
    ``train_model``, ``list_jobs``), or the ``name=`` it was declared with. Generated clients name
    their methods after it, so route functions are named for that (unique in a service)."""
    return route.name


def finish_openapi(
    schema: dict[str, Any],
    *,
    optional_auth: Callable[[str, str], bool] = lambda path, method: False,
    components: Sequence[type[BaseModel]] = (),
) -> dict[str, Any]:
    """Make an OpenAPI document say what the services do, in place (and return it).

    * Every 4xx and 5xx response an operation declares (``"4XX"``, ``404``, ``"503"``…) has the
      ``Problem`` schema as ``application/problem+json`` and nothing else: a route's own
      ``responses={404: {"description": ...}}`` would otherwise override the app's ``4XX`` with a
      response without a body schema (a generated client could not parse the problem), and a route
      with another response class (``/metrics``) would list the problem under its own media type.
      A route that answers its errors in an envelope of its own (OpenAI's ``/v1/embeddings``)
      declares it with a schema: that is kept (beside the problem on ``4XX``/``5XX``).
    * ``components`` (models a route reads itself) join the document's schemas.
    * Operations for which ``optional_auth(path, method)`` list the empty security requirement
      ``{}`` beside the bearer token: OpenAPI's way of saying the token is optional.

    >>> doc = {"paths": {"/v1/x": {"get": {"responses": {"404": {"description": "No such x"}}}}}}
    >>> finish_openapi(doc)["paths"]["/v1/x"]["get"]["responses"]["404"]
    {'description': 'No such x', 'content': {'application/problem+json': {'schema': {'$ref': '#/components/schemas/Problem'}}}}
    """
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in components:
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(found.pop("$defs", {}))
        schemas[model.__name__] = found
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            for code, response in op.get("responses", {}).items():
                if str(code)[:1] in ("4", "5"):
                    own = {t: c for t, c in (response.get("content") or {}).items() if _own_error(c)}
                    ranged = str(code) in ("4XX", "5XX")  # also what the kit answers before the route
                    response["content"] = {**own, **problem} if ranged or not own else own
            security = op.get("security")
            if security and {} not in security and optional_auth(path, method):
                op["security"] = [{}, *security]
    return schema


def _own_error(content: dict[str, Any]) -> bool:
    """A declared error body with a schema of the route's own (not the problem, not FastAPI's default)."""
    ref = str((content.get("schema") or {}).get("$ref", ""))
    return bool(ref) and not ref.endswith(("/Problem", "/HTTPValidationError"))


def _finish_openapi(
    app: FastAPI,
    settings: ServiceSettings,
    queries: set[tuple[str, str]],
    components: Sequence[type[BaseModel]],
) -> None:
    """Build the app's OpenAPI document once, through :func:`finish_openapi`.

    The token dependencies are declared on routes (``security: [{"HTTPBearer": []}]``); with no token
    configured (or, for queries, unprotected) the service accepts requests without one.
    """
    build = app.openapi

    def optional_auth(path: str, method: str) -> bool:
        is_query = (path, method) in queries
        return settings.api_token is None or (is_query and not settings.protect_queries)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish_openapi(build(), optional_auth=optional_auth, components=components)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _named_collections(routers: Sequence[APIRouter]) -> list[str]:
    """``/v1/<collection>/`` prefixes whose next path segment is a resource name (from the routes)."""
    paths = [getattr(route, "path", "") for router in routers for route in router.routes]
    return sorted({m.group(1) for path in paths if (m := re.match(r"^(/v1/[a-z]+/)\{", path))})


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
