"""``/v1/jobs``: watch, list and cancel training jobs."""

from __future__ import annotations

from fastapi import Depends

from service.attention.schemas import JobOut
from service.attention.state import ServiceState, get_state
from service.kit.jobs import JobManager, JobRecord
from service.kit.jobs_routes import jobs_router

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


async def _manager(state: ServiceState = Depends(get_state)) -> JobManager:
    return state.jobs


router = jobs_router(
    get_manager=_manager,
    view=job_out,
    job_model=JobOut,
    show_description="Status, step, epoch, lr, train and dev loss, dev exact match, token accuracy and "
    "alignment accuracy; the lr of every step and the dev metrics of every epoch in `history`.",
    exclude_none=True,
)
