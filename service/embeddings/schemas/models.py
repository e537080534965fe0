"""Bodies of the model routes (:mod:`service.embeddings.routes.models`): train, continue, import,
index, describe."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.embeddings.schemas import HARD_MAX_ITEMS, Name, Sentence, TokenizerOptions, tokenizer_used
from service.kit.schemas import Bool, Float, Int, RequestModel


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
            tokenizer_used(self.sentences or [])
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
        description="The current version's ANN index (faiss), null when it has none: `kind`, its parameters "
        "(`m`, `ef_construction`, `ef_search` or `nlist`, `nprobe`: the tuned search value used at query "
        "time), `build_s`, `recall_at_10` (against exact search, over `sample` vocabulary words), "
        "`recall_target`, `recall_target_reached`, `tuned`, `query_ms` (`index`, `exact`: median ms of one "
        "query through the index and by exact search, timed by the job), `note` (when the target was not "
        "reached, or when the index is no faster than exact search), `size_bytes`, `vectors_bytes`, `built`.",
    )
    versions: list[VersionInfo]


class IndexRequest(RequestModel):
    """Build the ANN index (faiss, inner product over unit vectors) of a model version."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"kind": "ivf-sq8", "recall_target": 0.95}, {"kind": "hnsw", "m": 32}]
        },
    )

    kind: Literal["hnsw", "hnsw-sq8", "ivf", "ivf-sq8"] | None = Field(
        None,
        description="`hnsw` (graph, float copy of the vectors), `hnsw-sq8` (graph, 8-bit copy), `ivf` "
        "(inverted lists, float copy), `ivf-sq8` (inverted lists, 8-bit copy); 8-bit candidates are "
        "re-ranked exactly from the stored vectors. Default: `EMBEDDINGS_INDEX_KIND`.",
    )
    m: Int | None = Field(None, ge=4, le=128, description="HNSW kinds: neighbours per node (faiss `M`, 32).")
    ef_construction: Int | None = Field(
        None, ge=8, le=4096, description="HNSW kinds: candidate list while building (200)."
    )
    ef_search: Int | None = Field(
        None,
        ge=8,
        le=4096,
        description="HNSW kinds: first candidate list while searching (128; tuned up to reach `recall_target`).",
    )
    nlist: Int | None = Field(
        None,
        ge=1,
        le=65536,
        description="IVF kinds: inverted lists (default 4·sqrt(vocabulary) rounded to a power of two).",
    )
    nprobe: Int | None = Field(
        None,
        ge=1,
        le=65536,
        description="IVF kinds: first lists searched (8; tuned up to reach `recall_target`).",
    )
    recall_target: Float | None = Field(
        None,
        gt=0,
        le=1,
        description="recall@10 the search parameter is tuned to reach (default `EMBEDDINGS_RECALL_TARGET`).",
    )
    version: Int | None = Field(None, ge=1, description="The version to index (default: the current one).")
    sample: Int = Field(
        1000, ge=1, le=100_000, description="Vocabulary words over which recall@10 is measured."
    )


ImportFormat = Literal["auto", "word2vec-text", "word2vec-binary", "glove", "fasttext-bin"]


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
