"""RFC 9457 problem details: the one error format of both services.

Every error either service returns is ``application/problem+json``::

    {"type": "https://embattn.dev/problems/unknown-words", "title": "Unknown words",
     "status": 404, "detail": "not in the vocabulary of model 'default': 'qwzx'",
     "instance": "/v1/models/default/similar", "request_id": "…"}

Validation failures add ``errors``: a list of ``{"loc": [...], "msg": ..., "type": ...}``.
Route code raises :class:`ProblemError` or a domain error of :mod:`service.kit.errors` (mapped in one
place: not found 404, conflict 409, invalid input 422, too large 413, unsupported input 415,
unavailable 503 with ``Retry-After``); FastAPI's own errors (422, 404, 405 with a complete ``Allow``
header) and unexpected exceptions (500, no stack trace in the body) are converted by
:func:`install_problem_handlers`. The schema is :class:`service.kit.schemas.Problem`.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.kit import errors as domain
from service.kit.errors import ServiceError, UnavailableError
from service.kit.logging import request_id_var

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://embattn.dev/problems/"

log = logging.getLogger("service.errors")

#: Domain error -> (status, default title); the first class in ``type(exc).__mro__`` listed wins.
DOMAIN_STATUS: dict[type[ServiceError], tuple[int, str]] = {
    domain.NotFoundError: (404, "Not found"),
    domain.ConflictError: (409, "Conflict"),
    domain.InvalidInputError: (422, "Unprocessable request"),
    domain.TooLargeError: (413, "Content Too Large"),
    domain.UnsupportedInputError: (415, "Unsupported Media Type"),
    domain.UnavailableError: (503, "Service Unavailable"),
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


class ProblemError(Exception):
    """An error answered as a problem+json response.

    >>> raise ProblemError(404, "Model not found", "no model named 'x'", type="model-not-found")
    Traceback (most recent call last):
    ...
    service.kit.problems.ProblemError: 404 Model not found: no model named 'x'
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type: str | None = None,  # noqa: A002 - the RFC's member name
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.errors = errors
        self.headers = headers
        self.extensions = extensions


def invalid(
    detail: str, *, loc: list[str | int] | None = None, type: str = "invalid-request"
) -> ProblemError:  # noqa: A002
    """A 422 for a request that is well-formed JSON but cannot be processed."""
    errors = [{"loc": loc, "msg": detail, "type": type}] if loc else None
    return ProblemError(422, "Unprocessable request", detail, type=type, errors=errors)


def line_problem(title: str, type: str, line: int, reason: str, error_type: str) -> ProblemError:  # noqa: A002
    """A 422 naming the offending line of an upload (``errors[0].loc == ["body", "line", line]``)."""
    return ProblemError(
        422,
        title,
        f"line {line}: {reason}",
        type=type,
        errors=[{"loc": ["body", "line", line], "msg": reason, "type": error_type}],
        line=line,
    )


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
    """Build the problem+json response; ``type`` is a slug under :data:`PROBLEM_BASE` or ``about:blank``."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type if type else "about:blank",
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


def domain_status(exc: ServiceError) -> tuple[int, str]:
    """``(status, default title)`` of a domain error: the first class of its MRO in :data:`DOMAIN_STATUS`."""
    return next(
        (DOMAIN_STATUS[c] for c in type(exc).__mro__ if c in DOMAIN_STATUS), DOMAIN_STATUS[ServiceError]
    )


def domain_problem(request: Request | None, exc: ServiceError) -> JSONResponse:
    """The problem response of a domain error (:mod:`service.kit.errors`): status from its class,
    ``type`` = ``exc.code``, ``title`` = ``exc.title`` or the class default, ``errors`` from ``exc.loc``,
    ``exc.extensions`` as extra members; an :class:`UnavailableError` sends ``Retry-After``."""
    status, default_title = domain_status(exc)
    errors = [{"loc": list(exc.loc), "msg": exc.detail, "type": exc.code}] if exc.loc else None
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, UnavailableError) else None
    return problem_response(
        request,
        status,
        exc.title or default_title,
        exc.detail,
        type=exc.code,
        errors=errors,
        headers=headers,
        extensions=exc.extensions,
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

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.title,
            exc.detail,
            type=exc.type,
            errors=exc.errors,
            headers=exc.headers,
            extensions=exc.extensions,
        )

    @app.exception_handler(ServiceError)
    async def _domain(request: Request, exc: ServiceError) -> JSONResponse:
        return domain_problem(request, exc)

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
        slug = {413: "body-too-large", 404: "not-found", 405: "method-not-allowed"}.get(exc.status_code)
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
