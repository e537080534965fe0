"""The HTTP/1.1 protocol ``python -m service`` serves with: uvicorn's (httptools), bounded in time
and in concurrency, so that slow or idle clients cannot hold a process's connections.

uvicorn bounds the wait between requests of a kept-alive connection (``timeout_keep_alive``) and
the size of what it parses, not the wait for a request's headers: a client that connects and sends
nothing, or drips its headers a byte at a time, holds its connection for as long as it likes. Here:

* a request's headers must be complete within ``header_timeout_s`` of its first byte (of the
  connection, for its first request); else the client gets a 408 problem when it had started one
  (nothing when it sent nothing) and the connection is closed;
* its URL and headers may have at most :data:`MAX_HEADER_BYTES` (httptools sets no bound: 10 MB of
  headers were taken); past them, a 431 problem and the connection is closed;
* a response sent before its request's body was all read (a 404, a 413…) leaves the rest of the
  body the same time to arrive, then the connection is closed (a drip could otherwise keep it);
* past ``limit`` connections (or requests in progress) in the process, a request is answered a
  503 problem with ``Retry-After`` and ``Connection: close`` (uvicorn's ``limit_concurrency``,
  whose own answer is plain text).

The body of a request that the app reads is bounded by the kit's middleware
(:class:`service.kit.middleware.BodyTimeoutMiddleware`), the same under every server.

>>> protocol = http_protocol(header_timeout_s=10.0, prefix="EMBEDDINGS_")  # uvicorn.run(..., http=protocol)
>>> protocol.func.__name__, protocol.keywords
('TimedHttpToolsProtocol', {'header_timeout_s': 10.0, 'prefix': 'EMBEDDINGS_'})
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.kit.problems import PROBLEM_MEDIA_TYPE, problem_type

log = logging.getLogger("service.http")

#: Most bytes of a request's URL and header fields (names and values); h11's default is 16 KiB,
#: nginx's 4 x 8 KiB.
MAX_HEADER_BYTES = 64 << 10


class _HeadersTooLarge(Exception):
    """Raised from a parser callback to stop parsing (httptools reports it as a parser error)."""


def _problem(status: int, phrase: str, detail: str, *, type: str) -> bytes:  # noqa: A002
    """A whole HTTP/1.1 problem+json response that closes the connection, as bytes (``type``: the
    problem's slug; no request, hence no ``root_path``, has been parsed)."""
    body = json.dumps(
        {"type": problem_type(type, ""), "title": phrase, "status": status, "detail": detail}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout and a problem+json concurrency limit."""

    def __init__(
        self, *args: Any, header_timeout_s: float | None = None, prefix: str = "", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.prefix = prefix  # of the settings a problem names (``EMBEDDINGS_``)
        self._timer: asyncio.TimerHandle | None = None
        self._in_headers = False  # a request has begun and its headers are not complete
        self._header_bytes = 0
        self._too_large = False
        limit = self.limit_concurrency
        if limit is not None:
            self.limit_concurrency = None  # uvicorn's own check answers in plain text: ours, a problem
            self.app = _limited(self.app, self, limit)

    # -- the timer -------------------------------------------------------------------------------

    def _arm(self) -> None:
        if self._timer is None and self.header_timeout_s is not None:
            self._timer = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._in_headers and (self.cycle is None or self.cycle.response_complete):
            detail = (
                f"the request's headers did not arrive within {self.header_timeout_s:g} s "
                f"({self.prefix}HEADER_TIMEOUT_S)"
            )
            self.transport.write(_problem(408, "Request Timeout", detail, type="request-timeout"))
        log.info("closing a connection that kept the server waiting", extra={"client": str(self.client)})
        self.transport.close()

    # -- uvicorn's callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # the first request's headers count from the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def _count(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_HEADER_BYTES:
            self._too_large = True
            raise _HeadersTooLarge  # uvicorn answers a parser error with send_400_response (below)

    def send_400_response(self, msg: str) -> None:
        if not self._too_large:
            super().send_400_response(msg)
            return
        self._disarm()
        detail = f"the request's URL and headers exceed {MAX_HEADER_BYTES} bytes"
        self.transport.write(
            _problem(431, "Request Header Fields Too Large", detail, type="request-header-fields-too-large")
        )
        self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()  # the end of a body whose response was already sent
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            self._arm()  # answered before its body was read: the rest gets the header timeout


def _limited(app: Any, protocol: HttpToolsProtocol, limit: int) -> Any:
    """``app`` behind the process's concurrency limit: past ``limit`` connections or requests in
    progress (this one counted), a 503 problem."""

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        busy = len(protocol.connections) > limit or len(protocol.tasks) > limit
        if scope["type"] != "http" or not busy:
            await app(scope, receive, send)
            return
        log.warning("over the concurrency limit: 503", extra={"limit": limit, "path": scope.get("path")})
        setting = f"{getattr(protocol, 'prefix', '')}MAX_CONCURRENT_REQUESTS"
        body = json.dumps(
            {"type": problem_type("overloaded", str(scope.get("root_path", "") or "")),
             "title": "Service Unavailable", "status": 503,
             "detail": f"this process holds {limit} connections or requests ({setting}); "
             "retry shortly", "instance": scope.get("path")}
        ).encode()  # fmt: skip
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"retry-after", b"1"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return guarded


def http_protocol(*, header_timeout_s: float | None, prefix: str = "") -> Any:
    """The protocol factory to pass as ``uvicorn.run(http=...)`` (a partial of a module-level class, so
    it also reaches the worker processes of ``--workers N``); ``prefix`` is the service's settings'."""
    return functools.partial(TimedHttpToolsProtocol, header_timeout_s=header_timeout_s, prefix=prefix)
