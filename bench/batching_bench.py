"""Micro-batching benchmark: the same server with batching on (the defaults) and off
(``*_MAX_BATCH_SIZE=1``: every request decodes or scans alone, in the threadpool), under ``wrk``
(or the asyncio client) from another process, printed as ratios measured in one run.

    .venv/bin/python bench/batching_bench.py [--seconds 10] [--vocab 100000] [--dim 100]
    .venv/bin/python bench/batching_bench.py --short   # 1 s per figure, 2,000 x 16, a small dates model

* attention: ``/translate`` with one input per request on the default ``dates`` model;
* embeddings: exact ``/similar`` (topn 10, one word) on imported vectors of ``--vocab`` x ``--dim``
  (synthetic, clustered like real word vectors).

Each at 1 and 64 connections. Targets (issue 10): attention at 64 connections >= 10x the unbatched
throughput with p99 < 250 ms; embeddings at 64 connections >= 3x.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import short  # noqa: E402
from bench.load import LoadResult, Req, drive  # noqa: E402
from bench.load_test import DATES  # noqa: E402
from tests.helpers import Server  # noqa: E402


def write_word2vec_binary(path: Path, vocab: int, dim: int, seed: int = 0) -> list[str]:
    """``vocab`` clustered vectors (``dim`` floats) as a word2vec binary file; returns the words."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, vocab // 100), dim)).astype(np.float32)
    which = rng.integers(0, len(centres), vocab)
    vectors = centres[which] + 0.5 * rng.standard_normal((vocab, dim)).astype(np.float32)  # (V, D)
    words = [f"w{i}" for i in range(vocab)]
    with open(path, "wb") as f:
        f.write(f"{vocab} {dim}\n".encode())
        for word, vec in zip(words, vectors, strict=True):
            f.write(word.encode() + b" " + vec.astype("<f4").tobytes() + b"\n")
    return words


def measure(url: str, reqs: list[Req], seconds: float, tool: str | None) -> dict[int, LoadResult]:
    drive(url, reqs, connections=8, seconds=min(2, seconds), tool=tool)  # warm up
    return {c: drive(url, reqs, connections=c, seconds=seconds, tool=tool) for c in (1, 64)}


def attention(
    data: Path, seconds: float, tool: str | None, small: bool = False
) -> dict[str, dict[int, LoadResult]]:
    """``small`` (``--short``): a small ``dates`` model trained through the API, not the default one."""
    reqs = [Req("POST", "/v1/models/dates/translate", {"inputs": [d]}) for d in DATES]
    out = {}
    train_default = "false" if small else "true"
    for label, env in (("batched", {}), ("unbatched", {"ATTENTION_MAX_BATCH_SIZE": "1"})):
        with Server("attention", data, env={"ATTENTION_TRAIN_DEFAULT": train_default, **env}) as srv:
            if small and label == "batched":  # the second server finds it stored
                short.train_tiny_dates(srv.url)
            out[label] = measure(srv.url, reqs, seconds, tool)
    return out


def embeddings(
    data: Path, seconds: float, vocab: int, dim: int, tool: str | None, env: dict[str, str] | None = None
) -> dict[str, dict[int, LoadResult]]:
    path = data / "vectors.bin"
    words = write_word2vec_binary(path, vocab, dim)
    rng = np.random.default_rng(1)
    chosen = [words[i] for i in rng.integers(0, vocab, 64)]
    reqs = [Req("POST", "/v1/models/big/similar", {"positive": [w], "topn": 10}) for w in chosen]
    out = {}
    for label, extra in (("batched", {}), ("unbatched", {"EMBEDDINGS_MAX_BATCH_SIZE": "1"})):
        with Server("embeddings", data / "service", env={**(env or {}), **extra}) as srv:
            if label == "batched":
                with open(path, "rb") as f:
                    r = httpx.post(
                        f"{srv.url}/v1/models/big/import?format=word2vec-binary", content=f, timeout=600
                    )
                r.raise_for_status()
                if r.status_code == 202:  # 32 MiB or more (the default's 40 MB): a job, then loaded
                    short.wait_job(srv.url, r.json()["job_id"], timeout=1800)
                    short.wait_loaded(srv.url, "big")
            out[label] = measure(srv.url, reqs, seconds, tool)
    return out


def table(title: str, res: dict[str, dict[int, LoadResult]], target: float, p99_ms: float | None) -> None:
    print(f"\n{title}")
    print(f"{'server':<11}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for label in ("unbatched", "batched"):
        for c, r in res[label].items():
            print(f"{label:<11}{c:>6}{r.rps:>10.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.errors:>8}")
    ratio = res["batched"][64].rps / max(res["unbatched"][64].rps, 1e-9)
    one = res["batched"][1].rps / max(res["unbatched"][1].rps, 1e-9)
    verdict = "met" if ratio >= target else "NOT met"
    print(f"batched / unbatched at 64 connections: {ratio:.1f}x (target >= {target:g}x: {verdict})")
    print(f"batched / unbatched at 1 connection:   {one:.2f}x (the cost of waiting for company alone)")
    if p99_ms is not None:
        p99 = res["batched"][64].p99_ms
        print(
            f"batched p99 at 64 connections: {p99:.0f} ms (target < {p99_ms:g} ms: {'met' if p99 < p99_ms else 'NOT met'})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--vocab", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--tool", choices=["wrk", "python"], default=None)
    parser.add_argument("--only", choices=["attention", "embeddings"], default=None)
    parser.add_argument("--short", action="store_true", help=short.HELP)
    args = parser.parse_args()
    # --short: 1 s per figure, 2,000 x 16 vectors imported by a job as the default's 40 MB are
    emb_env = {"EMBEDDINGS_IMPORT_JOB_BYTES": "1"} if args.short else {}
    if args.short:
        args.seconds, args.vocab, args.dim = 1, 2000, 16
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="embattn-batching-") as tmp:
        if args.only in (None, "attention"):
            table(
                "attention /translate, one input per request",
                attention(Path(tmp), args.seconds, args.tool, small=args.short),
                10,
                250,
            )
        if args.only in (None, "embeddings"):
            res = embeddings(Path(tmp), args.seconds, args.vocab, args.dim, args.tool, emb_env)
            table(f"embeddings exact /similar, {args.vocab:,} x {args.dim}", res, 3, None)
    print(f"\n(benchmark took {time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
