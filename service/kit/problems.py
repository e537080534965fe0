"""RFC 9457 problem details: the one error format of both services.

Every error either service returns is ``application/problem+json``::

    {"type": "/problems/unknown-words", "title": "Unknown words",
     "status": 404, "detail": "not in the vocabulary of model 'default': 'qwzx'",
     "instance": "/v1/models/default/similar", "request_id": "…"}

``type`` is a URI reference relative to the service, ``/problems/<slug>`` (:func:`problem_type`):
each service answers it with a page explaining the problem (:mod:`service.kit.problem_types`, which
lists every slug). Under a path prefix (Ray Serve's ``route_prefix``, a proxy's ``root_path``) it is
``<prefix>/problems/<slug>``, so that it resolves, against the request's URL, to the page of the
service that answered.

Validation failures add ``errors``: a list of ``{"loc": [...], "msg": ..., "type": ...}``.
Service code raises the errors of :mod:`service.kit.errors`, rendered here in one place
(:func:`problem_members`: not found 404, conflict 409, invalid input 422, too large 413,
unsupported input 415, unauthenticated 401, forbidden 403, unavailable 503 with ``Retry-After``);
FastAPI's own errors (422, 404, 405 with a complete ``Allow``
header) and unexpected exceptions (500, no stack trace in the body) are converted by
:func:`install_problem_handlers`. The schema is :class:`service.kit.schemas.Problem`.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.kit.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    ServiceError,
    TooLargeError,
    UnauthenticatedError,
    UnavailableError,
    UnsupportedInputError,
    UpstreamError,
)
from service.kit.logging import request_id_var
from service.kit.schemas import PROBLEM_MEDIA_TYPE

#: Where the problem types are, below the service's root: a ``type`` is ``<root_path>/problems/<slug>``.
PROBLEM_BASE = "/problems/"

#: The ``root_path`` (mount point) of the request being answered, set by the request-context middleware
#: (:class:`service.kit.middleware.RequestContextMiddleware`): what a problem built without the request
#: (:func:`problem_members`, one item of a batch) puts before :data:`PROBLEM_BASE`.
root_path_var: ContextVar[str] = ContextVar("root_path", default="")

#: The problem type of a Starlette/FastAPI HTTP error, by status (any other status is ``about:blank``).
HTTP_STATUS_TYPES: dict[int, str] = {
    413: "body-too-large",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
}

log = logging.getLogger("service.errors")

#: Error class -> (status, default title); the first class in ``type(exc).__mro__`` listed wins.
STATUS: dict[type[ServiceError], tuple[int, str]] = {
    NotFoundError: (404, "Not found"),
    ConflictError: (409, "Conflict"),
    InvalidInputError: (422, "Unprocessable request"),
    TooLargeError: (413, "Content Too Large"),
    UnsupportedInputError: (415, "Unsupported Media Type"),
    UnauthenticatedError: (401, "Authentication required"),
    ForbiddenError: (403, "Forbidden"),
    UpstreamError: (502, "Bad Gateway"),
    UnavailableError: (503, "Service Unavailable"),
    ServiceError: (400, "Bad Request"),
}

# The order methods are listed in an ``Allow`` header.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


class ProblemJSONResponse(JSONResponse):
    """``application/problem+json``; a string that is not Unicode text (a lone surrogate echoed from
    the request) is written as its JSON escape ``\\ud800`` instead of failing the response."""

    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            text = json.dumps(
                content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
            )
            return text.encode("utf-8", "backslashreplace")


def problem_type(slug: str, root_path: str | None = None) -> str:
    """The ``type`` of a problem: ``/problems/<slug>`` under ``root_path`` (by default the current
    request's, :data:`root_path_var`).

    >>> problem_type("model-not-found"), problem_type("model-not-found", "/embeddings")
    ('/problems/model-not-found', '/embeddings/problems/model-not-found')
    """
    root = root_path_var.get() if root_path is None else root_path
    return f"{root.rstrip('/')}{PROBLEM_BASE}{slug}"


def _root_path(request: Request | None) -> str | None:
    return None if request is None else str(request.scope.get("root_path", "") or "")


def problem_response(
    request: Request | None,
    status: int,
    title: str | None = None,
    detail: str | None = None,
    *,
    type: str | None = None,  # noqa: A002
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    """Build the problem+json response; ``type`` is a slug (the body's ``type`` is
    :func:`problem_type` of it, under the request's ``root_path``), or None for ``about:blank``."""
    body: dict[str, Any] = {
        "type": problem_type(type, _root_path(request)) if type else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
    if errors:
        body["errors"] = errors
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    if extensions:
        body.update({k: v for k, v in extensions.items() if k not in body})
    return ProblemJSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def problem_status(exc: ServiceError) -> tuple[int, str]:
    """``(status, default title)`` of an error: the first class of its MRO in :data:`STATUS`."""
    return next((STATUS[c] for c in type(exc).__mro__ if c in STATUS), STATUS[ServiceError])


def problem_members(exc: ServiceError, root_path: str | None = None) -> dict[str, Any]:
    """The problem members of an error (without ``instance`` and ``request_id``): ``type``
    (:func:`problem_type` of ``exc.code``), ``title`` (``exc.title`` or the class default),
    ``status``, ``detail``, ``errors`` and ``exc.extensions`` as extra members. The one rendering of
    every error, whether it is a response of its own or one item of a batch."""
    status, default_title = problem_status(exc)
    body: dict[str, Any] = {
        "type": problem_type(exc.code, root_path),
        "title": exc.title or default_title,
        "status": status,
    }
    if exc.detail:
        body["detail"] = exc.detail
    if exc.errors:
        body["errors"] = exc.errors
    body.update({k: v for k, v in exc.extensions.items() if k not in body})
    return body


def error_response(request: Request | None, exc: ServiceError) -> JSONResponse:
    """The problem response of an error (:func:`problem_members`); an :class:`UnavailableError`
    sends ``Retry-After``, an :class:`UnauthenticatedError` ``WWW-Authenticate``."""
    members = problem_members(exc, _root_path(request))
    del members["type"]  # problem_response writes it from exc.code
    headers = None
    if isinstance(exc, UnavailableError):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, UnauthenticatedError):
        headers = {"WWW-Authenticate": 'Bearer realm="embattn"'}
    return problem_response(
        request,
        members.pop("status"),
        members.pop("title"),
        members.pop("detail", None),
        type=exc.code,
        errors=members.pop("errors", None),
        headers=headers,
        extensions=members,
    )


def _flat_routes(routes: Any) -> list[Any]:
    """The app's routes with included routers expanded (FastAPI 0.16x keeps an included router
    as one entry; ``iter_route_contexts`` yields its routes with their prefixed paths)."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(iter_contexts(list(routes))) if iter_contexts is not None else list(routes)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this request's path (for a 405's ``Allow``)."""
    methods: set[str] = set()
    scope = {**request.scope, "type": "http"}
    for route in _flat_routes(getattr(request.app, "routes", ())):
        route_methods = getattr(route, "methods", None)
        if not route_methods:
            continue
        match, _ = route.matches(scope)
        if match in (Match.FULL, Match.PARTIAL):
            methods |= {m.upper() for m in route_methods}
    known = [m for m in _METHOD_ORDER if m in methods]
    return known + sorted(methods - set(known))


def _clean_loc(loc: tuple[Any, ...] | list[Any]) -> list[Any]:
    return [part for part in loc if not (isinstance(part, str) and part.startswith("function-"))]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI/pydantic validation errors as ``[{loc, msg, type}]`` (inputs echoed only when short)."""
    out = []
    for err in exc.errors():
        item = {"loc": _clean_loc(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        ctx = err.get("ctx")
        if ctx:
            item["ctx"] = _jsonable(ctx)
        out.append(item)
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error through :func:`problem_response`."""

    @app.exception_handler(ServiceError)
    async def _error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        fields = ", ".join(".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        content_type = request.headers.get("content-type", "")
        if any(e["loc"][:1] == ["body"] for e in errors) and "json" not in content_type:
            more += f"; the body was sent as {content_type or 'no content type'!r}: send JSON with 'Content-Type: application/json'"
        return problem_response(
            request,
            422,
            "Request validation failed",
            f"{fields}{more}",
            type="validation-error",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route for {request.method} {request.url.path}"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # Starlette lists the methods of the first route that matched the path only; a path such
            # as /v1/models/{name} has one route per method, so the header is built from all of them.
            allowed = allowed_methods(request)
            if allowed:
                headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
                headers["Allow"] = ", ".join(allowed)
            detail = f"method {request.method} is not allowed on {request.url.path}" + (
                f"; allowed: {', '.join(allowed)}" if allowed else ""
            )
        slug = HTTP_STATUS_TYPES.get(exc.status_code)
        title = "Content Too Large" if exc.status_code == 413 else None  # RFC 9110's name, as the middleware
        return problem_response(request, exc.status_code, title, detail, type=slug, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request,
            500,
            "Internal Server Error",
            "an unexpected error occurred; see the server log",
            type="internal-error",
        )
