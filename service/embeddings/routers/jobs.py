"""``/v1/jobs``: training jobs -- status, progress, per-epoch loss / learning rate / words per second."""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from service.embeddings.schemas import EpochReport, JobInfo
from service.embeddings.state import EmbeddingsState, get_state
from service.kit.jobs import JobManager, JobRecord
from service.kit.jobs_routes import jobs_router


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


def job_info(rec: JobRecord, history: bool = True) -> JobInfo:
    """The API view of a kit job record (``history``: include the per-epoch reports)."""
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
        history=[EpochReport.model_validate(h) for h in rec.history if "epoch" in h] if history else [],
        error=rec.error,
        result=rec.result,
        request=_request_summary(rec.spec),
        status_url=job_url(rec.id),
    )


async def _manager(state: EmbeddingsState = Depends(get_state)) -> JobManager:
    return state.jobs


router = jobs_router(
    get_manager=_manager,
    view=job_info,
    job_model=JobInfo,
    show_description="Status, progress (0..1), current epoch, the latest and per-epoch loss (Word2Vec; "
    "FastText: null, with `loss_note` -- gensim computes none), learning rate, words per second, error.",
)
