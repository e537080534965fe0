"""The ``/v1/jobs`` routes, the same in both services: list, show, cancel.

Each service brings its view of a job (what its jobs report: per-epoch loss for gensim, per-step
lr and dev metrics for the seq2seq trainer) and how to reach its :class:`JobManager`:

>>> router = jobs_router(get_manager=lambda: manager, view=job_info, job_model=JobInfo)  # doctest: +SKIP

``GET /v1/jobs`` answers ``{"jobs": [...]}`` (newest first, filters ``status`` and ``model``, no
history); ``GET /v1/jobs/{id}`` one job with its history (``history=false`` leaves it out);
``DELETE /v1/jobs/{id}`` cancels a queued or running job (409 when it already ended).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, create_model

from service.kit.auth import require_query_token, require_token
from service.kit.jobs import JobManager, JobRecord

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"

#: A job id taken from the URL path (32 lowercase hex characters).
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="Job id (32 hex characters).")]

JobView = Callable[[JobRecord, bool], BaseModel]


def jobs_router(
    *,
    get_manager: Callable[..., JobManager],
    view: JobView,
    job_model: type[BaseModel],
    show_description: str = "",
    exclude_none: bool = False,
) -> APIRouter:
    """Return the ``/v1/jobs`` router for a service.

    ``get_manager`` is a FastAPI dependency returning the service's job manager; ``view(record,
    history)`` turns a job record into ``job_model`` (with or without its history);
    ``exclude_none`` leaves unset fields out of the JSON.
    """
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
    job_list = create_model(f"{job_model.__name__}List", jobs=(list[job_model], ...))

    @router.get(
        "",
        response_model=job_list,
        response_model_exclude_none=exclude_none,
        summary="List jobs, newest first",
        dependencies=[Depends(require_query_token)],
    )
    def list_jobs(
        status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = Query(None),
        model: str | None = Query(None, max_length=64, description="Only the jobs of this model."),
        manager: JobManager = Depends(get_manager),
    ) -> Any:
        return job_list(jobs=[view(r, False) for r in manager.list(status=status, model=model)])

    @router.get(
        "/{job_id}",
        response_model=job_model,
        response_model_exclude_none=exclude_none,
        summary="Show a job",
        description=show_description,
        dependencies=[Depends(require_query_token)],
    )
    def get_job(
        job_id: JobId,
        history: bool = Query(True, description="Include the per-epoch / per-step history."),
        manager: JobManager = Depends(get_manager),
    ) -> Any:
        return view(manager.get(job_id), history)

    @router.delete(
        "/{job_id}",
        response_model=job_model,
        response_model_exclude_none=exclude_none,
        summary="Cancel a queued or running job",
        description="The worker process is terminated; no model version is written. "
        "409 when the job already ended.",
        dependencies=[Depends(require_token)],
    )
    def cancel_job(job_id: JobId, manager: JobManager = Depends(get_manager)) -> Any:
        return view(manager.cancel(job_id), False)

    return router
