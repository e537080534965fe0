"""Bodies of the vocabulary routes (:mod:`service.embeddings.routes.vocabulary`): ``/words`` and
``/projection``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.embeddings.schemas import Word
from service.kit.schemas import Int, RequestModel

#: Most words one page of ``/words`` lists.
MAX_LIMIT = 1000
#: Most words one projection places.
MAX_PROJECTION_WORDS = 1000


class VocabularyWord(BaseModel):
    word: str
    rank: int = Field(description="Position in frequency order (gensim `index_to_key`), from 0.")


class VocabularyPage(BaseModel):
    """One page of a model's vocabulary, in frequency order."""

    model: str
    version: int
    prefix: str = Field(description="The prefix the words start with ('' for every word).")
    total: int = Field(description="How many words match (over every page).")
    offset: int
    limit: int
    words: list[VocabularyWord]


class ProjectionRequest(RequestModel):
    """Words to place in 2-D: a list, or one word and its nearest neighbours."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"word": "president", "topn": 15}, {"words": ["king", "queen", "man", "woman"]}]
        },
    )

    words: list[Word] | None = Field(
        None, min_length=2, max_length=MAX_PROJECTION_WORDS, description="At least 2 distinct words."
    )
    word: Word | None = Field(None, description="A word, placed with its `topn` nearest neighbours.")
    topn: Int | None = Field(
        None, ge=1, le=MAX_PROJECTION_WORDS - 1, description="Neighbours of `word` (default 20)."
    )

    @model_validator(mode="after")
    def _source(self) -> ProjectionRequest:
        if (self.words is None) == (self.word is None):
            raise ValueError("give exactly one of words or word")
        if self.words is not None and self.topn is not None:
            raise ValueError("topn goes with word, not with words")
        return self


class ProjectedPoint(BaseModel):
    word: str
    x: float
    y: float
    neighbour_score: float | None = Field(None, description="Cosine similarity to `word` (neighbour form).")


class ProjectionResponse(BaseModel):
    model: str
    version: int
    points: list[ProjectedPoint]
    explained_variance: list[float] = Field(description="Share of the variance on x and on y (PCA).")
