"""Request and response bodies of the attention service (pydantic; their examples make ``/docs`` a manual).

Static bounds (``hidden <= 1024``, ``epochs <= 200``…) live here; bounds that depend on the
settings (batch size, input length, beam size, ``max_len``) are checked by the routes and answered
with the same 422 problem shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.seq2seq.tasks import ALPHABET
from service.kit.names import NAME_DESCRIPTION, NAME_PATTERN

Attention = Literal["bahdanau", "luong-dot", "luong-general", "luong-concat"]
Decode = Literal["greedy", "beam"]
TaskName = Literal["dates", "reversal", "copy"]

Matrix = list[list[float]]
LinkList = list[tuple[int, int]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------ datasets


class DatasetOut(BaseModel):
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


# ------------------------------------------------------------------------------------------ training


class TaskSpec(_Strict):
    """A built-in generator with gold alignments: ``dates`` (human dates -> ISO), ``reversal``, ``copy``."""

    name: TaskName = Field(description="Which generator.")
    n_train: int = Field(2000, ge=10, le=200_000)
    n_dev: int = Field(200, ge=1, le=20_000)
    n_test: int = Field(200, ge=1, le=20_000)
    min_len: int = Field(3, ge=1, le=64, description="Shortest string (reversal/copy only).")
    max_len: int = Field(12, ge=1, le=64, description="Longest string (reversal/copy only).")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _lengths(self) -> TaskSpec:
        if self.min_len > self.max_len:
            raise ValueError("min_len must be <= max_len")
        if self.name != "dates":
            # the generator draws distinct strings over 36 letters/digits: never ask for more than exist
            wanted = self.n_train + self.n_dev + self.n_test
            available = sum(len(ALPHABET) ** n for n in range(self.min_len, min(self.max_len, 5) + 1))
            if self.max_len <= 5 and wanted > available:
                raise ValueError(
                    f"n_train + n_dev + n_test = {wanted} distinct {self.name} strings requested, but only "
                    f"{available} exist of length {self.min_len}..{self.max_len}; raise max_len or ask for fewer"
                )
        return self

    def generator_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "n_train": self.n_train,
            "n_dev": self.n_dev,
            "n_test": self.n_test,
            "seed": self.seed,
        }
        if self.name != "dates":
            kw.update(min_len=self.min_len, max_len=self.max_len)
        return kw


class ModelConfigIn(_Strict):
    """Architecture of the encoder-decoder."""

    tokenization: Literal["char", "word"] = Field("char", description="Character or whitespace-word tokens.")
    emb_dim: int = Field(
        32,
        ge=1,
        le=1024,
        description="Embedding size (word models initialised from vectors take the vectors' size).",
    )
    hidden: int = Field(64, ge=1, le=1024, description="GRU hidden size.")
    layers: int = Field(1, ge=1, le=4)
    bidirectional: bool = True
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    attention: Attention = "bahdanau"
    layer_norm: bool = False

    @model_validator(mode="after")
    def _dot_sizes(self) -> ModelConfigIn:
        if self.attention == "luong-dot" and self.bidirectional:
            raise ValueError(
                "attention 'luong-dot' needs bidirectional=false (the decoder state and the "
                "bidirectional encoder outputs differ in size); use 'luong-general' or set bidirectional false"
            )
        return self


class TrainParamsIn(_Strict):
    """Optimisation: Adam with an optional linear warmup and a schedule."""

    epochs: int = Field(10, ge=1, le=200)
    batch_size: int = Field(64, ge=1, le=1024)
    lr: float = Field(3e-3, gt=0, le=1.0)
    schedule: Literal["constant", "step", "exponential", "linear"] = "constant"
    warmup_steps: int = Field(0, ge=0, le=1_000_000)
    step_size: int = Field(
        1000, ge=1, le=1_000_000, description="`step`: multiply by `rate` every this many steps."
    )
    rate: float = Field(0.5, gt=0, le=1.0, description="Decay factor of `step` and `exponential`.")
    decay_steps: int = Field(1000, ge=1, le=1_000_000, description="`exponential`: steps per factor `rate`.")
    min_lr: float = Field(0.0, ge=0, description="`linear`: the floor reached at the end.")
    teacher_forcing: float = Field(1.0, ge=0.0, le=1.0, description="Probability of feeding the gold token.")
    clip_grad_norm: float | None = Field(1.0, gt=0, le=1000)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    early_stop_exact_match: float | None = Field(
        None, gt=0, le=1.0, description="Stop once dev exact match reaches this share."
    )

    @model_validator(mode="after")
    def _min_lr(self) -> TrainParamsIn:
        if self.min_lr > self.lr:
            raise ValueError("min_lr must be <= lr")
        return self


class EmbeddingsIn(_Strict):
    """Initialise the source embeddings (word models) from a model of the embeddings service."""

    model: str = Field(pattern=NAME_PATTERN, description=NAME_DESCRIPTION, examples=["default"])
    url: str | None = Field(
        None,
        pattern=r"^https?://",
        max_length=2000,
        description="Base URL of the embeddings service (default: ATTENTION_EMBEDDINGS_URL).",
    )


Pair = tuple[str, str] | tuple[str, str, str | LinkList | None]


class TrainRequest(_Strict):
    """What to train: exactly one data source (``task``, ``dataset_id`` or ``pairs``) plus config and params."""

    name: str = Field(pattern=NAME_PATTERN, description=NAME_DESCRIPTION, examples=["dates"])
    task: TaskSpec | None = None
    dataset_id: str | None = Field(None, pattern=NAME_PATTERN, description="An uploaded dataset.")
    pairs: list[Pair] | None = Field(
        None, description='Inline `[source, target]` (or `[source, target, "0-0 1-1"]`) pairs.'
    )
    dev_fraction: float | None = Field(
        None, gt=0, lt=0.9, description="Share of the data held out for dev (dataset/pairs; default 0.1)."
    )
    dev_dataset_id: str | None = Field(None, pattern=NAME_PATTERN, description="A separate dev dataset.")
    config: ModelConfigIn = Field(default_factory=ModelConfigIn)
    params: TrainParamsIn = Field(default_factory=TrainParamsIn)
    embeddings: EmbeddingsIn | None = None
    embeddings_file: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        description="An uploaded word2vec file (`POST /v1/datasets?format=word2vec`) for the source embeddings.",
    )
    freeze_embeddings: bool = Field(
        False, description="Keep the initialised source vectors fixed during training."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "rev",
                    "task": {"name": "reversal", "n_train": 2000, "max_len": 8},
                    "config": {"hidden": 64, "attention": "luong-general"},
                    "params": {"epochs": 10, "lr": 0.005, "schedule": "linear", "warmup_steps": 50},
                },
                {
                    "name": "mydates",
                    "pairs": [["26 nov 2026", "2026-11-26"], ["1/2/2027", "2027-02-01"]],
                    "dev_fraction": 0.5,
                    "params": {"epochs": 5},
                },
            ]
        },
    )

    @model_validator(mode="after")
    def _one_source(self) -> TrainRequest:
        sources = [x for x in (self.task, self.dataset_id, self.pairs) if x is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of 'task', 'dataset_id' or 'pairs'")
        if self.task is not None and (self.dev_fraction is not None or self.dev_dataset_id is not None):
            raise ValueError("a built-in task has its own dev split; drop 'dev_fraction'/'dev_dataset_id'")
        if self.dev_fraction is not None and self.dev_dataset_id is not None:
            raise ValueError("give 'dev_fraction' or 'dev_dataset_id', not both")
        if self.embeddings is not None and self.embeddings_file is not None:
            raise ValueError("give 'embeddings' or 'embeddings_file', not both")
        if (self.embeddings or self.embeddings_file) and self.config.tokenization != "word":
            raise ValueError("pretrained embeddings need config.tokenization = 'word'")
        return self


class JobOut(BaseModel):
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
    dev_alignment_accuracy: float | None = Field(None, description="Where the data has gold links.")
    embedding_coverage: float | None = Field(
        None, description="Share of the source vocabulary initialised from vectors."
    )
    metrics: dict[str, Any] = Field(default_factory=dict)
    history: list[dict[str, Any]] | None = Field(
        None, description="Per-step (`lr`, `train_loss`) and per-epoch (dev metrics) reports."
    )
    error: str | None = None
    result: dict[str, Any] | None = None
    spec: dict[str, Any] | None = None


class JobAccepted(BaseModel):
    """The answer to POST /v1/models (202)."""

    job_id: str
    model: str
    status: str
    location: str = Field(description="Where to watch the job.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "9b1d…",
                    "model": "rev",
                    "status": "queued",
                    "location": "/v1/jobs/9b1d…",
                }
            ]
        }
    )


class ModelOut(BaseModel):
    """A stored model: its configuration, vocabulary sizes, dev metrics and training time."""

    name: str
    version: int
    loaded: bool
    config: dict[str, Any]
    src_vocab_size: int | None = None
    tgt_vocab_size: int | None = None
    dev_metrics: dict[str, Any] = Field(default_factory=dict)
    test_metrics: dict[str, Any] | None = Field(None, description="Built-in tasks: the test split's figures.")
    training_time_s: float | None = None
    source: dict[str, Any] = Field(default_factory=dict, description="Task or dataset it was trained on.")
    params: dict[str, Any] = Field(default_factory=dict)
    embeddings: dict[str, Any] | None = None
    created: str | None = None


# ------------------------------------------------------------------------------------------ inference


class TranslateRequest(_Strict):
    """Inputs to decode, greedy or with a beam."""

    inputs: list[str] = Field(min_length=1, description="Source strings (bounded by ATTENTION_MAX_BATCH).")
    decode: Decode = "greedy"
    beam_size: int = Field(
        4, ge=1, le=64, description="Beam width (`beam`; bounded by ATTENTION_MAX_BEAM_SIZE)."
    )
    max_len: int | None = Field(
        None,
        ge=1,
        description="Most output tokens (default: the model's; bounded by ATTENTION_MAX_OUTPUT_LEN).",
    )
    return_attention: bool = Field(True, description="Include the attention matrices.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"inputs": ["26 november 2026", "Thursday, March 5 2026"], "decode": "beam", "beam_size": 4}
            ]
        },
    )


class TranslationOut(BaseModel):
    """One decoded input with the attention of the chosen hypothesis."""

    input: str
    source_tokens: list[str]
    output_tokens: list[str]
    output: str
    score: float = Field(
        description="Greedy: log-probability; beam: log-probability per token (EOS counted)."
    )
    log_prob: float
    finished: bool = Field(description="Whether the decoder emitted end-of-sequence before max_len.")
    attention: Matrix | None = Field(
        None, description="len(output_tokens) rows x len(source_tokens) columns; each row sums to 1."
    )
    links: LinkList = Field(description="[source index, output index]: the argmax of each attention row.")
    pharaoh: str = Field(description='The links as a Pharaoh string "s-t s-t …".')
    unknown_tokens: list[str] = Field(description="Source tokens outside the vocabulary (encoded as <unk>).")


class TranslateResponse(BaseModel):
    model: str
    version: int
    decode: Decode
    beam_size: int
    outputs: list[TranslationOut]


class AlignRequest(_Strict):
    """(source, target) pairs to teacher-force; optional gold links (Pharaoh strings), one per pair."""

    pairs: list[tuple[str, str]] = Field(min_length=1)
    gold: list[str | list[str] | LinkList | None] | None = Field(
        None,
        description='Gold links per pair: "0-0 1-1", ["0-0", "1-1"] or [[0, 0], [1, 1]] (null skips a pair).',
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"pairs": [["5/3/2026", "2026-03-05"]], "gold": ["4-0 5-1 6-2 7-3 2-6 0-9"]}]
        },
    )

    @field_validator("gold")
    @classmethod
    def _gold_len(cls, v: list[Any] | None, info: Any) -> list[Any] | None:
        pairs = info.data.get("pairs")
        if v is not None and pairs is not None and len(v) != len(pairs):
            raise ValueError(f"'gold' has {len(v)} items but 'pairs' has {len(pairs)}")
        return v


class AlignmentScoresOut(BaseModel):
    precision: float
    recall: float
    aer: float = Field(description="Alignment error rate (Och & Ney 2003); sure = possible = gold.")


class AlignmentOut(BaseModel):
    source: str
    target: str
    source_tokens: list[str]
    target_tokens: list[str]
    attention: Matrix = Field(description="len(target_tokens) rows x len(source_tokens) columns.")
    links: LinkList
    pharaoh: str
    log_prob: float = Field(description="Log-probability of the target (and end-of-sequence).")
    scores: AlignmentScoresOut | None = None


class AlignResponse(BaseModel):
    model: str
    version: int
    alignments: list[AlignmentOut]
    scores: AlignmentScoresOut | None = Field(None, description="Corpus-level (micro-averaged) against gold.")
    alignment_accuracy: float | None = Field(None, description="Share of gold links that are the row argmax.")


class EvaluateRequest(_Strict):
    """A built-in split of the model's task (``dev``/``test``), or given pairs (optionally with gold links)."""

    split: Literal["dev", "test"] | None = None
    pairs: list[Pair] | None = None
    decode: Decode = "greedy"
    beam_size: int = Field(4, ge=1, le=64)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"split": "test"}, {"pairs": [["nov 26, 2026", "2026-11-26"]]}]},
    )

    @model_validator(mode="after")
    def _one(self) -> EvaluateRequest:
        if (self.split is None) == (self.pairs is None):
            raise ValueError("give exactly one of 'split' or 'pairs'")
        if self.pairs is not None and not self.pairs:
            raise ValueError("'pairs' is empty")
        return self


class EvaluateResponse(BaseModel):
    model: str
    version: int
    n: int
    decode: Decode
    beam_size: int
    loss: float = Field(description="Teacher-forced cross-entropy per target token.")
    exact_match: float
    token_accuracy: float
    bleu: float = Field(description="Corpus BLEU (sacrebleu, 0-100).")
    alignment_accuracy: float | None = None
    aer: float | None = None
    precision: float | None = None
    recall: float | None = None
