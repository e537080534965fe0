"""Training Word2Vec / FastText models with gensim, with per-epoch progress reports.

>>> from gensim.test.utils import datapath
>>> from models.embeddings.corpus import LineCorpus
>>> corpus = LineCorpus(datapath("lee_background.cor"))  # 300 news stories, one per line
>>> model, summary = train_model("word2vec", corpus, TrainParams(epochs=2, workers=1))
>>> summary.vocab_size, summary.corpus_sentences, summary.corpus_words, len(summary.loss_history)
(1750, 300, 58152, 2)

Reproducibility: gensim is only deterministic with ``workers=1`` *and* a fixed ``PYTHONHASHSEED`` in the
training process (OS thread scheduling changes the job order otherwise); ``seed`` fixes the initial vectors.

Word2Vec loss (gensim 4.4 quirks): ``get_latest_training_loss()`` is cumulative within one ``train()`` call
(reset to 0 at each call), accumulated in float32 (coarse once it reaches ~1e6), and with ``workers > 1`` it
LOSES updates -- each worker job copies the counter at its start and writes it back at its end, so
concurrent jobs overwrite each other and the per-epoch values jump around (measured on the Lee corpus:
workers=1 -> 173k, 141k, 128k, 125k, ... smooth; workers=2 -> 114k, 94k, 107k, 83k, ...). The reports still
give exactly the per-epoch differences of gensim's counter (they sum to it), plus a ``loss_note`` when
``workers > 1``. Use ``workers=1`` when the loss curve matters.

Continued training (``base_model=...``) follows gensim's semantics: ``build_vocab(new, update=True)`` adds
the new corpus' words that reach ``min_count`` *within the new corpus* (words below it are dropped, even if
they would reach it combined with the old counts), appends them after the existing vocabulary (the
vocabulary is no longer sorted by frequency), adds the new counts to the existing words, initialises the
new vectors randomly, then ``train()`` runs ``base_model.epochs`` epochs over the NEW corpus only with the
learning rate restarting from ``alpha`` down to ``min_alpha``. The architecture (vector_size, window, sg,
hs, negative, FastText min_n/max_n/bucket) cannot change: ``params`` is ignored for those, only
``epochs``/``alpha``/``min_alpha`` are taken from ``params`` when given. Old words absent from the new
corpus drift (no "forgetting" protection). The base model is modified in place and returned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from gensim.models import FastText, Word2Vec
from gensim.models.callbacks import CallbackAny2Vec

ALGORITHMS: tuple[str, ...] = ("word2vec", "fasttext")
FASTTEXT_LOSS_NOTE = "gensim computes no training loss for FastText"
W2V_THREADS_LOSS_NOTE = (
    "gensim's loss counter loses updates when workers > 1 (worker threads overwrite it); "
    "use workers=1 for an exact loss curve"
)


@dataclass
class TrainParams:
    """Hyper-parameters (gensim names and defaults, except ``workers=2`` and ``seed=1``).

    * ``vector_size``: dimensionality of the vectors.
    * ``window``: max distance between the current and a predicted word (gensim samples the effective
      window uniformly in ``1..window`` per word).
    * ``min_count``: ignore words with a total corpus frequency below this.
    * ``sg``: 1 = skip-gram, 0 = CBOW.
    * ``hs``: 1 = hierarchical softmax; 0 = negative sampling (if ``negative > 0``).
    * ``negative``: number of noise words for negative sampling (0 = none; needs ``hs=1`` then).
    * ``sample``: threshold for down-sampling frequent words (0 = off; useful range 0..1e-5).
    * ``alpha`` / ``min_alpha``: initial / final learning rate; decays linearly over ALL epochs.
    * ``epochs``: passes over the corpus.
    * ``seed``: RNG seed for the initial vectors (see module note on determinism).
    * ``workers``: worker threads (``> 1`` makes gensim's Word2Vec loss unreliable, see module docstring).
    * FastText only: ``min_n`` / ``max_n`` char n-gram lengths (``max_n < min_n`` disables n-grams),
      ``bucket``: number of hash buckets for n-gram vectors (memory: ``bucket * vector_size * 4`` bytes).

    Raises ``ValueError`` on out-of-range values (the HTTP layer validates bounds too).
    """

    vector_size: int = 100
    window: int = 5
    min_count: int = 5
    sg: int = 0
    hs: int = 0
    negative: int = 5
    sample: float = 1e-3
    alpha: float = 0.025
    min_alpha: float = 0.0001
    epochs: int = 5
    seed: int = 1
    workers: int = 2
    min_n: int = 3
    max_n: int = 6
    bucket: int = 2_000_000

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ValueError(msg)

        need(self.vector_size >= 1, "vector_size must be >= 1")
        need(self.window >= 1, "window must be >= 1")
        need(self.min_count >= 1, "min_count must be >= 1")
        need(self.sg in (0, 1), "sg must be 0 or 1")
        need(self.hs in (0, 1), "hs must be 0 or 1")
        need(self.negative >= 0, "negative must be >= 0")
        need(self.hs == 1 or self.negative > 0, "need hs=1 or negative > 0, otherwise nothing is trained")
        need(self.sample >= 0, "sample must be >= 0")
        need(math.isfinite(self.alpha) and self.alpha > 0, "alpha must be > 0")
        need(
            math.isfinite(self.min_alpha) and 0 <= self.min_alpha <= self.alpha,
            "need 0 <= min_alpha <= alpha",
        )
        need(self.epochs >= 1, "epochs must be >= 1")
        need(self.seed >= 0, "seed must be >= 0")
        need(self.workers >= 1, "workers must be >= 1")
        need(self.min_n >= 1 and self.max_n >= 0, "min_n must be >= 1 and max_n >= 0")
        need(self.bucket >= 0, "bucket must be >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainParams:
        """Build from a dict; unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ValueError(f"unknown training parameters: {extra}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a plain dict (JSON-serialisable)."""
        return asdict(self)

    def gensim_kwargs(self, algorithm: str) -> dict[str, Any]:
        """Return the constructor kwargs for gensim ``Word2Vec`` / ``FastText`` (+ n-gram keys)."""
        keys = [
            "vector_size", "window", "min_count", "sg", "hs", "negative", "sample",
            "alpha", "min_alpha", "epochs", "seed", "workers",
        ]  # fmt: skip
        kw = {k: getattr(self, k) for k in keys}
        if algorithm == "fasttext":
            kw.update(min_n=self.min_n, max_n=self.max_n, bucket=self.bucket)
        return kw


@dataclass
class TrainSummary:
    """What :func:`train_model` returns next to the model.

    ``vocab_size``: words in the final vocabulary; ``new_words``: words added (= vocab_size for a fresh
    model); ``corpus_sentences`` / ``corpus_words``: raw sentences / tokens of the training corpus
    (gensim's ``corpus_count`` / ``corpus_total_words``); ``training_time_s``: wall time of
    ``build_vocab`` + ``train``; ``loss_history``: per-epoch loss (Word2Vec) or ``[]`` (FastText,
    ``loss_note`` says why); ``epochs``: the epoch reports (same dicts as passed to ``report``).
    """

    algorithm: str
    vocab_size: int
    new_words: int
    corpus_sentences: int
    corpus_words: int
    training_time_s: float
    continued: bool
    params: dict[str, Any]
    loss_history: list[float] = field(default_factory=list)
    loss_note: str | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _EpochReporter(CallbackAny2Vec):
    """gensim callback turning epoch ends into progress dicts."""

    def __init__(self, algorithm: str, epochs: int, corpus_words: int, report: Callable[[dict], Any] | None):
        self.algorithm = algorithm
        self.epochs = epochs
        self.corpus_words = corpus_words
        self.report = report
        self.epoch = 0
        self.prev_loss = 0.0
        self.t0 = 0.0
        self.t_epoch = 0.0
        self.history: list[dict[str, Any]] = []

    def on_train_begin(self, model):
        self.t0 = time.perf_counter()

    def on_epoch_begin(self, model):
        self.t_epoch = time.perf_counter()

    def on_epoch_end(self, model):
        now = time.perf_counter()
        self.epoch += 1
        progress = self.epoch / self.epochs
        info: dict[str, Any] = {"epoch": self.epoch, "epochs": self.epochs, "progress": progress}
        if self.algorithm == "word2vec":
            cumulative = float(model.get_latest_training_loss())
            info["loss"] = cumulative - self.prev_loss
            self.prev_loss = cumulative
            if model.workers > 1:
                info["loss_note"] = W2V_THREADS_LOSS_NOTE
        else:
            info["loss"] = None
            info["loss_note"] = FASTTEXT_LOSS_NOTE
        # gensim's schedule: alpha - (alpha - min_alpha) * progress, floored at min_alpha
        info["learning_rate"] = max(model.min_alpha, model.alpha - (model.alpha - model.min_alpha) * progress)
        info["last_alpha"] = float(model.min_alpha_yet_reached)  # alpha of the last job gensim dispatched
        elapsed_epoch = max(now - self.t_epoch, 1e-9)
        info["words_per_second"] = self.corpus_words / elapsed_epoch
        info["elapsed_s"] = now - self.t0
        self.history.append(info)
        if self.report is not None:
            self.report(dict(info))


def _check_restartable(sentences: Iterable[list[str]]) -> None:
    if isinstance(sentences, Iterator):
        raise TypeError(
            "sentences must be a restartable iterable (e.g. LineCorpus or a list), not a one-shot "
            "iterator/generator: gensim iterates it once for the vocabulary and once per epoch"
        )


def train_model(
    algorithm: str,
    sentences: Iterable[list[str]],
    params: TrainParams | dict[str, Any] | None = None,
    *,
    report: Callable[[dict[str, Any]], Any] | None = None,
    base_model: Word2Vec | FastText | None = None,
) -> tuple[Word2Vec | FastText, TrainSummary]:
    """Build the vocabulary and train a Word2Vec or FastText model; return ``(model, summary)``.

    ``algorithm``: ``"word2vec"`` or ``"fasttext"``. ``sentences``: a restartable iterable of token lists
    (e.g. :class:`~models.embeddings.corpus.LineCorpus`). ``report(dict)`` is called at each epoch end with
    ``epoch`` (1-based), ``epochs``, ``progress`` (0..1), ``loss`` (Word2Vec: this epoch's loss, the
    difference of gensim's cumulative counter, with a ``loss_note`` when ``workers > 1``; FastText: ``None``
    plus ``loss_note``), ``learning_rate``
    (gensim's linear schedule at this progress), ``last_alpha`` (gensim's ``min_alpha_yet_reached``),
    ``words_per_second`` (raw corpus words / epoch wall time), ``elapsed_s`` (since training start).
    An exception raised by ``report`` aborts training (it propagates out of gensim's ``train``).

    ``base_model``: continue training that model on ``sentences`` (see module docstring).

    >>> model, summary = train_model("word2vec", [["a", "b"]] * 50, {"min_count": 1, "epochs": 2})
    >>> summary.vocab_size, len(summary.loss_history)
    (2, 2)

    Raises ``ValueError`` (unknown algorithm, bad params, empty vocabulary -- e.g. every word below
    ``min_count``, algorithm not matching ``base_model``), ``TypeError`` for a one-shot iterator,
    and whatever the corpus iterable raises (e.g. :class:`CorpusFormatError`).
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    _check_restartable(sentences)
    if isinstance(params, dict):
        params = TrainParams.from_dict(params)
    t0 = time.perf_counter()
    if base_model is None:
        params = params or TrainParams()
        kw = params.gensim_kwargs(algorithm)
        if algorithm == "word2vec":
            model = Word2Vec(compute_loss=True, **kw)
        else:
            model = FastText(**kw)
        model.build_vocab(corpus_iterable=sentences)
        old_vocab = 0
    else:
        is_ft = isinstance(base_model, FastText)
        if is_ft != (algorithm == "fasttext"):
            raise ValueError(f"base_model is a {type(base_model).__name__}, not a {algorithm} model")
        model = base_model
        if params is not None:
            model.epochs = params.epochs
            model.alpha = params.alpha
            model.min_alpha = params.min_alpha
        old_vocab = len(model.wv)
        model.build_vocab(corpus_iterable=sentences, update=True)
    if len(model.wv) == 0:
        raise ValueError("empty vocabulary: no word reaches min_count (or the corpus is empty)")
    reporter = _EpochReporter(algorithm, model.epochs, int(model.corpus_total_words), report)
    train_kw: dict[str, Any] = {"compute_loss": True} if algorithm == "word2vec" else {}
    model.train(
        corpus_iterable=sentences,
        total_examples=model.corpus_count,
        epochs=model.epochs,
        callbacks=[reporter],
        **train_kw,
    )
    elapsed = time.perf_counter() - t0
    summary = TrainSummary(
        algorithm=algorithm,
        vocab_size=len(model.wv),
        new_words=len(model.wv) - old_vocab,
        corpus_sentences=int(model.corpus_count),
        corpus_words=int(model.corpus_total_words),
        training_time_s=elapsed,
        continued=base_model is not None,
        params=(params.to_dict() if params is not None else {}),
        loss_history=[e["loss"] for e in reporter.history] if algorithm == "word2vec" else [],
        loss_note=FASTTEXT_LOSS_NOTE
        if algorithm == "fasttext"
        else W2V_THREADS_LOSS_NOTE
        if model.workers > 1
        else None,
        epochs=reporter.history,
    )
    return model, summary
