"""How the attention service shows a job (``/v1/jobs``; :mod:`service.attention.jobs`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class JobInfo(BaseModel):
    """A training job; the latest figures are also lifted to the top level."""

    id: str
    kind: str
    model: str | None
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    progress: float
    epoch: int | None = None
    step: int | None = None
    lr: float | None = Field(None, description="Learning rate of the latest step.")
    train_loss: float | None = None
    dev_loss: float | None = None
    dev_exact_match: float | None = None
    dev_token_accuracy: float | None = None
    dev_token_error_rate: float | None = Field(
        None, description="Edit distance / reference tokens (PER for phonemes, CER for characters)."
    )
    dev_sequence_error_rate: float | None = Field(
        None, description="1 - exact match, any reference counting (WER for g2p)."
    )
    dev_alignment_accuracy: float | None = Field(
        None,
        description="Share of the dev gold links that are their attention row's argmax (gold links only).",
    )
    dev_alignment_error_rate: float | None = Field(
        None,
        description="AER (Och & Ney) of the dev attention rows' argmax links against the gold links, "
        "sure = possible = gold (gold links only).",
    )
    train_alignment_loss: float | None = Field(
        None,
        description="With `params.guided_alignment_weight` > 0: the last epoch's mean guided alignment loss.",
    )
    embedding_coverage: float | None = Field(
        None, description="Share of the source vocabulary initialised from vectors."
    )
    metrics: dict[str, Any] = Field(default_factory=dict)
    history: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Per-step (`lr`, `train_loss`) and per-epoch (dev metrics) reports "
        "(left out with `?history=false` and in lists).",
    )
    error: str | None = None
    result: dict[str, Any] | None = None
    spec: dict[str, Any] | None = None
    duration_s: float | None = None
    location: str = Field(description="This job's URL, `/v1/jobs/{id}`.")
