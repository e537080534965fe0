"""Typed results of the clients: small dataclasses over the services' JSON.

Each keeps the service's whole JSON object in ``raw`` (members the dataclass does not name
included); lists come back as :class:`ResultList`, a ``list`` whose ``raw`` is the envelope the
service answered (``{"results": [...]}``, ``{"models": [...]}``…).

>>> hits = client.similar("default", ["president"], topn=2)
>>> hits[0]
Neighbour(word='bush', score=0.98...)
>>> hits.raw
{'results': [{'word': 'bush', 'score': 0.98...}, ...]}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

#: Job statuses after which a job never changes again.
ENDED = frozenset({"succeeded", "failed", "cancelled"})


class ResultList(list[T]):
    """A list of typed results, with the service's whole answer in ``raw``
    (``ResultList[Neighbour]``: a list of :class:`Neighbour`)."""

    raw: dict[str, Any]

    def __init__(self, items: Iterable[T] = (), raw: dict[str, Any] | None = None) -> None:
        super().__init__(items)
        self.raw = raw if raw is not None else {}


def _build(cls: type[T], data: dict[str, Any], **extra: Any) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {k: v for k, v in data.items() if k in names}
    kwargs.update(extra)
    if "raw" in names:
        kwargs["raw"] = data
    return cls(**kwargs)


class _Raw:
    raw: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        """A member of the service's JSON: ``info["params"]``."""
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


@dataclass(frozen=True)
class Neighbour:
    """A word and its score (cosine for ``cosadd``, 3CosMul for ``cosmul``), as gensim answers."""

    word: str
    score: float


@dataclass
class Accepted(_Raw):
    """The ``202 Accepted`` answer of a request that started a job."""

    job_id: str
    model: str | None
    status: str
    location: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Accepted:
        return _build(cls, data)


@dataclass
class Job(_Raw):
    """A training job of either service.

    ``loss`` is embeddings' ``loss`` or attention's ``train_loss``; ``lr`` is embeddings'
    ``learning_rate`` or attention's ``lr``; ``step`` (attention) and ``words_per_second``
    (embeddings) are ``None`` where the service has none. ``raw`` is the whole record (with
    ``history`` unless asked without it).
    """

    id: str
    status: str
    model: str | None = None
    kind: str | None = None
    progress: float = 0.0
    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    loss: float | None = None
    lr: float | None = None
    words_per_second: float | None = None
    phase: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    created: str | None = None
    started: str | None = None
    finished: str | None = None
    duration_s: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        extra: dict[str, Any] = {}
        if data.get("loss") is None and data.get("train_loss") is not None:
            extra["loss"] = data["train_loss"]
        lr = data.get("learning_rate", data.get("lr"))
        if lr is not None:
            extra["lr"] = lr
        if data.get("epochs") is None:
            asked = data.get("spec") or data.get("request") or {}
            epochs = (asked.get("params") or {}).get("epochs") if isinstance(asked, dict) else None
            if isinstance(epochs, int):
                extra["epochs"] = epochs
        return _build(cls, data, **extra)

    @property
    def ended(self) -> bool:
        """Whether the job is over (succeeded, failed or cancelled)."""
        return self.status in ENDED

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def history(self) -> list[dict[str, Any]]:
        """Per-epoch (embeddings) or per-step and per-epoch (attention) reports; ``[]`` without."""
        return list(self.raw.get("history") or [])


@dataclass
class ModelInfo(_Raw):
    """A model's metadata (the service's ``GET /v1/models/{name}``); the rest is in ``raw``."""

    name: str
    version: int
    loaded: bool = False
    created: str | None = None
    training_time_s: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        return _build(cls, data)


@dataclass
class Version(_Raw):
    """One stored version of a model (metrics and params in ``raw``)."""

    version: int
    current: bool = False
    loaded: bool = False
    created: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Version:
        return _build(cls, data)


@dataclass
class Versions(_Raw):
    """``GET /v1/models/{name}/versions``: the model, its current version and every version."""

    model: str
    current: int
    versions: list[Version]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Versions:
        return cls(
            model=data["model"],
            current=data["current"],
            versions=[Version.from_dict(v) for v in data.get("versions", [])],
            raw=data,
        )


@dataclass
class WordVector(_Raw):
    """A word's vector (``None`` when unknown); ``oov``: built from FastText n-grams."""

    word: str
    vector: list[float] | None
    known: bool = False
    in_vocab: bool = False
    oov: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordVector:
        return _build(cls, data)


@dataclass
class Translation(_Raw):
    """One decoded input: ``tokens`` (the output tokens), ``output`` (joined), ``score``,
    ``attention`` (one row per output token, one column per source token; ``None`` when not asked),
    ``links`` (``[source, output]`` argmax pairs) and ``pharaoh`` (the same as a string)."""

    input: str
    output: str
    tokens: list[str]
    source_tokens: list[str]
    score: float
    log_prob: float | None = None
    finished: bool = True
    attention: list[list[float]] | None = None
    links: list[list[int]] = field(default_factory=list)
    pharaoh: str = ""
    unknown_tokens: list[str] = field(default_factory=list)
    #: With ``n_best > 1``: the n best hypotheses, best first, each a :class:`Translation` of its own
    #: (its own ``tokens``, ``score``, ``attention``, ``links``); empty otherwise.
    hypotheses: list[Translation] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Translation:
        common = {"input": data.get("input", ""), "source_tokens": data.get("source_tokens", [])}
        hypotheses = [cls.from_dict({**common, **h}) for h in data.get("hypotheses") or []]
        return _build(cls, data, tokens=data.get("output_tokens", []), hypotheses=hypotheses)


@dataclass
class Alignment(_Raw):
    """The teacher-forced attention of one (source, target) pair, with scores against gold links."""

    source: str
    target: str
    source_tokens: list[str]
    target_tokens: list[str]
    attention: list[list[float]]
    links: list[list[int]]
    pharaoh: str
    log_prob: float | None = None
    scores: dict[str, float] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alignment:
        return _build(cls, data)


__all__ = [
    "ENDED",
    "Accepted",
    "Alignment",
    "Job",
    "ModelInfo",
    "Neighbour",
    "ResultList",
    "Translation",
    "Version",
    "Versions",
    "WordVector",
]
