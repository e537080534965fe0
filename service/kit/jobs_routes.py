"""The ``/v1/jobs`` routes, the same in both services: list, show, cancel.

Each service brings its view of a job (what its jobs report: per-epoch loss for gensim, per-step
lr and dev metrics for the seq2seq trainer); the runtime's job manager serves them:

>>> class JobInfo(BaseModel):
...     id: str
...     status: str
...     progress: float
>>> def job_info(record: JobRecord) -> JobInfo:
...     return JobInfo(id=record.id, status=record.status, progress=record.progress)
>>> router = jobs_router(view=job_info, job_model=JobInfo)
>>> [f"{method} {route.path}" for route in router.routes for method in sorted(route.methods)]
['GET /v1/jobs', 'GET /v1/jobs/{job_id}', 'DELETE /v1/jobs/{job_id}']

``GET /v1/jobs`` answers ``{"jobs": [...]}`` (newest first, filters ``status`` and ``model``, no
history); ``GET /v1/jobs/{id}`` one job with its history (``history=false`` leaves it out);
``DELETE /v1/jobs/{id}`` cancels a queued or running job (409 when it already ended);
``?keep=best`` stops a job that can keep (attention training) so that it publishes its best
checkpoint so far. Whatever a view
shows passes :class:`~service.kit.redact.Redactor` last: no absolute path of the data or import
directory, no URL's password (a failed job's message may name a file).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, create_model

from service.kit.auth import require_query_token, require_token
from service.kit.job_record import JobRecord
from service.kit.redact import Redactor
from service.kit.runtime import get_runtime
from service.kit.schemas import JobAccepted

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"

#: A job id taken from the URL path (32 lowercase hex characters).
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="Job id (32 hex characters).")]

JobView = Callable[[JobRecord], BaseModel]


def jobs_router(*, view: JobView, job_model: type[BaseModel], show_description: str = "") -> APIRouter:
    """Return the ``/v1/jobs`` router of a service.

    ``view(record)`` turns a job record into ``job_model``. The list leaves every job's
    ``history`` out; ``GET /v1/jobs/{id}`` includes it unless ``?history=false``, which leaves the
    key out (the same in both services).
    """
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
    job_list = create_model(f"{job_model.__name__}List", jobs=(list[job_model], ...))

    def shown(rec: JobRecord, history: bool, runtime: Any) -> dict[str, Any]:
        data = view(rec).model_dump(mode="json", exclude=None if history else {"history"})
        return Redactor.for_settings(runtime.settings)(data)  # an error's server paths, a URL's password

    def shown_all(records: list[JobRecord], runtime: Any) -> list[dict[str, Any]]:
        redact = Redactor.for_settings(runtime.settings)
        return [redact(view(r).model_dump(mode="json", exclude={"history"})) for r in records]

    @router.get(
        "",
        response_model=job_list,
        summary="List jobs, newest first (without their history)",
        dependencies=[Depends(require_query_token)],
    )
    async def list_jobs(
        status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = Query(None),
        model: str | None = Query(None, max_length=64, description="Only the jobs of this model."),
        runtime: Any = Depends(get_runtime),
    ) -> Any:
        return JSONResponse({"jobs": shown_all(runtime.jobs.list(status=status, model=model), runtime)})

    @router.get(
        "/{job_id}",
        response_model=job_model,
        summary="Show a job",
        description=show_description,
        dependencies=[Depends(require_query_token)],
    )
    async def get_job(
        job_id: JobId,
        history: bool = Query(True, description="Include the per-epoch / per-step history (false: no key)."),
        runtime: Any = Depends(get_runtime),
    ) -> Any:
        return JSONResponse(shown(runtime.jobs.get(job_id), history, runtime))

    @router.delete(
        "/{job_id}",
        response_model=job_model,
        summary="Cancel a queued or running job",
        description="`keep=nothing` (the default): the worker process is terminated; no model version is "
        "written. `keep=best` (attention training jobs): the job stops after its running update, "
        "evaluates, and publishes its best checkpoint so far as a new version; it ends `succeeded` with "
        '`result.stopped_by: "cancel"` (or `cancelled`, nothing kept, when nothing was trained yet or '
        "it did not end within `JOB_KEEP_TIMEOUT_S`). The answer comes once the job ended, or after "
        "10 s (poll the job). 409 when the job already ended, or (`keep-unsupported`) when its kind "
        "cannot keep.",
        dependencies=[Depends(require_token)],
    )
    def cancel_job(
        job_id: JobId,
        keep: Literal["nothing", "best"] = Query(
            "nothing", description="What a cancelled job keeps: nothing, or its best checkpoint so far."
        ),
        runtime: Any = Depends(get_runtime),
    ) -> Any:
        return JSONResponse(shown(runtime.jobs.cancel(job_id, keep), False, runtime))

    return router


def job_location(job_id: str) -> str:
    """The URL of a job: ``/v1/jobs/{id}``."""
    return f"/v1/jobs/{job_id}"


def job_fields(rec: JobRecord, lifted: tuple[str, ...] = ()) -> dict[str, Any]:
    """What every service's view of a job shows: the record's own fields (not its spec, metrics or
    history), ``duration_s``, ``location``, and the ``lifted`` metrics at the top level."""
    data = rec.model_dump(exclude={"spec", "metrics", "history"})
    data.update({key: rec.metrics.get(key) for key in lifted})
    data.update(duration_s=rec.duration_s, location=job_location(rec.id))
    return data


def accepted(rec: JobRecord) -> JSONResponse:
    """The 202 answer to a request that queued a job, the same in both services: the
    :class:`~service.kit.schemas.JobAccepted` body and a ``Location`` header naming the job."""
    body = JobAccepted(job_id=rec.id, model=rec.model, status=rec.status, location=job_location(rec.id))
    return JSONResponse(body.model_dump(mode="json"), status_code=202, headers={"Location": body.location})
