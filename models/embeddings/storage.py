"""A model version's files: saving and loading OUR models, memory-mapped, with their norms.

Written and read only by this service -- these files ARE pickles, never load a user's:

    <directory>/meta.json                      {"format_version", "kind", "vector_size", "vocab_size", ...}
    <directory>/vectors.kv                     gensim KeyedVectors (.save), with every numpy array in
    <directory>/vectors.kv.*.npy               its own .npy file so ``mmap='r'`` works
    <directory>/model.gensim (+ .npy files)    the full Word2Vec/FastText model (only when a model was
                                               saved, not bare vectors) -- needed to continue training

The vector norms are computed once, when a version is written, and stored beside the vectors
(``vectors.kv.norms.npy``), so a serving process maps them instead of computing them at start.

Imported word2vec and GloVe files are stored without any pickle (``"storage": "npy"`` in the meta):

    <directory>/vectors.npy                    float32 (n, D), memory-mapped
    <directory>/norms.npy                      float32 (n,), the L2 norm of each row
    <directory>/words.txt                      UTF-8, word i on line i (words never contain "\\n")

and imported fastText ``.bin`` files (``"kind": "fasttext-vectors"``, with ``min_n``, ``max_n`` and
``bucket`` in the meta) the same, ``vectors.npy`` holding each word's composed vector, plus:

    <directory>/vectors_vocab.npy              float32 (n, D), the words' own rows of the file
    <directory>/vectors_ngrams.npy             float32 (bucket, D), the character n-gram buckets' rows

(:mod:`models.embeddings.vector_import` and :mod:`models.embeddings.fasttext_import` write them while
streaming a file, the vocabulary files through :mod:`models.embeddings.mapped_vocab`;
:func:`load_vectors` reads every layout.)
"""

from __future__ import annotations

import json
import os
from typing import Any

import gensim
import numpy as np
from gensim.models import FastText, KeyedVectors, Word2Vec
from gensim.models.fasttext import FastTextKeyedVectors

from .mapped_vocab import MappedKeyIndex, MappedKeys

FORMAT_VERSION = 1
META_FILE = "meta.json"
VECTORS_FILE = "vectors.kv"
MODEL_FILE = "model.gensim"
NPY_VECTORS_FILE = "vectors.npy"
NORMS_FILE = "norms.npy"
VOCAB_FILE = "vectors_vocab.npy"
NGRAMS_FILE = "vectors_ngrams.npy"


def save_model(
    model_or_kv: Word2Vec | FastText | KeyedVectors, directory: str | os.PathLike
) -> dict[str, Any]:
    """Write a model (or bare KeyedVectors) into ``directory`` (created if missing); return the meta dict.

    The caller handles atomicity (write into a temp dir, then rename). Arrays are stored as separate
    ``.npy`` files (``sep_limit=0``) so :func:`load_vectors` can memory-map them, the norms included
    (computed here, once, so serving processes map them rather than compute them).

    >>> from gensim.models import Word2Vec
    >>> model = Word2Vec([["king", "queen", "man", "woman"]] * 10, vector_size=8, min_count=1, workers=1)
    >>> save_model(model, tmp_path / "default.tmp")
    {'format_version': 1, 'kind': 'word2vec', 'has_full_model': True, 'vector_size': 8, 'vocab_size': 4,
     'gensim_version': '4.4.0'}
    >>> save_model(kv, tmp_path / "vectors.tmp")["kind"]  # bare vectors: no full model
    'word2vec-vectors'

    Raises ``TypeError`` for anything but a gensim Word2Vec / FastText / KeyedVectors.
    """
    if isinstance(model_or_kv, FastText):
        kind, kv, full = "fasttext", model_or_kv.wv, model_or_kv
    elif isinstance(model_or_kv, Word2Vec):
        kind, kv, full = "word2vec", model_or_kv.wv, model_or_kv
    elif isinstance(model_or_kv, FastTextKeyedVectors):
        kind, kv, full = "fasttext-vectors", model_or_kv, None
    elif isinstance(model_or_kv, KeyedVectors):
        kind, kv, full = "word2vec-vectors", model_or_kv, None
    else:
        raise TypeError(f"cannot save a {type(model_or_kv).__name__}")
    os.makedirs(directory, exist_ok=True)
    kv.fill_norms()
    kv.save(os.path.join(directory, VECTORS_FILE), sep_limit=0, ignore=frozenset())
    if full is not None:
        full.save(os.path.join(directory, MODEL_FILE), sep_limit=0)
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "has_full_model": full is not None,
        "vector_size": int(kv.vector_size),
        "vocab_size": len(kv),
        "gensim_version": gensim.__version__,
    }
    with open(os.path.join(directory, META_FILE), "w", encoding="utf-8") as f:
        json.dump(meta, f)
    return meta


def read_meta(directory: str | os.PathLike) -> dict[str, Any]:
    """Return the ``meta.json`` dict of a saved model directory.

    Raises ``FileNotFoundError`` if there is none, ``ValueError`` for an unsupported format version.
    """
    with open(os.path.join(directory, META_FILE), encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported model directory format {meta.get('format_version')!r}")
    return meta


def load_vectors(directory: str | os.PathLike, mmap: bool = True) -> KeyedVectors:
    """Load the KeyedVectors of a directory written by :func:`save_model`.

    With ``mmap=True`` the arrays are opened read-only with ``mmap='r'`` (``np.memmap``), so several worker
    processes share one copy in the page cache. For a FastText model this service trained,
    ``vectors_vocab`` / ``vectors_ngrams`` are mapped, but ``kv.vectors`` (full-word vectors) is
    recomputed into RAM by gensim at load time; an imported fastText ``.bin`` (``npy`` layout) has
    all of them mapped, the composed vectors and the vocabulary included. Returns a ``KeyedVectors``
    (``FastTextKeyedVectors`` for FastText).

    >>> save_model(kv, tmp_path / "v1")["vocab_size"]
    12
    >>> loaded = load_vectors(tmp_path / "v1")
    >>> isinstance(loaded.vectors, np.memmap), loaded.most_similar("king", topn=1)
    (True, [('queen', 0.85)])

    ONLY for directories this service wrote (gensim ``.load`` unpickles; the ``npy`` layout of imported
    vectors unpickles nothing). Raises ``FileNotFoundError``, ``ValueError`` for an inconsistent directory.
    """
    meta = read_meta(directory)
    if meta.get("storage") == "npy":
        return _load_npy_vectors(directory, meta, mmap)
    cls = FastTextKeyedVectors if meta["kind"].startswith("fasttext") else KeyedVectors
    return cls.load(os.path.join(directory, VECTORS_FILE), mmap="r" if mmap else None)


def _load_npy_vectors(directory: str | os.PathLike, meta: dict[str, Any], mmap: bool) -> KeyedVectors:
    mode = "r" if mmap else None
    vectors = np.load(os.path.join(directory, NPY_VECTORS_FILE), mmap_mode=mode)  # (n, D)
    norms = np.load(os.path.join(directory, NORMS_FILE), mmap_mode=mode)  # (n,)
    keys = MappedKeys(directory)
    n, dim = vectors.shape[0], int(vectors.shape[1])
    if len(keys) != n or norms.shape != (n,):
        raise ValueError(f"{directory}: {len(keys)} words, {norms.shape} norms for {vectors.shape} vectors")
    if meta["kind"] == "fasttext-vectors":
        bucket = int(meta["bucket"])
        kv = FastTextKeyedVectors(
            dim, int(meta["min_n"]), int(meta["max_n"]), bucket, count=0, dtype=np.float32
        )
        kv.vectors_vocab = np.load(os.path.join(directory, VOCAB_FILE), mmap_mode=mode)  # (n, D)
        kv.vectors_ngrams = np.load(os.path.join(directory, NGRAMS_FILE), mmap_mode=mode)  # (bucket, D)
        if kv.vectors_vocab.shape != (n, dim) or kv.vectors_ngrams.shape != (bucket, dim):
            raise ValueError(f"{directory}: the fastText matrices do not match {n} words, {bucket} buckets")
    else:
        kv = KeyedVectors(dim, count=0, dtype=np.float32)
    kv.vectors = vectors
    kv.norms = norms
    kv.index_to_key = keys
    kv.key_to_index = MappedKeyIndex(keys)
    return kv


def load_full_model(directory: str | os.PathLike) -> Word2Vec | FastText:
    """Load the full trainable model (in RAM, writable) saved by :func:`save_model`, to continue training.

    Returns a ``Word2Vec`` (``FastText`` for a fastText model). Raises ``ValueError`` if only vectors were
    saved (imported files cannot be trained further), ``FileNotFoundError`` if the directory has no model.
    ONLY for directories this service wrote.
    """
    meta = read_meta(directory)
    if not meta.get("has_full_model"):
        raise ValueError("this model has vectors only (e.g. imported); it cannot be trained further")
    cls = FastText if meta["kind"] == "fasttext" else Word2Vec
    return cls.load(os.path.join(directory, MODEL_FILE))
