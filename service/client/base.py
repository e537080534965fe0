"""What both services' clients have in common: models and their versions, jobs, health.

:class:`ServiceAPI` writes each call once against the transport's ``request``; mixed into a sync
client (:class:`SyncClient`, over :class:`~service.client.http.Transport`) each method returns its
result, mixed into an async one (:class:`AsyncClient`) the same method returns an awaitable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from service.client import jobs as job_loop
from service.client.http import DEFAULT_RETRIES, AsyncTransport, Transport
from service.client.results import Job, ModelInfo, ResultList, Versions


def seg(value: str | int) -> str:
    """One path segment, percent-encoded (a name the service will validate, never a path)."""
    return quote(str(value), safe="")


class ServiceAPI:
    """Models, versions, jobs and health: the routes both services share."""

    _http: Any  # Transport or AsyncTransport

    @property
    def base_url(self) -> str:
        """The service's base URL (``http://127.0.0.1:8001``)."""
        return self._http.base_url

    def _model_info(self, data: dict[str, Any]) -> ModelInfo:
        return ModelInfo.from_dict(data)

    # ----------------------------------------------------------------- health

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: liveness; returns ``{"status": "ok", "service": ...}``."""
        return self._http.request("GET", "/healthz")

    def ready(self) -> dict[str, Any]:
        """``GET /readyz``: returns its body once ready; raises a 503 ``ServerProblemError`` before."""
        return self._http.request("GET", "/readyz")

    # ----------------------------------------------------------------- models

    def models(self) -> ResultList:
        """Every model; returns a :class:`ResultList` of :class:`ModelInfo` (``raw``: ``{"models": [...]}``).

        >>> [m.name for m in client.models()]
        ['default']
        """
        return self._http.request(
            "GET", "/v1/models", parse=lambda d: ResultList([self._model_info(m) for m in d["models"]], d)
        )

    def model(self, name: str) -> ModelInfo:
        """One model's metadata; returns a :class:`ModelInfo` (404 ``NotFoundError`` when unknown).

        >>> client.model("default").version
        1
        """
        return self._http.request("GET", f"/v1/models/{seg(name)}", parse=self._model_info)

    def delete_model(self, name: str) -> None:
        """Delete a model and all its versions (409 ``ConflictError`` while a job trains it)."""
        return self._http.request("DELETE", f"/v1/models/{seg(name)}", accept="none")

    def versions(self, name: str) -> Versions:
        """A model's versions; returns :class:`Versions` (``current`` and each :class:`Version`).

        >>> client.versions("default").current
        2
        """
        return self._http.request("GET", f"/v1/models/{seg(name)}/versions", parse=Versions.from_dict)

    def set_current_version(self, name: str, version: int) -> Versions:
        """Roll back (or forward): serve ``version`` from now on; returns the new :class:`Versions`.

        >>> client.set_current_version("default", 1).current
        1
        """
        return self._http.request(
            "PUT", f"/v1/models/{seg(name)}/current", json={"version": version}, parse=Versions.from_dict
        )

    rollback = set_current_version

    def delete_version(self, name: str, version: int) -> None:
        """Delete a version that is not the current one (409 for the current one)."""
        return self._http.request("DELETE", f"/v1/models/{seg(name)}/versions/{seg(version)}", accept="none")

    # ----------------------------------------------------------------- jobs

    def jobs(self, *, status: str | None = None, model: str | None = None) -> ResultList:
        """Jobs, newest first (filtered by ``status`` and ``model``); a :class:`ResultList` of :class:`Job`.

        >>> [j.status for j in client.jobs(model="news")]
        ['succeeded']
        """
        return self._http.request(
            "GET",
            "/v1/jobs",
            params={"status": status, "model": model},
            parse=lambda d: ResultList([Job.from_dict(j) for j in d["jobs"]], d),
        )

    def job(self, job_id: str, *, history: bool = True) -> Job:
        """One job; returns a :class:`Job` (``history=False`` leaves the history out: lighter polls)."""
        return self._http.request(
            "GET", f"/v1/jobs/{seg(job_id)}", params={"history": history}, parse=Job.from_dict
        )

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a queued or running job; returns its record (409 ``ConflictError`` once it ended)."""
        return self._http.request("DELETE", f"/v1/jobs/{seg(job_id)}", parse=Job.from_dict)

    def _light_job(self, job_id: str) -> Any:
        return self.job(job_id, history=False)


class SyncClient(ServiceAPI):
    """Base of the synchronous clients: a :class:`Transport` plus the blocking job waits.

    ``base_url`` or ``client`` (an ``httpx.Client``, e.g. a Starlette ``TestClient``); ``token``
    is sent as a bearer token; ``timeout`` in seconds; ``retries``: how many more tries a request
    safe to repeat gets (GETs and queries, never writes) after a transport error or a 502/503/504
    (a restarting replica behind Serve's proxy or a load balancer). Use it as a context manager or
    ``close()`` it.
    """

    default_url = "http://127.0.0.1"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        client: httpx.Client | None = None,
        headers: dict[str, str] | None = None,
        retries: int = DEFAULT_RETRIES,
    ):
        if base_url is None and client is None:
            base_url = self.default_url
        self._http = Transport(
            base_url, token=token, timeout=timeout, client=client, headers=headers, retries=retries
        )

    def close(self) -> None:
        """Close the HTTP client (only one the client created itself)."""
        self._http.close()

    def __enter__(self):
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

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        client: httpx.AsyncClient | None = None,
        headers: dict[str, str] | None = None,
        retries: int = DEFAULT_RETRIES,
    ):
        if base_url is None and client is None:
            base_url = self.default_url
        self._http = AsyncTransport(
            base_url, token=token, timeout=timeout, client=client, headers=headers, retries=retries
        )

    async def aclose(self) -> None:
        """Close the HTTP client (only one the client created itself)."""
        await self._http.aclose()

    async def __aenter__(self):
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


__all__ = ["AsyncClient", "ServiceAPI", "SyncClient", "seg"]
