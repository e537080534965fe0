"""The record of one job — its status, progress, figures, history and outcome — and how a report
from the job's worker process changes it.

A job function calls ``report(**fields)`` as it goes (:mod:`service.kit.job_worker`); the runner
applies each report to the job's record (:func:`apply_report`): ``progress`` (0..1), ``epoch`` and
``step`` are kept as top-level fields, everything else becomes the job's latest ``metrics``, and a
call with ``history=True`` also appends the fields to the job's ``history`` (loss per epoch, lr per
step…), up to :data:`HISTORY_LIMIT` entries.

>>> rec = JobRecord(id="a" * 32, kind="train", model="m")
>>> apply_report(rec, {"progress": 0.5, "epoch": 1, "loss": 0.25, "history": True})
>>> rec.progress, rec.epoch, rec.metrics, rec.history
(0.5, 1, {'epoch': 1, 'loss': 0.25}, [{'progress': 0.5, 'epoch': 1, 'loss': 0.25}])
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
#: The statuses of a job that has not ended.
ACTIVE: tuple[str, ...] = ("queued", "running")
#: The most entries a job's ``history`` keeps; later ``history=True`` reports only update ``metrics``.
HISTORY_LIMIT = 20_000


def utc_now() -> datetime:
    """The current time, timezone-aware (UTC): the clock of every job timestamp."""
    return datetime.now(UTC)


class JobRecord(BaseModel):
    """The persisted state of one job (also its API representation)."""

    id: str = Field(description="Job id (32 hex characters).")
    kind: str = Field(description="What the job does, e.g. 'train' or 'continue'.")
    model: str | None = Field(None, description="The model the job produces.")
    status: JobStatus = "queued"
    created: datetime = Field(default_factory=utc_now)
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
        return ((self.finished or utc_now()) - self.started).total_seconds()


def apply_report(rec: JobRecord, fields: dict[str, Any]) -> None:
    """Update ``rec`` in place with one ``report(**fields)`` of its worker (see the module's text)."""
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
