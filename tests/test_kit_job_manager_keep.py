"""``JobManager.cancel(id, keep="best")`` with real worker processes: a stoppable job stops gracefully
and succeeds with what it made; one with nothing to keep, or one that does not stop in time, ends
cancelled; jobs of other functions refuse ``keep``; a plain cancel still terminates."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from service.kit.errors import ConflictError
from service.kit.job_manager import JobManager
from tests.helpers import wait_for_job

STOPPABLE = ("tests.jobfuncs:stop_when_asked", "tests.jobfuncs:sleep_forever")


@pytest.fixture
def manager(tmp_path):
    m = JobManager(
        tmp_path / "jobs", max_concurrent=1, service="test", stoppable=STOPPABLE, keep_timeout_s=1.0
    )
    m.start()
    yield m
    m.shutdown()


def started(marker: Path) -> None:
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists()


def test_keep_best_stops_the_job_gracefully_and_it_succeeds(manager, tmp_path):
    marker = tmp_path / "started"
    job = manager.submit("train", "tests.jobfuncs:stop_when_asked", {"marker": str(marker), "made": True})
    started(marker)
    manager.cancel(job.id, keep="best")
    rec = wait_for_job(manager, job.id, 30)
    assert rec.status == "succeeded" and rec.error is None
    assert rec.result["stopped_by"] == "cancel" and rec.result["steps"] >= 1


def test_keep_best_with_nothing_to_keep_ends_cancelled_and_says_so(manager, tmp_path):
    marker = tmp_path / "started"
    job = manager.submit("train", "tests.jobfuncs:stop_when_asked", {"marker": str(marker), "made": False})
    started(marker)
    manager.cancel(job.id, keep="best")
    rec = wait_for_job(manager, job.id, 30)
    assert rec.status == "cancelled" and rec.result is None
    assert "keep=best kept nothing: nothing made yet" in rec.error


def test_keep_best_falls_back_to_terminate_when_the_job_does_not_stop(manager, tmp_path):
    marker = tmp_path / "pid"
    job = manager.submit("train", "tests.jobfuncs:sleep_forever", {"marker": str(marker)})  # ignores stops
    started(marker)
    manager.cancel(job.id, keep="best")
    rec = wait_for_job(manager, job.id, 30)
    assert rec.status == "cancelled"
    assert "did not stop within 1 s" in rec.error and "nothing was kept" in rec.error


def test_a_plain_cancel_after_keep_best_terminates_at_once(tmp_path):
    m = JobManager(
        tmp_path / "jobs", max_concurrent=1, service="test", stoppable=STOPPABLE, keep_timeout_s=600
    )
    m.start()
    try:
        marker = tmp_path / "pid"
        job = m.submit("train", "tests.jobfuncs:sleep_forever", {"marker": str(marker)})
        started(marker)
        m.cancel(job.id, keep="best")
        assert m.get(job.id).status == "running"  # it ignores the stop; the bound is 600 s
        rec = m.cancel(job.id)
        assert rec.status == "cancelled" and rec.error == "cancelled by request"
    finally:
        m.shutdown()


def test_keep_is_refused_for_jobs_that_cannot_keep_and_a_queued_job_keeps_nothing(manager, tmp_path):
    marker = tmp_path / "started"
    running = manager.submit("train", "tests.jobfuncs:stop_when_asked", {"marker": str(marker), "made": True})
    other = manager.submit("train", "tests.jobfuncs:count", {"n": 1})  # queued behind it, not stoppable
    with pytest.raises(ConflictError) as err:
        manager.cancel(other.id, keep="best")
    assert err.value.code == "keep-unsupported" and err.value.loc == ["query", "keep"]
    assert manager.get(other.id).status == "queued"  # untouched
    started(marker)
    queued = manager.submit("train", "tests.jobfuncs:stop_when_asked", {"marker": str(marker), "made": True})
    rec = manager.cancel(queued.id, keep="best")
    assert rec.status == "cancelled" and "nothing kept" in rec.error
    manager.cancel(other.id)
    manager.cancel(running.id)
