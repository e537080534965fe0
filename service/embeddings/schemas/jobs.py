"""How the embeddings service shows a job (``/v1/jobs``; :mod:`service.embeddings.jobs`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class EpochReport(BaseModel):
    epoch: int | None = None
    loss: float | None = Field(None, description="This epoch's training loss (Word2Vec); null for FastText.")
    learning_rate: float | None = None
    words_per_second: float | None = None
    elapsed_s: float | None = None


class JobInfo(BaseModel):
    """A training job: status, progress and per-epoch figures."""

    id: str
    kind: str = Field(description="`train`, `continue`, `default` or `index` (builds a version's ANN index).")
    model: str | None
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    duration_s: float | None = None
    progress: float
    phase: str | None = Field(
        None, description="`building vocabulary`, `training`, `saving` or `indexing` while it runs."
    )
    epoch: int | None = None
    epochs: int | None = None
    loss: float | None = Field(None, description="Latest epoch's loss (Word2Vec); null for FastText.")
    loss_note: str | None = Field(None, description="Why there is no loss (FastText: gensim computes none).")
    learning_rate: float | None = None
    words_per_second: float | None = None
    history: list[EpochReport] = Field(
        default_factory=list,
        description="One report per epoch (left out with `?history=false` and in lists).",
    )
    error: str | None = None
    result: dict[str, Any] | None = None
    request: dict[str, Any] = Field(
        default_factory=dict, description="The training request (inline sentences counted)."
    )
    location: str = Field(description="This job's URL, `/v1/jobs/{id}`.")
