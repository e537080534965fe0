"""Bodies of the model routes (:mod:`service.attention.routes.models`): train, describe, list."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.seq2seq.limits import MAX_BEAM_SIZE
from models.seq2seq.tasks import ALPHABET
from service.attention.schemas import Attention, Pair, TaskName, Tokenization
from service.kit.names import NAME_DESCRIPTION, NAME_PATTERN
from service.kit.redact import has_credentials
from service.kit.schemas import Bool, Float, Int, RequestModel, option


class TaskSpec(RequestModel):
    """A built-in task: ``dates`` (human dates -> ISO), ``reversal``, ``copy`` (gold alignments), or ``g2p``
    (English words -> phonemes, CMU Pronouncing Dictionary; its own defaults: test 3000 words, dev 1000,
    every other word train)."""

    name: TaskName = Field(description="Which generator.")
    n_train: Int = option(
        2000, ge=10, le=200_000, description="Training pairs (default 2000; g2p: every word not in dev/test)."
    )
    n_dev: Int = option(200, ge=1, le=20_000, description="Dev pairs (default 200; g2p: 1000).")
    n_test: Int = option(200, ge=1, le=20_000, description="Test pairs (default 200; g2p: 3000).")
    min_len: Int = option(3, ge=1, le=64, description="Shortest string (reversal/copy only; default 3).")
    max_len: Int = option(
        12,
        ge=1,
        le=64,
        description="Longest string (reversal/copy, default 12; g2p: longest word, default none; not dates).",
    )
    keep_stress: Bool = option(
        False, description="g2p only: keep the stress digits (`AH0`, not `AH`; default false)."
    )
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

    tokenization: Tokenization | TokenizationIn = option(
        "char",
        description='Character or whitespace-word tokens: `"char"`, `"word"` (both sides) or '
        '`{"source": ..., "target": ...}`. Default `"char"`; a `g2p` task defaults to '
        '`{"source": "char", "target": "word"}`.',
    )
    emb_dim: Int = option(
        32,
        ge=1,
        le=1024,
        description="Embedding size (default 32; leave it out with `embeddings`/`embeddings_file`: the "
        "vectors' size is taken).",
    )
    hidden: Int = Field(64, ge=1, le=1024, description="GRU hidden size.")
    layers: Int = Field(1, ge=1, le=4)
    bidirectional: Bool = True
    dropout: Float = Field(0.0, ge=0.0, lt=1.0)
    attention: Attention = "bahdanau"
    layer_norm: Bool = False
    input_feeding: Bool = Field(
        False,
        description="Luong input feeding: the previous attentional vector joins the decoder GRU's input, "
        "so training runs the decoder step by step. False (the default): the GRU sees the embedding "
        "alone and teacher-forced training runs the decoder over the whole target in one pass (1.3x to "
        "2.4x the steps/s at batch 128, hidden 256; search still runs step by step). Models trained "
        "before this option have input feeding.",
    )

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


#: The largest ``params.average_last`` accepted: each averaged checkpoint is a copy of the weights in memory.
MAX_AVERAGE_LAST = 10


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
    step_size: Int = option(
        1000,
        ge=1,
        le=1_000_000,
        description="`step` only: multiply by `rate` every this many steps (default 1000).",
    )
    rate: Float = option(
        0.5, gt=0, le=1.0, description="`step` and `exponential` only: the decay factor (default 0.5)."
    )
    decay_steps: Int = option(
        1000, ge=1, le=1_000_000, description="`exponential` only: steps per factor `rate` (default 1000)."
    )
    min_lr: Float = option(0.0, ge=0, description="`linear` only: the floor reached at the end (default 0).")
    teacher_forcing: Float = Field(1.0, ge=0.0, le=1.0, description="Probability of feeding the gold token.")
    clip_grad_norm: Float | None = Field(1.0, gt=0, le=1000)
    seed: Int = Field(0, ge=0, le=2**31 - 1)
    early_stop_exact_match: Float | None = Field(
        None, gt=0, le=1.0, description="Stop once dev exact match reaches this share."
    )
    max_steps: Int | None = Field(
        None,
        ge=1,
        le=100_000_000,
        description="Step budget: stop after this many updates (the running epoch is evaluated, the "
        "best checkpoint kept); the linear schedule's total steps become min(epochs x steps per epoch, this).",
    )
    max_time_s: Float | None = Field(
        None,
        gt=0,
        le=7 * 24 * 3600,
        description="Wall-clock budget of the training loop in seconds: the running step finishes, the "
        "cut epoch is evaluated, the best checkpoint kept. The `linear` schedule follows it: its end "
        "(where the lr reaches `min_lr`) is re-estimated from the measured update rate (dev evaluations "
        "included) after updates 10, 20, 40, ... and every epoch, so the decay ends with the budget.",
    )
    eval_beam_size: Int = Field(
        1,
        ge=1,
        le=MAX_BEAM_SIZE,
        description="Beam width of the dev decoding after every epoch (1, the default: greedy; at most the "
        "service's `max_beam_size`, a 422 above). Dev figures then match what a beam decode scores; the "
        "dev decode per epoch is slower (measured: 2x greedy's at beam 4, 300 g2p words).",
    )
    select_by: Literal["token_error_rate", "sequence_error_rate", "exact_match", "loss"] = Field(
        "token_error_rate",
        description="Dev metric choosing the checkpoint that is kept: `token_error_rate` (the default; PER "
        "for g2p, CER for characters), `sequence_error_rate` (WER for g2p), `exact_match` (the highest) or "
        "`loss` (teacher-forced dev loss); the error rates and loss are minimised, ties broken by dev loss. "
        "The model's `dev_metrics.selected_by` names it. Free: the figures are computed every epoch anyway.",
    )
    label_smoothing: Float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Label smoothing eps of the training cross-entropy (0, the default: off; 0.1 is usual): "
        "the target puts 1 - eps on the gold token and eps spread over the vocabulary; pad positions are "
        "excluded. Often a little better on dev for the same cost; `train_loss` stays the plain NLL.",
    )
    average_last: Int = Field(
        1,
        ge=1,
        le=MAX_AVERAGE_LAST,
        description="Average the weights of the last k per-epoch checkpoints once training ends (1, the "
        "default: off). The average is evaluated on dev and kept only if it beats the selected checkpoint "
        "by `select_by` (ties: dev loss); `dev_metrics.average_kept` says which won. Costs k copies of the "
        "weights in memory and one more dev evaluation.",
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
        description="Base URL of the embeddings service (default: ATTENTION_EMBEDDINGS_URL). A URL with "
        "credentials (`http://user:password@host/`) is refused (422): jobs and models show the URL.",
    )

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str | None) -> str | None:
        if url is not None and has_credentials(url):
            raise ValueError(
                "a URL with credentials (user:password@) is refused: jobs and models show this URL; "
                "give the embeddings service's URL without them"
            )
        return url


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
    freeze_embeddings: Bool = option(
        False,
        description="With `embeddings`/`embeddings_file` only: keep the initialised source vectors fixed "
        "during training (default false).",
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


class ModelInfo(BaseModel):
    """A stored model: its configuration, vocabulary sizes, dev metrics and training time."""

    name: str
    version: int
    loaded: bool
    config: dict[str, Any]
    src_vocab_size: int | None = None
    tgt_vocab_size: int | None = None
    dev_metrics: dict[str, Any] = Field(
        default_factory=dict,
        description="The kept checkpoint's dev figures (`dev_exact_match`, `dev_token_error_rate`, …, "
        "`dev_alignment_accuracy` and `dev_alignment_error_rate` with gold links), `best_epoch`, "
        "`selected_by` (the `params.select_by` metric that chose it) and, with `params.average_last` > 1, "
        "`average_kept` (whether the weight average replaced it), `averaged_epochs` and "
        "`average_dev_<select_by>` (how the average scored).",
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

    models: list[ModelInfo]
