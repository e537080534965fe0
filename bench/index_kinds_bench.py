"""Index kinds measured on three kinds of data (issue 22 item 2): which index to choose when.

For each data set — clustered synthetic vectors (flattering), a Word2Vec model trained here on
gensim's shipped Lee corpus, unclustered Gaussian vectors (the worst case) — and each kind
(``hnsw``, ``hnsw-sq8``, ``ivf``, ``ivf-sq8``) it builds the index with the job's code
(:func:`models.embeddings.ann.build_kind`), tunes its search parameter to ``--recall-target``
(:func:`models.embeddings.ann.tune`), and prints one table row: build seconds, index bytes / vector
bytes, the tuned parameter, recall@10 against exact search, and query ms (one query at a time)
against exact search in the same run.

    .venv/bin/python bench/index_kinds_bench.py            # 100,000 x 100 synthetic sets
    .venv/bin/python bench/index_kinds_bench.py --short    # seconds: 3,000 x 32
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from gensim.models import KeyedVectors, Word2Vec
from gensim.test.utils import datapath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.embeddings.ann import KINDS, IndexParams, build_kind, query_times, save_index, tune  # noqa: E402
from service.kit.cpus import available_cpus  # noqa: E402


def keyed(x: np.ndarray, prefix: str) -> KeyedVectors:
    kv = KeyedVectors(x.shape[1])
    kv.add_vectors([f"{prefix}{i}" for i in range(len(x))], x.astype(np.float32))
    return kv


def clustered(n: int, d: int, seed: int = 1) -> KeyedVectors:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 20, 1), d))  # (C, D)
    return keyed(centres[rng.integers(0, len(centres), n)] + 0.4 * rng.standard_normal((n, d)), "c")


def gaussian(n: int, d: int, seed: int = 2) -> KeyedVectors:
    return keyed(np.random.default_rng(seed).standard_normal((n, d)), "g")


def trained(d: int, epochs: int) -> KeyedVectors:
    with open(datapath("lee_background.cor")) as f:
        sentences = [line.lower().split() for line in f]
    model = Word2Vec(sentences, vector_size=d, min_count=2, epochs=epochs, workers=1, seed=1)
    return model.wv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--n", type=int, default=100_000, help="synthetic vectors")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--recall-target", type=float, default=0.95)
    parser.add_argument("--sample", type=int, default=1000, help="recall@10 queries")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument(
        "--data", nargs="+", default=["clustered", "word2vec-lee", "gaussian"],
        choices=["clustered", "word2vec-lee", "gaussian"],
    )  # fmt: skip
    parser.add_argument(
        "--threads", nargs="+", type=int, default=None,
        help="also build each index at these faiss thread counts (build seconds and speed-up per count)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    n, d, epochs = (3000, 32, 2) if args.short else (args.n, args.dim, 20)
    sample = 200 if args.short else args.sample
    threads = available_cpus()
    faiss.omp_set_num_threads(threads)
    print(f"index kinds: {n} x {d} synthetic, Lee Word2Vec ({epochs} epochs), recall target "
          f"{args.recall_target}, {threads} threads, faiss {faiss.__version__}", flush=True)  # fmt: skip
    makers = {"clustered": lambda: clustered(n, d), "word2vec-lee": lambda: trained(d, epochs),
              "gaussian": lambda: gaussian(n, d)}  # fmt: skip
    datasets = {name: makers[name]() for name in args.data}
    builds: list[str] = []
    print(
        "| data | vectors | kind | build s | index / vectors | tuned | recall@10 | query ms | exact ms | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for data, kv in datasets.items():
            kv.fill_norms()
            for kind in args.kinds:
                for t in args.threads or []:  # the same build at each thread count, timed alone
                    faiss.omp_set_num_threads(t)
                    t0 = time.perf_counter()
                    build_kind(kv, IndexParams(kind=kind))
                    builds.append(f"| {data} | {len(kv)} x {kv.vector_size} | {kind} | {t} | "
                                  f"{time.perf_counter() - t0:.2f} |")  # fmt: skip
                faiss.omp_set_num_threads(threads)
                t0 = time.perf_counter()
                index, params = build_kind(kv, IndexParams(kind=kind))
                build_s = time.perf_counter() - t0
                params, recall, reached = tune(kv, index, params, args.recall_target, sample=sample)
                size = save_index(index, Path(tmp) / f"{data}-{kind}.faiss")
                value = params.search_value()
                timed = query_times(kv, index, params, sample=50)  # the index job's own timing
                ms, exact = timed["index"], timed["exact"]
                name = f"nprobe {value}/{params.nlist}" if params.is_ivf else f"ef_search {value}"
                mark = "" if reached else " (target not reached)"
                print(f"| {data} | {len(kv)} x {kv.vector_size} | {kind} | {build_s:.2f} | "
                      f"{size / kv.vectors.nbytes:.2f} | {name} | {recall:.3f}{mark} | {ms:.3f} | {exact:.3f} | "
                      f"{exact / ms:.1f}x |", flush=True)  # fmt: skip
    if builds:
        print("\n| data | vectors | kind | faiss threads | build s |\n|---|---|---|---|---|")
        print("\n".join(builds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
