"""``/v1/jobs``: training jobs -- status, progress, per-epoch loss / learning rate / words per second."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from service.embeddings.schemas import EpochReport, JobInfo, JobList
from service.embeddings.state import EmbeddingsState, get_state
from service.kit.auth import require_query_token, require_token
from service.kit.jobs import JobRecord
from service.kit.names import NAME_PATTERN

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64, description="Job id (32 hex characters).")]


def job_url(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"


def _request_summary(spec: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k not in ("store_root", "sentences", "corpus")}
    if spec.get("sentences") is not None:
        out["inline_sentences"] = len(spec["sentences"])
    corpus = spec.get("corpus")
    if corpus:
        out["corpus"] = {
            k: corpus[k] for k in ("id", "format", "tokenizer", "lowercase", "source") if k in corpus
        }
    return out


def job_info(rec: JobRecord) -> JobInfo:
    """The API view of a kit job record."""
    m = rec.metrics
    return JobInfo(
        id=rec.id,
        kind=rec.kind,
        model=rec.model,
        status=rec.status,
        created=rec.created,
        started=rec.started,
        finished=rec.finished,
        duration_s=rec.duration_s,
        progress=rec.progress,
        phase=m.get("phase") if rec.status == "running" else None,
        epoch=rec.epoch,
        epochs=m.get("epochs"),
        loss=m.get("loss"),
        loss_note=m.get("loss_note"),
        learning_rate=m.get("learning_rate"),
        words_per_second=m.get("words_per_second"),
        history=[EpochReport.model_validate(h) for h in rec.history if "epoch" in h],
        error=rec.error,
        result=rec.result,
        request=_request_summary(rec.spec),
        status_url=job_url(rec.id),
    )


@router.get(
    "", response_model=JobList, summary="List jobs, newest first", dependencies=[Depends(require_query_token)]
)
def list_jobs(
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = Query(None),
    model: str | None = Query(None, description="Only the jobs of this model."),
    state: EmbeddingsState = Depends(get_state),
) -> JobList:
    return JobList(jobs=[job_info(r) for r in state.jobs.list(status=status, model=model)])


@router.get(
    "/{job_id}",
    response_model=JobInfo,
    summary="Show a job",
    description="Status, progress (0..1), current epoch, the latest and per-epoch loss (Word2Vec; FastText: "
    "null, with `loss_note` -- gensim computes none), learning rate, words per second, error.",
    dependencies=[Depends(require_query_token)],
)
def get_job(job_id: JobId, state: EmbeddingsState = Depends(get_state)) -> JobInfo:
    return job_info(state.jobs.get(job_id))


@router.delete(
    "/{job_id}",
    response_model=JobInfo,
    summary="Cancel a queued or running job",
    description="The worker process is terminated; no model version is written. 409 when the job already ended.",
    dependencies=[Depends(require_token)],
)
def cancel_job(job_id: JobId, state: EmbeddingsState = Depends(get_state)) -> JobInfo:
    return job_info(state.jobs.cancel(job_id))
