"""The service's builtin ``default`` model: corpus and parameters.

Trained once at the first start on gensim's Lee background corpus (300 news documents, ~58k tokens after
``simple_preprocess``). Measured on the 2-core dev box (gensim 4.4.0): 1.1-2.4 s depending on load, with
``workers=1`` as fast as ``workers=2`` on this small corpus; vocabulary 3955 words;
``most_similar("president")`` starts with ``bush``. ``workers=1`` is chosen because it is as fast here,
gives an exact Word2Vec loss curve (gensim loses loss updates with several workers) and is reproducible
for a fixed ``PYTHONHASHSEED``.

>>> model, summary = train_default_model()  # a few seconds
>>> summary.vocab_size, summary.corpus_sentences, len(summary.loss_history)
(3955, 300, 20)
>>> model.wv.most_similar("president", topn=1)
[('bush', 0.98...)]
"""

from __future__ import annotations

from gensim.test.utils import datapath

from .corpus import LineCorpus
from .training import TrainParams, TrainSummary, train_model

DEFAULT_MODEL_NAME = "default"
DEFAULT_ALGORITHM = "word2vec"
DEFAULT_PARAMS = TrainParams(
    vector_size=100, window=5, min_count=2, sg=0, hs=0, negative=5, sample=1e-3,
    alpha=0.025, min_alpha=0.0001, epochs=20, seed=42, workers=1,
)  # fmt: skip


def default_corpus_path() -> str:
    """Return the path of the builtin training corpus (gensim's ``lee_background.cor``, one doc per line)."""
    return datapath("lee_background.cor")


def train_default_model(report=None):
    """Train the ``default`` Word2Vec model; return ``(model, TrainSummary)`` like ``train_model``."""
    corpus = LineCorpus(default_corpus_path(), "text")
    model, summary = train_model(DEFAULT_ALGORITHM, corpus, DEFAULT_PARAMS, report=report)
    return model, summary


__all__ = [
    "DEFAULT_ALGORITHM",
    "DEFAULT_MODEL_NAME",
    "DEFAULT_PARAMS",
    "TrainSummary",
    "default_corpus_path",
    "train_default_model",
]
