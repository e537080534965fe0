"""Ray Serve benchmark: both services on a local Ray cluster (service/kit/serve.py), printed as ratios
measured in one run.

    .venv/bin/python bench/serve_bench.py [--seconds 10] [--connections 64] [--vocab 50000] [--dim 100]
    .venv/bin/python bench/serve_bench.py --short   # 1 s per figure, 2,000 x 16, a small dates model

* throughput of 1 query replica against 2 at ``--connections`` connections, for attention
  ``/translate`` (one date per request, the default ``dates`` model the writer trains at first
  start) and embeddings exact ``/similar`` (topn 10; synthetic ``--vocab`` x ``--dim`` vectors
  imported through the Serve proxy, so the writer stores them);
* the overhead of Serve's proxy for one client: p50 latency through Serve (1 replica) against a
  plain uvicorn process (``python -m service``, role ``query``) on the same data directory.

wrk (Debian package) drives the load from another process when installed (``bench/load.py``). On
this 2-core machine the replicas, Serve's proxy and wrk share the same two cores, so two replicas
can gain at most what the second core gives; with more cores or nodes each replica brings its
own CPU (``ray_actor_options.num_cpus``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import short  # noqa: E402
from bench.batching_bench import write_word2vec_binary  # noqa: E402
from bench.load import LoadResult, Req, drive, wrk_available  # noqa: E402
from bench.load_test import DATES  # noqa: E402
from tests.helpers import Server, free_port, wait_job  # noqa: E402


def deploy(port: int, data: Path, replicas: int, train_default: bool = True) -> dict[str, str]:
    """(Re)deploy both applications with ``replicas`` query replicas; their base URLs (the attention
    writer trains the default ``dates`` model at first start, with ``train_default``)."""
    from ray import serve

    from service.kit.serve import Query, Writer

    bases = {}
    for service in ("embeddings", "attention"):
        settings = {"data_dir": str(data), "train_default": train_default and service == "attention"}
        app = Query.options(num_replicas=replicas).bind(service, settings, Writer.bind(service, settings))
        serve.run(app, name=service, route_prefix=f"/{service}")
        bases[service] = f"http://127.0.0.1:{port}/{service}"
    return bases


def wait_model(base: str, name: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(f"{base}/v1/models/{name}", timeout=10).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"model {name} not there after {timeout} s")
        time.sleep(1)


def import_vectors(base: str, data: Path, vocab: int, dim: int) -> list[str]:
    """Import ``vocab`` x ``dim`` vectors as model ``big`` (a job from 32 MiB on); the words."""
    path = data.parent / "vectors.bin"
    words = write_word2vec_binary(path, vocab, dim)
    with open(path, "rb") as f:
        r = httpx.post(f"{base}/v1/models/big/import?format=word2vec-binary", content=f, timeout=600)
    if r.status_code == 202:
        job = wait_job(httpx.Client(base_url=base, timeout=60), r.json()["job_id"], timeout=600)
        if job["status"] != "succeeded":
            raise RuntimeError(f"import job: {job}")
    elif r.status_code != 201:
        raise RuntimeError(f"import: {r.status_code} {r.text}")
    return words


def workloads(words: list[str], *, prefixed: bool) -> dict[str, tuple[str, list[Req]]]:
    """The requests of each workload; under Serve (``prefixed``) their paths carry the application's
    route prefix (the load generator sends each request's own path)."""
    step = max(1, len(words) // 64)
    att, emb = ("/attention", "/embeddings") if prefixed else ("", "")
    return {
        "attention /translate": (
            "attention",
            [Req("POST", f"{att}/v1/models/dates/translate", {"inputs": [d]}) for d in DATES],
        ),
        "embeddings /similar": (
            "embeddings",
            [
                Req("POST", f"{emb}/v1/models/big/similar", {"positive": [w], "topn": 10})
                for w in words[::step][:64]
            ],
        ),
    }


def run(seconds: float, connections: int, vocab: int, dim: int, small: bool = False) -> int:
    """``small`` (``--short``): a small ``dates`` model trained through the API, not the default one."""
    import ray
    from ray import serve

    tool = "wrk" if wrk_available() else "python"
    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    data = tmp / "data"
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, logging_level="warning")
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    results: dict[str, dict[str, LoadResult]] = {}
    single: dict[str, dict[str, LoadResult]] = {}
    try:
        words: list[str] = []
        for replicas in (1, 2):
            t0 = time.perf_counter()
            bases = deploy(port, data, replicas, train_default=not small)
            print(f"{replicas} query replica(s) per service deployed in {time.perf_counter() - t0:.1f} s")
            if not words:
                words = import_vectors(bases["embeddings"], data, vocab, dim)
                if small:
                    short.train_tiny_dates(bases["attention"], loaded=False)
                wait_model(bases["attention"], "dates")
            for label, (_, reqs) in workloads(words, prefixed=True).items():
                url = f"http://127.0.0.1:{port}"
                drive(url, reqs, connections=8, seconds=min(2, seconds), tool=tool)  # warm every replica
                res = drive(url, reqs, connections=connections, seconds=seconds, tool=tool)
                results.setdefault(label, {})[f"serve x{replicas}"] = res
                print(
                    f"  {label:22s} {connections} conns: {res.rps:7.1f} req/s  p99 {res.p99_ms:6.1f} ms  errors {res.errors}"
                )
                if replicas == 1:
                    single.setdefault(label, {})["serve"] = drive(
                        url, reqs, connections=1, seconds=seconds, tool=tool
                    )
        serve.shutdown()
        ray.shutdown()
        # the same queries against plain uvicorn processes on the same data directory
        for label, (service, reqs) in workloads(words, prefixed=False).items():
            env = {service.upper() + "_ROLE": "query"}
            with Server(service, data, env=env) as srv:
                drive(srv.url, reqs, connections=8, seconds=min(2, seconds), tool=tool)
                single[label]["uvicorn"] = drive(srv.url, reqs, connections=1, seconds=seconds, tool=tool)
                results[label]["uvicorn x1"] = drive(
                    srv.url, reqs, connections=connections, seconds=seconds, tool=tool
                )
    finally:
        if ray.is_initialized():
            serve.shutdown()
            ray.shutdown()

    print(
        f"\nRay Serve on this machine ({tool}, {seconds:.0f} s per figure; the load generator shares the cores)"
    )
    print(
        f"| workload | {connections} conns: uvicorn | Serve, 1 replica | Serve, 2 replicas | 2 / 1 replicas |"
    )
    print("|---|---|---|---|---|")
    for label, res in results.items():
        u, one, two = res["uvicorn x1"], res["serve x1"], res["serve x2"]
        print(
            f"| {label} | {u.rps:.0f} req/s, p99 {u.p99_ms:.0f} ms | {one.rps:.0f} req/s, p99 {one.p99_ms:.0f} ms "
            f"| {two.rps:.0f} req/s, p99 {two.p99_ms:.0f} ms | **{two.rps / one.rps:.2f}x** |"
        )
    print("\n| one client | uvicorn p50 | Serve p50 | proxy overhead |")
    print("|---|---|---|---|")
    for label, res in single.items():
        u, s = res["uvicorn"], res["serve"]
        print(
            f"| {label} | {u.p50_ms:.2f} ms ({u.rps:.0f} req/s) | {s.p50_ms:.2f} ms ({s.rps:.0f} req/s) "
            f"| +{s.p50_ms - u.p50_ms:.2f} ms = **{s.p50_ms / u.p50_ms:.2f}x** |"
        )
    errors = sum(r.errors for res in results.values() for r in res.values())
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--short", action="store_true", help=short.HELP)
    args = parser.parse_args()
    if args.short:
        args.seconds, args.connections, args.vocab, args.dim = 1, 16, 2000, 16
    return run(args.seconds, args.connections, args.vocab, args.dim, small=args.short)


if __name__ == "__main__":
    sys.exit(main())
