"""Progress bars (rich, on stderr): a training job's, and an upload's or a download's.

:class:`JobBar` shows a job's epoch, loss, speed (words/s for embeddings, steps/s for attention,
measured between polls) and ETA; :class:`TransferBar` bytes, speed and ETA. With ``enabled=False``
(``--json``) they print nothing. On a terminal they redraw in place; elsewhere rich prints the
final state once, when the bar stops.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from service.client.results import Job


def _console() -> Console:
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console.width = 120  # a log or a pipe: room for every column of the final line
    return console


def _average_rate(job: Job) -> float | None:
    """Steps per second since the job started (its ``duration_s`` once it ended)."""
    elapsed = job.duration_s
    if elapsed is None and job.started:
        try:
            started = datetime.fromisoformat(job.started)
        except ValueError:
            return None
        elapsed = (datetime.now(UTC) - started).total_seconds()
    return job.step / elapsed if job.step and elapsed and elapsed > 0 else None


class JobBar:
    """``with JobBar(job_id) as bar: client.wait_job(job_id, on_update=bar.update)``."""

    def __init__(self, label: str, *, enabled: bool = True):
        self.enabled = enabled
        self._last_step: tuple[float, int] | None = None
        self._steps_per_s: float | None = None
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=_console(),
            disable=not enabled,
        )
        self._task = self._progress.add_task(label, total=1.0, detail="queued")

    def __enter__(self) -> JobBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._progress.stop()

    def describe(self, job: Job) -> str:
        """The bar's text for one record: ``epoch 3/10  loss 1.23  45,000 words/s``."""
        parts = [job.status]
        if job.epoch is not None:
            parts.append(f"epoch {job.epoch}/{job.epochs}" if job.epochs else f"epoch {job.epoch}")
        if job.step is not None:
            parts.append(f"step {job.step}")
        if job.loss is not None:
            parts.append(f"loss {job.loss:.4g}")
        if job.words_per_second:
            parts.append(f"{job.words_per_second:,.0f} words/s")
        elif self._steps_per_s:
            parts.append(f"{self._steps_per_s:.1f} steps/s")
        if job.phase:
            parts.append(job.phase)
        return "  ".join(parts)

    def update(self, job: Job) -> None:
        if job.step:
            now = time.monotonic()
            if self._last_step is not None and job.step > self._last_step[1] and now > self._last_step[0]:
                self._steps_per_s = (job.step - self._last_step[1]) / (now - self._last_step[0])
            elif self._steps_per_s is None or job.ended:
                self._steps_per_s = _average_rate(job)
            self._last_step = (now, job.step)
        progress = 1.0 if job.succeeded else float(job.progress or 0.0)
        self._progress.update(self._task, completed=progress, detail=self.describe(job))


class TransferBar:
    """A ``progress(done, total)`` callback drawing an upload or download bar."""

    def __init__(self, label: str, *, enabled: bool = True):
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=_console(),
            disable=not enabled,
        )
        self._task = self._progress.add_task(label, total=None)

    def __enter__(self) -> TransferBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, done: int, total: int | None) -> None:
        self._progress.update(self._task, completed=done, total=total)
