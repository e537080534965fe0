"""Request and response bodies of the embeddings API (pydantic, with examples for ``/docs``).

Bounds that depend on settings (``max_topn``, ``max_batch``, ``max_inline_sentences``) are checked
by the handlers; the static bounds here are hard ceilings that keep the documents small.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from service.kit.names import NAME_DESCRIPTION, NAME_PATTERN
from service.kit.schemas import Bool, Float, Int, RequestModel
from service.kit.schemas import JobAccepted as JobAccepted  # noqa: F401 (re-exported: schemas.JobAccepted)

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64, description=NAME_DESCRIPTION)]
Word = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# A token of a token list becomes a vocabulary key: no whitespace, so it can be exported (word2vec format).
Token = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]
SentenceText = Annotated[str, StringConstraints(max_length=100_000)]
TokenList = Annotated[list[Token], Field(max_length=10_000)]
Sentence = SentenceText | TokenList
Method = Literal["cosadd", "cosmul"]
# Int, Float, Bool (service.kit.schemas): JSON numbers and booleans only; lax pydantic would read
# `true` as 1 and "5" as 5 (`topn: true`, `vector_size: true`). Request bodies derive from RequestModel.
HARD_MAX_ITEMS = 100_000
HARD_MAX_TOPN = 100_000

# --------------------------------------------------------------------------- corpora


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


# --------------------------------------------------------------------------- training


class TokenizerOptions(RequestModel):
    """How string sentences are split into tokens (token lists are used as given)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["simple", "whitespace"] = Field(
        "simple",
        description="`simple`: gensim simple_preprocess (letters, 2..15 chars); `whitespace`: split().",
    )
    lowercase: Bool = True


class TrainParamsIn(RequestModel):
    """gensim hyper-parameters; omitted ones take gensim's defaults (workers=2, seed=1)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"vector_size": 50, "window": 5, "min_count": 2, "epochs": 10}]},
    )

    vector_size: Int | None = Field(None, ge=1, le=1000, description="Dimensionality (default 100).")
    window: Int | None = Field(None, ge=1, le=50, description="Context window (default 5).")
    min_count: Int | None = Field(None, ge=1, le=1_000_000, description="Ignore rarer words (default 5).")
    sg: Int | None = Field(None, ge=0, le=1, description="1 = skip-gram, 0 = CBOW (default 0).")
    hs: Int | None = Field(None, ge=0, le=1, description="1 = hierarchical softmax (default 0).")
    negative: Int | None = Field(None, ge=0, le=50, description="Negative samples (default 5).")
    sample: Float | None = Field(None, ge=0, le=1, description="Down-sampling threshold (default 1e-3).")
    alpha: Float | None = Field(None, gt=0, le=1, description="Initial learning rate (default 0.025).")
    min_alpha: Float | None = Field(None, ge=0, le=1, description="Final learning rate (default 1e-4).")
    epochs: Int | None = Field(None, ge=1, le=100, description="Passes over the corpus (default 5).")
    seed: Int | None = Field(None, ge=0, le=2**31 - 1, description="RNG seed (default 1).")
    workers: Int | None = Field(None, ge=1, le=8, description="Training threads (default 2).")
    min_n: Int | None = Field(None, ge=1, le=20, description="FastText only: shortest char n-gram (3).")
    max_n: Int | None = Field(None, ge=0, le=20, description="FastText only: longest char n-gram (6).")
    bucket: Int | None = Field(
        None, ge=1, le=10_000_000, description="FastText only: n-gram hash buckets (2,000,000)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainParamsIn:
        alpha = 0.025 if self.alpha is None else self.alpha
        min_alpha = 0.0001 if self.min_alpha is None else self.min_alpha
        if min_alpha > alpha:
            raise ValueError(f"min_alpha ({min_alpha}) must be <= alpha ({alpha})")
        min_n = 3 if self.min_n is None else self.min_n
        max_n = 6 if self.max_n is None else self.max_n
        if min_n > max_n:
            raise ValueError(f"min_n ({min_n}) must be <= max_n ({max_n})")
        if (self.hs or 0) == 0 and self.negative == 0:
            raise ValueError("need hs=1 or negative > 0, otherwise nothing is trained")
        return self

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


FASTTEXT_ONLY = ("min_n", "max_n", "bucket")


def _tokenizer_used(sentences: list[Any]) -> None:
    """Refuse a ``tokenizer`` sent with token lists only (it applies to string sentences)."""
    if not any(isinstance(s, str) for s in sentences):
        raise ValueError(
            "tokenizer applies to string sentences only, and every sentence is a token list "
            "(used as given); drop tokenizer"
        )


class _CorpusSource(RequestModel):
    corpus_id: Name | None = Field(None, description="An uploaded corpus (`POST /v1/corpora`).")
    sentences: list[Sentence] | None = Field(
        None,
        min_length=1,
        max_length=HARD_MAX_ITEMS,
        description="Inline sentences (strings, tokenized with `tokenizer`, or token lists); small corpora only.",
    )
    tokenizer: TokenizerOptions = Field(default_factory=TokenizerOptions)

    @model_validator(mode="after")
    def _one_source(self) -> _CorpusSource:
        if (self.corpus_id is None) == (self.sentences is None):
            raise ValueError("give exactly one of corpus_id or sentences")
        if "tokenizer" in self.model_fields_set:
            if self.corpus_id is not None:
                raise ValueError(
                    "tokenizer applies to inline sentences only; an uploaded corpus is tokenized as "
                    "it was uploaded (POST /v1/corpora?tokenizer=...&lowercase=...)"
                )
            _tokenizer_used(self.sentences or [])
        return self


class TrainRequest(_CorpusSource):
    """Train a new model (or a new version of one, with `overwrite`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "news",
                    "algorithm": "word2vec",
                    "corpus_id": "news-2024",
                    "params": {"vector_size": 100, "window": 5, "min_count": 2, "epochs": 10},
                },
                {
                    "name": "tiny",
                    "algorithm": "fasttext",
                    "sentences": ["the cat sat on the mat", "the dog sat on the log"],
                    "params": {"vector_size": 16, "min_count": 1, "epochs": 5, "bucket": 10000},
                },
            ]
        },
    )

    name: Name = Field(examples=["news"])
    algorithm: Literal["word2vec", "fasttext"] = "word2vec"
    params: TrainParamsIn = Field(default_factory=TrainParamsIn)
    overwrite: Bool = Field(False, description="Train a new version when the model exists (else 409).")

    @model_validator(mode="after")
    def _fasttext_only(self) -> TrainRequest:
        if self.algorithm == "word2vec":
            given = [k for k in FASTTEXT_ONLY if getattr(self.params, k) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} apply to fasttext only")
        return self


class ContinueRequest(_CorpusSource):
    """Continue training a trained model on new sentences (vocabulary update, gensim semantics)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"sentences": ["a brand new sentence about cats"], "epochs": 5}]},
    )

    epochs: Int | None = Field(
        None, ge=1, le=100, description="Epochs over the new corpus (default: the model's)."
    )
    alpha: Float | None = Field(None, gt=0, le=1)
    min_alpha: Float | None = Field(None, ge=0, le=1)


# JobAccepted (the 202 answer of every training route) is the kit's, imported above: ``schemas.JobAccepted``.


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


# --------------------------------------------------------------------------- models


class VersionInfo(BaseModel):
    version: int
    created: str | None = None
    source: str | None = None
    vocab_size: int | None = None


class ModelInfo(BaseModel):
    """A stored model: the current version's metadata and every version."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: int
    algorithm: str | None = Field(None, description="`word2vec` or `fasttext`.")
    source: str | None = Field(None, description="`trained`, `continued`, `imported` or `builtin`.")
    vector_size: int
    vocab_size: int
    oov_vectors: bool = Field(description="Vectors for out-of-vocabulary words (FastText subwords).")
    trainable: bool = Field(description="Whether `/continue` can train it further (imported: no).")
    created: str | None = None
    training_time_s: float | None = None
    params: dict[str, Any] | None = None
    corpus: dict[str, Any] | None = None
    loaded: bool = Field(description="Loaded in memory and serving queries.")
    index: dict[str, Any] | None = Field(
        None,
        description="The current version's ANN index (faiss HNSW), null when it has none: `kind`, `m`, "
        "`ef_construction`, `ef_search`, `build_s`, `recall_at_10` (against exact search, over `sample` "
        "vocabulary words), `size_bytes`, `built`.",
    )
    versions: list[VersionInfo]


class IndexRequest(RequestModel):
    """Build the ANN index (faiss HNSW over unit vectors, inner product) of a model version."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"m": 32, "ef_construction": 200, "ef_search": 128}]}
    )

    m: Int = Field(32, ge=4, le=128, description="HNSW neighbours per node (faiss `M`).")
    ef_construction: Int = Field(200, ge=8, le=4096, description="Candidate list while building.")
    ef_search: Int = Field(
        128, ge=8, le=4096, description="Candidate list while searching (raised to `topn` + query words)."
    )
    version: Int | None = Field(None, ge=1, description="The version to index (default: the current one).")
    sample: Int = Field(
        1000, ge=1, le=100_000, description="Vocabulary words over which recall@10 is measured."
    )


ImportFormat = Literal["auto", "word2vec-text", "word2vec-binary", "fasttext-bin"]


class ImportRequest(RequestModel):
    """Import a vectors file that is already on the server, in ``EMBEDDINGS_IMPORT_DIR`` (a job)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"path": "GoogleNews-vectors-negative300.bin", "limit": 1000000}]},
    )

    path: str = Field(
        min_length=1,
        max_length=1024,
        description="The file, relative to the import directory (`EMBEDDINGS_IMPORT_DIR`); a path that "
        "leaves it (`..`, an absolute path, a link pointing outside) is refused.",
    )
    format: ImportFormat = Field("auto", description="`auto` sniffs the format from the first bytes.")
    limit: Int | None = Field(
        None, ge=1, description="Keep only the first `limit` vectors (gensim's `limit=`; word2vec formats)."
    )
    overwrite: Bool = Field(False, description="Store a new version when the model exists.")


class ModelList(BaseModel):
    models: list[ModelInfo]


# --------------------------------------------------------------------------- queries


class Neighbour(BaseModel):
    word: str
    score: float = Field(description="Cosine similarity (cosadd) or 3CosMul score (cosmul), as gensim.")


class SimilarQuery(RequestModel):
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
    def _source(self) -> SimilarQuery:
        if self.vector is not None:
            if self.positive or self.negative:
                raise ValueError("give either words (positive/negative) or vector, not both")
            if self.method != "cosadd":
                raise ValueError("method cosmul needs words, not a vector")
        elif not self.positive:
            raise ValueError("positive must name at least one word (or give vector)")
        return self


class SimilarResult(BaseModel):
    results: list[Neighbour]
    exact: bool = Field(
        True, description="Which search answered: `true` exact, `false` the ANN index (scores still exact)."
    )


class SimilarityQuery(RequestModel):
    """Cosine similarity of word pairs (gensim `similarity`)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"pairs": [["president", "bush"], ["war", "peace"]]}]}
    )

    pairs: list[tuple[Word, Word]] = Field(min_length=1, max_length=HARD_MAX_ITEMS)


class SimilarityResult(BaseModel):
    similarities: list[float] = Field(description="One cosine per pair, in order.")


class NSimilarityQuery(RequestModel):
    """Cosine between the means of two word sets (gensim `n_similarity`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"words1": ["president", "minister"], "words2": ["government"]}]},
    )

    words1: list[Word] = Field(min_length=1, max_length=HARD_MAX_ITEMS)
    words2: list[Word] = Field(min_length=1, max_length=HARD_MAX_ITEMS)


class NSimilarityResult(BaseModel):
    similarity: float


class AnalogyQuery(RequestModel):
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


class DoesntMatchQuery(RequestModel):
    """The word that fits least (gensim `doesnt_match`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"words": ["president", "minister", "government", "fire"]}]},
    )

    words: list[Word] = Field(min_length=2, max_length=HARD_MAX_ITEMS)


class DoesntMatchResult(BaseModel):
    word: str


class VectorsQuery(RequestModel):
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


class VectorsResult(BaseModel):
    vectors: list[WordVectorOut]
    unknown_words: list[str] = Field(description="Words without a vector (Word2Vec), in order.")


class SentenceVectorsQuery(RequestModel):
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
    def _tokenizer(self) -> SentenceVectorsQuery:
        if "tokenizer" in self.model_fields_set:
            _tokenizer_used(self.sentences)
        return self


class SentenceVectorOut(BaseModel):
    vector: list[float] = Field(description="Pooled raw vectors; all zeros when no token is known.")
    tokens: list[str]
    used_tokens: list[str]
    unknown_tokens: list[str]
    oov_tokens: list[str]
    known_tokens: int = Field(description="0 means no token was known: the vector is all zeros.")


class SentenceVectorsResult(BaseModel):
    vectors: list[SentenceVectorOut]


# --------------------------------------------------------------------------- evaluation


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


class EvaluateQuery(RequestModel):
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
    def _some(self) -> EvaluateQuery:
        if self.pairs is None and self.analogies is None:
            raise ValueError("give pairs, analogies or both")
        return self


class PairsResult(BaseModel):
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


class AnalogiesResult(BaseModel):
    dataset: str
    accuracy: float
    correct: int
    incorrect: int
    questions_total: int
    questions_evaluated: int
    oov_ratio: float
    sections: list[SectionOut]


class EvaluateResult(BaseModel):
    pairs: PairsResult | None = None
    analogies: AnalogiesResult | None = None


# --------------------------------------------------------------------------- batch form


class BatchError(BaseModel):
    """Why one query of a batch failed (the problem it would have been alone)."""

    index: int = Field(description="Position of the query in `queries`.")
    status: int = Field(examples=[404])
    type: str = Field(examples=["https://embattn.dev/problems/unknown-words"])
    title: str
    detail: str | None = None
    unknown_words: list[str] | None = None


def batch_models(name: str, query: type[BaseModel], result: type[BaseModel], example: dict[str, Any]):
    """The ``{"queries": [...]}`` request and ``{"results": [...], "errors": [...]}`` response of a route."""
    req = type(
        f"{name}Batch",
        (RequestModel,),
        {
            "__annotations__": {"queries": list[query]},
            "queries": Field(
                min_length=1, max_length=HARD_MAX_ITEMS, description="At most `EMBEDDINGS_MAX_BATCH`."
            ),
            "model_config": ConfigDict(
                extra="forbid", json_schema_extra={"examples": [{"queries": [example]}]}
            ),
            "__doc__": f"Many `{query.__name__}` bodies in one request.",
            "__module__": __name__,
        },
    )
    res = type(
        f"{name}BatchResult",
        (BaseModel,),
        {
            "__annotations__": {"results": list[result | None], "errors": list[BatchError]},
            "results": Field(description="One entry per query, in order; null where the query failed."),
            "errors": Field(default_factory=list, description="The failed queries, by index."),
            "__doc__": "Results of a batch: aligned with the queries; failures listed in `errors`.",
            "__module__": __name__,
        },
    )
    return req, res
