"""The transport both clients share: httpx, a base URL, a bearer token, timeouts, problems.

:class:`Transport` (sync, over ``httpx.Client``) and :class:`AsyncTransport` (over
``httpx.AsyncClient``) have the same ``request`` method; the service clients are written once
against it, so every method of a sync client returns its result and the same method of an async
client returns an awaitable of it. What a client method sends is a :class:`Call` (method, path,
body, and how to read the answer); ``send(call)`` returns what ``call.parse`` makes of the answer, so
its type is the call's (``Call[ModelInfo]`` → ``ModelInfo``). An error answer raises a :class:`ProblemError`
(:mod:`service.client.problems`); a service that cannot be reached raises
:class:`ServiceUnreachableError`.

Pass your own ``httpx.Client`` (a Starlette ``TestClient`` is one) or ``httpx.AsyncClient`` (e.g.
with ``httpx.ASGITransport(app=app)``) to talk to an app in-process:

>>> from fastapi.testclient import TestClient
>>> transport = Transport(client=TestClient(app))
>>> transport.request("GET", "/healthz")
{'status': 'ok', ...}
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from service.client.problems import ServiceUnreachableError, problem_from_response

R = TypeVar("R")

#: ``progress(done_bytes, total_bytes_or_None)``: called after each chunk of an upload or download.
ProgressCallback = Callable[[int, "int | None"], None]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
CHUNK_SIZE = 1 << 16

#: Retries of a request that is safe to repeat (GET, HEAD, and the queries): how many, by default.
DEFAULT_RETRIES = 2
#: Answers worth another try: a proxy or load balancer that lost its upstream (Serve's proxy while a
#: replica restarts, nginx), a service still starting (503 + Retry-After).
RETRY_STATUSES = frozenset({502, 503, 504})
#: The first wait between tries (doubled at each), and the longest ``Retry-After`` honoured.
RETRY_BACKOFF_S = 0.25
MAX_RETRY_AFTER_S = 5.0


def _retry_wait(response: httpx.Response | None, attempt: int) -> float | None:
    """Seconds to wait before another try of a safe request after ``response`` (None: a transport
    error), or None when the answer stands. A 500 that is not the service's own problem+json (a
    proxy's plain error page) is retried too; the service's own 500 is not."""
    if response is not None:
        proxied_500 = response.status_code == 500 and not response.headers.get("content-type", "").startswith(
            "application/problem+json"
        )
        if response.status_code not in RETRY_STATUSES and not proxied_500:
            return None
        after = response.headers.get("retry-after", "")
        if after.isdigit():
            return min(float(after), MAX_RETRY_AFTER_S)
    return RETRY_BACKOFF_S * 2.0**attempt


def is_safe(method: str, idempotent: bool | None) -> bool:
    """Whether a request may be sent again: ``idempotent`` when given, else GET/HEAD/OPTIONS."""
    return idempotent if idempotent is not None else method.upper() in {"GET", "HEAD", "OPTIONS"}


@dataclass
class Upload:
    """A local file sent as the raw request body, read in chunks (never held in memory)."""

    path: Path
    progress: ProgressCallback | None = None
    chunk_size: int = CHUNK_SIZE

    @property
    def size(self) -> int:
        return os.path.getsize(self.path)

    def chunks(self) -> Iterator[bytes]:
        done, total = 0, self.size
        if self.progress:
            self.progress(0, total)
        with open(self.path, "rb") as fh:
            while chunk := fh.read(self.chunk_size):
                done += len(chunk)
                yield chunk
                if self.progress:
                    self.progress(done, total)

    async def achunks(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks():
            yield chunk


@dataclass
class Download:
    """Where a streamed response body goes: ``dest``, written as ``dest.part`` then renamed."""

    dest: Path
    progress: ProgressCallback | None = None

    def part(self) -> Path:
        return self.dest.with_name(self.dest.name + ".part")


@dataclass(frozen=True)
class Call(Generic[R]):
    """One request, described: what a client method sends, and ``parse``, which turns the decoded
    answer (the JSON, bytes with ``accept="bytes"``, ``None`` with ``accept="none"``, the written
    ``Path`` with ``download``) into the method's result; a transport's ``send(call)`` returns that.

    >>> call = Call("GET", "/healthz", json_object)
    >>> Transport(client=TestClient(app)).send(call)
    {'status': 'ok', ...}
    """

    method: str
    path: str
    parse: Callable[[Any], R]
    params: dict[str, Any] | None = None
    json: Any = None
    upload: Upload | None = None
    download: Download | None = None
    accept: str = "json"
    #: Safe to send again (:func:`is_safe`); ``None``: by the method (GET/HEAD/OPTIONS).
    idempotent: bool | None = None


def json_object(value: Any) -> dict[str, Any]:
    """A JSON object answer as a dict (``ValueError`` for anything else: not what a route answers)."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def nothing(value: Any) -> None:
    """An answer without a body (``accept="none"``, a 204)."""
    return None


def raw_bytes(value: Any) -> bytes:
    """The bytes of an ``accept="bytes"`` answer."""
    if not isinstance(value, bytes):
        raise ValueError(f"expected bytes, got {type(value).__name__}")
    return value


def written_path(value: Any) -> Path:
    """The ``Path`` a ``download`` wrote."""
    if not isinstance(value, Path):
        raise ValueError(f"expected a Path, got {type(value).__name__}")
    return value


#: A request body: bytes, or the chunks of an :class:`Upload`.
Content = bytes | Iterator[bytes] | AsyncIterator[bytes]


def _total(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def _params(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {
        k: ("true" if v is True else "false" if v is False else v) for k, v in params.items() if v is not None
    }


def _decode(response: httpx.Response, accept: str) -> Any:
    if accept == "bytes":
        return response.content
    if accept == "none" or response.status_code == 204 or not response.content:
        return None
    return response.json()


class _Base:
    base_url: str
    retries: int
    token: str | None
    _owned: bool

    def __init__(
        self,
        base_url: str | None,
        *,
        token: str | None,
        timeout: float | httpx.Timeout | None,
        headers: dict[str, str] | None,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.retries = retries
        self.token = token
        self._headers = dict(headers or {})
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = DEFAULT_TIMEOUT if timeout is None else timeout

    def _request_args(
        self,
        params: dict[str, Any] | None,
        json: Any,
        content: Content | None,
        headers: dict[str, str] | None,
    ) -> dict[str, Any]:
        args: dict[str, Any] = {"params": _params(params), "headers": {**self._headers, **(headers or {})}}
        if json is not None:
            args["json"] = json
        if content is not None:
            args["content"] = content
        return args

    def _adopt(self, client: Any, base_url: str | None, factory: Any) -> Any:
        """``client``, or a new ``factory(base_url=...)`` that this transport owns (and closes)."""
        self._owned = client is None
        if client is None:
            if not base_url:
                raise ValueError(f"give a base_url or an httpx.{factory.__name__}")
            client = factory(base_url=base_url, timeout=self._timeout)
        self.base_url = str(base_url or client.base_url).rstrip("/")
        return client

    def _tries(
        self, method: str, idempotent: bool | None, upload: Upload | None, download: Download | None
    ) -> int:
        """How many times a request is sent at most: ``1 + retries`` when it is safe to repeat
        (:func:`is_safe`, and neither an upload nor a download), else once."""
        safe = upload is None and download is None and is_safe(method, idempotent)
        return 1 + (self.retries if safe else 0)

    def _unreachable(self, exc: httpx.TransportError) -> ServiceUnreachableError:
        reason = str(exc) or type(exc).__name__
        return ServiceUnreachableError(self.base_url, reason)


class Transport(_Base):
    """Synchronous transport: ``request(...)`` returns the decoded (and parsed) answer.

    ``base_url`` (e.g. ``"http://127.0.0.1:8001"``) or ``client`` (an ``httpx.Client``, whose own
    base URL is used); ``token`` is sent as ``Authorization: Bearer``; ``timeout`` in seconds (or an
    ``httpx.Timeout``; default 60 s, 5 s to connect). Closing closes only a client it created.
    """

    client: httpx.Client

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        client: httpx.Client | None = None,
        headers: dict[str, str] | None = None,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        super().__init__(base_url, token=token, timeout=timeout, headers=headers, retries=retries)
        self.client = self._adopt(client, base_url, httpx.Client)

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        upload: Upload | None = None,
        download: Download | None = None,
        headers: dict[str, str] | None = None,
        accept: str = "json",
        parse: Callable[[Any], Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request; returns ``parse(answer)`` (the JSON, or bytes with ``accept="bytes"``,
        or the ``Path`` written with ``download``). Raises ``ProblemError`` on a 4xx/5xx.

        A request safe to repeat (:func:`is_safe`: GET/HEAD, or ``idempotent=True`` as the queries
        pass) is tried up to ``retries`` more times after a transport error or a 502/503/504 (or a
        proxy's 500), waiting 0.25 s, 0.5 s... or the answer's ``Retry-After``. Uploads, downloads
        and writes are sent once."""
        value = self._exchange(
            method, path, params, json, content, upload, download, headers, accept, idempotent
        )
        return parse(value) if parse else value

    def send(self, call: Call[R], *, headers: dict[str, str] | None = None) -> R:
        """Send a :class:`Call`; returns ``call.parse(answer)`` (retried as :meth:`request` says)."""
        value = self._exchange(
            call.method, call.path, call.params, call.json, None, call.upload, call.download,
            headers, call.accept, call.idempotent,
        )  # fmt: skip
        return call.parse(value)

    def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        content: Content | None,
        upload: Upload | None,
        download: Download | None,
        headers: dict[str, str] | None,
        accept: str,
        idempotent: bool | None,
    ) -> Any:
        if upload is not None:
            content = upload.chunks()
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(upload.size),
                **(headers or {}),
            }
        args = self._request_args(params, json, content, headers)
        tries = self._tries(method, idempotent, upload, download)
        for attempt in range(tries):
            response = None
            try:
                if download is not None:
                    return self._download(method, path, args, download)
                response = self.client.request(method, path, **args)
            except httpx.TransportError as exc:
                if attempt == tries - 1:
                    raise self._unreachable(exc) from exc
            wait = _retry_wait(response, attempt) if attempt < tries - 1 else None
            if wait is None:
                break
            time.sleep(wait)
        assert response is not None
        if response.status_code >= 400:
            raise problem_from_response(response)
        return _decode(response, accept)

    def _download(self, method: str, path: str, args: dict[str, Any], download: Download) -> Path:
        part = download.part()
        with self.client.stream(method, path, **args) as response:
            if response.status_code >= 400:
                response.read()
                raise problem_from_response(response)
            total, done = _total(response), 0
            try:
                with open(part, "wb") as fh:
                    if download.progress:
                        download.progress(0, total)
                    for chunk in response.iter_bytes(CHUNK_SIZE):
                        fh.write(chunk)
                        done += len(chunk)
                        if download.progress:
                            download.progress(done, total)
                os.replace(part, download.dest)
            finally:
                part.unlink(missing_ok=True)
        return download.dest


class AsyncTransport(_Base):
    """Asynchronous transport: ``await request(...)``; the same arguments as :class:`Transport`.

    ``client`` is an ``httpx.AsyncClient`` (``httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
    base_url="http://test")`` serves an app in-process).
    """

    client: httpx.AsyncClient

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        client: httpx.AsyncClient | None = None,
        headers: dict[str, str] | None = None,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        super().__init__(base_url, token=token, timeout=timeout, headers=headers, retries=retries)
        self.client = self._adopt(client, base_url, httpx.AsyncClient)

    async def aclose(self) -> None:
        if self._owned:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        upload: Upload | None = None,
        download: Download | None = None,
        headers: dict[str, str] | None = None,
        accept: str = "json",
        parse: Callable[[Any], Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request; returns ``parse(answer)`` like :meth:`Transport.request` (same retries)."""
        value = await self._exchange(
            method, path, params, json, content, upload, download, headers, accept, idempotent
        )
        return parse(value) if parse else value

    async def send(self, call: Call[R], *, headers: dict[str, str] | None = None) -> R:
        """Send a :class:`Call`; returns ``call.parse(answer)`` like :meth:`Transport.send`."""
        value = await self._exchange(
            call.method, call.path, call.params, call.json, None, call.upload, call.download,
            headers, call.accept, call.idempotent,
        )  # fmt: skip
        return call.parse(value)

    async def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        content: Content | None,
        upload: Upload | None,
        download: Download | None,
        headers: dict[str, str] | None,
        accept: str,
        idempotent: bool | None,
    ) -> Any:
        if upload is not None:
            content = upload.achunks()
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(upload.size),
                **(headers or {}),
            }
        args = self._request_args(params, json, content, headers)
        tries = self._tries(method, idempotent, upload, download)
        for attempt in range(tries):
            response = None
            try:
                if download is not None:
                    return await self._download(method, path, args, download)
                response = await self.client.request(method, path, **args)
            except httpx.TransportError as exc:
                if attempt == tries - 1:
                    raise self._unreachable(exc) from exc
            wait = _retry_wait(response, attempt) if attempt < tries - 1 else None
            if wait is None:
                break
            await asyncio.sleep(wait)
        assert response is not None
        if response.status_code >= 400:
            raise problem_from_response(response)
        return _decode(response, accept)

    async def _download(self, method: str, path: str, args: dict[str, Any], download: Download) -> Path:
        part = download.part()
        async with self.client.stream(method, path, **args) as response:
            if response.status_code >= 400:
                await response.aread()
                raise problem_from_response(response)
            total, done = _total(response), 0
            try:
                with open(part, "wb") as fh:
                    if download.progress:
                        download.progress(0, total)
                    async for chunk in response.aiter_bytes(CHUNK_SIZE):
                        fh.write(chunk)
                        done += len(chunk)
                        if download.progress:
                            download.progress(done, total)
                os.replace(part, download.dest)
            finally:
                part.unlink(missing_ok=True)
        return download.dest


__all__ = [
    "AsyncTransport",
    "Call",
    "Download",
    "ProgressCallback",
    "Transport",
    "Upload",
    "json_object",
    "nothing",
    "raw_bytes",
    "written_path",
]
