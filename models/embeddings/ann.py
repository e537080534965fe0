"""An approximate nearest-neighbour index of a model's vectors: faiss HNSW over unit vectors.

The index holds row ``i`` = ``kv.index_to_key[i]``, L2-normalised (float32), in an
``IndexHNSWFlat`` with inner-product metric, so its inner products are cosines. It answers cosadd
``most_similar`` queries (words or a raw vector) with gensim's semantics:

* the query is the mean vector gensim builds (:func:`models.embeddings.batch.query_mean`);
* the index is asked for ``topn + len(query words)`` candidates (more when too few came back), the
  query words are dropped, ``topn`` is honoured after the filtering;
* each returned word's score is recomputed from the vectors as gensim computes it
  (``dot(vector, mean) / norm``), and the candidates are ordered by that score, so a returned
  word's score equals gensim's for it (only *which* words come back is approximate);
* ``restrict_vocab`` is not answered here: the caller answers such queries exactly.

The file is written atomically (temporary sibling, fsync, rename) and read back memory-mapped
(``IO_FLAG_MMAP_IFC``: the flat vectors and the graph are shared, read-only pages of the file, so
every process serving the model shares them); where that flag is missing, ``IO_FLAG_MMAP``.

>>> index = build_index(kv, HnswParams(m=16))
>>> index.ntotal, index.d
(12, 6)
>>> size = save_index(index, tmp_path / INDEX_FILE)
>>> (tmp_path / INDEX_FILE).stat().st_size == size
True
>>> mapped = load_index(tmp_path / INDEX_FILE)
>>> search(kv, mapped, [NeighbourQuery(positive=["king"], topn=2), NeighbourQuery(vector=kv["cat"], topn=1)])
[[Neighbour(word='queen', score=0.85), Neighbour(word='prince', score=0.80)],
 [Neighbour(word='cat', score=1.0)]]
>>> recall_at_10(kv, mapped)  # the share of the exact top 10 that the index finds
1.0
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np
from gensim.models import KeyedVectors

from models.atomic import fsync_dir, tmp_sibling
from models.embeddings.batch import most_similar_cosadd, query_mean
from models.embeddings.neighbours import Neighbour, NeighbourQuery

INDEX_FILE = "index.faiss"
#: Queries per faiss search call and per exact-recall batch (bounds the (B, k) and (B, V) buffers).
CHUNK = 256


@dataclass(frozen=True)
class HnswParams:
    """Build and search parameters of an HNSW index (faiss names: M, efConstruction, efSearch)."""

    m: int = 32
    ef_construction: int = 200
    ef_search: int = 128

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


#: Rows handed to faiss per ``add`` call: progress is reported, and a cancel (SIGTERM, handled
#: between calls into faiss) takes effect, once per batch.
ADD_BATCH = 32_768


#: The index kinds: faiss factory parts (``hnsw``: today's ``IndexHNSWFlat``).
KINDS = ("hnsw", "hnsw-sq8", "ivf", "ivf-sq8")
#: Candidates fetched per wanted neighbour from an 8-bit quantized index, then re-ranked exactly.
RERANK = {"hnsw": 1, "hnsw-sq8": 4, "ivf": 1, "ivf-sq8": 4}
#: Training sample per IVF list (faiss wants 30-256 per centroid).
TRAIN_PER_LIST = 64
EF_SEARCH_MAX = 4096


def default_nlist(n: int) -> int:
    """Returns the IVF list count for ``n`` vectors: 4·sqrt(n) rounded to a power of two, within
    [1, 65536] and at most n / 39 (so every list has training points)."""
    if n < 1:
        return 1
    cap = min(65536, max(1, n // 39))
    nlist = 1 << max(0, round(float(np.log2(4 * np.sqrt(n)))))
    while nlist > cap:
        nlist >>= 1
    return nlist


@dataclass(frozen=True)
class IndexParams:
    """An index kind and its parameters; ``search`` is its search parameter (``ef_search`` for the
    hnsw kinds, ``nprobe`` for the ivf ones)."""

    kind: str = "hnsw"
    m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int | None = None
    nprobe: int = 8

    @property
    def is_ivf(self) -> bool:
        """Returns True for the ivf kinds."""
        return self.kind.startswith("ivf")

    def search_value(self) -> int:
        """Returns the search parameter's value: ``nprobe`` (ivf kinds) or ``ef_search``."""
        return self.nprobe if self.is_ivf else self.ef_search

    def to_dict(self) -> dict[str, int | str | None]:
        """Returns the kind and the parameters that apply to it."""
        if self.is_ivf:
            return {"kind": self.kind, "nlist": self.nlist, "nprobe": self.nprobe}
        return {
            "kind": self.kind,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
        }


def build_kind(
    kv: KeyedVectors,
    params: IndexParams,
    progress: Callable[[float], None] | None = None,
    batch: int = ADD_BATCH,
    seed: int = 0,
) -> tuple[faiss.Index, IndexParams]:
    """Returns the index of kind ``params.kind`` over :func:`unit_vectors` (inner product) and the
    parameters used (``nlist`` filled in); vectors added ``batch`` rows at a time, ``progress(fraction)``
    after each. IVF kinds are trained on a sample of at most ``TRAIN_PER_LIST``·nlist vectors."""
    if params.kind not in KINDS:
        raise ValueError(f"unknown index kind {params.kind!r}; one of {', '.join(KINDS)}")
    if len(kv.index_to_key) == 0:
        raise ValueError("cannot index an empty vocabulary")
    x = unit_vectors(kv)  # (V, D)
    n, d = x.shape
    ip = faiss.METRIC_INNER_PRODUCT
    if params.kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, params.m, ip)
    elif params.kind == "hnsw-sq8":
        index = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, params.m, ip)
    else:
        nlist = min(params.nlist or default_nlist(n), n)
        params = IndexParams(**{**asdict(params), "nlist": nlist, "nprobe": min(params.nprobe, nlist)})
        quantizer = faiss.IndexFlatIP(d)
        if params.kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, d, nlist, ip)
        else:
            index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, ip)
        index.own_fields = True
        quantizer.this.disown()
        rng = np.random.default_rng(seed)
        size = min(n, TRAIN_PER_LIST * nlist)
        rows = np.sort(rng.choice(n, size=size, replace=False)) if size < n else slice(None)
        index.train(np.ascontiguousarray(x[rows]))
        index.nprobe = params.nprobe
    if not params.is_ivf:
        if params.kind == "hnsw-sq8":
            index.train(x[: min(n, 65536)])
        index.hnsw.efConstruction = params.ef_construction
        index.hnsw.efSearch = params.ef_search
    for start in range(0, n, batch):
        index.add(x[start : start + batch])
        if progress is not None:
            progress(min(start + batch, n) / n)
    return index, params


def tune(
    kv: KeyedVectors,
    index: faiss.Index,
    params: IndexParams,
    target: float,
    *,
    sample: int = 1000,
    limit: int | None = None,
) -> tuple[IndexParams, float, bool]:
    """Double the search parameter (``nprobe`` up to ``nlist`` or ``limit``; ``ef_search`` up to
    ``limit`` or :data:`EF_SEARCH_MAX`) until recall@10 reaches ``target``; returns the parameters
    with the tuned value, the recall measured at it and whether the target was reached."""
    rerank = RERANK[params.kind]
    bound = (params.nlist or 1) if params.is_ivf else EF_SEARCH_MAX
    if limit is not None:
        bound = min(bound, limit)
    value = params.search_value()
    queries, truths = _exact_top10(kv, sample=sample, seed=0)  # once, not once per value tried
    while True:
        recall = _recall(kv, index, queries, truths, ef_search=value, rerank=rerank)
        if recall >= target or value >= bound:
            break
        value = min(2 * value, bound)
    field = "nprobe" if params.is_ivf else "ef_search"
    return IndexParams(**{**asdict(params), field: value}), recall, recall >= target


def query_times(
    kv: KeyedVectors,
    index: faiss.Index,
    params: IndexParams,
    *,
    sample: int = 16,
    seed: int = 1,
    budget_s: float = 5.0,
) -> dict[str, float]:
    """Median milliseconds of one ``topn=10`` word query answered by the index (at ``params``' search
    value) and by exact search, over up to ``sample`` vocabulary words drawn with ``seed``, both
    stopping at ``budget_s`` seconds of their own (at least one query each); returns
    ``{"index": ms, "exact": ms}``. An index slower than exact search gains nothing (unclustered
    vectors at a tuned ``nprobe`` near ``nlist``).

    >>> times = query_times(kv, build_index(kv), IndexParams("hnsw"))
    >>> sorted(times), all(ms > 0 for ms in times.values())
    (['exact', 'index'], True)
    """
    n = len(kv.index_to_key)
    rng = np.random.default_rng(seed)
    rows = rng.choice(n, size=min(sample, n), replace=False)  # (S,)
    queries = [NeighbourQuery(positive=[kv.index_to_key[int(r)]], topn=10) for r in rows]
    kv.fill_norms()
    rerank, value = RERANK[params.kind], params.search_value()
    answers: dict[str, Callable[[NeighbourQuery], object]] = {
        "index": lambda q: search(kv, index, [q], ef_search=value, rerank=rerank),
        "exact": lambda q: most_similar_cosadd(kv, [q]),
    }
    out: dict[str, float] = {}
    for name, answer in answers.items():
        times: list[float] = []
        spent = 0.0
        for q in queries:
            t0 = time.perf_counter()
            answer(q)
            times.append(time.perf_counter() - t0)
            spent += times[-1]
            if spent >= budget_s:
                break
        out[name] = round(1000 * float(np.median(times)), 3)
    return out


def unit_vectors(kv: KeyedVectors) -> np.ndarray:
    """The vectors L2-normalised, float32, row i = ``kv.index_to_key[i]``: ``(V, D)``; zero rows stay zero."""
    vectors = np.asarray(kv.vectors, dtype=np.float32)  # (V, D)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # (V, 1)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)  # (V, D)


def build_index(
    kv: KeyedVectors,
    params: HnswParams = HnswParams(),
    progress: Callable[[float], None] | None = None,
    batch: int = ADD_BATCH,
) -> faiss.Index:
    """Returns an ``IndexHNSWFlat`` (inner product) over :func:`unit_vectors`, ``efSearch`` set to
    ``params``; vectors are added ``batch`` rows at a time, calling ``progress(fraction)`` after each."""
    kind = IndexParams("hnsw", m=params.m, ef_construction=params.ef_construction, ef_search=params.ef_search)
    return build_kind(kv, kind, progress, batch)[0]


def save_index(index: faiss.Index, path: str | os.PathLike[str]) -> int:
    """Write ``index`` to ``path`` atomically (nothing is left at ``path`` on failure); returns its size."""
    path = Path(path)
    tmp = tmp_sibling(path)
    try:
        faiss.write_index(index, str(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path.stat().st_size


def load_index(path: str | os.PathLike[str], *, mmap: bool = True) -> faiss.Index:
    """Read an index written by :func:`save_index`: memory-mapped (shared pages) unless ``mmap=False``."""
    if mmap:
        flag = getattr(faiss, "IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP)
    else:
        flag = faiss.IO_FLAG_READ_ONLY
    return faiss.read_index(str(path), flag)


def _candidates(index: faiss.Index, means: np.ndarray, k: int, ef_search: int) -> np.ndarray:
    """The index's ``k`` best rows for each mean: ``(B, D) -> (B, k)`` (-1 where it found fewer);
    ``ef_search`` is the search parameter: ``nprobe`` for an IVF index, ``efSearch`` for HNSW."""
    if hasattr(index, "nprobe"):
        params = faiss.SearchParametersIVF()
        params.nprobe = max(1, min(ef_search, index.nlist))
    else:
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef_search, k)  # HNSW returns at most efSearch results
    _, labels = index.search(np.ascontiguousarray(means, dtype=np.float32), k, params=params)  # (B, k)
    return labels


def search(
    kv: KeyedVectors,
    index: faiss.Index,
    queries: list[NeighbourQuery],
    *,
    ef_search: int = 128,
    rerank: int = 1,
) -> list[list[Neighbour]]:
    """Answer cosadd queries from the index like ``kv.most_similar`` (words must be known): each
    query's ``topn`` neighbours, best first. ``ef_search`` is the search parameter (``nprobe`` for
    IVF); ``rerank`` × the wanted candidates are fetched and re-ranked by exact scores.

    Raises ValueError for a query with ``restrict_vocab`` (answer those exactly) or when the index
    does not match the vectors (another vocabulary size).
    """
    n = len(kv.index_to_key)
    if index.ntotal != n:
        raise ValueError(f"the index holds {index.ntotal} vectors, the model {n}")
    if any(q.restrict_vocab is not None for q in queries):
        raise ValueError("restrict_vocab is answered by exact search, not the index")
    kv.fill_norms()
    out: list[list[Neighbour]] = []
    for start in range(0, len(queries), CHUNK):
        chunk = queries[start : start + CHUNK]
        prepared = [query_mean(kv, q) for q in chunk]
        means = np.stack([m for m, _ in prepared]).astype(np.float32)  # (B, D)
        k = min(rerank * max(q.topn + len(ex) for q, (_, ex) in zip(chunk, prepared, strict=True)), n)
        labels = _candidates(index, means, k, ef_search)  # (B, k)
        for row, (q, (mean, exclude)) in enumerate(zip(chunk, prepared, strict=True)):
            ex = set(exclude)
            kk = k
            cand = [j for j in labels[row].tolist() if j >= 0 and j not in ex]
            while len(cand) < q.topn and kk < n:  # too few left after filtering: ask for more
                kk = min(2 * kk, n)
                more = _candidates(index, mean[None, :], kk, 2 * ef_search)[0]  # (kk,)
                cand = [j for j in more.tolist() if j >= 0 and j not in ex]
            out.append(_scored(kv, mean, cand, q.topn))
    return out


def _scored(kv: KeyedVectors, mean: np.ndarray, cand: list[int], topn: int) -> list[Neighbour]:
    """The candidates with gensim's scores (``dot(vectors, mean) / norms``), best first, ``topn`` of them."""
    if not cand:
        return []
    idx = np.asarray(cand, dtype=np.int64)  # (C,)
    scores = np.dot(kv.vectors[idx], mean) / kv.norms[idx]  # (C,)
    order = np.argsort(-scores, kind="stable")[:topn]  # (<= topn,)
    return [Neighbour(kv.index_to_key[int(idx[o])], float(scores[o])) for o in order]


def recall_at_10(
    kv: KeyedVectors,
    index: faiss.Index,
    *,
    sample: int = 1000,
    seed: int = 0,
    ef_search: int = 128,
    rerank: int = 1,
) -> float:
    """Share of the exact top 10 (gensim ``most_similar(word)``, the word excluded) that the index
    returns, over ``sample`` vocabulary words drawn with ``seed`` (every word when fewer)."""
    queries, truths = _exact_top10(kv, sample=sample, seed=seed)
    return _recall(kv, index, queries, truths, ef_search=ef_search, rerank=rerank)


def _exact_top10(kv: KeyedVectors, *, sample: int, seed: int) -> tuple[list[NeighbourQuery], list[set[str]]]:
    """Returns ``sample`` vocabulary words drawn with ``seed`` as queries, and each one's exact top 10."""
    n = len(kv.index_to_key)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(sample, n), replace=False))  # (S,)
    queries = [NeighbourQuery(positive=[kv.index_to_key[int(r)]], topn=10) for r in rows]
    truths: list[set[str]] = []
    for start in range(0, len(queries), CHUNK):
        truths.extend({w for w, _ in e} for e in most_similar_cosadd(kv, queries[start : start + CHUNK]))
    return queries, truths


def _recall(
    kv: KeyedVectors,
    index: faiss.Index,
    queries: list[NeighbourQuery],
    truths: list[set[str]],
    *,
    ef_search: int,
    rerank: int,
) -> float:
    """Returns the share of ``truths`` the index finds for ``queries``."""
    found = total = 0
    for start in range(0, len(queries), CHUNK):
        approx = search(kv, index, queries[start : start + CHUNK], ef_search=ef_search, rerank=rerank)
        for truth, a in zip(truths[start : start + CHUNK], approx, strict=True):
            found += len(truth & {w for w, _ in a})
            total += len(truth)
    return found / total if total else 1.0
