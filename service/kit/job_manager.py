"""The job runner: queue, run, watch, cancel and persist the jobs of one data directory.

Jobs run in worker processes (:mod:`service.kit.job_worker`), with bounded concurrency: at most
``max_concurrent`` jobs run; the rest wait in a FIFO queue.

Every state change is committed to the data directory's job store (``jobs_dir/jobs.sqlite3``,
:mod:`service.kit.job_store`), shared by all the processes that serve it, so job history survives
a restart and every process sees every job; progress reports are written at most twice a second.
One process — the runner — runs the jobs (:class:`JobManager`). A job found ``running`` when a
process becomes the runner was interrupted (its runner died, ``kill -9`` included) and is marked
``failed``; ``queued`` jobs stay queued and run.

A job is a module-level function ``f(spec, report) -> dict`` named ``"package.module:function"``
(:mod:`service.kit.job_worker`), here the embeddings service's training job on inline sentences:

>>> manager = JobManager(tmp_path / "jobs", max_concurrent=1, service="demo")
>>> manager.start()
>>> spec = {"name": "m", "algorithm": "word2vec", "store_root": str(tmp_path / "models"),
...         "sentences": [["king", "queen"], ["man", "woman"]] * 10, "params": {"min_count": 1, "epochs": 2}}
>>> job = manager.submit("train", "service.embeddings.worker:train", spec, model="m")
>>> job.status
'queued'
>>> manager.submit("train", "service.embeddings.worker:train", spec, model="m")  # one job per model
Traceback (most recent call last):
...
service.kit.errors.ConflictError: job ... is ... for model 'm'; wait for it to end or cancel it
(DELETE /v1/jobs/...)
>>> deadline = time.monotonic() + 60
>>> while manager.get(job.id).status in ACTIVE and time.monotonic() < deadline:
...     time.sleep(0.1)
>>> done = manager.get(job.id)
>>> done.status, done.progress, done.result["version"], done.result["vocab_size"]
('succeeded', 1.0, 1, 4)
>>> [(h["epoch"], h["progress"]) for h in done.history]
[(1, 0.5), (2, 1.0)]
>>> manager.shutdown()
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from service.kit.errors import ConflictError, InvalidInputError, NotFoundError
from service.kit.job_record import ACTIVE, JobRecord, JobStatus, apply_report, utc_now
from service.kit.job_store import JobStore
from service.kit.job_worker import STOP_SIGNAL, worker_main
from service.kit.locks import RoleLock
from service.kit.metrics import JOBS, JOBS_FINISHED

log = logging.getLogger("service.jobs")


class JobManager:
    """Queue, run, watch, cancel and persist jobs — one runner per data directory.

    Every process serving a data directory (``--workers N``) builds a manager over the same
    ``jobs_dir``; the records live in one shared :class:`~service.kit.job_store.JobStore`, so every
    process lists, shows, submits and cancels every job. Exactly one process, the one holding the
    runner lock (:class:`~service.kit.locks.RoleLock`), runs them: it claims queued jobs from the
    store, and it alone recovers interrupted ones. The others stand by and take the role over
    within about a second when the runner exits or dies. A cancel sent to another process reaches
    the runner through the store (within ``POLL_S``).

    ``keep_finished`` bounds the history: beyond that many ended jobs, the oldest are forgotten;
    queued and running jobs are always kept.

    ``on_finished(record)`` is called (in the runner, in a manager thread) when a job ends,
    whatever its outcome, so the service can load the model a job produced or remove what a failed
    one left. It is called with the outcome *before* the job's status shows it: a client that sees
    ``succeeded`` can query the model, one that sees ``failed`` or ``cancelled`` finds the store
    cleaned. A job found ``running`` when this process becomes the runner (at start-up or on a
    take-over) has ended too, as ``failed`` (interrupted): it is called for it, before any job
    runs. ``on_runner()`` is called once, before any job runs, when this process becomes the
    runner at start-up (not on a later take-over): the moment to clean leftovers.
    ``log_config`` is the service's ``(level, json_lines)``, which the worker processes log with.

    ``stoppable`` names the job functions that can stop early and keep what they made so far
    (:func:`~service.kit.job_worker.stop_requested`): only their jobs accept ``cancel(id,
    keep="best")``. Such a job that has not ended ``keep_timeout_s`` seconds after it was asked to
    stop is terminated, like a plain cancel (nothing kept).

    Job functions run in processes started by a forkserver, which re-imports the parent's
    ``__main__``: a script that creates an app must guard its code with
    ``if __name__ == "__main__":``.
    """

    #: How often the runner looks for new jobs and cancel requests, and stand-bys for the role.
    POLL_S = 0.2
    TAKEOVER_S = 1.0

    def __init__(
        self,
        jobs_dir: Path,
        max_concurrent: int,
        *,
        service: str,
        threads: int = 1,
        preload: Sequence[str] = (),
        on_finished: Callable[[JobRecord], None] | None = None,
        on_runner: Callable[[], None] | None = None,
        keep_finished: int | None = None,
        log_config: tuple[str, bool] | None = None,
        stoppable: Sequence[str] = (),
        keep_timeout_s: float = 120.0,
    ) -> None:
        self.jobs_dir = Path(jobs_dir)
        self.stoppable = frozenset(stoppable)
        self.keep_timeout_s = keep_timeout_s
        self.log_config = log_config
        self.keep_finished = keep_finished
        self.max_concurrent = max_concurrent
        self.service = service
        self.threads = threads
        self.on_finished = on_finished
        self.on_runner = on_runner
        self.store = JobStore(self.jobs_dir / "jobs.sqlite3")
        self.role = RoleLock(self.jobs_dir / "runner.lock")
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(["service.kit.job_worker", *preload])
        self._running: dict[str, JobRecord] = {}  # the jobs this process runs (fresher than the store)
        self._procs: dict[str, Any] = {}
        self._cancelled: set[str] = set()  # running jobs of this process being stopped on request
        self._lock = threading.RLock()
        self._threads: list[threading.Thread] = []
        self._standby: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def is_runner(self) -> bool:
        """Whether this process runs the jobs of its data directory."""
        return self.role.held

    def start(self) -> None:
        """Open the store; become the runner (recover, then run jobs), or stand by for the role."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.store.counts()  # creates the database, so a bad jobs directory fails at start-up
        if self.role.try_acquire():
            self._become_runner(boot=True)
        else:
            log.info("standing by: another process runs the jobs", extra={"service": self.service})
            self._standby = threading.Thread(
                target=self._stand_by, name=f"jobs-{self.service}-standby", daemon=True
            )
            self._standby.start()
        self._update_gauges()

    def _stand_by(self) -> None:
        while not self._stopping.wait(self.TAKEOVER_S):
            self._update_gauges()  # the runner changes the records: keep this process's metrics current
            if self.role.try_acquire():
                log.info("taking over as the job runner", extra={"service": self.service})
                self._become_runner(boot=False)
                return

    def _become_runner(self, *, boot: bool) -> None:
        if boot and self.on_runner is not None:
            self.on_runner()
        # Only the runner runs jobs: one found running was interrupted. It has ended: the service
        # removes what it left (a staged file, a draft) before the job shows failed.
        why = "interrupted: the service stopped while this job was running"
        with self.store.transaction() as tx:
            interrupted = tx.running()
        for rec in interrupted:
            log.warning("job interrupted", extra={"job": rec.id, "model": rec.model})
            self._call_hook(rec.model_copy(update={"status": "failed", "error": why}, deep=True))
        with self.store.transaction() as tx:
            for rec in tx.running():
                rec.status = "failed"
                rec.error = why
                rec.finished = rec.finished or utc_now()
                tx.put(rec, history=False)
        self._prune()
        self._update_gauges()
        for i in range(self.max_concurrent):
            t = threading.Thread(target=self._worker_loop, name=f"jobs-{self.service}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the workers (running jobs are terminated, recorded as interrupted) and give up the role."""
        self._stopping.set()
        self._wake.set()
        with self._lock:
            running = list(self._procs.items())
            for job_id, _proc in running:
                self._running[job_id].error = "interrupted: the service shut down while this job was running"
        for _job_id, proc in running:
            proc.terminate()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        if self._standby is not None:
            self._standby.join(timeout)
        self.role.release()
        self.store.close()

    # -- API -------------------------------------------------------------------------------------

    def submit(self, kind: str, target: str, spec: dict[str, Any], *, model: str | None = None) -> JobRecord:
        """Queue a job; returns its record (status ``queued``).

        One job per model: raises :class:`ConflictError` (``job-active``, with ``job_id``) when a job
        for ``model`` is queued or running — checked and inserted in one transaction, so two
        processes cannot both queue one. A spec that cannot be stored creates no job at all.
        """
        rec = JobRecord(id=uuid.uuid4().hex, kind=kind, model=model, spec=spec, target=target)
        with self.store.transaction() as tx:
            if model is not None:
                _raise_if_active(tx.active_for(model), model)
            tx.insert(rec)
        self._update_gauges()
        self._wake.set()
        return rec.model_copy(deep=True)

    def get(self, job_id: str) -> JobRecord:
        """Return a copy of the job's record; :class:`NotFoundError` when there is none."""
        with self._lock:
            mine = self._running.get(job_id)
            if mine is not None:
                return mine.model_copy(deep=True)
        rec = self.store.get(job_id)
        if rec is None:
            raise NotFoundError("job", job_id)
        return rec

    def list(
        self, *, status: str | None = None, model: str | None = None, history: bool = False
    ) -> list[JobRecord]:
        """Return all jobs, newest first, optionally filtered by status and model.

        ``history`` (off by default: listings do not show it) reads each job's history too.
        """
        recs = self.store.list(status=status, model=model, history=history)
        with self._lock:
            fresher = {i: r.model_copy(deep=True) for i, r in self._running.items()}
        out = []
        for r in recs:
            mine = fresher.get(r.id)
            if mine is not None and (status is None or mine.status == status):
                if not history:
                    mine.history = []
                r = mine
            out.append(r)
        return out

    def active_for(self, model: str) -> list[JobRecord]:
        """Jobs that are queued or running for ``model``."""
        return [r for r in self.list(model=model) if r.status in ACTIVE]

    def check_idle(self, model: str) -> None:
        """:class:`ConflictError` (``job-active``, with ``job_id``) while a job for ``model`` is active."""
        _raise_if_active(self.active_for(model), model)

    def cancel(self, job_id: str, keep: str = "nothing") -> JobRecord:
        """Cancel a queued or running job; :class:`ConflictError` (``job-ended``) when it already ended.

        Any process may cancel any job: a queued one is cancelled at once; for a running one the
        request is stored and the runner stops the job's process. Returns the record once the job
        has ended (or after 10 s).

        ``keep="best"``: a running job of a ``stoppable`` function is asked to stop gracefully
        instead — it ends as at the end of its work, publishes what it made so far and ends
        ``succeeded`` (its result says why it stopped), or ``cancelled`` when it had nothing to keep
        yet or did not end within ``keep_timeout_s`` (then it is terminated). A queued job is
        cancelled at once (nothing to keep). :class:`ConflictError` (``keep-unsupported``, naming
        ``keep``) for a job of another function; a terminate request wins over a keep request.
        """
        if keep not in ("nothing", "best"):
            raise InvalidInputError(
                f"keep must be 'nothing' or 'best', not {keep!r}",
                code="validation-error",
                loc=["query", "keep"],
            )
        with self.store.transaction() as tx:
            rec = tx.get(job_id)
            if rec is None:
                raise NotFoundError("job", job_id)
            if keep == "best" and rec.target not in self.stoppable:
                raise ConflictError(
                    f"keep=best: a {rec.kind!r} job cannot stop early and keep a checkpoint "
                    "(only attention training jobs can); cancel it without keep",
                    code="keep-unsupported",
                    title="This job cannot keep what it made",
                    loc=["query", "keep"],
                )
            if rec.status not in ACTIVE:
                raise ConflictError(
                    f"job {job_id} is {rec.status}", code="job-ended", title="Job already ended"
                )
            if rec.result is not None:  # the worker finished and stored its output: too late to cancel
                raise ConflictError(
                    f"job {job_id} has finished; it is being published",
                    code="job-ended",
                    title="Job already ended",
                )
            if rec.status == "queued":
                tx.request_cancel(job_id)
                why = "cancelled before it started"
                rec.status, rec.finished = "cancelled", utc_now()
                rec.error = why + ("; keep=best: nothing trained yet, nothing kept" if keep == "best" else "")
                tx.put(rec, history=False)
                queued = True
            else:
                if keep == "best":
                    tx.request_stop(job_id)
                else:
                    tx.request_cancel(job_id)
                queued = False
        if queued:
            JOBS_FINISHED.labels(self.service, "cancelled").inc()
            self._update_gauges()
        elif keep == "nothing":
            self._stop_process(job_id)  # at once when this process runs it; else the runner's poll does
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.get(job_id).status == "running":
            time.sleep(0.02)
        return self.get(job_id)

    # -- internals -------------------------------------------------------------------------------

    def _stop_process(self, job_id: str) -> None:
        with self._lock:
            proc = self._procs.get(job_id)
            rec = self._running.get(job_id)
            if proc is None or rec is None or rec.result is not None:
                return
            rec.error = rec.error or "cancelled by request"
            self._cancelled.add(job_id)
        proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()

    def _persist(self, rec: JobRecord, *, history: bool = True) -> None:
        with self.store.transaction() as tx:
            tx.put(rec, history=history)

    def _update_gauges(self) -> None:
        counts = dict.fromkeys(("queued", "running", "succeeded", "failed", "cancelled"), 0)
        try:
            counts.update(self.store.counts())
        except Exception:  # noqa: BLE001 - metrics are best effort
            return
        for status, n in counts.items():
            JOBS.labels(self.service, status).set(n)

    def _finish(self, rec: JobRecord, status: JobStatus, *, error: str | None = None) -> None:
        rec.status = status
        rec.finished = utc_now()
        if error is not None:
            rec.error = error
        if status == "succeeded":
            rec.progress = 1.0
        self._persist(rec)
        self._prune()
        self._update_gauges()
        JOBS_FINISHED.labels(self.service, status).inc()

    def _prune(self) -> None:
        """Forget the oldest ended jobs beyond ``keep_finished``."""
        if self.keep_finished is None:
            return
        with self.store.transaction() as tx:
            tx.prune(self.keep_finished)

    def _claim(self) -> JobRecord | None:
        """Take the oldest queued job: it is ``running`` (in the store) once this returns it."""
        with self.store.transaction() as tx:
            rec = tx.oldest_queued()
            if rec is None:
                return None
            rec.status = "running"
            rec.started = utc_now()
            tx.put(rec, history=False)
        with self._lock:
            self._running[rec.id] = rec
        self._update_gauges()
        return rec

    def _worker_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                rec = self._claim()
            except Exception:
                log.exception("jobs: could not read the job store")
                rec = None
            if rec is None:
                self._wake.wait(self.POLL_S)
                self._wake.clear()
                continue
            try:
                self._run(rec)
            except Exception:
                log.exception("job %s: the manager failed", rec.id)
                with self._lock:
                    failed = rec.status in ACTIVE
                    if failed:
                        self._finish(rec, "failed", error="internal error while running the job")
                if failed:
                    self._call_hook(rec.model_copy(deep=True))
            with self._lock:
                self._running.pop(rec.id, None)
                self._procs.pop(rec.id, None)
                self._cancelled.discard(rec.id)

    def _call_hook(self, rec: JobRecord) -> None:
        if self.on_finished is None:
            return
        try:
            self.on_finished(rec)
        except Exception:
            log.exception("job %s: on_finished hook failed", rec.id)

    def _run(self, rec: JobRecord) -> None:
        parent_conn, child_conn = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=worker_main,
            args=(rec.target, rec.spec, child_conn, self.threads, self.log_config, os.getpid()),
            daemon=True,
            name=f"job-{rec.id[:8]}",
        )
        with self._lock:
            proc.start()
            self._procs[rec.id] = proc
        child_conn.close()
        log.info("job started", extra={"job": rec.id, "kind": rec.kind, "model": rec.model})
        result: dict[str, Any] | None = None
        error: str | None = None
        last_persist = last_cancel_check = 0.0
        heard = False  # the worker sent something: its stop-signal handler is installed
        keep_asked: float | None = None  # when a keep=best cancel was seen
        stop_sent = keep_timed_out = False
        try:
            while True:
                try:
                    ready = parent_conn.poll(self.POLL_S)
                except (EOFError, OSError):
                    break
                now = time.monotonic()
                if ready:
                    try:
                        msg = parent_conn.recv()
                    except (EOFError, OSError):
                        break
                    heard = True
                    kind = msg[0]
                    if kind == "report":
                        with self._lock:
                            apply_report(rec, msg[1])
                        if now - last_persist > 0.5:
                            with self._lock:
                                snapshot = rec.model_copy(deep=True)
                            self._persist(snapshot)
                            last_persist = now
                    elif kind == "result":
                        result = msg[1]
                    elif kind == "error":
                        error = msg[1]
                        log.warning("job failed", extra={"job": rec.id, "error": msg[1], "trace": msg[2]})
                elif not proc.is_alive():
                    if not parent_conn.poll(0):
                        break
                if result is None and now - last_cancel_check > self.POLL_S and rec.id not in self._cancelled:
                    last_cancel_check = now
                    mode = self.store.cancel_mode(rec.id)
                    if mode == "terminate":
                        self._stop_process(rec.id)  # a cancel sent to another process
                    elif mode == "keep":
                        keep_asked = now if keep_asked is None else keep_asked
                        if heard and not stop_sent:
                            stop_sent = True
                            log.info("job asked to stop and keep its best checkpoint", extra={"job": rec.id})
                            _signal(proc, STOP_SIGNAL)
                        elif now - keep_asked > self.keep_timeout_s:
                            keep_timed_out = True
                            log.warning("job did not stop in time: terminated", extra={"job": rec.id})
                            self._stop_process(rec.id)
        finally:
            proc.join(10)
            parent_conn.close()
        status: JobStatus
        if result is not None:
            # The worker returned, so what it produced is already stored: the job succeeded, even if
            # a cancel arrived meanwhile (cancel() answers 409 from here on).
            with self._lock:
                rec.result = result
                rec.error = None  # a cancel that came too late (the job was publishing) is no error
                self._persist(rec.model_copy(deep=True))
            status, why = "succeeded", None
        elif keep_timed_out:
            status = "cancelled"
            why = (
                f"cancelled by request; keep=best: the job did not stop within {self.keep_timeout_s:g} s "
                f"({self.service.upper()}_JOB_KEEP_TIMEOUT_S), so it was terminated and nothing was kept"
            )
        elif rec.id in self._cancelled or self.store.cancel_requested(rec.id):
            status, why = "cancelled", "cancelled by request"
            if rec.id not in self._cancelled and self.store.cancel_mode(rec.id) == "keep":
                why += f"; keep=best kept nothing: {error or 'the job ended without a result'}"
        elif self._stopping.is_set():
            status, why = "failed", rec.error or "interrupted: the service shut down"
        else:
            status, why = "failed", error or f"the worker process died (exit code {proc.exitcode})"
        # The service acts on the outcome (loads the new model, removes what a killed worker left)
        # before anyone sees it.
        with self._lock:
            done = rec.model_copy(deep=True)
        done.status, done.error = status, why if why is not None else done.error
        self._call_hook(done)
        with self._lock:
            self._finish(rec, status, error=why)
        log.info("job ended", extra={"job": rec.id, "status": rec.status})


def _signal(proc: Any, signum: int) -> None:
    """Send ``signum`` to the worker process ``proc`` (nothing when it has already ended)."""
    try:
        if proc.pid is not None and proc.is_alive():
            os.kill(proc.pid, signum)
    except (ProcessLookupError, OSError):
        pass


def _raise_if_active(active: list[JobRecord], model: str) -> None:
    if active:
        raise ConflictError(
            f"job {active[0].id} is {active[0].status} for model {model!r}; wait for it to end or "
            f"cancel it (DELETE /v1/jobs/{active[0].id})",
            code="job-active",
            job_id=active[0].id,
        )
