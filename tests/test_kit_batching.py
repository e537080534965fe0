"""The micro-batcher (service/kit/batching.py) on real asyncio tasks and its real worker thread."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from service.kit.batching import MicroBatcher, group_by


class Recorder:
    """A batch function that doubles numbers, fails on negatives, and records every batch it ran."""

    def __init__(self, delay: float = 0.0, fail_batch_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.delay = delay
        self.fail_batch_on = fail_batch_on

    def __call__(self, items: list[int]) -> list[object]:
        self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_batch_on is not None and self.fail_batch_on in items and len(items) > 1:
            raise RuntimeError("the whole batch failed")
        return [ValueError(f"negative: {x}") if x < 0 else 2 * x for x in items]


def gather(batcher, items, **kw):
    async def main():
        return await asyncio.gather(*(batcher(i, **kw) for i in items), return_exceptions=True)

    return asyncio.run(main())


def test_concurrent_calls_run_as_one_batch_in_order_off_the_event_loop():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch_size=64, wait_ms=20, name="t")
    assert gather(batcher, range(10)) == [2 * i for i in range(10)]
    assert run.batches == [list(range(10))]
    assert run.threads == {next(iter(run.threads))} and next(iter(run.threads)).startswith("batch-t")
    batcher.close()


def test_max_batch_size_splits_and_rows_count_per_item():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch_size=4, wait_ms=20, name="t")
    assert gather(batcher, range(10)) == [2 * i for i in range(10)]
    assert [len(b) for b in run.batches] == [4, 4, 2]

    run2 = Recorder()
    weighted = MicroBatcher(run2, max_batch_size=5, wait_ms=20, name="w", rows=lambda x: x)
    assert gather(weighted, [3, 2, 4, 9, 1]) == [6, 4, 8, 18, 2]
    # 3+2 fills a batch; 4 alone (4+9 > 5); 9 is bigger than a batch: alone; then 1
    assert run2.batches == [[3, 2], [4], [9], [1]]
    batcher.close()
    weighted.close()


def test_errors_stay_with_their_own_item():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch_size=64, wait_ms=20, name="t")
    out = gather(batcher, [1, -2, 3])
    assert out[0] == 2 and out[2] == 6
    assert isinstance(out[1], ValueError) and str(out[1]) == "negative: -2"
    assert run.batches == [[1, -2, 3]]
    batcher.close()


def test_a_failing_batch_is_run_again_item_by_item():
    run = Recorder(fail_batch_on=7)
    batcher = MicroBatcher(run, max_batch_size=64, wait_ms=20, name="t")
    out = gather(batcher, [1, 7, -3])
    assert out[:2] == [2, 14] and isinstance(out[2], ValueError)
    assert run.batches == [[1, 7, -3], [1], [7], [-3]]
    batcher.close()


def test_wait_ms_zero_still_batches_while_one_batch_runs():
    run = Recorder(delay=0.05)
    batcher = MicroBatcher(run, max_batch_size=64, wait_ms=0, name="t")

    async def main():
        first = asyncio.ensure_future(batcher(0))
        await asyncio.sleep(0.01)  # the first batch (of one) is running now
        rest = [asyncio.ensure_future(batcher(i)) for i in range(1, 6)]
        return await asyncio.gather(first, *rest)

    assert asyncio.run(main()) == [0, 2, 4, 6, 8, 10]
    assert run.batches == [[0], [1, 2, 3, 4, 5]]
    batcher.close()


def test_a_cancelled_caller_and_a_gone_client_leave_the_batch():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch_size=64, wait_ms=50, name="t")

    async def gone() -> bool:
        return True

    async def here() -> bool:
        return False

    async def main():
        await asyncio.gather(batcher(10), batcher(11))  # clients come concurrently: batches wait
        keep = asyncio.ensure_future(batcher(1, disconnected=here))
        cancelled = asyncio.ensure_future(batcher(2))
        left = asyncio.ensure_future(batcher(3, disconnected=gone))
        await asyncio.sleep(0.005)
        cancelled.cancel()
        results = await asyncio.gather(keep, cancelled, left, return_exceptions=True)
        return results

    keep, cancelled, left = asyncio.run(main())
    assert keep == 2
    assert isinstance(cancelled, asyncio.CancelledError) and isinstance(left, asyncio.CancelledError)
    assert run.batches == [[10, 11], [1]]
    batcher.close()


def test_a_lone_client_never_waits_and_concurrent_ones_do():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch_size=64, wait_ms=300, name="t")

    async def main():
        t0 = time.perf_counter()
        for i in range(3):  # one request at a time: batches of one, no wait
            assert await batcher(i) == 2 * i
        alone = time.perf_counter() - t0
        await asyncio.gather(batcher(5), batcher(6))  # concurrency seen
        t1 = time.perf_counter()
        first = asyncio.ensure_future(batcher(7))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher(8))  # joins the batch that waits for company
        assert await asyncio.gather(first, second) == [14, 16]
        return alone, time.perf_counter() - t1

    alone, waited = asyncio.run(main())
    assert alone < 0.2 and waited >= 0.25
    assert run.batches[-1] == [7, 8]
    batcher.close()


def test_a_new_event_loop_starts_afresh():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch_size=8, wait_ms=5, name="t")
    assert gather(batcher, [1, 2]) == [2, 4]
    assert gather(batcher, [3]) == [6]  # asyncio.run makes a second loop
    assert run.batches == [[1, 2], [3]]
    batcher.close()


def test_invalid_size_and_group_by():
    with pytest.raises(ValueError):
        MicroBatcher(lambda xs: xs, max_batch_size=0, wait_ms=1, name="t")
    assert group_by([("m", 1), ("n", 1), ("m", 1), ("m", 2)], lambda it: it) == {
        ("m", 1): [0, 2],
        ("n", 1): [1],
        ("m", 2): [3],
    }
