"""Benchmark of the embeddings service against gensim called in-process. Prints a table of figures.

    python bench/embeddings_bench.py [--words 100000] [--dim 100] [--queries 500] [--sizes 8 32]
    python bench/embeddings_bench.py --short    # tiny sizes, seconds: the same path and table

What it measures, in one run (the service runs under uvicorn in a subprocess on a free port):

1. ``/similar`` latency over real HTTP (keep-alive connection) on a random ``words x dim`` vocabulary
   imported through ``POST /v1/models/{name}/import`` (word2vec-binary), against
   ``KeyedVectors.most_similar`` in this process on the same vectors, same BLAS thread count.
   A file of 32 MiB or more (the default's 40 MB) is imported by a job (202, polled); ``--short``
   lowers ``EMBEDDINGS_IMPORT_JOB_BYTES`` so that its small file takes the same path.
   Target: HTTP p50 <= 1.3x in-process p50.
2. One ``/similar/batch`` request of 1,000 queries against 1,000 single requests. Target: >= 10x.
3. Training through the service (upload a corpus, ``POST /v1/models``, poll the job) against gensim
   ``Word2Vec`` called directly on the same corpus file, same reader and parameters. Target: <= 1.10x
   (the job's training time; the wall time from the POST to the job's end is shown too).
4. The API process's RSS while it trains on two corpus sizes: it must stay flat (training runs in a
   worker process, the corpus is streamed to disk).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import short  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Client:
    """A minimal keep-alive JSON client (http.client: the least client overhead)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def request(self, method: str, path: str, body: object | bytes | None = None) -> tuple[int, object]:
        headers = {}
        data = None
        if isinstance(body, bytes):
            data = body
            headers["Content-Type"] = "application/octet-stream"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # the server closes idle keep-alive connections (uvicorn: after 5 s): reconnect once
            self.conn.close()
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw


def server_durations(log_path: Path, route: str) -> list[float]:
    """``duration_ms`` of the service's access-log lines for ``route``, in order."""
    out = []
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if f'"route": "{route}"' not in line:
                continue
            try:
                out.append(float(json.loads(line)["duration_ms"]))
            except (ValueError, KeyError):
                continue
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def wait_job(client: Client, job_id: str, timeout: float = 1800) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _, job = client.request("GET", f"/v1/jobs/{job_id}")
        if job["status"] not in ("queued", "running"):
            return job
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.05)


def wait_loaded(client: Client, name: str, timeout: float = 60) -> None:
    """Until ``GET /v1/models/{name}`` says the model is served (a job's model is loaded just after)."""
    deadline = time.monotonic() + timeout
    while True:
        status, info = client.request("GET", f"/v1/models/{name}")
        if status == 200 and isinstance(info, dict) and info.get("loaded", True):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"model {name} not served {timeout} s after its job: {status} {info}")
        time.sleep(0.05)


def write_random_vectors(path: Path, n: int, dim: int, seed: int = 0) -> list[str]:
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n)]
    kv = KeyedVectors(dim)
    kv.add_vectors(words, rng.standard_normal((n, dim)).astype(np.float32))  # (n, dim)
    kv.save_word2vec_format(str(path), binary=True)
    return words


def write_corpus(path: Path, copies: int) -> None:
    from gensim.test.utils import datapath

    text = Path(datapath("lee_background.cor")).read_bytes()
    with open(path, "wb") as f:
        for _ in range(copies):
            f.write(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--queries", type=int, default=500, help="single queries timed for p50/p99")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs=2, default=[8, 32], help="copies of the Lee corpus")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (EMBEDDINGS_THREADS)")
    parser.add_argument("--repeat", type=int, default=2, help="training runs per side (best kept)")
    parser.add_argument("--short", action="store_true", help=short.HELP)
    args = parser.parse_args()
    if args.short:  # 2,000 x 16 vectors, 30 + 50 queries, one training run per side on 1 and 2 copies
        args.words, args.dim, args.queries, args.batch = 2000, 16, 30, 50
        args.sizes, args.epochs, args.repeat = [1, 2], 1, 1

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    from gensim.models import KeyedVectors, Word2Vec
    from threadpoolctl import threadpool_limits

    from models.embeddings.corpus import LineCorpus

    threadpool_limits(args.threads)
    rows: list[tuple[str, str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="embeddings-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "EMBEDDINGS_TRAIN_DEFAULT": "false",
        "EMBEDDINGS_THREADS": str(args.threads),
        "EMBEDDINGS_MAX_UPLOAD_BYTES": str(1 << 30),
        "EMBEDDINGS_MAX_BATCH": str(max(args.batch, 1000)),
        # the short form's small file is imported by a job too, as the default's 40 MB is
        **({"EMBEDDINGS_IMPORT_JOB_BYTES": "1"} if args.short else {}),
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        sys.executable,
        "-m",
        "service",
        "embeddings",
        "--port",
        str(port),
        "--data-dir",
        str(tmp / "data"),
    ]
    log = open(tmp / "server.log", "wb")
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = Client(port).request("GET", "/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the service did not start; see {tmp / 'server.log'}")
            time.sleep(0.2)
        client = Client(port)
        print(f"service pid {server.pid} on 127.0.0.1:{port}, data in {tmp}", flush=True)

        # ---------------------------------------------------------------- 1. /similar latency
        vec_path = tmp / "random.bin"
        words = write_random_vectors(vec_path, args.words, args.dim)
        t0 = time.perf_counter()
        status, info = client.request(
            "POST", "/v1/models/rand/import?format=word2vec-binary", vec_path.read_bytes()
        )
        # a file of EMBEDDINGS_IMPORT_JOB_BYTES (32 MiB) or more is imported by a job: 202, then poll
        assert status in (201, 202), (status, info)
        how = "within the request (201)"
        if status == 202:
            job = wait_job(client, info["job_id"])
            assert job["status"] == "succeeded", job
            wait_loaded(client, "rand")
            how = "by a job (202)"
        rows.append(
            (
                f"import {args.words:,} x {args.dim} (word2vec-binary)",
                f"{time.perf_counter() - t0:.2f} s",
                how,
            )
        )

        kv = KeyedVectors.load_word2vec_format(str(vec_path), binary=True)
        kv.fill_norms()
        rng = np.random.default_rng(1)
        sample = [words[i] for i in rng.integers(0, len(words), args.queries)]
        for w in sample[:20]:  # warm-up both paths
            kv.most_similar(w, topn=10)
            client.request("POST", "/v1/models/rand/similar", {"positive": [w], "topn": 10})
        local, remote = [], []
        for w in sample:
            t = time.perf_counter()
            expected = kv.most_similar(w, topn=10)
            local.append(time.perf_counter() - t)
            t = time.perf_counter()
            status, got = client.request("POST", "/v1/models/rand/similar", {"positive": [w], "topn": 10})
            remote.append(time.perf_counter() - t)
            assert status == 200 and [r["word"] for r in got["results"]] == [e[0] for e in expected]
        lp50, lp99 = percentile(local, 50) * 1e3, percentile(local, 99) * 1e3
        hp50, hp99 = percentile(remote, 50) * 1e3, percentile(remote, 99) * 1e3
        rows.append(("in-process gensim most_similar p50 / p99", f"{lp50:.2f} / {lp99:.2f} ms", ""))
        rows.append(("HTTP /similar p50 / p99", f"{hp50:.2f} / {hp99:.2f} ms", ""))
        rows.append(("HTTP p50 / in-process p50", f"{hp50 / lp50:.2f}x", "target <= 1.30x"))
        server_side = server_durations(tmp / "server.log", "/v1/models/{name}/similar")[
            20 : 20 + args.queries
        ]
        if server_side:
            sp50 = percentile(server_side, 50)
            rows.append(
                (
                    "  of which inside the server (access log) p50",
                    f"{sp50:.2f} ms",
                    "request in -> response out",
                )
            )
            rows.append(("  of which network + client p50", f"{hp50 - sp50:.2f} ms", ""))

        # ---------------------------------------------------------------- 2. batch vs singles
        batch_words = [words[i] for i in rng.integers(0, len(words), args.batch)]
        queries = [{"positive": [w], "topn": 10} for w in batch_words]
        t = time.perf_counter()
        for q in queries:
            status, _ = client.request("POST", "/v1/models/rand/similar", q)
        singles = time.perf_counter() - t
        t = time.perf_counter()
        status, batch = client.request("POST", "/v1/models/rand/similar/batch", {"queries": queries})
        batched = time.perf_counter() - t
        assert status == 200 and not batch["errors"], batch
        assert [r["word"] for r in batch["results"][0]["results"]] == [
            e[0] for e in kv.most_similar(batch_words[0])
        ]
        rows.append((f"{args.batch} single /similar requests", f"{singles:.2f} s", ""))
        rows.append((f"1 /similar/batch request of {args.batch}", f"{batched:.2f} s", ""))
        rows.append(("batch speed-up", f"{singles / batched:.1f}x", "target >= 10x"))
        del kv

        # ---------------------------------------------------------------- 3 + 4. training and RSS
        params = {
            "vector_size": 100,
            "window": 5,
            "min_count": 5,
            "epochs": args.epochs,
            "workers": 2,
            "seed": 1,
        }
        for copies in args.sizes:
            corpus = tmp / f"lee-x{copies}.txt"
            write_corpus(corpus, copies)
            status, cinfo = client.request("POST", f"/v1/corpora?name=lee-x{copies}", corpus.read_bytes())
            assert status == 201, cinfo
            rss_before = rss_kib(server.pid)
            peak = [rss_before]
            stop = threading.Event()

            def sample_rss(peak: list[int] = peak, stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], rss_kib(server.pid))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample_rss, daemon=True)
            sampler.start()
            # alternate service and direct runs; keep the best of each (the machine may be shared)
            service_train, wall, direct = float("inf"), float("inf"), float("inf")
            for attempt in range(args.repeat):
                t = time.perf_counter()
                body = {
                    "name": f"lee-x{copies}",
                    "algorithm": "word2vec",
                    "corpus_id": f"lee-x{copies}",
                    "params": params,
                    "overwrite": attempt > 0,
                }
                status, accepted = client.request("POST", "/v1/models", body)
                assert status == 202, accepted
                job = wait_job(client, accepted["job_id"])
                wall = min(wall, time.perf_counter() - t)
                assert job["status"] == "succeeded", job
                service_train = min(service_train, job["result"]["training_time_s"])

                t = time.perf_counter()
                Word2Vec(sentences=LineCorpus(corpus), compute_loss=True, **params)
                direct = min(direct, time.perf_counter() - t)
            stop.set()
            sampler.join()
            label = f"train x{copies} ({cinfo['tokens']:,} tokens, {args.epochs} ep, best of {args.repeat})"
            rows.append((f"{label}: gensim direct", f"{direct:.2f} s", ""))
            rows.append(
                (
                    f"{label}: service job training",
                    f"{service_train:.2f} s",
                    f"{service_train / direct:.2f}x (target <= 1.10x)",
                )
            )
            rows.append(
                (
                    f"{label}: service POST -> job done",
                    f"{wall:.2f} s",
                    f"{wall / direct:.2f}x (spawn + save + polling)",
                )
            )
            rows.append(
                (
                    f"{label}: API RSS before / peak",
                    f"{rss_before / 1024:.0f} / {peak[0] / 1024:.0f} MiB",
                    f"+{(peak[0] - rss_before) / 1024:.1f} MiB",
                )
            )
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    shutil.rmtree(tmp, ignore_errors=True)  # kept (with server.log) when the run failed

    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'measure':<{width}}  {'value':>22}  note")
    print("-" * (width + 50))
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>22}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
