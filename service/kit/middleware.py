"""ASGI middleware of the kit: request context (id, access log, metrics, last-resort 500), the
request-body size limit and the request-body timeout, written as pure ASGI so that they see the body
while it streams.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.kit.logging import request_id_var
from service.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from service.kit.problems import PROBLEM_MEDIA_TYPE, problem_type, root_path_var

access_log = logging.getLogger("service.access")
_RID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestContextMiddleware:
    """Give every request an id (from ``X-Request-ID`` when sane), echo it, log and measure it.

    An exception that escapes the app becomes a problem+json 500 without a stack trace. The request's
    ``root_path`` is :data:`~service.kit.problems.root_path_var` while it is answered (the prefix of
    its problems' ``type``).
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _RID_RE.fullmatch(incoming or "") else uuid.uuid4().hex
        token = request_id_var.set(rid)
        root_token = root_path_var.set(str(scope.get("root_path", "") or ""))
        start = time.perf_counter()
        status = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            access_log.exception("unhandled error", extra={"path": scope.get("path")})
            if not started:
                body = {
                    "type": problem_type("internal-error"),
                    "title": "Internal Server Error",
                    "status": 500,
                    "detail": "an unexpected error occurred; see the server log",
                    "instance": scope.get("path"),
                    "request_id": rid,
                }
                await send_wrapper(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode())],
                    }
                )
                await send_wrapper({"type": "http.response.body", "body": json.dumps(body).encode()})
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, template).observe(elapsed)
            if template not in ("/healthz", "/metrics"):
                access_log.info(
                    "%s %s %s",
                    method,
                    scope.get("path"),
                    status,
                    extra={"status": status, "route": template, "duration_ms": round(elapsed * 1000, 2)},
                )
            request_id_var.reset(token)
            root_path_var.reset(root_token)


class BodySizeLimitMiddleware:
    """Answer 413 for bodies over the limit, checked while the body streams in.

    ``Content-Length`` over the limit is refused before anything is read; otherwise the bytes are
    counted as they arrive and the read fails with a 413 as soon as the limit is crossed, so a
    chunked body is never buffered past it. Paths matching ``upload_paths`` (regexes) get the
    larger ``max_upload_bytes``.
    """

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int, upload_paths: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        self.upload_res = [re.compile(p) for p in upload_paths]

    def _limit(self, path: str) -> int:
        return self.max_upload if any(r.fullmatch(path) for r in self.upload_res) else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(_route_path(scope))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(scope, send, limit)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail=f"the request body exceeds the limit of {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, scope: Scope, send: Send, limit: int) -> None:
        body = {
            "type": problem_type("body-too-large", str(scope.get("root_path", "") or "")),
            "title": "Content Too Large",
            "status": 413,
            "detail": f"the request body exceeds the limit of {limit} bytes",
            "instance": scope.get("path"),
            "request_id": request_id_var.get(),
        }
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


class BodyTimeoutMiddleware:
    """Answer 408 (and close the connection) when a request body keeps the service waiting.

    A body may keep the app waiting in ``receive()`` for ``timeout_s`` seconds in all, plus one
    second for every ``min_rate`` bytes it has delivered: an upload at any ordinary speed never
    comes near it, a client that sends nothing, or drips a byte now and then, is cut off after about
    ``timeout_s``. Only the waits for the body count (not the app's own work between reads, nor a
    wait for the client to disconnect once the body is complete). The 408 is a problem sent with
    ``Connection: close`` (the rest of the body is never read); a response already started is
    ended by closing the connection.
    """

    def __init__(self, app: ASGIApp, timeout_s: float, min_rate: int, prefix: str = "") -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.min_rate = min_rate
        self.prefix = prefix  # of the settings named in the 408 (``EMBEDDINGS_``)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        waited = 0.0
        received = 0
        complete = False

        async def timed_receive() -> Message:
            nonlocal waited, received, complete
            if complete:  # the body is in: what is left to receive is the disconnect, whenever it comes
                return await receive()
            budget = self.timeout_s + received / self.min_rate - waited
            start = loop.time()
            try:
                async with asyncio.timeout(max(budget, 0.0)):
                    message = await receive()
            except TimeoutError:
                access_log.warning(
                    "request body timed out",
                    extra={"path": scope.get("path"), "bytes": received, "waited_s": round(waited, 3)},
                )
                raise HTTPException(
                    408,
                    detail=f"the request body did not arrive in time ({received} bytes in "
                    f"{loop.time() - start + waited:.1f} s of waiting; {self.prefix}BODY_TIMEOUT_S is "
                    f"{self.timeout_s:g} s, plus 1 s per {self.prefix}BODY_MIN_RATE={self.min_rate} bytes received)",
                    headers={"Connection": "close"},
                ) from None
            finally:
                waited += loop.time() - start
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        await self.app(scope, timed_receive, send)


def _route_path(scope: Scope) -> str:
    """The request's path below its mount point: without ``root_path`` (Serve's ``route_prefix``,
    a proxy's prefix), as the routes see it."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
