"""The worker-process side of a job: what runs in the process that runs one job function.

A job is a call ``function(spec, report) -> dict`` of a module-level function named by
``"package.module:function"``. It runs in a child process started from a clean forkserver (never a
fork of the threaded server), so it can neither stall queries nor crash the service, and it can
be cancelled by terminating the process. The runner (:class:`~service.kit.job_manager.JobManager`)
starts the process with :func:`worker_main` as its target and reads what comes back over a pipe:

* ``("report", fields)`` for each ``report(**fields)`` call (applied to the job's record by
  :func:`service.kit.job_record.apply_report`);
* then ``("result", dict)`` when the function returned (a non-dict ``x`` is sent as
  ``{"value": x}``), or ``("error", message, traceback)`` when it raised.

A worker ends within a second of its runner's death (:func:`_exit_with_runner`), and unwinds on
SIGTERM so that the job's ``finally`` blocks run when it is cancelled — until the job reaches its
:func:`commit_point` (publishing what it made), from where a cancel no longer stops it.

A job that can stop early and keep what it made so far (``DELETE /v1/jobs/{id}?keep=best``) polls
:func:`stop_requested`: the runner sends the worker :data:`STOP_SIGNAL` instead of SIGTERM, and the
job ends as it would at the end of its work (its result says why it stopped). A job asked to stop
before it made anything to keep raises :class:`NothingToKeep`: it ends ``cancelled``, with that
message.
"""

from __future__ import annotations

import importlib
import os
import signal
import threading
import time
import traceback
from typing import Any


def _set_library_threads(threads: int) -> None:
    """Set faiss's OpenMP and torch's intra-op thread counts to ``threads`` where those libraries are
    loaded (the forkserver preloads the job modules); returns nothing."""
    import sys

    faiss = sys.modules.get("faiss")
    if faiss is not None:
        faiss.omp_set_num_threads(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def worker_main(
    target: str,
    spec: dict[str, Any],
    conn: Any,
    threads: int,
    log_config: tuple[str, bool] | None = None,
    runner: int | None = None,
) -> None:
    """Entry point of the worker process: run the job function and send back reports.

    ``log_config`` is the service's ``(level, json_lines)``: the worker's logs and warnings take
    the same form as the service's own (one JSON object per line). ``runner`` is the pid of the
    runner process, which this worker does not outlive.
    """
    # First of all: a stop request (keep=best) only sets a flag, never kills the process.
    signal.signal(STOP_SIGNAL, _ask_stop)
    # The job's own thread count (``JOB_THREADS``), not the query path's one the server inherited.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if log_config is not None:
        from service.kit.logging import configure_logging

        configure_logging(log_config[0], json_lines=log_config[1])
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except Exception:  # noqa: S110 - limiting BLAS threads is best effort
        pass
    _set_library_threads(threads)

    global _runner
    _runner = runner
    if runner is not None:
        _exit_with_runner(runner)
    # A cancel terminates the process: unwind it, so that the job's ``finally`` blocks remove what it
    # was writing (a half-made version directory), within the runner's grace period before SIGKILL.
    signal.signal(signal.SIGTERM, _unwind)

    def report(**fields: Any) -> None:
        conn.send(("report", fields))

    try:
        module_name, _, func_name = target.partition(":")
        func = getattr(importlib.import_module(module_name), func_name)
        result = func(spec, report)
        conn.send(("result", result if isinstance(result, dict) else {"value": result}))
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        msg = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, NothingToKeep):
            msg = str(exc)
        try:
            conn.send(("error", msg, traceback.format_exc(limit=20)))
        except Exception:  # noqa: S110
            pass
    finally:
        conn.close()


#: The runner's pid, in a worker process (None elsewhere, or when it was not given).
_runner: int | None = None
#: Set by :func:`commit_point`: a SIGTERM no longer unwinds the job.
_committing = False
#: The signal by which the runner asks a job to stop gracefully and keep what it made.
STOP_SIGNAL = signal.SIGUSR1
#: Set when :data:`STOP_SIGNAL` arrived (see :func:`stop_requested`).
_stop_asked = False


class NothingToKeep(Exception):  # noqa: N818 - a reason, not a failure
    """Raised by a job asked to stop and keep its work before it made anything worth keeping; the
    job ends ``cancelled`` with this message."""


def _ask_stop(_signum: int, _frame: Any) -> None:
    global _stop_asked
    _stop_asked = True


def stop_requested() -> bool:
    """Whether the runner asked this job to stop early and keep what it made so far (a
    ``DELETE /v1/jobs/{id}?keep=best``); False outside a worker process, or until then.

    >>> stop_requested()
    False
    """
    return _stop_asked


def _unwind(signum: int, _frame: Any) -> None:
    if _committing:  # the job is publishing: it ends (and succeeds) within moments
        return
    raise SystemExit(128 + signum)


def commit_point() -> None:
    """Mark the start of the job's last step: publishing what it made, then returning its result.

    From here on a cancel (SIGTERM) no longer unwinds the job: its output is published and its
    result sent together, so a job is never ``cancelled`` with its version published (a cancel
    that arrives now gets the job ``succeeded``; a worker still not done after the runner's grace
    period is killed, and an unfinished publication is undone by the store's cleaning). Raises
    :class:`SystemExit` when the runner is gone: an orphan worker must not publish a version for a
    job that its next runner marks failed. Outside a worker process this does nothing.
    """
    global _committing
    if _runner is None:
        return
    if not _process_alive(_runner):
        raise SystemExit(70)
    _committing = True


def _exit_with_runner(runner: int, period_s: float = 1.0) -> None:
    """End this worker within ``period_s`` once the runner process ``runner`` is gone (killed).

    Workers are children of the runner's forkserver, which outlives the runner while a worker
    lives; without this, an orphan would go on writing a model while the next runner marks its job
    interrupted.
    """

    def watch() -> None:
        while True:
            time.sleep(period_s)
            if not _process_alive(runner):
                os._exit(70)

    threading.Thread(target=watch, name="exit-with-runner", daemon=True).start()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # dead, not yet reaped
    except ProcessLookupError:
        return False
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)
