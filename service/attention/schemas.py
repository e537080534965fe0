"""Request and response bodies of the attention service (pydantic; their examples make ``/docs`` a manual).

Static bounds (``hidden <= 1024``, ``epochs <= 200``…) live here; bounds that depend on the
settings (batch size, input length, beam size, ``max_len``) are checked by the routes and answered
with the same 422 problem shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.seq2seq.limits import MAX_BEAM_SIZE
from models.seq2seq.tasks import ALPHABET
from service.kit.names import NAME_DESCRIPTION, NAME_PATTERN
from service.kit.schemas import Bool, Float, Int, RequestModel
from service.kit.schemas import JobAccepted as JobAccepted  # noqa: F401 (re-exported: schemas.JobAccepted)

Attention = Literal["bahdanau", "luong-dot", "luong-general", "luong-concat"]
Decode = Literal["greedy", "beam"]
TaskName = Literal["dates", "reversal", "copy", "g2p"]
Tokenization = Literal["char", "word"]

Matrix = list[list[float]]
LinkList = list[tuple[int, int]]
#: Links in a request: JSON integers only (``[0, 0]``, never ``["0", 0]`` or ``[0.0, 0]``).
LinkListIn = list[tuple[Int, Int]]

#: Options of ``decode: "beam"`` only (a 422 with ``greedy``: they would be ignored).
BEAM_ONLY = ("beam_size", "n_best", "length_penalty", "coverage_penalty")


def _beam_only(body: BaseModel, decode: str) -> None:
    """Refuse beam options a client sent with a greedy decode (they would be silently ignored)."""
    given = [k for k in BEAM_ONLY if k in body.model_fields_set]
    if decode != "beam" and given:
        raise ValueError(
            f'{", ".join(given)} applies to decode \'beam\' only; add "decode": "beam" or drop it'
        )


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


class DatasetList(BaseModel):
    """Every uploaded dataset, newest first."""

    datasets: list[DatasetOut]


# ------------------------------------------------------------------------------------------ training


class TaskSpec(RequestModel):
    """A built-in task: ``dates`` (human dates -> ISO), ``reversal``, ``copy`` (gold alignments), or ``g2p``
    (English words -> phonemes, CMU Pronouncing Dictionary; its own defaults: test 3000 words, dev 1000,
    every other word train)."""

    name: TaskName = Field(description="Which generator.")
    n_train: Int = Field(2000, ge=10, le=200_000, description="g2p: default every word not in dev/test.")
    n_dev: Int = Field(200, ge=1, le=20_000, description="g2p: default 1000.")
    n_test: Int = Field(200, ge=1, le=20_000, description="g2p: default 3000.")
    min_len: Int = Field(3, ge=1, le=64, description="Shortest string (reversal/copy only).")
    max_len: Int = Field(
        12, ge=1, le=64, description="Longest string (reversal/copy; g2p: longest word, default none)."
    )
    keep_stress: Bool = Field(False, description="g2p only: keep the stress digits (`AH0`, not `AH`).")
    seed: Int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _lengths(self) -> TaskSpec:
        given = [k for k in ("min_len", "max_len") if k in self.model_fields_set]
        if self.name == "dates" and given:
            raise ValueError(
                f"{', '.join(given)} applies to the reversal and copy tasks only; "
                "the dates task draws its own date strings"
            )
        if self.name == "g2p" and "min_len" in self.model_fields_set:
            raise ValueError("min_len applies to the reversal and copy tasks only, not g2p")
        if self.name != "g2p" and "keep_stress" in self.model_fields_set:
            raise ValueError("keep_stress applies to the g2p task only")
        if self.name == "g2p":
            return self
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
        if self.name == "g2p":  # the g2p generator's own defaults for what the client left out
            given = ("n_train", "n_dev", "n_test", "max_len", "keep_stress")
            return {"seed": self.seed} | {k: getattr(self, k) for k in given if k in self.model_fields_set}
        kw: dict[str, Any] = {
            "n_train": self.n_train,
            "n_dev": self.n_dev,
            "n_test": self.n_test,
            "seed": self.seed,
        }
        if self.name != "dates":
            kw.update(min_len=self.min_len, max_len=self.max_len)
        return kw


class TokenizationIn(RequestModel):
    """A tokenization per side."""

    source: Tokenization
    target: Tokenization


class ModelConfigIn(RequestModel):
    """Architecture of the encoder-decoder."""

    tokenization: Tokenization | TokenizationIn = Field(
        "char",
        description='Character or whitespace-word tokens: `"char"`, `"word"` (both sides) or '
        '`{"source": ..., "target": ...}`. Default `"char"`; a `g2p` task defaults to '
        '`{"source": "char", "target": "word"}`.',
    )
    emb_dim: Int = Field(
        32,
        ge=1,
        le=1024,
        description="Embedding size (leave it out with `embeddings`/`embeddings_file`: the vectors' size is taken).",
    )
    hidden: Int = Field(64, ge=1, le=1024, description="GRU hidden size.")
    layers: Int = Field(1, ge=1, le=4)
    bidirectional: Bool = True
    dropout: Float = Field(0.0, ge=0.0, lt=1.0)
    attention: Attention = "bahdanau"
    layer_norm: Bool = False

    @property
    def src_tokenization(self) -> str:
        t = self.tokenization
        return t if isinstance(t, str) else t.source

    @property
    def tgt_tokenization(self) -> str:
        t = self.tokenization
        return t if isinstance(t, str) else t.target

    @model_validator(mode="after")
    def _dot_sizes(self) -> ModelConfigIn:
        if self.attention == "luong-dot" and self.bidirectional:
            raise ValueError(
                "attention 'luong-dot' needs bidirectional=false (the decoder state and the "
                "bidirectional encoder outputs differ in size); use 'luong-general' or set bidirectional false"
            )
        return self


#: The largest ``params.guided_alignment_weight`` accepted.
MAX_GUIDED_ALIGNMENT_WEIGHT = 100.0

#: Options of one learning-rate schedule (a 422 with another schedule: they would be ignored).
SCHEDULE_ONLY: dict[str, tuple[str, ...]] = {
    "step_size": ("step",),
    "rate": ("step", "exponential"),
    "decay_steps": ("exponential",),
    "min_lr": ("linear",),
}


class TrainParamsIn(RequestModel):
    """Optimisation: Adam with an optional linear warmup and a schedule."""

    epochs: Int = Field(10, ge=1, le=200)
    batch_size: Int = Field(64, ge=1, le=1024)
    lr: Float = Field(3e-3, gt=0, le=1.0)
    schedule: Literal["constant", "step", "exponential", "linear"] = "constant"
    warmup_steps: Int = Field(0, ge=0, le=1_000_000)
    step_size: Int = Field(
        1000, ge=1, le=1_000_000, description="`step`: multiply by `rate` every this many steps."
    )
    rate: Float = Field(0.5, gt=0, le=1.0, description="Decay factor of `step` and `exponential`.")
    decay_steps: Int = Field(1000, ge=1, le=1_000_000, description="`exponential`: steps per factor `rate`.")
    min_lr: Float = Field(0.0, ge=0, description="`linear`: the floor reached at the end.")
    teacher_forcing: Float = Field(1.0, ge=0.0, le=1.0, description="Probability of feeding the gold token.")
    clip_grad_norm: Float | None = Field(1.0, gt=0, le=1000)
    seed: Int = Field(0, ge=0, le=2**31 - 1)
    early_stop_exact_match: Float | None = Field(
        None, gt=0, le=1.0, description="Stop once dev exact match reaches this share."
    )
    guided_alignment_weight: Float = Field(
        0.0,
        ge=0.0,
        le=MAX_GUIDED_ALIGNMENT_WEIGHT,
        description="Guided alignment (Marian's, cross-entropy form; Garg et al. 2019): train on "
        "NLL + weight x the cross-entropy between the teacher-forced attention rows and the gold links "
        "(uniform over each target token's linked sources; tokens and pairs without links add nothing). "
        "0 (the default) turns it off; above 0 the training pairs need gold links (a 422 otherwise).",
    )

    @model_validator(mode="after")
    def _min_lr(self) -> TrainParamsIn:
        ignored = [
            k
            for k, schedules in SCHEDULE_ONLY.items()
            if k in self.model_fields_set and self.schedule not in schedules
        ]
        if ignored:
            raise ValueError(
                "; ".join(
                    f"{k} applies to schedule {' or '.join(repr(x) for x in SCHEDULE_ONLY[k])} only"
                    for k in ignored
                )
                + f", not {self.schedule!r}: drop {'it' if len(ignored) == 1 else 'them'} or change schedule"
            )
        if self.min_lr > self.lr:
            raise ValueError("min_lr must be <= lr")
        return self


class EmbeddingsIn(RequestModel):
    """Initialise the source embeddings (word models) from a model of the embeddings service."""

    model: str = Field(pattern=NAME_PATTERN, description=NAME_DESCRIPTION, examples=["default"])
    url: str | None = Field(
        None,
        pattern=r"^https?://",
        max_length=2000,
        description="Base URL of the embeddings service (default: ATTENTION_EMBEDDINGS_URL).",
    )


Pair = tuple[str, str] | tuple[str, str, str | LinkListIn | None]


class TrainRequest(RequestModel):
    """What to train: exactly one data source (``task``, ``dataset_id`` or ``pairs``) plus config and params."""

    name: str = Field(pattern=NAME_PATTERN, description=NAME_DESCRIPTION, examples=["dates"])
    task: TaskSpec | None = None
    dataset_id: str | None = Field(None, pattern=NAME_PATTERN, description="An uploaded dataset.")
    pairs: list[Pair] | None = Field(
        None, description='Inline `[source, target]` (or `[source, target, "0-0 1-1"]`) pairs.'
    )
    dev_fraction: Float | None = Field(
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
    freeze_embeddings: Bool = Field(
        False,
        description="Keep the initialised source vectors fixed during training (with `embeddings`/`embeddings_file`).",
    )
    overwrite: Bool = Field(
        False, description="Train a new version when a model of this name exists (else 409 `model-exists`)."
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
        if (
            self.task is not None
            and self.task.name == "g2p"
            and "tokenization" not in self.config.model_fields_set
        ):
            self.config.tokenization = TokenizationIn(source="char", target="word")
        vectors = self.embeddings is not None or self.embeddings_file is not None
        if vectors and self.config.src_tokenization != "word":
            raise ValueError("pretrained embeddings need word source tokens (config.tokenization = 'word')")
        if vectors and "emb_dim" in self.config.model_fields_set:
            raise ValueError(
                "config.emb_dim is taken from the pretrained vectors' size; drop it when you give "
                "'embeddings' or 'embeddings_file'"
            )
        if not vectors and "freeze_embeddings" in self.model_fields_set:
            raise ValueError(
                "freeze_embeddings applies to pretrained vectors only; give 'embeddings' or "
                "'embeddings_file', or drop it"
            )
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


# JobAccepted (the 202 answer of POST /v1/models) is the kit's, imported above: ``schemas.JobAccepted``.


class ModelOut(BaseModel):
    """A stored model: its configuration, vocabulary sizes, dev metrics and training time."""

    name: str
    version: int
    loaded: bool
    config: dict[str, Any]
    src_vocab_size: int | None = None
    tgt_vocab_size: int | None = None
    dev_metrics: dict[str, Any] = Field(
        default_factory=dict,
        description="The best epoch's dev figures (`dev_exact_match`, …, `dev_alignment_accuracy` and "
        "`dev_alignment_error_rate` with gold links) and `best_epoch`.",
    )
    test_metrics: dict[str, Any] | None = Field(
        None,
        description="Built-in tasks: the test split's figures (`alignment_accuracy` and "
        "`alignment_error_rate` with gold links).",
    )
    training_time_s: float | None = None
    source: dict[str, Any] = Field(default_factory=dict, description="Task or dataset it was trained on.")
    params: dict[str, Any] = Field(default_factory=dict)
    embeddings: dict[str, Any] | None = None
    created: str | None = None


class ModelList(BaseModel):
    """Every stored model (its current version)."""

    models: list[ModelOut]


# ------------------------------------------------------------------------------------------ inference


class TranslateRequest(RequestModel):
    """Inputs to decode, greedy or with a beam."""

    inputs: list[str] = Field(min_length=1, description="Source strings (bounded by ATTENTION_MAX_BATCH).")
    decode: Decode = "greedy"
    beam_size: Int = Field(
        4,
        ge=1,
        le=MAX_BEAM_SIZE,
        description=f"Beam width (`decode: beam` only; at most ATTENTION_MAX_BEAM_SIZE <= {MAX_BEAM_SIZE}).",
    )
    max_len: Int | None = Field(
        None,
        ge=1,
        description="Most output tokens (default: the model's; bounded by ATTENTION_MAX_OUTPUT_LEN).",
    )
    return_attention: Bool = Field(True, description="Include the attention matrices.")
    n_best: Int = Field(
        1,
        ge=1,
        le=MAX_BEAM_SIZE,
        description="`decode: beam` only: return the n best hypotheses per input in `hypotheses` "
        "(at most `beam_size`); the top one stays in the output's own fields.",
    )
    length_penalty: Float | None = Field(
        None,
        ge=0.0,
        le=10.0,
        description="`decode: beam` only: GNMT length penalty α, score = log_prob / ((5 + length) / 6)^α "
        "(default: log_prob / length).",
    )
    coverage_penalty: Float = Field(
        0.0,
        ge=0.0,
        le=10.0,
        description="`decode: beam` only: GNMT coverage penalty β, adds β·Σ_j log(min(Σ_t attention[t][j], 1)).",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"inputs": ["26 november 2026", "Thursday, March 5 2026"], "decode": "beam", "beam_size": 4},
                {"inputs": ["tomato"], "decode": "beam", "beam_size": 4, "n_best": 3, "length_penalty": 0.6},
            ]
        },
    )

    @model_validator(mode="after")
    def _beam(self) -> TranslateRequest:
        _beam_only(self, self.decode)
        if self.n_best > self.beam_size:
            raise ValueError(f"n_best ({self.n_best}) must be <= beam_size ({self.beam_size})")
        return self


class HypothesisOut(BaseModel):
    """One of the n best hypotheses of an input (``n_best > 1``)."""

    output_tokens: list[str]
    output: str
    score: float = Field(description="The ranking score (length/coverage penalties applied).")
    log_prob: float
    finished: bool
    attention: Matrix | None = Field(None, description="This hypothesis's own attention.")
    links: LinkList
    pharaoh: str


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
    hypotheses: list[HypothesisOut] | None = Field(
        None, description="With `n_best > 1`: the n best hypotheses, best first (the first is this output)."
    )


class TranslateResponse(BaseModel):
    model: str
    version: int
    decode: Decode
    beam_size: int
    outputs: list[TranslationOut]


class AlignRequest(RequestModel):
    """(source, target) pairs to teacher-force; optional gold links (Pharaoh strings), one per pair."""

    pairs: list[tuple[str, str]] = Field(min_length=1)
    gold: list[str | list[str] | LinkListIn | None] | None = Field(
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


class EvaluateRequest(RequestModel):
    """A built-in split of the model's task (``dev``/``test``), or given pairs (optionally with gold links)."""

    split: Literal["dev", "test"] | None = None
    pairs: list[Pair] | None = None
    decode: Decode = "greedy"
    beam_size: Int = Field(
        4,
        ge=1,
        le=MAX_BEAM_SIZE,
        description="Beam width (`decode: beam` only; at most ATTENTION_MAX_BEAM_SIZE).",
    )

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
        _beam_only(self, self.decode)
        return self


class EvaluateResponse(BaseModel):
    model: str
    version: int
    n: int
    decode: Decode
    beam_size: int
    loss: float = Field(description="Teacher-forced cross-entropy per target token.")
    exact_match: float = Field(description="Share of outputs equal to a reference (any, with alternatives).")
    token_accuracy: float
    bleu: float = Field(description="Corpus BLEU (sacrebleu, 0-100).")
    token_error_rate: float = Field(
        description="Corpus Levenshtein distance over the reference token count, against each example's "
        "closest reference: PER for phoneme targets, CER for characters."
    )
    sequence_error_rate: float = Field(
        description="1 - exact match: share of outputs matching no reference (WER for g2p)."
    )
    alignment_accuracy: float | None = Field(
        None, description="With gold links: share of gold links that are their attention row's argmax."
    )
    alignment_error_rate: float | None = Field(
        None,
        description="With gold links: AER (Och & Ney) of the rows' argmax links against gold, sure = possible "
        "= gold; the same figure as `aer`, under the name of the job's `dev_alignment_error_rate`.",
    )
    aer: float | None = Field(None, description="With gold links: the alignment error rate.")
    precision: float | None = None
    recall: float | None = None
