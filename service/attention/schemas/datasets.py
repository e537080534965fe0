"""Bodies of the dataset routes (:mod:`service.attention.routes.datasets`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class DatasetInfo(BaseModel):
    """An uploaded, validated parallel dataset."""

    id: str = Field(
        description="Dataset id: `dataset_id` / `dev_dataset_id` (pairs) or `embeddings_file` (vectors)."
    )
    kind: Literal["pairs", "vectors"]
    format: Literal["tsv", "jsonl", "word2vec"]
    pairs: int | None = Field(None, description="Number of (source, target) pairs.")
    linked: int | None = Field(None, description="Pairs that carry gold alignment links.")
    words: int | None = Field(None, description="Vectors: number of words.")
    dim: int | None = Field(None, description="Vectors: dimensionality.")
    bytes: int
    created: datetime
    sample: list[dict[str, Any]] | None = Field(None, description="The first pairs (GET of one dataset).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3f2b9c0d8e7a4b5c9d0e1f2a3b4c5d6e",
                    "kind": "pairs",
                    "format": "tsv",
                    "pairs": 2,
                    "linked": 1,
                    "bytes": 52,
                    "created": "2026-11-26T15:00:00Z",
                }
            ]
        }
    )


class DatasetList(BaseModel):
    """Every uploaded dataset, newest first."""

    datasets: list[DatasetInfo]
