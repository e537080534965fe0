"""Which process answers which route: the writer and the query replicas.

A service runs in one of two roles (``<PREFIX>ROLE``, :class:`~service.kit.settings.ServiceSettings`):

* ``all`` (the default): the process answers every route and takes part in running jobs (one
  runner per data directory, :mod:`service.kit.job_manager`);
* ``query``: the process answers the *queries* only and never runs a job nor trains the default
  model. The *writer routes* -- every route that needs the write token (uploads, training,
  imports, deletions, version changes), the job routes (the writer's job store is the one that
  counts) and the upload collections -- are handed to :attr:`app.state.forward_write
  <WriterRouting>`: under Ray Serve that sends them to the writer deployment
  (:mod:`service.kit.serve`); alone, with no forwarder, they are a 503 ``writes-elsewhere``.

Query replicas see a version written by the writer at their next request to that model: the
registry compares ``CURRENT.json`` with what it holds (:mod:`service.kit.registry`), so a shared
volume is all they need.

>>> ForwardedRequest("GET", "/v1/jobs", b"", [], b"").method
'GET'
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.kit.auth import require_token
from service.kit.logging import request_id_var
from service.kit.problems import problem_response

#: Headers of the writer's answer that the query replica sets itself (or that no longer hold).
_HOP_HEADERS = frozenset(
    {
        b"x-request-id",
        b"date",
        b"server",
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"access-control-expose-headers",
        b"vary",
    }
)


@dataclass
class ForwardedRequest:
    """One HTTP request as it travels from a query replica to the writer (plain data: it is pickled
    by Ray between processes, never anything a client sent as a pickle)."""

    method: str
    #: The full path (with ``root_path``, as ASGI servers give it).
    path: str
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    #: Where the app is mounted (Serve's ``route_prefix``, a proxy's prefix); ``""`` at the root.
    root_path: str = ""


@dataclass
class ForwardedResponse:
    """The writer's answer to a :class:`ForwardedRequest`."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


Forward = Callable[[ForwardedRequest], Awaitable[ForwardedResponse]]


def depends_on(route: BaseRoute, call: Callable[..., Any]) -> bool:
    """Whether ``route`` (an API route) depends on ``call``, directly or through other dependencies."""

    def calls(dependant: Any) -> Iterable[Any]:
        for dep in dependant.dependencies:
            yield dep.call
            yield from calls(dep)

    dependant = getattr(route, "dependant", None)
    return dependant is not None and call in set(calls(dependant))


def is_writer_route(route: BaseRoute, upload_collection: str) -> bool:
    """Whether ``route`` belongs to the writer: it needs the write token, or it is a job route or a
    route of the upload collection ``upload_collection`` (``/v1/corpora``, ``/v1/datasets``)."""
    path = getattr(route, "path", "")
    return (
        depends_on(route, require_token)
        or path == "/v1/jobs"
        or path.startswith("/v1/jobs/")
        or path == upload_collection
        or path.startswith(upload_collection + "/")
    )


def writer_routes(routers: Sequence[APIRouter], upload_collection: str) -> list[BaseRoute]:
    """The routes of ``routers`` that only the writer answers (see :func:`is_writer_route`)."""
    return [r for router in routers for r in router.routes if is_writer_route(r, upload_collection)]


class WriterRouting:
    """ASGI middleware of a ``query`` process: hand writer routes to ``app.state.forward_write``.

    It sits inside the request-context and body-size middleware, so a forwarded request has its
    request id (sent on to the writer as ``X-Request-ID``), its access log line and its size limit
    here already; the body is read whole (at most ``max_upload_bytes`` by then) and sent on.
    """

    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.routes = list(routes)

    def _is_write(self, scope: Scope) -> bool:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._is_write(scope):
            await self.app(scope, receive, send)
            return
        forward: Forward | None = getattr(self.fastapi_app.state, "forward_write", None)
        if forward is None:
            response = problem_response(
                Request(scope),
                503,
                "Writes go to the writer",
                f"this process serves queries only ({scope['method']} {scope['path']} changes "
                "something or reads the job store): send it to the service's writer",
                type="writes-elsewhere",
            )
            await response(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers = [(k, v) for k, v in scope.get("headers", []) if k != b"x-request-id"]
        rid = request_id_var.get()
        if rid:
            headers.append((b"x-request-id", rid.encode("latin-1")))
        request = ForwardedRequest(
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            headers,
            b"".join(chunks),
            scope.get("root_path", ""),
        )
        try:
            answer = await forward(request)
        except Exception as exc:  # the writer is gone or restarting: nothing was accepted
            response = problem_response(
                Request(scope),
                503,
                "Writer unavailable",
                f"the service's writer did not answer ({type(exc).__name__}); retry shortly",
                type="writer-unavailable",
                headers={"Retry-After": "2"},
            )
            await response(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(k, v) for k, v in answer.headers if k.lower() not in _HOP_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})


class LocalForwarder:
    """Answer :class:`ForwardedRequest` s with a FastAPI app in this process (the writer's side).

    ``await forwarder(request)`` calls ``app`` as an ASGI server would (same path, ``root_path``,
    headers and body; its lifespan is the caller's business) and returns the whole answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, request: ForwardedRequest) -> ForwardedResponse:
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": request.path,
            "raw_path": request.path.encode("utf-8"),
            "root_path": request.root_path,
            "query_string": request.query_string,
            "headers": [(k.lower(), v) for k, v in request.headers],
            "client": ("writer", 0),
            "server": ("writer", 80),
            "state": {},
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # no disconnect: the whole body was there
            sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}

        answer = ForwardedResponse(500)
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                answer.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        answer.body = b"".join(chunks)
        return answer


__all__ = [
    "Forward",
    "ForwardedRequest",
    "ForwardedResponse",
    "LocalForwarder",
    "depends_on",
    "WriterRouting",
    "is_writer_route",
    "writer_routes",
]
