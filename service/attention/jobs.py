"""How an attention job looks in ``/v1/jobs`` (the kit's routes): the latest lr, losses and dev metrics
lifted to the top level, every step's lr and every epoch's dev metrics in ``history``."""

from __future__ import annotations

from service.attention.schemas.jobs import JobInfo
from service.kit.job_record import JobRecord
from service.kit.jobs_routes import job_fields

LIFTED = (
    "lr",
    "train_loss",
    "dev_loss",
    "dev_exact_match",
    "dev_token_accuracy",
    "dev_token_error_rate",
    "dev_sequence_error_rate",
    "dev_alignment_accuracy",
    "dev_alignment_error_rate",
    "train_alignment_loss",
    "embedding_coverage",
)


def job_view(rec: JobRecord) -> JobInfo:
    """The API view of a kit job record."""
    return JobInfo(
        **job_fields(rec, LIFTED), metrics=rec.metrics, history=rec.history, spec=rec.spec.get("request")
    )


JOB_DESCRIPTION = (
    "Status, step, epoch, lr, train and dev loss, dev exact match, token accuracy, token and sequence "
    "error rates, alignment accuracy and alignment error rate (with gold links), the guided alignment "
    "loss (with `params.guided_alignment_weight`); "
    "the lr of every step and the dev metrics of every epoch in `history`."
)
