"""Many cosadd ``most_similar`` queries in one matrix product (the batch form of ``/similar``).

gensim answers one query with one matrix-vector product over the whole vocabulary (memory-bound);
a batch of B queries is one ``(B, D) @ (D, V)`` product per chunk (compute-bound, the vectors are
read once per chunk), followed by a top-k selection that first keeps the best blocks of the score
row by their maxima, so only ``k`` blocks are sorted. Each query's answer is gensim's: the same mean
vector (``kv.get_mean_vector``, as ``most_similar`` builds it), the same scores
(``dot(vectors, mean) / norms``, up to float32 rounding of the product), the same exclusion of the
query words, the same order.
"""

from __future__ import annotations

import numpy as np
from gensim.models import KeyedVectors

from models.embeddings.neighbours import Neighbour, NeighbourQuery

#: Most queries scored by one matrix product; fewer on a large vocabulary, so that one chunk's score
#: matrix (B, V) holds at most SCORES_BUDGET floats (128 MiB).
CHUNK = 64
SCORES_BUDGET = 1 << 25
BLOCK = 128
TILE = 8192


def query_mean(kv: KeyedVectors, q: NeighbourQuery) -> tuple[np.ndarray, list[int]]:
    """The unit mean vector gensim's ``most_similar`` builds for ``q`` ``(D,)``, and the rows of its
    words (which gensim leaves out of the answer); the words must be known."""
    if q.vector is not None:
        keys: list = [np.asarray(q.vector, dtype=np.float32)]
        weight = np.ones(1)
    else:
        keys = q.words
        weight = np.concatenate((np.ones(len(q.positive)), -1.0 * np.ones(len(q.negative))))
    mean = kv.get_mean_vector(
        keys, weight, pre_normalize=True, post_normalize=True, ignore_missing=False
    )  # (D,)
    exclude = [kv.get_index(k) for k in keys if isinstance(k, str) and kv.has_index_for(k)]
    return mean, exclude


def _scores_and_block_max(
    means: np.ndarray, vectors: np.ndarray, norms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``dot(vectors, mean) / norms`` for every mean, and the maximum of each ``BLOCK`` of columns.

    Computed ``TILE`` columns at a time, so that the division and the block maxima read the tile
    while it is still in cache: ``(B, D), (n, D), (n,) -> (B, n), (B, ceil(n / BLOCK))``.
    """
    b, n = means.shape[0], vectors.shape[0]
    scores = np.empty((b, n), dtype=np.float32)  # (B, n)
    bmax = np.empty((b, -(-n // BLOCK)), dtype=np.float32)  # (B, nb)
    for t0 in range(0, n, TILE):
        t1 = min(t0 + TILE, n)
        part = means @ vectors[t0:t1].T  # (B, t1 - t0)
        part /= norms[t0:t1]
        scores[:, t0:t1] = part
        full = (t1 - t0) // BLOCK
        first = t0 // BLOCK
        if full:
            bmax[:, first : first + full] = part[:, : full * BLOCK].reshape(b, full, BLOCK).max(axis=2)
        if (t1 - t0) % BLOCK:
            bmax[:, first + full] = part[:, full * BLOCK :].max(axis=1)
    return scores, bmax


def _top_sorted(scores: np.ndarray, bmax: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores of each row, best first: ``(B, n) -> (B, k)``.

    Every one of a row's ``k`` best scores lies in one of its ``k`` blocks with the largest maxima,
    so only those ``k * BLOCK`` candidates are partitioned and sorted.
    """
    b, n = scores.shape
    if k >= n:
        return np.argsort(-scores, axis=1, kind="stable")[:, :n]
    nb = bmax.shape[1]
    if nb <= 4 * k:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (B, k)
    else:
        blocks = np.argpartition(-bmax, k - 1, axis=1)[:, :k]  # (B, k)
        cols = blocks[:, :, None] * BLOCK + np.arange(BLOCK)[None, None, :]  # (B, k, BLOCK)
        cols = cols.reshape(b, -1)  # (B, k * BLOCK)
        valid = cols < n
        cand = np.take_along_axis(scores, np.minimum(cols, n - 1), axis=1)  # (B, k * BLOCK)
        cand = np.where(valid, cand, -np.inf)
        sel = np.argpartition(-cand, k - 1, axis=1)[:, :k]  # (B, k)
        part = np.take_along_axis(cols, sel, axis=1)  # (B, k)
    vals = np.take_along_axis(scores, part, axis=1)  # (B, k)
    order = np.argsort(-vals, axis=1, kind="stable")  # (B, k)
    return np.take_along_axis(part, order, axis=1)


def most_similar_cosadd(kv: KeyedVectors, queries: list[NeighbourQuery]) -> list[list[Neighbour]]:
    """Answer every cosadd query like ``kv.most_similar``: its ``topn`` neighbours, best first.

    The words must be known and vectors valid (checked by the caller,
    :meth:`~models.embeddings.queries.VectorQueries.nearest`); ``method`` and ``exact`` are not read.
    """
    kv.fill_norms()
    out: list[list[Neighbour] | None] = [None] * len(queries)
    prepared = [(i, q, *query_mean(kv, q)) for i, q in enumerate(queries)]
    n_all = len(kv.vectors)
    groups: dict[int, list] = {}
    for item in prepared:
        clip = min(item[1].restrict_vocab or n_all, n_all)
        groups.setdefault(clip, []).append(item)
    for clip, items in groups.items():
        vectors = np.asarray(kv.vectors[:clip])  # (n, D)
        norms = np.asarray(kv.norms[:clip])  # (n,)
        step = max(1, min(CHUNK, SCORES_BUDGET // max(clip, 1)))
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            means = np.stack([m for _, _, m, _ in chunk])  # (B, D)
            scores, bmax = _scores_and_block_max(means, vectors, norms)  # (B, n), (B, nb)
            kmax = max(q.topn + len(ex) for _, q, _, ex in chunk)
            best = _top_sorted(scores, bmax, min(kmax, clip))  # (B, k)
            for row, (i, q, _, exclude) in enumerate(chunk):
                k = q.topn + len(exclude)
                ex = set(exclude)
                res = [
                    Neighbour(kv.index_to_key[j], float(scores[row, j]))
                    for j in best[row, :k].tolist()
                    if j not in ex
                ]
                out[i] = res[: q.topn]
    return out  # type: ignore[return-value]
