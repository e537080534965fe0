"""Training jobs that run outside the request path, in worker processes, with bounded concurrency.

A job is a call ``function(spec, report) -> dict`` of a module-level function named by
``"package.module:function"``. It runs in a child process started from a clean forkserver (never a
fork of the threaded server), so it can neither stall queries nor crash the service, and it can
be cancelled by terminating the process. At most ``max_concurrent`` jobs run; the rest wait in a
FIFO queue.

The child calls ``report(**fields)`` as it goes; ``progress`` (0..1), ``epoch`` and ``step`` are
kept as top-level fields, everything else becomes the job's latest ``metrics``, and a call with
``history=True`` also appends the fields to the job's ``history`` (loss per epoch, lr per step…).

Every state change is written atomically to ``jobs_dir/<id>.json``, so job history survives a
restart. A job found ``running`` at start-up was interrupted (the process died, ``kill -9``
included) and is marked ``failed``; ``queued`` jobs are queued again.

>>> manager = JobManager(Path("/tmp/jobs-demo"), max_concurrent=1, service="demo")  # doctest: +SKIP
>>> job = manager.submit("train", "models.demo:train", {"epochs": 3}, model="m")      # doctest: +SKIP
>>> manager.get(job.id).status                                                        # doctest: +SKIP
'running'
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.kit.errors import ConflictError, NotFoundError
from service.kit.metrics import JOBS, JOBS_FINISHED
from service.kit.storage import atomic_write_json, read_json

log = logging.getLogger("service.jobs")

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE: tuple[str, ...] = ("queued", "running")
HISTORY_LIMIT = 20_000


def _now() -> datetime:
    return datetime.now(UTC)


class JobRecord(BaseModel):
    """The persisted state of one job (also its API representation)."""

    id: str = Field(description="Job id (32 hex characters).")
    kind: str = Field(description="What the job does, e.g. 'train' or 'continue'.")
    model: str | None = Field(None, description="The model the job produces.")
    status: JobStatus = "queued"
    created: datetime = Field(default_factory=_now)
    started: datetime | None = None
    finished: datetime | None = None
    progress: float = Field(0.0, ge=0.0, le=1.0, description="Share of the work done, 0..1.")
    epoch: int | None = None
    step: int | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description="The latest reported figures.")
    history: list[dict[str, Any]] = Field(default_factory=list, description="Per-epoch / per-step reports.")
    error: str | None = Field(None, description="Why the job failed or was cancelled.")
    result: dict[str, Any] | None = Field(None, description="What the job returned on success.")
    spec: dict[str, Any] = Field(default_factory=dict, description="The job's input.")
    target: str = Field("", exclude=True)

    @property
    def duration_s(self) -> float | None:
        if not self.started:
            return None
        return ((self.finished or _now()) - self.started).total_seconds()


# --------------------------------------------------------------------------- child process side


def _child_main(
    target: str, spec: dict[str, Any], conn: Any, threads: int, log: tuple[str, bool] | None = None
) -> None:
    """Entry point of the worker process: run the job function and send back reports.

    ``log`` is the service's ``(level, json_lines)``: the worker's logs and warnings take the same
    form as the service's own (one JSON object per line).
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if log is not None:
        from service.kit.logging import configure_logging

        configure_logging(log[0], json_lines=log[1])
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except Exception:  # noqa: S110 - limiting BLAS threads is best effort
        pass

    def report(**fields: Any) -> None:
        conn.send(("report", fields))

    try:
        module_name, _, func_name = target.partition(":")
        func = getattr(importlib.import_module(module_name), func_name)
        result = func(spec, report)
        conn.send(("result", result if isinstance(result, dict) else {"value": result}))
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        msg = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        try:
            conn.send(("error", msg, traceback.format_exc(limit=20)))
        except Exception:  # noqa: S110
            pass
    finally:
        conn.close()


# --------------------------------------------------------------------------- parent side


class JobManager:
    """Queue, run, watch, cancel and persist jobs.

    ``keep_finished`` bounds the history: beyond that many ended jobs, the oldest are forgotten
    (their record files removed); queued and running jobs are always kept.

    ``on_finished(record)`` is called (in a manager thread) when a job ends, whatever its outcome,
    so the service can load the model a job produced. For a success it is called *before* the
    job's status becomes ``succeeded``: a client that sees ``succeeded`` can query the model.

    Job functions run in processes started by a forkserver, which re-imports the parent's
    ``__main__``: a script that creates an app must guard its code with
    ``if __name__ == "__main__":``.
    """

    def __init__(
        self,
        jobs_dir: Path,
        max_concurrent: int,
        *,
        service: str,
        threads: int = 1,
        preload: Sequence[str] = (),
        on_finished: Callable[[JobRecord], None] | None = None,
        keep_finished: int | None = None,
        log: tuple[str, bool] | None = None,
    ) -> None:
        self.jobs_dir = Path(jobs_dir)
        self.log = log
        self.keep_finished = keep_finished
        self.max_concurrent = max_concurrent
        self.service = service
        self.threads = threads
        self.on_finished = on_finished
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(["service.kit.jobs", *preload])
        self._jobs: dict[str, JobRecord] = {}
        self._procs: dict[str, Any] = {}
        self._cancel_requested: set[str] = set()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.RLock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Load job history, mark interrupted jobs failed, re-queue waiting ones, start workers."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        records = []
        for path in self.jobs_dir.glob("*.json"):
            try:
                records.append(JobRecord.model_validate(read_json(path)))
            except Exception as exc:  # a damaged record must not stop the service
                log.warning("skipping unreadable job record %s: %s", path.name, exc)
        for rec in sorted(records, key=lambda r: r.created):
            if rec.status == "running":
                rec.status = "failed"
                rec.error = "interrupted: the service stopped while this job was running"
                rec.finished = rec.finished or _now()
                self._persist(rec)
            self._jobs[rec.id] = rec
            if rec.status == "queued":
                self._queue.put(rec.id)
        with self._lock:
            self._prune()
        self._update_gauges()
        for i in range(self.max_concurrent):
            t = threading.Thread(target=self._worker_loop, name=f"jobs-{self.service}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the workers; running jobs are terminated and recorded as interrupted."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        with self._lock:
            running = list(self._procs.items())
        for job_id, proc in running:
            with self._lock:
                rec = self._jobs[job_id]
                rec.error = "interrupted: the service shut down while this job was running"
            proc.terminate()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    # -- API -------------------------------------------------------------------------------------

    def submit(self, kind: str, target: str, spec: dict[str, Any], *, model: str | None = None) -> JobRecord:
        """Queue a job; returns its record (status ``queued``).

        One job per model: raises :class:`ConflictError` (``job-active``, with ``job_id``) when a job
        for ``model`` is queued or running. The record is on disk before the job exists in memory,
        so a spec that cannot be stored creates no job at all.
        """
        rec = JobRecord(id=uuid.uuid4().hex, kind=kind, model=model, spec=spec, target=target)
        with self._lock:
            if model is not None:
                self.check_idle(model)
            self._persist(rec)
            self._jobs[rec.id] = rec
            self._update_gauges()
        self._queue.put(rec.id)
        return rec.model_copy(deep=True)

    def get(self, job_id: str) -> JobRecord:
        """Return a copy of the job's record; :class:`NotFoundError` when there is none."""
        with self._lock:
            rec = self._jobs.get(job_id)
            if rec is None:
                raise NotFoundError("job", job_id)
            return rec.model_copy(deep=True)

    def list(self, *, status: str | None = None, model: str | None = None) -> list[JobRecord]:
        """Return all jobs, newest first, optionally filtered by status and model."""
        with self._lock:
            recs = [r.model_copy(deep=True) for r in self._jobs.values()]
        recs = [
            r for r in recs if (status is None or r.status == status) and (model is None or r.model == model)
        ]
        return sorted(recs, key=lambda r: r.created, reverse=True)

    def active_for(self, model: str) -> list[JobRecord]:
        """Jobs that are queued or running for ``model``."""
        return [r for r in self.list(model=model) if r.status in ACTIVE]

    def check_idle(self, model: str) -> None:
        """:class:`ConflictError` (``job-active``, with ``job_id``) while a job for ``model`` is active."""
        active = self.active_for(model)
        if active:
            raise ConflictError(
                f"job {active[0].id} is {active[0].status} for model {model!r}; wait for it to end or "
                f"cancel it (DELETE /v1/jobs/{active[0].id})",
                code="job-active",
                job_id=active[0].id,
            )

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job; :class:`ConflictError` (``job-ended``) when it already ended."""
        with self._lock:
            rec = self._jobs.get(job_id)
            if rec is None:
                raise NotFoundError("job", job_id)
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
            self._cancel_requested.add(job_id)
            proc = self._procs.get(job_id)
            if rec.status == "queued":
                self._finish(rec, "cancelled", error="cancelled before it started")
        if proc is not None:
            proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.get(job_id).status == "running":
            time.sleep(0.02)
        return self.get(job_id)

    def wait(self, job_id: str, timeout: float = 60.0) -> JobRecord:
        """Block until the job ends (for tests and scripts); returns its record."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rec = self.get(job_id)
            if rec.status not in ACTIVE:
                return rec
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} still {self.get(job_id).status} after {timeout}s")

    # -- internals -------------------------------------------------------------------------------

    def _persist(self, rec: JobRecord) -> None:
        data = rec.model_dump(mode="json")
        data["target"] = rec.target
        atomic_write_json(self.jobs_dir / f"{rec.id}.json", data)

    def _update_gauges(self) -> None:
        counts = dict.fromkeys(("queued", "running", "succeeded", "failed", "cancelled"), 0)
        for r in self._jobs.values():
            counts[r.status] += 1
        for status, n in counts.items():
            JOBS.labels(self.service, status).set(n)

    def _finish(self, rec: JobRecord, status: JobStatus, *, error: str | None = None) -> None:
        rec.status = status
        rec.finished = _now()
        if error is not None:
            rec.error = error
        if status == "succeeded":
            rec.progress = 1.0
        self._persist(rec)
        self._prune()
        self._update_gauges()
        JOBS_FINISHED.labels(self.service, status).inc()

    def _prune(self) -> None:
        """Forget the oldest ended jobs beyond ``keep_finished`` (record files included)."""
        if self.keep_finished is None:
            return
        ended = sorted(
            (r for r in self._jobs.values() if r.status not in ACTIVE),
            key=lambda r: r.finished or r.created,
            reverse=True,
        )
        for old in ended[self.keep_finished :]:
            del self._jobs[old.id]
            (self.jobs_dir / f"{old.id}.json").unlink(missing_ok=True)

    def _worker_loop(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._lock:
                rec = self._jobs.get(job_id)
                if rec is None or rec.status != "queued":
                    continue
            try:
                self._run(rec)
            except Exception:
                log.exception("job %s: the manager failed", job_id)
                with self._lock:
                    if rec.status in ACTIVE:
                        self._finish(rec, "failed", error="internal error while running the job")
            final = self.get(job_id)
            if final.status != "succeeded":  # successes were announced before they were published
                self._call_hook(final)

    def _call_hook(self, rec: JobRecord) -> None:
        if self.on_finished is None:
            return
        try:
            self.on_finished(rec)
        except Exception:
            log.exception("job %s: on_finished hook failed", rec.id)

    def _run(self, rec: JobRecord) -> None:
        parent_conn, child_conn = self._ctx.Pipe(duplex=False)
        target = rec.target or rec.spec.get("_target", "")
        proc = self._ctx.Process(
            target=_child_main,
            args=(target, rec.spec, child_conn, self.threads, self.log),
            daemon=True,
            name=f"job-{rec.id[:8]}",
        )
        with self._lock:
            if rec.id in self._cancel_requested:
                return
            rec.status = "running"
            rec.started = _now()
            self._persist(rec)
            self._update_gauges()
            proc.start()
            self._procs[rec.id] = proc
        child_conn.close()
        log.info("job started", extra={"job": rec.id, "kind": rec.kind, "model": rec.model})
        result: dict[str, Any] | None = None
        error: str | None = None
        last_persist = 0.0
        try:
            while True:
                try:
                    ready = parent_conn.poll(0.2)
                except (EOFError, OSError):
                    break
                if ready:
                    try:
                        msg = parent_conn.recv()
                    except (EOFError, OSError):
                        break
                    kind = msg[0]
                    if kind == "report":
                        with self._lock:
                            self._apply_report(rec, msg[1])
                            now = time.monotonic()
                            if now - last_persist > 1.0:
                                self._persist(rec)
                                last_persist = now
                    elif kind == "result":
                        result = msg[1]
                    elif kind == "error":
                        error = msg[1]
                        log.warning("job failed", extra={"job": rec.id, "error": msg[1], "trace": msg[2]})
                elif not proc.is_alive():
                    if not parent_conn.poll(0):
                        break
        finally:
            proc.join(10)
            parent_conn.close()
        if result is not None:
            # The worker returned, so what it produced is already stored: the job succeeded, even if
            # a cancel arrived meanwhile (cancel() answers 409 from here on). Let the service load
            # it before anyone sees "succeeded".
            with self._lock:
                rec.result = result
                done = rec.model_copy(deep=True)
            done.status = "succeeded"
            self._call_hook(done)
        with self._lock:
            self._procs.pop(rec.id, None)
            if result is not None:
                self._finish(rec, "succeeded")
            elif rec.id in self._cancel_requested:
                self._finish(rec, "cancelled", error="cancelled by request")
            elif self._stopping.is_set():
                self._finish(rec, "failed", error=rec.error or "interrupted: the service shut down")
            else:
                code = proc.exitcode
                why = error or (f"the worker process died (exit code {code})")
                self._finish(rec, "failed", error=why)
        log.info("job ended", extra={"job": rec.id, "status": rec.status})

    @staticmethod
    def _apply_report(rec: JobRecord, fields: dict[str, Any]) -> None:
        fields = dict(fields)
        add_to_history = bool(fields.pop("history", False))
        if "progress" in fields and fields["progress"] is not None:
            rec.progress = min(1.0, max(0.0, float(fields["progress"])))
        if "epoch" in fields:
            rec.epoch = fields["epoch"]
        if "step" in fields:
            rec.step = fields["step"]
        rec.metrics.update({k: v for k, v in fields.items() if k not in ("progress",)})
        if add_to_history and len(rec.history) < HISTORY_LIMIT:
            rec.history.append(fields)
