"""JobStore on a real SQLite file: records round-trip, the queries the runner relies on, pruning,
rolled-back transactions, and one claim per job when many connections race for the queue."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from service.kit.job_record import JobRecord
from service.kit.job_store import JobStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def job(n: int, status: str = "queued", model: str | None = None, **fields) -> JobRecord:
    """Job ``n`` (its id: ``n`` in 32 hex digits), created ``n`` minutes after T0."""
    return JobRecord(
        id=f"{n:032x}", kind="train", model=model, status=status, created=T0 + timedelta(minutes=n), **fields
    )


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path / "jobs" / "jobs.sqlite3")
    yield s
    s.close()


def test_a_record_round_trips_with_its_target_and_history_and_is_seen_by_another_store(store):
    rec = job(1, model="m", spec={"n": 3}, target="tests.jobfuncs:count", history=[{"step": 1, "loss": 0.5}])
    with store.transaction() as tx:
        tx.insert(rec)
    got = store.get(rec.id)
    assert got.model_dump() == rec.model_dump() and got.target == "tests.jobfuncs:count"
    other = JobStore(store.path)  # another process opening the same file
    try:
        assert other.get(rec.id).model_dump() == rec.model_dump()
    finally:
        other.close()
    assert store.get("0" * 32) is None


def test_put_without_history_keeps_the_stored_history(store):
    rec = job(1, history=[{"step": 1}])
    with store.transaction() as tx:
        tx.insert(rec)
    rec.status, rec.history = "running", []
    with store.transaction() as tx:
        tx.put(rec, history=False)
    assert store.get(rec.id).status == "running" and store.get(rec.id).history == [{"step": 1}]
    rec.history = [{"step": 1}, {"step": 2}]
    with store.transaction() as tx:
        tx.put(rec)
    assert store.get(rec.id).history == [{"step": 1}, {"step": 2}]


def test_listings_are_newest_first_filtered_and_leave_the_history_out_unless_asked(store):
    with store.transaction() as tx:
        tx.insert(job(1, "succeeded", model="a", history=[{"step": 1}]))
        tx.insert(job(2, "running", model="b"))
        tx.insert(job(3, "queued", model="a"))
    assert [r.id for r in store.list()] == [job(3).id, job(2).id, job(1).id]
    assert [r.id for r in store.list(model="a")] == [job(3).id, job(1).id]
    assert [r.id for r in store.list(status="running")] == [job(2).id]
    assert [r.id for r in store.list(status="queued", model="b")] == []
    assert store.list(model="a", status="succeeded")[0].history == []
    assert store.list(model="a", status="succeeded", history=True)[0].history == [{"step": 1}]
    assert store.counts() == {"succeeded": 1, "running": 1, "queued": 1}


def test_the_runners_queries_active_jobs_oldest_queued_running_and_cancel_requests(store):
    with store.transaction() as tx:
        tx.insert(job(1, "failed", model="m"))
        tx.insert(job(2, "running", model="m"))
        tx.insert(job(3, "queued", model="m"))
        tx.insert(job(4, "queued", model="other"))
        tx.insert(job(5, "queued", model=None))
    with store.transaction() as tx:
        assert [r.id for r in tx.active_for("m")] == [job(2).id, job(3).id]  # oldest first
        assert tx.active_for("nothing") == []
        assert [r.id for r in tx.running()] == [job(2).id]
        assert tx.oldest_queued().id == job(3).id
        tx.request_cancel(job(3).id)
    assert store.cancel_requested(job(3).id) and not store.cancel_requested(job(4).id)
    assert not store.cancel_requested("0" * 32)
    with store.transaction() as tx:
        assert tx.oldest_queued().id == job(4).id  # a queued job being cancelled is never claimed


def test_prune_keeps_the_newest_ended_jobs_and_every_active_one(store):
    with store.transaction() as tx:
        for n, status in enumerate(["succeeded", "failed", "queued", "cancelled", "running", "succeeded"], 1):
            finished = T0 + timedelta(hours=n) if status not in ("queued", "running") else None
            tx.insert(job(n, status, finished=finished))
    with store.transaction() as tx:
        removed = tx.prune(2)
    assert sorted(removed) == sorted([job(1).id, job(2).id])
    assert sorted(r.id for r in store.list()) == sorted(job(n).id for n in (3, 4, 5, 6))
    with store.transaction() as tx:
        assert tx.prune(2) == []


def test_a_transaction_that_raises_changes_nothing(store):
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert(job(1))
        raise RuntimeError("the check failed after the insert")
    assert store.get(job(1).id) is None and store.counts() == {}
    with store.transaction() as tx:  # the connection is usable again
        tx.insert(job(1))
    assert store.counts() == {"queued": 1}


def test_connections_racing_for_the_queue_claim_each_job_exactly_once(tmp_path):
    # Every thread has its own SQLite connection, as every process has: BEGIN IMMEDIATE serialises
    # the read-then-write of a claim over all of them.
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    with store.transaction() as tx:
        for n in range(1, 41):
            tx.insert(job(n))
    stores = [JobStore(path) for _ in range(6)]
    claims: list[list[str]] = [[] for _ in stores]
    barrier = threading.Barrier(len(stores))

    errors: list[BaseException] = []

    def claim_all(i: int) -> None:
        barrier.wait()
        try:
            while True:
                with stores[i].transaction() as tx:
                    rec = tx.oldest_queued()
                    if rec is None:
                        return
                    rec.status = "running"
                    tx.put(rec, history=False)
                claims[i].append(rec.id)
        except BaseException as exc:  # e.g. "database is locked": a claim that failed to serialise
            errors.append(exc)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    claimed = [c for per_thread in claims for c in per_thread]
    assert sorted(claimed) == sorted(job(n).id for n in range(1, 41))  # none twice, none left
    assert store.counts() == {"running": 40}
    for s in (store, *stores):
        s.close()
