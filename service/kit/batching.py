"""Dynamic micro-batching: concurrent requests to one route run as one batch, the way TorchServe,
Triton and Ray Serve batch.

A :class:`MicroBatcher` wraps a *batch function* ``run(items) -> outcomes`` (one outcome per item:
its answer, or the exception that item alone raises). Each request awaits ``batcher(item)``; the
first item of a batch waits up to ``wait_ms`` for company, the batch closes early once it holds
``max_batch_size`` rows, and it runs in the batcher's own worker thread, so the event loop never
waits on model work. While one batch runs, the next one fills: under load, batches grow by
themselves even with ``wait_ms = 0``. The wait applies only while requests come concurrently (the
last batch had company): a lone client, one request at a time, never waits.

* **Errors stay with their request**: an item whose outcome is an exception gets that exception;
  if the batch function itself fails, every item is run again alone, so one bad item never fails
  its neighbours.
* **A batch's answer is bounded**: ``cost(item)`` estimates the values an item's answer holds; a
  batch closes before its items' costs add up past ``max_cost`` (an item over it runs alone: the
  service refuses single requests over its budget before they get here).
* **A client that leaves, leaves the batch**: an item whose caller was cancelled, or whose
  ``disconnected()`` check says the client is gone, is dropped when the batch is formed. The check
  is made for items that have waited ``DISCONNECT_CHECK_AFTER_S`` or more: one that has just
  arrived (a lone client's) is run at once, without the check's cost (~0.1 ms on the event loop).
* Items carry their own grouping: a batch function that can combine only alike items (one model,
  one decoding mode) groups them itself (:func:`group_by`).

A service's queries come through :class:`Batching`, the process's batchers over its model registry:
an *answer* function ``answer(runtime, model, queries) -> outcomes`` says how queries of one kind
are answered together on one loaded model; ``Batching.answer`` sends one request's query through
that answer's micro-batcher (its items grouped by model version), ``Batching.answer_all`` answers a
batch request's queries at once.

>>> import asyncio
>>> batcher = MicroBatcher(lambda xs: [x * 2 for x in xs], max_batch_size=8, wait_ms=2, name="demo")
>>> async def main():
...     return await asyncio.gather(*(batcher(i) for i in range(3)))
>>> asyncio.run(main())
[0, 2, 4]
>>> batcher.close()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.kit.errors import ServiceError
from service.kit.metrics import BATCH_DROPPED, BATCH_ROWS
from service.kit.registry import LoadedModel, ModelRegistry

log = logging.getLogger("service.batching")

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")  # its result

Outcome = Any  # R | BaseException
Q = TypeVar("Q")  # a query

#: How queries of one kind are answered together on one model version: ``answer(runtime, model,
#: queries)`` -> one outcome per query, in order (its answer, or the :class:`ServiceError` it is).
Answer = Callable[[Any, LoadedModel[Any], list[Q]], list[Outcome]]


@dataclass(frozen=True)
class ModelQuery(Generic[Q]):
    """One request's query of a model (``version`` None: the current one): a micro-batch item."""

    name: str
    version: int | None
    query: Q


#: Items that have waited this long are checked for a gone client when their batch is formed.
DISCONNECT_CHECK_AFTER_S = 0.005


@dataclass(eq=False)
class _Pending(Generic[I]):
    item: I
    rows: int
    cost: int
    future: asyncio.Future[Any]
    disconnected: Callable[[], Awaitable[bool]] | None
    arrived: float = field(default_factory=time.monotonic)


class MicroBatcher(Generic[I, R]):
    """Gather concurrent calls into batches of at most ``max_batch_size`` rows.

    ``run(items)`` returns a list of outcomes in item order: a result, or an exception instance
    for an item that failed alone. ``rows(item)`` says how many rows an item brings (one by
    default; a request with five inputs brings five). An item with more rows than
    ``max_batch_size`` runs in a batch of its own.
    """

    def __init__(
        self,
        run: Callable[[list[I]], Sequence[Outcome]],
        *,
        max_batch_size: int,
        wait_ms: float,
        name: str,
        service: str = "",
        rows: Callable[[I], int] = lambda _item: 1,
        cost: Callable[[I], int] = lambda _item: 0,
        max_cost: int | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self.run = run
        self.max_batch_size = max_batch_size
        self.wait_s = max(0.0, wait_ms) / 1000.0
        self.name = name
        self.service = service
        self.rows = rows
        self.cost = cost
        self.max_cost = max_cost
        self._pending: list[_Pending[I]] = []
        self._pending_rows = 0
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._last_rows = 0  # rows of the last batch run: > 1 means clients come concurrently
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{name}")

    async def __call__(self, item: I, *, disconnected: Callable[[], Awaitable[bool]] | None = None) -> R:
        """Queue ``item``; return its result (or raise its exception) once its batch has run."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (a test client re-entered): start afresh
            self._loop, self._pending, self._pending_rows = loop, [], 0
            self._worker, self._wake = None, asyncio.Event()
        assert self._wake is not None
        rows, cost = max(1, int(self.rows(item))), max(0, int(self.cost(item)))
        pending = _Pending(item, rows, cost, loop.create_future(), disconnected)
        self._pending.append(pending)
        self._pending_rows += pending.rows
        if self._pending_rows >= self.max_batch_size:
            self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain(), name=f"batcher-{self.name}")
        return await pending.future

    def close(self) -> None:
        """Stop the worker thread (pending calls are answered by the batch in flight, if any)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- internals -------------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Form and run batches until nothing is pending."""
        assert self._wake is not None
        while self._pending:
            delay = self._pending[0].arrived + self.wait_s - time.monotonic()
            if delay > 0 and self._pending_rows < self.max_batch_size and self._last_rows > 1:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass
            batch = await self._take()
            if batch:
                await self._run_batch(batch)

    async def _take(self) -> list[_Pending[I]]:
        """Remove the next batch from the queue, dropping callers that are gone."""
        batch: list[_Pending[I]] = []
        rows = cost = 0
        while self._pending:
            nxt = self._pending[0]
            if batch and rows + nxt.rows > self.max_batch_size:
                break
            if batch and self.max_cost is not None and cost + nxt.cost > self.max_cost:
                break
            self._pending.pop(0)
            self._pending_rows -= nxt.rows
            waited = time.monotonic() - nxt.arrived >= DISCONNECT_CHECK_AFTER_S
            if nxt.future.done() or (waited and nxt.disconnected is not None and await nxt.disconnected()):
                BATCH_DROPPED.labels(self.service, self.name).inc()
                if not nxt.future.done():
                    nxt.future.cancel()
                continue
            batch.append(nxt)
            rows += nxt.rows
            cost += nxt.cost
        return batch

    async def _run_batch(self, batch: list[_Pending[I]]) -> None:
        loop = asyncio.get_running_loop()
        items = [p.item for p in batch]
        self._last_rows = sum(p.rows for p in batch)
        BATCH_ROWS.labels(self.service, self.name).observe(self._last_rows)
        try:
            outcomes = await loop.run_in_executor(self._executor, self._run_isolated, items)
        except BaseException as exc:  # the executor is shut down, or this task was cancelled
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for p, outcome in zip(batch, outcomes, strict=True):
            if p.future.done():  # the caller was cancelled meanwhile
                continue
            if isinstance(outcome, BaseException):
                p.future.set_exception(outcome)
            else:
                p.future.set_result(outcome)

    def _run_isolated(self, items: list[I]) -> list[Outcome]:
        """Run the batch; if the batch function itself fails, run each item alone."""
        try:
            outcomes = list(self.run(items))
            if len(outcomes) != len(items):
                raise RuntimeError(f"batch function returned {len(outcomes)} outcomes for {len(items)} items")
            return outcomes
        except Exception:
            if len(items) == 1:
                raise
            log.warning("batch %s of %d failed; running its items one by one", self.name, len(items))
        singles: list[Outcome] = []
        for item in items:
            try:
                singles.append(self.run([item])[0])
            except Exception as exc:  # noqa: BLE001 - the item's own error, for its own request
                singles.append(exc)
        return singles


class Batching:
    """The micro-batchers of one process, one per answer function, over its model registry.

    ``runtime`` is handed to every answer (its settings, stores); ``max_batch_size`` 1 turns
    micro-batching off: a query is then answered alone in the threadpool, as a plain ``def`` route
    would be. Either way the model work never runs on the event loop.
    """

    def __init__(
        self,
        registry: ModelRegistry[Any],
        runtime: Any,
        *,
        max_batch_size: int,
        wait_ms: float,
        service: str,
        max_cost: int | None = None,
    ) -> None:
        self.registry = registry
        self.max_cost = max_cost
        self.runtime = runtime
        self.max_batch_size = max_batch_size
        self.wait_ms = wait_ms
        self.service = service
        self._batchers: dict[str, MicroBatcher[Any, Any]] = {}

    @property
    def on(self) -> bool:
        """Whether concurrent queries are micro-batched (``MAX_BATCH_SIZE`` above 1)."""
        return self.max_batch_size > 1

    async def answer(
        self,
        answer: Answer[Q],
        name: str,
        version: int | None,
        query: Q,
        *,
        request: Request | None = None,
        rows: Callable[[Q], int] | None = None,
        cost: Callable[[Q], int] | None = None,
    ) -> Any:
        """Answer one request's ``query`` of model ``name`` with ``answer``, in a micro-batch with the
        queries other requests send meanwhile (``rows(query)``: the rows it brings, default 1;
        ``cost(query)``: the values its answer may hold, for the batch's bound, default 0).

        The query leaves its batch when the client of ``request`` disconnects first. Returns the
        answer, or raises the :class:`ServiceError` it is (404 when the model or version is missing).
        """
        item = ModelQuery(name, version, query)
        if self.on:
            disconnected = request.is_disconnected if request is not None else None
            outcome = await self._batcher(answer, rows, cost)(item, disconnected=disconnected)
        else:
            outcome = (await run_in_threadpool(self._run, answer, [item]))[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def answer_all(
        self, answer: Answer[Q], name: str, version: int | None, queries: list[Q]
    ) -> list[Outcome]:
        """Answer every query of a batch request on model ``name`` at once: one outcome per query
        (its answer or its :class:`ServiceError`); raises the model's 404 when it is missing."""
        return answer(self.runtime, self.registry.get(name, version), queries)

    def close(self) -> None:
        """Stop the batchers' worker threads."""
        for batcher in self._batchers.values():
            batcher.close()

    def _batcher(
        self, answer: Answer[Any], rows: Callable[[Any], int] | None, cost: Callable[[Any], int] | None
    ) -> MicroBatcher[Any, Any]:
        name = answer.__name__.removeprefix("answer_")  # answer_similar: the "similar" batcher
        batcher = self._batchers.get(name)
        if batcher is None:
            count = (lambda item: rows(item.query)) if rows is not None else (lambda _item: 1)
            batcher = self._batchers[name] = MicroBatcher(
                lambda items: self._run(answer, items),
                max_batch_size=self.max_batch_size,
                wait_ms=self.wait_ms,
                name=name,
                service=self.service,
                rows=count,
                cost=(lambda item: cost(item.query)) if cost is not None else (lambda _item: 0),
                max_cost=self.max_cost,
            )
        return batcher

    def _run(self, answer: Answer[Any], items: list[ModelQuery[Any]]) -> list[Outcome]:
        """The batch function: items grouped by model version, each group answered by one call;
        the items of a model that cannot be had get its error."""
        outcomes: list[Outcome] = [None] * len(items)
        for (name, version), indices in group_by(items, lambda it: (it.name, it.version)).items():
            try:
                model = self.registry.get(name, version)
            except ServiceError as exc:
                for i in indices:
                    outcomes[i] = exc
                continue
            for i, outcome in zip(
                indices, answer(self.runtime, model, [items[i].query for i in indices]), strict=True
            ):
                outcomes[i] = outcome
        return outcomes


def attempt(fn: Callable[..., R], *args: Any) -> R | ServiceError:
    """``fn(*args)``, or the :class:`~service.kit.errors.ServiceError` it raised: one item's outcome
    in a batch function."""
    try:
        return fn(*args)
    except ServiceError as exc:
        return exc


def split(flat: Sequence[R], sizes: Sequence[int]) -> list[list[R]]:
    """``flat`` cut into consecutive runs of ``sizes`` (each item's share of a combined batch).

    >>> split([1, 2, 3, 4, 5], [2, 0, 3])
    [[1, 2], [], [3, 4, 5]]
    """
    out, start = [], 0
    for n in sizes:
        out.append(list(flat[start : start + n]))
        start += n
    return out


def group_by(items: Sequence[I], key: Callable[[I], Hashable]) -> dict[Hashable, list[int]]:
    """Indices of ``items`` grouped by ``key(item)``, in first-seen order.

    >>> group_by(["a", "bb", "c"], len)
    {1: [0, 2], 2: [1]}
    """
    groups: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(key(item), []).append(i)
    return groups
