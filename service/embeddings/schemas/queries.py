"""Bodies of the similarity queries (:mod:`service.embeddings.routes.queries`), their batch forms
and ``/evaluate``."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from service.embeddings.schemas import (
    HARD_MAX_ITEMS,
    HARD_MAX_TOPN,
    Sentence,
    TokenizerOptions,
    Word,
    tokenizer_used,
)
from service.kit.schemas import Bool, Float, Int, RequestModel

Method = Literal["cosadd", "cosmul"]


class Neighbour(BaseModel):
    word: str
    score: float = Field(description="Cosine similarity (cosadd) or 3CosMul score (cosmul), as gensim.")


class SimilarRequest(RequestModel):
    """Nearest words: gensim `most_similar` / `most_similar_cosmul`, or `similar_by_vector` with `vector`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"positive": ["president"], "topn": 5},
                {"positive": ["king", "woman"], "negative": ["man"], "topn": 3, "method": "cosmul"},
            ]
        },
    )

    positive: list[Word] = Field(default_factory=list, max_length=1000)
    negative: list[Word] = Field(default_factory=list, max_length=1000)
    vector: list[Float] | None = Field(
        None, max_length=100_000, description="A raw vector instead of words (gensim `similar_by_vector`)."
    )
    topn: Int = Field(10, ge=1, le=HARD_MAX_TOPN, description="At most `EMBEDDINGS_MAX_TOPN`.")
    method: Method = "cosadd"
    restrict_vocab: Int | None = Field(None, ge=1, description="Only the first N words are candidates.")
    exact: Bool | None = Field(
        None,
        description="`true`: exact search (gensim); `false` or omitted: the model's ANN index when it has "
        "one, else exact. `restrict_vocab` and `method: cosmul` are always exact.",
    )

    @model_validator(mode="after")
    def _source(self) -> SimilarRequest:
        if self.vector is not None:
            if self.positive or self.negative:
                raise ValueError("give either words (positive/negative) or vector, not both")
            if self.method != "cosadd":
                raise ValueError("method cosmul needs words, not a vector")
        elif not self.positive:
            raise ValueError("positive must name at least one word (or give vector)")
        return self


class SimilarResponse(BaseModel):
    results: list[Neighbour]
    exact: bool = Field(
        True, description="Which search answered: `true` exact, `false` the ANN index (scores still exact)."
    )


class SimilarityRequest(RequestModel):
    """Cosine similarity of word pairs (gensim `similarity`)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"pairs": [["president", "bush"], ["war", "peace"]]}]}
    )

    pairs: list[tuple[Word, Word]] = Field(min_length=1, max_length=HARD_MAX_ITEMS)


class SimilarityResponse(BaseModel):
    similarities: list[float] = Field(description="One cosine per pair, in order.")


class NSimilarityRequest(RequestModel):
    """Cosine between the means of two word sets (gensim `n_similarity`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"words1": ["president", "minister"], "words2": ["government"]}]},
    )

    words1: list[Word] = Field(min_length=1, max_length=HARD_MAX_ITEMS)
    words2: list[Word] = Field(min_length=1, max_length=HARD_MAX_ITEMS)


class NSimilarityResponse(BaseModel):
    similarity: float


class AnalogyRequest(RequestModel):
    """`a : b :: c : ?` -- gensim most_similar(positive=[b, c], negative=[a])."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"a": "man", "b": "king", "c": "woman", "topn": 3}]},
    )

    a: Word
    b: Word
    c: Word
    topn: Int = Field(10, ge=1, le=HARD_MAX_TOPN)
    method: Method = "cosadd"
    restrict_vocab: Int | None = Field(None, ge=1)
    exact: Bool | None = Field(
        None,
        description="`true`: exact search (gensim); `false` or omitted: the model's ANN index when it has "
        "one, else exact. `restrict_vocab` and `method: cosmul` are always exact.",
    )


class DoesntMatchRequest(RequestModel):
    """The word that fits least (gensim `doesnt_match`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"words": ["president", "minister", "government", "fire"]}]},
    )

    words: list[Word] = Field(min_length=2, max_length=HARD_MAX_ITEMS)


class DoesntMatchResponse(BaseModel):
    word: str


class VectorsRequest(RequestModel):
    """Raw vectors of words."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"words": ["president", "qwzx"]}]}
    )

    words: list[Word] = Field(min_length=1, max_length=HARD_MAX_ITEMS)


class WordVectorOut(BaseModel):
    word: str
    vector: list[float] | None = Field(description="null when the word is unknown.")
    known: bool
    in_vocab: bool
    oov: bool = Field(description="FastText: built from character n-grams (not in the vocabulary).")


class VectorsResponse(BaseModel):
    vectors: list[WordVectorOut]
    unknown_words: list[str] = Field(description="Words without a vector (Word2Vec), in order.")


class SentenceVectorsRequest(RequestModel):
    """Pooled sentence vectors through the shared padding layer (`models/padding.masked_pool`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"sentences": ["The president spoke today.", ["war", "and", "peace"]], "pooling": "mean"}
            ]
        },
    )

    sentences: list[Sentence] = Field(min_length=1, max_length=HARD_MAX_ITEMS)
    pooling: Literal["mean", "max", "sum"] = "mean"
    tokenizer: TokenizerOptions = Field(default_factory=TokenizerOptions)

    @model_validator(mode="after")
    def _tokenizer(self) -> SentenceVectorsRequest:
        if "tokenizer" in self.model_fields_set:
            tokenizer_used(self.sentences)
        return self


class SentenceVectorOut(BaseModel):
    vector: list[float] = Field(description="Pooled raw vectors; all zeros when no token is known.")
    tokens: list[str]
    used_tokens: list[str]
    unknown_tokens: list[str]
    oov_tokens: list[str]
    known_tokens: int = Field(description="0 means no token was known: the vector is all zeros.")


class SentenceVectorsResponse(BaseModel):
    vectors: list[SentenceVectorOut]


class PairsSpec(RequestModel):
    """Word-similarity benchmark: a builtin dataset or inline `[word1, word2, human score]` items."""

    model_config = ConfigDict(extra="forbid")

    dataset: Literal["wordsim353", "simlex999"] | None = None
    items: (
        list[
            tuple[
                Annotated[str, StringConstraints(pattern=r"^\S+$", max_length=200)],
                Annotated[str, StringConstraints(pattern=r"^\S+$", max_length=200)],
                Float,
            ]
        ]
        | None
    ) = Field(None, min_length=1, max_length=HARD_MAX_ITEMS)
    restrict_vocab: Int = Field(300_000, ge=1)
    case_insensitive: Bool = True

    @model_validator(mode="after")
    def _one(self) -> PairsSpec:
        if (self.dataset is None) == (self.items is None):
            raise ValueError("give exactly one of dataset or items")
        return self


AnalogyWord = Annotated[str, StringConstraints(pattern=r"^\S+$", max_length=200)]


class AnalogySection(RequestModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\n\r]+$")]
    questions: list[tuple[AnalogyWord, AnalogyWord, AnalogyWord, AnalogyWord]] = Field(
        min_length=1, description="`[a, b, c, d]`: a is to b as c is to d."
    )


class AnalogiesSpec(RequestModel):
    """Analogy benchmark: builtin `questions-words` or inline sections of `[a, b, c, d]` questions."""

    model_config = ConfigDict(extra="forbid")

    dataset: Literal["questions-words"] | None = None
    sections: list[AnalogySection] | None = Field(None, min_length=1, max_length=1000)
    restrict_vocab: Int = Field(300_000, ge=1)
    case_insensitive: Bool = True

    @model_validator(mode="after")
    def _one(self) -> AnalogiesSpec:
        if (self.dataset is None) == (self.sections is None):
            raise ValueError("give exactly one of dataset or sections")
        return self


class EvaluateRequest(RequestModel):
    """Intrinsic evaluation (gensim `evaluate_word_pairs` / `evaluate_word_analogies`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"pairs": {"dataset": "wordsim353"}, "analogies": {"dataset": "questions-words"}},
                {
                    "pairs": {
                        "items": [["president", "bush", 8.0], ["war", "peace", 3.5], ["car", "bus", 6.0]]
                    },
                    "analogies": {
                        "sections": [{"name": "custom", "questions": [["man", "king", "woman", "queen"]]}]
                    },
                },
            ]
        },
    )

    pairs: PairsSpec | None = None
    analogies: AnalogiesSpec | None = None

    @model_validator(mode="after")
    def _some(self) -> EvaluateRequest:
        if self.pairs is None and self.analogies is None:
            raise ValueError("give pairs, analogies or both")
        return self


class PairsOut(BaseModel):
    dataset: str
    pearson_r: float | None
    pearson_p: float | None
    spearman_rho: float | None
    spearman_p: float | None
    oov_ratio: float = Field(description="Share 0..1 of pairs skipped as out of vocabulary.")
    pairs_total: int
    pairs_used: int


class SectionOut(BaseModel):
    section: str
    correct: int
    incorrect: int
    accuracy: float | None


class AnalogiesOut(BaseModel):
    dataset: str
    accuracy: float
    correct: int
    incorrect: int
    questions_total: int
    questions_evaluated: int
    oov_ratio: float
    sections: list[SectionOut]


class EvaluateResponse(BaseModel):
    pairs: PairsOut | None = None
    analogies: AnalogiesOut | None = None


class BatchError(BaseModel):
    """Why one query of a batch failed (the problem it would have been alone)."""

    index: int = Field(description="Position of the query in `queries`.")
    status: int = Field(examples=[404])
    type: str = Field(
        examples=["/problems/unknown-words"],
        description="The problem type, as a problem's `type`: `/problems/<slug>` relative to the service.",
    )
    title: str
    detail: str | None = None
    unknown_words: list[str] | None = None


# --------------------------------------------------------------------------- batch forms

Q = TypeVar("Q", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


class BatchRequest(RequestModel, Generic[Q]):
    """Many bodies of one query in one request (``POST .../<query>/batch``)."""

    model_config = ConfigDict(extra="forbid")

    queries: list[Q] = Field(
        min_length=1, max_length=HARD_MAX_ITEMS, description="At most `EMBEDDINGS_MAX_BATCH`."
    )


class BatchResponse(BaseModel, Generic[R]):
    """Results of a batch: aligned with the queries; failures listed in `errors`."""

    results: list[R | None] = Field(description="One entry per query, in order; null where the query failed.")
    errors: list[BatchError] = Field(default_factory=list, description="The failed queries, by index.")


def _batch_example(single: type[BaseModel]) -> ConfigDict:
    """A batch body's examples: the single body's first example, as a batch of one."""
    examples = (single.model_config.get("json_schema_extra") or {}).get("examples") or [{}]  # type: ignore[union-attr]
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [{"queries": [examples[0]]}]})


class SimilarBatchRequest(BatchRequest[SimilarRequest]):
    model_config = _batch_example(SimilarRequest)


class SimilarBatchResponse(BatchResponse[SimilarResponse]):
    pass


class AnalogyBatchRequest(BatchRequest[AnalogyRequest]):
    model_config = _batch_example(AnalogyRequest)


class AnalogyBatchResponse(BatchResponse[SimilarResponse]):
    pass


class SimilarityBatchRequest(BatchRequest[SimilarityRequest]):
    model_config = _batch_example(SimilarityRequest)


class SimilarityBatchResponse(BatchResponse[SimilarityResponse]):
    pass


class NSimilarityBatchRequest(BatchRequest[NSimilarityRequest]):
    model_config = _batch_example(NSimilarityRequest)


class NSimilarityBatchResponse(BatchResponse[NSimilarityResponse]):
    pass


class DoesntMatchBatchRequest(BatchRequest[DoesntMatchRequest]):
    model_config = _batch_example(DoesntMatchRequest)


class DoesntMatchBatchResponse(BatchResponse[DoesntMatchResponse]):
    pass


class VectorsBatchRequest(BatchRequest[VectorsRequest]):
    model_config = _batch_example(VectorsRequest)


class VectorsBatchResponse(BatchResponse[VectorsResponse]):
    pass


class SentenceVectorsBatchRequest(BatchRequest[SentenceVectorsRequest]):
    model_config = _batch_example(SentenceVectorsRequest)


class SentenceVectorsBatchResponse(BatchResponse[SentenceVectorsResponse]):
    pass
