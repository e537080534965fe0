"""Bodies of the inference routes (:mod:`service.attention.routes.inference`): translate, align,
evaluate."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.seq2seq.limits import MAX_BEAM_SIZE
from service.attention.schemas import (
    DEFAULT_BEAM_SIZE,
    Decode,
    LinkList,
    LinkListIn,
    Matrix,
    Pair,
    beam_only,
)
from service.kit.schemas import Bool, Float, Int, RequestModel, option


class TranslateRequest(RequestModel):
    """Inputs to decode, greedy or with a beam."""

    inputs: list[str] = Field(min_length=1, description="Source strings (bounded by ATTENTION_MAX_BATCH).")
    decode: Decode = "greedy"
    beam_size: Int = option(
        DEFAULT_BEAM_SIZE,
        ge=1,
        le=MAX_BEAM_SIZE,
        description=f"Beam width (`decode: beam` only; default {DEFAULT_BEAM_SIZE}; at most "
        f"ATTENTION_MAX_BEAM_SIZE <= {MAX_BEAM_SIZE}).",
    )
    max_len: Int | None = Field(
        None,
        ge=1,
        description="Most output tokens (default: the model's; bounded by ATTENTION_MAX_OUTPUT_LEN).",
    )
    return_attention: Bool = Field(True, description="Include the attention matrices.")
    n_best: Int = option(
        1,
        ge=1,
        le=MAX_BEAM_SIZE,
        description="`decode: beam` only: return the n best hypotheses per input in `hypotheses` "
        "(at most `beam_size`; default 1: no `hypotheses`); the top one stays in the output's own fields.",
    )
    length_penalty: Float | None = Field(
        None,
        ge=0.0,
        le=10.0,
        description="`decode: beam` only: GNMT length penalty α, score = log_prob / ((5 + length) / 6)^α "
        "(default: log_prob / length).",
    )
    coverage_penalty: Float = option(
        0.0,
        ge=0.0,
        le=10.0,
        description="`decode: beam` only: GNMT coverage penalty β, adds β·Σ_j log(min(Σ_t attention[t][j], 1)) "
        "(default 0: none).",
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
        beam_only(self, self.decode)
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
    beam_size: Int = option(
        DEFAULT_BEAM_SIZE,
        ge=1,
        le=MAX_BEAM_SIZE,
        description=f"Beam width (`decode: beam` only; default {DEFAULT_BEAM_SIZE}; at most ATTENTION_MAX_BEAM_SIZE).",
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
        beam_only(self, self.decode)
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
