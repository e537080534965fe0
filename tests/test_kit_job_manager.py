"""JobManager with real worker processes: progress, failure, crash, cancel, persistence, restart."""

from __future__ import annotations

import time

import pytest

from service.kit.errors import ConflictError, NotFoundError
from service.kit.job_manager import JobManager
from service.kit.job_record import JobRecord
from service.kit.job_store import JobStore
from tests.helpers import wait_for_job


@pytest.fixture
def manager(tmp_path):
    finished = []
    m = JobManager(tmp_path / "jobs", max_concurrent=1, service="test", on_finished=finished.append)
    m.finished = finished
    m.start()
    yield m
    m.shutdown()


def test_job_runs_in_worker_reports_history_and_persists(manager, tmp_path):
    job = manager.submit("train", "tests.jobfuncs:count", {"n": 4}, model="m")
    assert job.status == "queued"
    rec = wait_for_job(manager, job.id, 60)
    assert rec.status == "succeeded", rec.error
    assert rec.result == {"total": 6}
    assert rec.progress == 1.0 and rec.step == 4
    assert [h["step"] for h in rec.history] == [1, 2, 3, 4]
    assert rec.metrics["loss"] == pytest.approx(0.25)
    on_disk = JobStore(tmp_path / "jobs" / "jobs.sqlite3").get(job.id)  # what every process reads
    assert on_disk.status == "succeeded" and on_disk.result == {"total": 6}
    assert [h["step"] for h in on_disk.history] == [1, 2, 3, 4]
    deadline = time.time() + 5
    while not manager.finished and time.time() < deadline:
        time.sleep(0.02)
    assert manager.finished[0].id == job.id


def test_failure_and_crash_are_reported(manager):
    failed = wait_for_job(manager, manager.submit("train", "tests.jobfuncs:fail", {}).id, 60)
    assert failed.status == "failed" and "line 3 is not JSON" in failed.error
    died = wait_for_job(manager, manager.submit("train", "tests.jobfuncs:die", {}).id, 60)
    assert died.status == "failed" and "exit code 3" in died.error
    ok = wait_for_job(manager, manager.submit("train", "tests.jobfuncs:count", {"n": 1}).id, 60)
    assert ok.status == "succeeded"  # the manager keeps serving


def test_cancel_running_and_queued(manager, tmp_path):
    marker = tmp_path / "started"
    running = manager.submit("train", "tests.jobfuncs:sleep_forever", {"marker": str(marker)})
    queued = manager.submit("train", "tests.jobfuncs:count", {"n": 1})
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert manager.get(queued.id).status == "queued"  # concurrency bound: 1
    assert manager.cancel(queued.id).status == "cancelled"
    rec = manager.cancel(running.id)
    assert rec.status == "cancelled"
    with pytest.raises(ConflictError) as err:
        manager.cancel(running.id)
    assert err.value.code == "job-ended"
    with pytest.raises(NotFoundError) as err:
        manager.get("0" * 32)
    assert err.value.code == "job-not-found"


def test_one_job_per_model_and_a_spec_that_cannot_be_stored_creates_no_job(tmp_path):
    manager = JobManager(tmp_path / "jobs", max_concurrent=1, service="test")
    first = manager.submit(
        "train", "tests.jobfuncs:sleep_forever", {}, model="m"
    )  # not started: stays queued
    with pytest.raises(ConflictError) as err:
        manager.submit("train", "tests.jobfuncs:count", {"n": 1}, model="m")
    assert err.value.code == "job-active" and err.value.extensions["job_id"] == first.id
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate cannot be written as UTF-8 JSON
        manager.submit("train", "tests.jobfuncs:count", {"n": 1, "text": "\ud800"}, model="other")
    assert [j.model for j in manager.list()] == ["m"]
    assert not manager.active_for("other")


def test_cancel_while_a_success_is_being_published_is_409_and_the_job_succeeds(tmp_path):
    # The worker has returned (its model is stored) and the service is loading it: a cancel now
    # must not turn the job into "cancelled" while its model is being served.
    answers = []

    def on_finished(rec):
        if rec.status == "succeeded":
            try:
                manager.cancel(rec.id)
                answers.append("cancelled")
            except ConflictError as exc:
                answers.append(exc.code)

    manager = JobManager(tmp_path / "jobs", max_concurrent=1, service="test", on_finished=on_finished)
    manager.start()
    try:
        rec = wait_for_job(manager, manager.submit("train", "tests.jobfuncs:count", {"n": 1}).id, 60)
    finally:
        manager.shutdown()
    assert answers == ["job-ended"]
    assert rec.status == "succeeded" and rec.result == {"total": 0}


def test_a_job_found_running_when_the_runner_starts_is_failed_as_interrupted_and_queued_ones_run(tmp_path):
    jobs = tmp_path / "jobs"
    running = JobRecord(
        id="a" * 32, kind="train", status="running", target="tests.jobfuncs:count", spec={"n": 1}
    )
    queued = JobRecord(
        id="b" * 32, kind="train", status="queued", target="tests.jobfuncs:count", spec={"n": 2}
    )
    store = JobStore(jobs / "jobs.sqlite3")  # what a runner that died left in the store
    with store.transaction() as tx:
        tx.insert(running)
        tx.insert(queued)
    store.close()
    m = JobManager(jobs, max_concurrent=1, service="test")
    m.start()
    try:
        rec = m.get("a" * 32)
        assert rec.status == "failed" and "interrupted" in rec.error
        assert wait_for_job(m, "b" * 32, 60).result == {"total": 1}
    finally:
        m.shutdown()


def test_history_keeps_the_newest_ended_jobs_only(tmp_path):
    m = JobManager(tmp_path / "jobs", max_concurrent=1, service="test", keep_finished=2)
    m.start()
    try:
        ids = []
        for _ in range(4):
            ids.append(m.submit("train", "tests.jobfuncs:count", {"n": 1}).id)
            wait_for_job(m, ids[-1], 60)
        kept = [r.id for r in m.list()]
        assert kept == [ids[3], ids[2]]
        assert [r.id for r in JobStore(tmp_path / "jobs" / "jobs.sqlite3").list()] == kept
    finally:
        m.shutdown()
    again = JobManager(tmp_path / "jobs", max_concurrent=1, service="test", keep_finished=1)
    again.start()
    try:
        assert [r.id for r in again.list()] == [ids[3]]
    finally:
        again.shutdown()


# --------------------------------------------------------------------------- one runner per directory


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_managers_of_one_directory_share_every_job_and_one_of_them_runs_them(tmp_path):
    # Two managers on one directory are what two server processes are (the runner lock is a flock
    # per open file, so it excludes the second manager of a process as it excludes a second process).
    a = JobManager(tmp_path / "jobs", max_concurrent=1, service="test")
    b = JobManager(tmp_path / "jobs", max_concurrent=1, service="test")
    a.start()
    b.start()
    try:
        assert a.is_runner and not b.is_runner
        job = b.submit("train", "tests.jobfuncs:count", {"n": 3, "sleep": 0.05}, model="m")
        done = wait_for_job(b, job.id, 60)  # submitted to the stand-by, run by the runner
        assert done.status == "succeeded" and done.result == {"total": 3}
        assert a.get(job.id).model_dump() == done.model_dump()
        assert [j.id for j in a.list()] == [j.id for j in b.list()] == [job.id]

        marker = tmp_path / "started"
        slow = a.submit("train", "tests.jobfuncs:sleep_forever", {"marker": str(marker)}, model="s")
        with pytest.raises(ConflictError) as err:  # one job per model, whichever process asks
            b.submit("train", "tests.jobfuncs:count", {"n": 1}, model="s")
        assert err.value.extensions["job_id"] == slow.id
        wait_for(marker.exists, 60)
        assert b.get(slow.id).status == "running"
        assert b.cancel(slow.id).status == "cancelled"  # the runner stops it within a poll
        with pytest.raises(ConflictError):
            a.cancel(slow.id)
    finally:
        a.shutdown()
    try:  # the runner left: the stand-by takes over and runs what is queued
        wait_for(lambda: b.is_runner, 10)
        later = b.submit("train", "tests.jobfuncs:count", {"n": 2})
        assert wait_for_job(b, later.id, 60).status == "succeeded"
    finally:
        b.shutdown()


RUNNER = """
import sys, time
from service.kit.job_manager import JobManager

if __name__ == "__main__":
    m = JobManager(sys.argv[1], max_concurrent=1, service="test")
    m.start()
    assert m.is_runner
    m.submit("train", "tests.jobfuncs:sleep_forever", {"marker": sys.argv[2]}, model="slow")
    while True:
        time.sleep(1)
"""


def test_a_killed_runner_is_replaced_and_its_job_is_marked_interrupted(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    marker = tmp_path / "started"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}  # the worker imports tests.jobfuncs
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "jobs"), str(marker)], env=env)
    standby = JobManager(tmp_path / "jobs", max_concurrent=1, service="test")
    try:
        wait_for(lambda: marker.exists() and marker.read_text(), 60)
        worker = int(marker.read_text())
        standby.start()
        assert not standby.is_runner
        (slow,) = standby.active_for("slow")
        assert slow.status == "running"
        queued = standby.submit("train", "tests.jobfuncs:count", {"n": 2}, model="next")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: standby.is_runner, 10)
        rec = standby.get(slow.id)
        assert rec.status == "failed" and "interrupted" in rec.error
        assert wait_for_job(standby, queued.id, 60).status == "succeeded"
        # the killed runner's worker does not outlive it (it would go on writing a model)
        wait_for(lambda: not _alive(worker), 10)
    finally:
        if proc.poll() is None:
            proc.kill()
        standby.shutdown()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "State:\tZ" not in f.read()
    except OSError:
        return False


def test_a_cancel_that_reaches_a_job_past_its_commit_point_lets_it_succeed(manager, tmp_path):
    # From its commit point on, a job publishes its output and returns: a cancel then must not end
    # it as "cancelled" with its version published.
    marker = tmp_path / "committing"
    job = manager.submit("train", "tests.jobfuncs:commit_slowly", {"marker": str(marker)}, model="m")
    wait_for(marker.exists, 60)
    rec = manager.cancel(job.id)
    assert rec.status == "succeeded" and rec.result == {"published": True} and rec.error is None, rec


def test_an_orphan_worker_does_not_reach_its_commit_point(monkeypatch):
    import subprocess

    from service.kit import job_worker

    job_worker.commit_point()  # outside a worker: nothing to do
    assert not job_worker._committing
    runner = subprocess.Popen(["true"])
    runner.wait()
    monkeypatch.setattr(job_worker, "_runner", runner.pid)  # a worker whose runner has died
    with pytest.raises(SystemExit):
        job_worker.commit_point()
    assert not job_worker._committing
