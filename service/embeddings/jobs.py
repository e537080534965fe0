"""How an embeddings job looks in ``/v1/jobs`` (the kit's routes): status, progress, per-epoch loss,
learning rate and words per second."""

from __future__ import annotations

from typing import Any

from service.embeddings.schemas import EpochReport, JobInfo
from service.kit.jobs import JobRecord
from service.kit.jobs_routes import job_location


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


def job_view(rec: JobRecord) -> JobInfo:
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
        location=job_location(rec.id),
    )


JOB_DESCRIPTION = (
    "Status, progress (0..1), current epoch, the latest and per-epoch loss (Word2Vec; FastText: null, "
    "with `loss_note` -- gensim computes none), learning rate, words per second, error."
)
