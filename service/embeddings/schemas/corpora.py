"""Bodies of the corpus routes (:mod:`service.embeddings.routes.corpora`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class CorpusInfo(BaseModel):
    """An uploaded corpus, validated by one streaming scan."""

    id: str = Field(description="Corpus id (use it as `corpus_id` to train).", examples=["news-2024"])
    format: Literal["text", "jsonl"]
    tokenizer: Literal["simple", "whitespace"]
    lowercase: bool
    lines: int = Field(description="Physical lines in the (decompressed) file.")
    sentences: int = Field(description="Non-empty sentences (what gensim sees).")
    tokens: int = Field(description="Tokens after tokenization.")
    distinct_tokens: int | None = None
    max_token_count: int | None = Field(
        None,
        description="Occurrences of the most frequent token (null when distinct tokens were not all "
        "counted); training with a larger `min_count` would leave an empty vocabulary.",
    )
    bytes: int = Field(description="Size on disk (compressed size for gzip).")
    gzip: bool
    max_sentence_tokens: int
    created: datetime


class CorpusList(BaseModel):
    corpora: list[CorpusInfo]
