"""Similarity queries over a gensim ``KeyedVectors`` (and its ANN index), returning exactly gensim's results.

>>> q = VectorQueries(kv)
>>> q.warm()  # precompute norms once, before serving threads
>>> q.most_similar(["king"], topn=2)
[Neighbour(word='queen', score=0.85), Neighbour(word='prince', score=0.80)]
>>> q.most_similar(["king", "woman"], ["man"], topn=1, method="cosmul")
[Neighbour(word='queen', score=1.18)]

:meth:`VectorQueries.nearest` answers many nearest-neighbour queries at once and is the one place
that chooses how each is searched: gensim (cosmul), one matrix product for all
(:mod:`models.embeddings.batch`), or the model's faiss index (:mod:`models.embeddings.ann`).

Unknown words: for a Word2Vec-style ``KeyedVectors`` every query checks its words first and raises
:class:`UnknownWordsError` listing ALL unknown words (gensim would stop at the first). For
``FastTextKeyedVectors`` (``kv.bucket > 0``) any non-empty word gets a vector from its character n-grams
(gensim wraps it as ``<word>``, so with ``min_n <= 3`` every non-empty word has at least one n-gram; the
n-gram hashes always land in a bucket, even buckets never seen in training), so only words without any
n-gram in range (e.g. the empty string) are unknown there -- see :meth:`VectorQueries.is_known`.
Scores are Python floats; words and order are gensim's.

Thread safety: queries only read ``kv``; call :meth:`VectorQueries.warm` once before concurrent use so that
gensim's lazily filled ``kv.norms`` is not computed by several threads at once. No BLAS thread settings are
changed here (the service bounds them with threadpoolctl).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
from gensim.models import KeyedVectors
from gensim.models.fasttext import FastTextKeyedVectors, ft_ngram_hashes

from ..padding import lengths_to_mask, masked_pool, pad_sequences
from . import ann
from .batch import most_similar_cosadd
from .corpus import DEFAULT_TOKENIZER, Tokenizer
from .errors import UnknownWordsError
from .neighbours import SIMILARITY_METHODS, Neighbour, NeighbourQuery, Neighbours
from .vocabulary import PrefixIndex

POOL_MODES: tuple[str, ...] = ("mean", "max", "sum")
# Most floats in one padded (b, T, D) batch of :meth:`VectorQueries.sentence_vectors` (64 MiB): one long
# sentence must not pad every other sentence of the request to its length.
POOL_BATCH_FLOATS = 1 << 24


def _length_chunks(lengths: Sequence[int], max_cells: int) -> list[list[int]]:
    """Indices grouped by ascending length so that ``len(chunk) * max length in chunk <= max_cells``
    (a sentence longer than ``max_cells`` is a chunk of its own)."""
    chunks: list[list[int]] = []
    current: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if current and (len(current) + 1) * max(lengths[i], 1) > max_cells:
            chunks.append(current)
            current = []
        current.append(i)
    if current:
        chunks.append(current)
    return chunks


@dataclass
class WordVector:
    """One entry of :meth:`VectorQueries.vectors`.

    ``vector``: float32 ``(D,)`` or ``None`` when unknown; ``known``: a vector was produced;
    ``in_vocab``: the word itself is in the vocabulary; ``oov``: FastText built it from subwords.
    """

    word: str
    vector: np.ndarray | None
    known: bool
    in_vocab: bool
    oov: bool


@dataclass
class SentenceVector:
    """One entry of :meth:`VectorQueries.sentence_vectors`.

    ``vector``: float32 ``(D,)`` (zeros when ``known_tokens == 0``); ``tokens``: all tokens of the sentence;
    ``used_tokens``: tokens pooled (in order, duplicates kept); ``unknown_tokens``: tokens masked out
    (Word2Vec); ``oov_tokens``: tokens pooled from FastText subword vectors; ``known_tokens``: ``len(used)``.
    """

    vector: np.ndarray
    tokens: list[str]
    used_tokens: list[str]
    unknown_tokens: list[str]
    oov_tokens: list[str] = field(default_factory=list)
    known_tokens: int = field(init=False)

    def __post_init__(self) -> None:
        self.known_tokens = len(self.used_tokens)


class VectorQueries:
    """Read-only queries over ``kv`` (``KeyedVectors`` or ``FastTextKeyedVectors``).

    ``index``: the vectors' ANN index (:func:`models.embeddings.ann.build_index`), searched with
    ``ef_search``, or None: cosadd neighbour queries that allow it are answered from it.
    """

    def __init__(self, kv: KeyedVectors, index: Any = None, ef_search: int = 128, rerank: int = 1):
        if not isinstance(kv, KeyedVectors):
            raise TypeError(f"expected gensim KeyedVectors, got {type(kv).__name__}")
        self.kv = kv
        self.is_fasttext = isinstance(kv, FastTextKeyedVectors) and kv.bucket > 0
        self.index = index
        self.ef_search = ef_search  # the search parameter: efSearch, or nprobe for an IVF index
        self.rerank = rerank

    # ------------------------------------------------------------------ helpers

    @cached_property
    def prefixes(self) -> PrefixIndex:
        """The vocabulary's :class:`~models.embeddings.vocabulary.PrefixIndex` (built on first use:
        one sort of the keys, none for a memory-mapped vocabulary)."""
        return PrefixIndex.build(self.kv.index_to_key)

    @property
    def vector_size(self) -> int:
        return int(self.kv.vector_size)

    def warm(self) -> None:
        """Precompute the vector norms (``kv.fill_norms()``) so first queries are fast and thread-safe."""
        self.kv.fill_norms()

    def is_known(self, word: str) -> bool:
        """True if a vector exists for ``word``: in the vocabulary, or (FastText) it has at least one
        character n-gram of length ``min_n..max_n`` in ``<word>``. A FastText word without any n-gram
        (the empty string; ``min_n > len(word) + 2``; n-grams disabled) would get gensim's all-zero
        "origin" vector, whose cosine is NaN -- it is treated as unknown here.
        """
        if word in self.kv.key_to_index:
            return True
        if not self.is_fasttext:
            return False
        kv = self.kv
        return len(ft_ngram_hashes(word, kv.min_n, kv.max_n, kv.bucket)) > 0

    def unknown_words(self, words: Iterable[str]) -> list[str]:
        """Return the words (unique, in order) that have no vector."""
        return list(dict.fromkeys(w for w in words if not self.is_known(w)))

    def require(self, words: Iterable[str]) -> None:
        """Raise :class:`UnknownWordsError` listing every word of ``words`` that has no vector."""
        words = list(words)
        for w in words:
            if not isinstance(w, str):
                raise TypeError(f"words must be strings, got {type(w).__name__}")
        missing = self.unknown_words(words)
        if missing:
            raise UnknownWordsError(missing)

    @staticmethod
    def _check_topn(topn: int) -> None:
        if isinstance(topn, bool) or not isinstance(topn, int) or topn < 1:
            raise ValueError(f"topn must be a positive int, got {topn!r}")

    def _check_restrict(self, restrict_vocab: int | None) -> None:
        if restrict_vocab is not None and (isinstance(restrict_vocab, bool) or restrict_vocab < 1):
            raise ValueError(f"restrict_vocab must be a positive int or None, got {restrict_vocab!r}")

    # ------------------------------------------------------------------ neighbours

    def nearest(self, queries: Sequence[NeighbourQuery]) -> list[Neighbours | Exception]:
        """Answer many nearest-neighbour queries at once: one :class:`Neighbours` per query, in order,
        or the exception that query raises alone (:class:`UnknownWordsError` listing all its unknown
        words, ``ValueError`` for a bad vector, method, ``topn`` or ``restrict_vocab``).

        How each query is searched (the answer's ``exact`` says which answered):

        * ``cosmul``: gensim's ``most_similar_cosmul``, exact;
        * ``cosadd`` on a model with an index, unless ``exact`` or ``restrict_vocab``: the index, every
          such query in one faiss search (:func:`models.embeddings.ann.search`; scores are exact);
        * other ``cosadd``: every such query in one matrix product
          (:func:`models.embeddings.batch.most_similar_cosadd`, gensim's words, order and scores).

        >>> answer, error = q.nearest([NeighbourQuery(positive=["king"], topn=2), NeighbourQuery(["kingg"])])
        >>> answer.neighbours, answer.exact
        ([Neighbour(word='queen', score=0.85), Neighbour(word='prince', score=0.80)], True)
        >>> error
        UnknownWordsError(['kingg'])
        """
        out: list[Neighbours | Exception | None] = [None] * len(queries)
        product: list[tuple[int, NeighbourQuery]] = []  # (position, checked query)
        indexed: list[tuple[int, NeighbourQuery]] = []
        for i, q in enumerate(queries):
            try:
                q = self._checked(q)
            except (UnknownWordsError, ValueError) as exc:
                out[i] = exc
                continue
            if q.method == "cosmul":
                found = self.kv.most_similar_cosmul(positive=q.positive, negative=q.negative, topn=q.topn)
                out[i] = Neighbours([Neighbour(w, float(sc)) for w, sc in found])
            elif self.index is not None and not q.exact and q.restrict_vocab is None:
                indexed.append((i, q))
            else:
                product.append((i, q))
        if product:
            answers = most_similar_cosadd(self.kv, [q for _, q in product])
            for (i, _), found in zip(product, answers, strict=True):
                out[i] = Neighbours(found)
        if indexed:
            answers = ann.search(
                self.kv, self.index, [q for _, q in indexed], ef_search=self.ef_search, rerank=self.rerank
            )
            for (i, _), found in zip(indexed, answers, strict=True):
                out[i] = Neighbours(found, exact=False)
        return out  # type: ignore[return-value]

    def _checked(self, q: NeighbourQuery) -> NeighbourQuery:
        """``q`` with its vector as float32, once it is known to be answerable on these vectors."""
        if q.method not in SIMILARITY_METHODS:
            raise ValueError(f"unknown method {q.method!r}; expected one of {SIMILARITY_METHODS}")
        self._check_topn(q.topn)
        self._check_restrict(q.restrict_vocab)
        if q.vector is None:
            if not q.positive:
                raise ValueError("need at least one positive word")
            if q.method == "cosmul" and q.restrict_vocab is not None:
                raise ValueError("restrict_vocab is not supported with method='cosmul' (gensim ignores it)")
            self.require(q.words)
            return q
        if q.positive or q.negative or q.method != "cosadd":
            raise ValueError("a vector query has no words and uses method 'cosadd'")
        with np.errstate(over="ignore"):  # values beyond float32 become inf: refused below, no warning
            vec = np.asarray(q.vector, dtype=np.float32)  # (D,)
        if vec.ndim != 1 or vec.shape[0] != self.vector_size:
            raise ValueError(f"vector must have shape ({self.vector_size},), got {vec.shape}")
        if not np.all(np.isfinite(vec)) or not np.any(vec):
            raise ValueError("vector must be finite and not all zeros")
        return replace(q, vector=vec)

    def most_similar(
        self,
        positive: Sequence[str],
        negative: Sequence[str] = (),
        topn: int = 10,
        method: str = "cosadd",
        restrict_vocab: int | None = None,
    ) -> list[Neighbour]:
        """Return the ``topn`` nearest words as ``[Neighbour(word, cosine-or-cosmul score), ...]``, best
        first: gensim's own ``most_similar`` / ``most_similar_cosmul``, exact.

        ``method="cosadd"`` is gensim ``most_similar`` (mean of unit vectors, +positive -negative);
        ``"cosmul"`` is ``most_similar_cosmul`` (Levy & Goldberg 3CosMul, scores in ``[0, ~1/eps]``).
        Input words are excluded from the results. ``restrict_vocab``: only the first N words (by
        frequency for trained models) are candidates -- cosadd only: gensim 4.4's ``most_similar_cosmul``
        accepts but IGNORES it, so it is refused here rather than silently ignored.

        >>> q.most_similar(["woman", "king"], ["man"], topn=1)
        [Neighbour(word='queen', score=0.8737)]

        Raises :class:`UnknownWordsError` (all unknown words), ``ValueError`` (no positive word, bad
        topn/method/restrict_vocab).
        """
        q = self._checked(NeighbourQuery(list(positive), list(negative), None, topn, method, restrict_vocab))
        if q.method == "cosmul":
            res = self.kv.most_similar_cosmul(positive=q.positive, negative=q.negative, topn=topn)
        else:
            res = self.kv.most_similar(
                positive=q.positive, negative=q.negative, topn=topn, restrict_vocab=restrict_vocab
            )
        return [Neighbour(w, float(sc)) for w, sc in res]

    def similar_by_vector(
        self, vector: Sequence[float] | np.ndarray, topn: int = 10, restrict_vocab: int | None = None
    ) -> list[Neighbour]:
        """Return the ``topn`` words closest (cosine) to a raw ``vector`` ``(D,)``, best first:
        gensim's ``similar_by_vector``.

        >>> q.similar_by_vector([0.1, 0.0, 0.0, 0.0, 0.0, 1.0], topn=2)
        [Neighbour(word='apple', score=0.99), Neighbour(word='fruit', score=0.99)]

        Raises ``ValueError`` if the vector is not 1-D of length ``vector_size``, not finite, or all zeros.
        """
        q = self._checked(NeighbourQuery(vector=np.asarray(vector), topn=topn, restrict_vocab=restrict_vocab))
        found = self.kv.similar_by_vector(q.vector, topn=topn, restrict_vocab=restrict_vocab)
        return [Neighbour(w, float(sc)) for w, sc in found]

    def analogy(
        self,
        a: str,
        b: str,
        c: str,
        topn: int = 10,
        method: str = "cosadd",
        restrict_vocab: int | None = None,
    ) -> list[Neighbour]:
        """Solve ``a : b :: c : ?`` -- gensim with positive ``[b, c]``, negative ``[a]``; returns like
        :meth:`most_similar`. ``man : king :: woman : ?`` -> ``queen``. Unknown words are listed in
        ``a, b, c`` order.

        >>> q.analogy("man", "king", "woman", topn=2)
        [Neighbour(word='queen', score=0.87), Neighbour(word='princess', score=0.71)]
        >>> q.analogy("man", "kingg", "womann")
        Traceback (most recent call last):
        ...
        models.embeddings.errors.UnknownWordsError: words not in vocabulary: 'kingg', 'womann'
        """
        self.require([a, b, c])
        return self.most_similar([b, c], [a], topn=topn, method=method, restrict_vocab=restrict_vocab)

    # ------------------------------------------------------------------ pairwise

    def similarity(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Return the cosine similarity of each ``(w1, w2)`` pair (gensim ``kv.similarity``), as floats.

        >>> q.similarity([("king", "queen"), ("king", "king")])
        [0.85, 1.0]

        Raises :class:`UnknownWordsError` listing every unknown word of every pair.
        """
        pairs = [tuple(p) for p in pairs]
        for p in pairs:
            if len(p) != 2:
                raise ValueError(f"each pair must have exactly 2 words, got {list(p)!r}")
        self.require(w for p in pairs for w in p)
        return [float(self.kv.similarity(w1, w2)) for w1, w2 in pairs]

    def n_similarity(self, ws1: Sequence[str], ws2: Sequence[str]) -> float:
        """Return the cosine between the means of two word sets (gensim ``n_similarity``).

        >>> q.n_similarity(["king", "queen"], ["prince", "princess"])
        0.79

        Raises ``ValueError`` (gensim ``ZeroDivisionError`` turned into it) for an empty set,
        :class:`UnknownWordsError` for unknown words.
        """
        ws1, ws2 = list(ws1), list(ws2)
        if not ws1 or not ws2:
            raise ValueError("both word sets must be non-empty")
        self.require(ws1 + ws2)
        return float(self.kv.n_similarity(ws1, ws2))

    def doesnt_match(self, words: Sequence[str]) -> str:
        """Return the word furthest from the mean of the others (gensim ``doesnt_match``).

        gensim would silently drop unknown words; here they raise :class:`UnknownWordsError`.
        Raises ``ValueError`` for fewer than 2 words.

        >>> q.doesnt_match(["king", "queen", "prince", "apple"])
        'apple'
        """
        words = list(words)
        if len(words) < 2:
            raise ValueError("need at least 2 words")
        self.require(words)
        return str(self.kv.doesnt_match(words))

    # ------------------------------------------------------------------ vectors

    def vectors(self, words: Sequence[str]) -> list[WordVector]:
        """Return one :class:`WordVector` per word (in order). Unknown words get ``vector=None``;
        FastText out-of-vocabulary words get their subword vector with ``oov=True``. Vectors are raw
        (not unit-normalised) float32 copies.

        Raises :class:`UnknownWordsError` only when EVERY word is unknown; ``ValueError`` for no words.
        """
        words = list(words)
        if not words:
            raise ValueError("need at least one word")
        out: list[WordVector] = []
        for w in words:
            in_vocab = w in self.kv.key_to_index
            if self.is_known(w):
                vec = np.array(self.kv.get_vector(w), dtype=np.float32)  # (D,)
                out.append(WordVector(w, vec, True, in_vocab, oov=not in_vocab))
            else:
                out.append(WordVector(w, None, False, False, False))
        if not any(v.known for v in out):
            raise UnknownWordsError(words)
        return out

    def sentence_vectors(
        self,
        sentences: Sequence[str | Sequence[str]],
        mode: str = "mean",
        tokenizer: Tokenizer | None = None,
    ) -> list[SentenceVector]:
        """Return one :class:`SentenceVector` per sentence: masked pooling of RAW word vectors.

        A sentence is a string (tokenized with ``tokenizer``, default gensim ``simple_preprocess``) or a
        list of tokens (used as is). Word2Vec: unknown tokens are masked out; FastText: OOV tokens use
        subword vectors. Pooling goes through :mod:`models.padding`: token rows are padded (post) to
        ``(B, T)``, looked up into ``(B, T, D)``, masked by ``lengths_to_mask`` and pooled by
        ``masked_pool(mode)`` (``"mean"``, ``"max"`` or ``"sum"``), in batches of similar lengths of at
        most ``POOL_BATCH_FLOATS`` floats (one long sentence does not pad the others to its length). A
        sentence with no usable token gets a zero vector and ``known_tokens == 0``. Vectors are raw (not
        unit-normalised) before pooling, so ``mean`` is ``np.mean([kv[t] for t in used_tokens], axis=0)``.

        Raises ``ValueError`` for an unknown mode or no sentences; never :class:`UnknownWordsError`.
        """
        if mode not in POOL_MODES:
            raise ValueError(f"unknown pooling mode {mode!r}; expected one of {POOL_MODES}")
        tok = tokenizer or DEFAULT_TOKENIZER
        sentences = list(sentences)
        if not sentences:
            raise ValueError("need at least one sentence")
        table_ids: dict[str, int] = {}
        rows: list[np.ndarray] = [np.zeros(self.vector_size, dtype=np.float32)]  # row 0: pad
        id_seqs: list[list[int]] = []
        infos: list[tuple[list[str], list[str], list[str], list[str]]] = []
        for s in sentences:
            tokens = tok(s) if isinstance(s, str) else [str(t) for t in s]
            used, unknown, oov, ids = [], [], [], []
            for t in tokens:
                if not self.is_known(t):
                    unknown.append(t)
                    continue
                if t not in table_ids:
                    table_ids[t] = len(rows)
                    rows.append(np.asarray(self.kv.get_vector(t), dtype=np.float32))
                ids.append(table_ids[t])
                used.append(t)
                if t not in self.kv.key_to_index:
                    oov.append(t)
            id_seqs.append(ids)
            infos.append((tokens, used, unknown, oov))
        table = np.stack(rows)  # (U + 1, D)
        pooled = np.zeros((len(id_seqs), self.vector_size), dtype=np.float32)  # (B, D)
        max_cells = max(1, POOL_BATCH_FLOATS // self.vector_size)
        for chunk in _length_chunks([len(ids) for ids in id_seqs], max_cells):  # similar lengths together
            seqs = [id_seqs[i] for i in chunk]
            padded, lengths = pad_sequences(
                seqs, padding="post", dtype=np.int64, value=0, return_lengths=True
            )
            width = padded.shape[1] if padded.ndim == 2 else 0
            padded = padded.reshape(len(seqs), width)  # (b, T)
            mask = lengths_to_mask(lengths, width)  # (b, T)
            x = table[padded]  # (b, T, D)
            pooled[chunk] = masked_pool(x, mask, mode)  # (b, D)
        return [
            SentenceVector(pooled[i].copy(), tokens, used, unknown, oov)
            for i, (tokens, used, unknown, oov) in enumerate(infos)
        ]
