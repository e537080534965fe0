"""What both services' clients have in common: models and their versions, jobs, health.

:class:`ServiceAPI` writes each call once, as an :class:`operation`: a method that describes its
request as a :class:`~service.client.http.Call` (``Call[ModelInfo]``). Mixed into a sync client
(:class:`SyncClient`, over :class:`~service.client.http.Transport`) the method sends it and returns
the result (``ModelInfo``); mixed into an async one (:class:`AsyncClient`) the same method is a
coroutine function (``Coroutine[object, None, ModelInfo]``, awaited). Type checkers see both: the
:class:`operation` descriptor's ``__get__`` is overloaded on the client's kind. (The coroutine's
yield and send types are ``object`` and ``None``, what asyncio uses, rather than ``Any``: with an
explicit ``Any`` there, mypy types ``asyncio.gather`` of two different results as ``Any``.)
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload
from urllib.parse import quote

import httpx

from service.client import jobs as job_loop
from service.client.http import (
    DEFAULT_RETRIES,
    AsyncTransport,
    Call,
    Transport,
    json_object,
    nothing,
)
from service.client.results import Job, ModelInfo, ResultList, Versions

P = ParamSpec("P")
R = TypeVar("R")


def seg(value: str | int) -> str:
    """One path segment, percent-encoded (a name the service will validate, never a path)."""
    return quote(str(value), safe="")


class operation(Generic[P, R]):  # noqa: N801 - used as a decorator, like property
    """A client method written once: ``build(self, ...)`` returns the :class:`Call` to send.

    On a :class:`SyncClient` the method sends it and returns ``R``; on an :class:`AsyncClient` it is
    a coroutine function returning ``R``. ``help()`` and ``inspect.signature`` of a bound method
    show the method's own arguments and docstring.
    """

    def __init__(self, build: Callable[Concatenate[Any, P], Call[R]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__
        self.__qualname__ = build.__qualname__
        self.__module__ = build.__module__
        self.__wrapped__ = build
        sig = inspect.signature(build)
        result = sig.return_annotation  # "Call[ModelInfo]": the method's result is "ModelInfo"
        if isinstance(result, str) and result.startswith("Call[") and result.endswith("]"):
            result = result[len("Call[") : -1]
        self.__signature__ = sig.replace(
            parameters=list(sig.parameters.values())[1:], return_annotation=result
        )

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: SyncClient, owner: type | None = None) -> Callable[P, R]: ...
    @overload
    def __get__(
        self, obj: AsyncClient, owner: type | None = None
    ) -> Callable[P, Coroutine[object, None, R]]: ...
    @overload
    def __get__(self, obj: ServiceAPI, owner: type | None = None) -> Callable[P, Any]: ...

    def __get__(self, obj: ServiceAPI | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        method = obj._bind(self.build)
        method.__doc__, method.__name__, method.__qualname__ = self.__doc__, self.__name__, self.__qualname__
        method.__signature__ = self.__signature__  # type: ignore[attr-defined]
        return method


class ServiceAPI:
    """Models, versions, jobs and health: the routes both services share."""

    _http: Transport | AsyncTransport

    @property
    def base_url(self) -> str:
        """The service's base URL (``http://127.0.0.1:8001``)."""
        return self._http.base_url

    def _bind(self, build: Callable[..., Call[R]]) -> Callable[..., Any]:
        """``build`` as a method of this client: sending its call (sync) or awaiting it (async)."""
        raise NotImplementedError

    def _model_info(self, data: Any) -> ModelInfo:
        return ModelInfo.from_dict(data)

    # ----------------------------------------------------------------- health

    @operation
    def health(self) -> Call[dict[str, Any]]:
        """``GET /healthz``: liveness; returns ``{"status": "ok", "service": ...}``."""
        return Call("GET", "/healthz", json_object)

    @operation
    def ready(self) -> Call[dict[str, Any]]:
        """``GET /readyz``: returns its body once ready; raises a 503 ``ServerProblemError`` before."""
        return Call("GET", "/readyz", json_object)

    # ----------------------------------------------------------------- models

    @operation
    def models(self) -> Call[ResultList[ModelInfo]]:
        """Every model; returns a :class:`ResultList` of :class:`ModelInfo` (``raw``: ``{"models": [...]}``).

        >>> [m.name for m in client.models()]
        ['default']
        """
        return Call("GET", "/v1/models", lambda d: ResultList([self._model_info(m) for m in d["models"]], d))

    @operation
    def model(self, name: str) -> Call[ModelInfo]:
        """One model's metadata; returns a :class:`ModelInfo` (404 ``NotFoundError`` when unknown).

        >>> client.model("default").version
        1
        """
        return Call("GET", f"/v1/models/{seg(name)}", self._model_info)

    @operation
    def delete_model(self, name: str) -> Call[None]:
        """Delete a model and all its versions (409 ``ConflictError`` while a job trains it)."""
        return Call("DELETE", f"/v1/models/{seg(name)}", nothing, accept="none")

    @operation
    def versions(self, name: str) -> Call[Versions]:
        """A model's versions; returns :class:`Versions` (``current`` and each :class:`Version`).

        >>> client.versions("default").current
        2
        """
        return Call("GET", f"/v1/models/{seg(name)}/versions", Versions.from_dict)

    @operation
    def set_current_version(self, name: str, version: int) -> Call[Versions]:
        """Roll back (or forward): serve ``version`` from now on; returns the new :class:`Versions`.

        >>> client.set_current_version("default", 1).current
        1
        """
        return Call("PUT", f"/v1/models/{seg(name)}/current", Versions.from_dict, json={"version": version})

    rollback = set_current_version

    @operation
    def delete_version(self, name: str, version: int) -> Call[None]:
        """Delete a version that is not the current one (409 for the current one)."""
        return Call("DELETE", f"/v1/models/{seg(name)}/versions/{seg(version)}", nothing, accept="none")

    # ----------------------------------------------------------------- jobs

    @operation
    def jobs(self, *, status: str | None = None, model: str | None = None) -> Call[ResultList[Job]]:
        """Jobs, newest first (filtered by ``status`` and ``model``); a :class:`ResultList` of :class:`Job`.

        >>> [j.status for j in client.jobs(model="news")]
        ['succeeded']
        """
        return Call(
            "GET",
            "/v1/jobs",
            lambda d: ResultList([Job.from_dict(j) for j in d["jobs"]], d),
            params={"status": status, "model": model},
        )

    @operation
    def job(self, job_id: str, *, history: bool = True) -> Call[Job]:
        """One job; returns a :class:`Job` (``history=False`` leaves the history out: lighter polls)."""
        return Call("GET", f"/v1/jobs/{seg(job_id)}", Job.from_dict, params={"history": history})

    @operation
    def cancel_job(self, job_id: str, *, keep: str = "nothing") -> Call[Job]:
        """Cancel a queued or running job; returns its record (409 ``ConflictError`` once it ended).

        ``keep="best"`` (attention training jobs): the job stops gracefully and publishes its best
        checkpoint so far as a new version (it ends ``succeeded``, ``result["stopped_by"] ==
        "cancel"``); the record returned may still be ``running`` (it is evaluating): wait for it.
        A job that cannot keep answers 409 ``keep-unsupported``.
        """
        params = {"keep": keep} if keep != "nothing" else None
        return Call("DELETE", f"/v1/jobs/{seg(job_id)}", Job.from_dict, params=params)


class SyncClient(ServiceAPI):
    """Base of the synchronous clients: a :class:`Transport` plus the blocking job waits.

    ``base_url`` or ``client`` (an ``httpx.Client``, e.g. a Starlette ``TestClient``); ``token``
    is sent as a bearer token; ``timeout`` in seconds; ``retries``: how many more tries a request
    safe to repeat gets (GETs and queries, never writes) after a transport error or a 502/503/504
    (a restarting replica behind Serve's proxy or a load balancer). Use it as a context manager or
    ``close()`` it.
    """

    default_url = "http://127.0.0.1"
    _http: Transport

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
        if base_url is None and client is None:
            base_url = self.default_url
        self._http = Transport(
            base_url, token=token, timeout=timeout, client=client, headers=headers, retries=retries
        )

    def _bind(self, build: Callable[..., Call[R]]) -> Callable[..., R]:
        def method(*args: Any, **kwargs: Any) -> R:
            return self._http.send(build(self, *args, **kwargs))

        return method

    def _light_job(self, job_id: str) -> Job:
        return self.job(job_id, history=False)

    def close(self) -> None:
        """Close the HTTP client (only one the client created itself)."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def watch_job(
        self, job_id: str, *, interval: float = job_loop.DEFAULT_INTERVAL, timeout: float | None = None
    ) -> Iterator[Job]:
        """Yield the :class:`Job` each time it changes, until it ended.

        >>> for job in client.watch_job(accepted.job_id):
        ...     print(job.status, job.epoch, job.loss)
        """
        return job_loop.iter_job(self._light_job, job_id, interval=interval, timeout=timeout)

    def wait_job(
        self,
        job_id: str,
        *,
        on_update: Callable[[Job], object] | None = None,
        interval: float = job_loop.DEFAULT_INTERVAL,
        timeout: float | None = None,
    ) -> Job:
        """Block until the job ended, calling ``on_update(job)`` on each change; returns the final
        :class:`Job` (with its history). A failed or cancelled job is returned, not raised;
        ``JobTimeoutError`` after ``timeout`` seconds.

        >>> job = client.wait_job(accepted.job_id, on_update=lambda j: print(j.progress))
        >>> job.status
        'succeeded'
        """
        job_loop.wait_job(self._light_job, job_id, on_update=on_update, interval=interval, timeout=timeout)
        return self.job(job_id)


class AsyncClient(ServiceAPI):
    """Base of the asynchronous clients: an :class:`AsyncTransport`; every method is awaited.

    ``client`` is an ``httpx.AsyncClient`` (``httpx.ASGITransport(app=app)`` for an app in-process).
    Use it as ``async with`` or ``await aclose()``.
    """

    default_url = "http://127.0.0.1"
    _http: AsyncTransport

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
        if base_url is None and client is None:
            base_url = self.default_url
        self._http = AsyncTransport(
            base_url, token=token, timeout=timeout, client=client, headers=headers, retries=retries
        )

    def _bind(self, build: Callable[..., Call[R]]) -> Callable[..., Coroutine[object, None, R]]:
        async def method(*args: Any, **kwargs: Any) -> R:
            return await self._http.send(build(self, *args, **kwargs))

        return method

    async def _light_job(self, job_id: str) -> Job:
        return await self.job(job_id, history=False)

    async def aclose(self) -> None:
        """Close the HTTP client (only one the client created itself)."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def watch_job(
        self, job_id: str, *, interval: float = job_loop.DEFAULT_INTERVAL, timeout: float | None = None
    ) -> AsyncIterator[Job]:
        """Yield the :class:`Job` each time it changes, until it ended (``async for``)."""
        return job_loop.aiter_job(self._light_job, job_id, interval=interval, timeout=timeout)

    async def wait_job(
        self,
        job_id: str,
        *,
        on_update: Callable[[Job], object] | None = None,
        interval: float = job_loop.DEFAULT_INTERVAL,
        timeout: float | None = None,
    ) -> Job:
        """Wait until the job ended, calling ``on_update(job)`` on each change; returns the final :class:`Job`.

        >>> job = await client.wait_job(accepted.job_id)
        """
        await job_loop.await_job(
            self._light_job, job_id, on_update=on_update, interval=interval, timeout=timeout
        )
        return await self.job(job_id)


__all__ = ["AsyncClient", "ServiceAPI", "SyncClient", "operation", "seg"]
