"""Waiting for and watching a training job: the polling loop both services' clients share.

:func:`iter_job` / :func:`aiter_job` yield a :class:`~service.client.results.Job` each time the
job's record changes, until it has ended; :func:`wait_job` / :func:`await_job` run that loop,
calling ``on_update(job)`` for each update, and return the last record.

>>> job = wait_job(client.job, accepted.job_id, on_update=lambda j: print(j.status, j.progress))
queued 0.0
running 0.5
succeeded 1.0
>>> job.succeeded
True
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from service.client.results import Job

#: Seconds between two polls of ``GET /v1/jobs/{id}``.
DEFAULT_INTERVAL = 0.5


class JobTimeoutError(TimeoutError):
    """The job had not ended within the timeout; ``job`` is its last record."""

    def __init__(self, job: Job, timeout: float):
        self.job = job
        super().__init__(f"job {job.id} still {job.status} after {timeout:g} s")


def _changed(last: Job | None, job: Job) -> bool:
    return last is None or last.raw != job.raw


def iter_job(
    get_job: Callable[[str], Job],
    job_id: str,
    *,
    interval: float = DEFAULT_INTERVAL,
    timeout: float | None = None,
) -> Iterator[Job]:
    """Yield the job each time its record changes (the first poll included), until it ended.

    ``get_job(job_id)`` fetches one record (a client's ``job`` with ``history=False`` is what the
    clients pass). Raises :class:`JobTimeoutError` after ``timeout`` seconds (``None``: never).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    last: Job | None = None
    while True:
        job = get_job(job_id)
        if _changed(last, job):
            yield job
        last = job
        if job.ended:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise JobTimeoutError(job, timeout or 0.0)
        time.sleep(interval)


async def aiter_job(
    get_job: Callable[[str], Awaitable[Job]],
    job_id: str,
    *,
    interval: float = DEFAULT_INTERVAL,
    timeout: float | None = None,
) -> AsyncIterator[Job]:
    """The asynchronous :func:`iter_job`: ``get_job`` is a coroutine function."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last: Job | None = None
    while True:
        job = await get_job(job_id)
        if _changed(last, job):
            yield job
        last = job
        if job.ended:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise JobTimeoutError(job, timeout or 0.0)
        await asyncio.sleep(interval)


def wait_job(
    get_job: Callable[[str], Job],
    job_id: str,
    *,
    on_update: Callable[[Job], object] | None = None,
    interval: float = DEFAULT_INTERVAL,
    timeout: float | None = None,
) -> Job:
    """Poll until the job ended, calling ``on_update(job)`` for each change; returns the last record.

    The job's outcome is its ``status`` (``succeeded``, ``failed`` with ``error``, ``cancelled``):
    a failed job is returned, not raised.
    """
    job: Job | None = None
    for job in iter_job(get_job, job_id, interval=interval, timeout=timeout):
        if on_update is not None:
            on_update(job)
    assert job is not None
    return job


async def await_job(
    get_job: Callable[[str], Awaitable[Job]],
    job_id: str,
    *,
    on_update: Callable[[Job], object] | None = None,
    interval: float = DEFAULT_INTERVAL,
    timeout: float | None = None,
) -> Job:
    """The asynchronous :func:`wait_job` (``on_update`` may be a plain function or a coroutine one)."""
    job: Job | None = None
    async for job in aiter_job(get_job, job_id, interval=interval, timeout=timeout):
        if on_update is not None:
            result = on_update(job)
            if asyncio.iscoroutine(result):
                await result
    assert job is not None
    return job


__all__ = ["DEFAULT_INTERVAL", "JobTimeoutError", "aiter_job", "await_job", "iter_job", "wait_job"]
