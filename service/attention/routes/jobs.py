"""``/v1/jobs``: watch, list and cancel training jobs."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query

from service.attention.schemas import JobOut
from service.attention.state import ServiceState, get_state
from service.kit.auth import require_query_token, require_token
from service.kit.jobs import JobRecord
from service.kit.names import ModelName

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

LIFTED = (
    "lr",
    "train_loss",
    "dev_loss",
    "dev_exact_match",
    "dev_token_accuracy",
    "dev_alignment_accuracy",
    "embedding_coverage",
)


def job_out(rec: JobRecord, history: bool) -> JobOut:
    data = rec.model_dump(exclude={"history", "spec"})
    for key in LIFTED:
        data[key] = rec.metrics.get(key)
    data["history"] = rec.history if history else None
    data["spec"] = rec.spec.get("request")
    return JobOut(**data)


@router.get(
    "",
    summary="List jobs, newest first",
    response_model=list[JobOut],
    response_model_exclude_none=True,
    dependencies=[Depends(require_query_token)],
)
def list_jobs(
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
    model: str | None = Query(None, max_length=64),
    state: ServiceState = Depends(get_state),
) -> list[JobOut]:
    return [job_out(r, history=False) for r in state.jobs.list(status=status, model=model)]


@router.get(
    "/{job_id}",
    summary="A job: status, step, epoch, lr, losses, dev metrics; lr per step and dev metrics per epoch in `history`",
    response_model=JobOut,
    response_model_exclude_none=True,
    dependencies=[Depends(require_query_token)],
)
def get_job(
    job_id: ModelName,
    history: bool = Query(True, description="Include the per-step / per-epoch history."),
    state: ServiceState = Depends(get_state),
) -> JobOut:
    return job_out(state.jobs.get(job_id), history)


@router.delete(
    "/{job_id}",
    summary="Cancel a queued or running job (409 when it already ended)",
    response_model=JobOut,
    response_model_exclude_none=True,
    dependencies=[Depends(require_token)],
)
def cancel_job(job_id: ModelName, state: ServiceState = Depends(get_state)) -> JobOut:
    return job_out(state.jobs.cancel(job_id), history=False)
