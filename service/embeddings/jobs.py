"""How an embeddings job looks in ``/v1/jobs`` (the kit's routes): status, progress, per-epoch loss,
learning rate and words per second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.embeddings.schemas.jobs import EpochReport, JobInfo
from service.kit.job_record import JobRecord
from service.kit.jobs_routes import job_fields

#: Spec members a job never shows: server paths (the store, the imported file, a corpus' file).
HIDDEN = ("store_root", "sentences", "corpus", "path", "file")


def _request_summary(spec: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k not in HIDDEN}
    if spec.get("mode") == "import":
        # the file relative to the import directory, or "upload" (a spec without "file" predates it)
        out["path"] = spec.get("file") or ("upload" if spec.get("staged") else Path(spec["path"]).name)
    if spec.get("sentences") is not None:
        out["inline_sentences"] = len(spec["sentences"])
    corpus = spec.get("corpus")
    if corpus:
        out["corpus"] = {
            k: corpus[k] for k in ("id", "format", "tokenizer", "lowercase", "source") if k in corpus
        }
    return out


#: Latest figures shown at the top level of a job.
LIFTED = ("epochs", "loss", "loss_note", "learning_rate", "words_per_second")


def job_view(rec: JobRecord) -> JobInfo:
    """The API view of a kit job record."""
    return JobInfo(
        **job_fields(rec, LIFTED),
        phase=rec.metrics.get("phase") if rec.status == "running" else None,
        history=[EpochReport.model_validate(h) for h in rec.history if "epoch" in h],
        request=_request_summary(rec.spec),
    )


JOB_DESCRIPTION = (
    "Status, progress (0..1), current epoch, the latest and per-epoch loss (Word2Vec; FastText: null, "
    "with `loss_note` -- gensim computes none), learning rate, words per second, error."
)
