"""Load test: both services under a mixed load of 64 concurrent clients while each trains a model.

    .venv/bin/python bench/load_test.py [--seconds 60] [--connections 64] [--tool wrk|python]
    .venv/bin/python bench/load_test.py --short   # 4 s at 32 connections (the suite runs it)

It starts both services as real uvicorn processes on a fresh data directory (their default models
trained at start), then, for ``--seconds``, drives half the connections at each service — a
round-robin mix of ``/similar``, ``/analogy`` and ``/vectors`` for embeddings, ``/translate``
(one input per request) and ``/align`` for attention — with ``wrk`` (from a second process) where
it is installed, else a bounded asyncio client. One training job per service is submitted as the
load starts. It prints throughput, p50/p99 and errors per service, what became of the jobs, and the
servers' RSS at the start and end of the run; it exits 1 on any error or lost job.

``make bench`` runs it; the suite runs its ``--short`` form (tests/test_load.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import short  # noqa: E402
from bench.load import LoadResult, Req, RssSampler, drive, wrk_available  # noqa: E402
from tests.helpers import Server  # noqa: E402

#: ``--short`` (what the suite runs): a few seconds of load, as many jobs.
SHORT = {"seconds": 4, "connections": 32}
CANDIDATES = "the said government australia people police minister new year two first world".split()
DATES = ["26 november 2026", "5/3/2026", "Thursday, March 5 2026", "1 jan 1999", "12.10.2021", "july 4, 1976"]


@dataclass
class Report:
    loads: dict[str, LoadResult]
    jobs: dict[str, str]
    rss: dict[str, tuple[int, int]]

    @property
    def ok(self) -> bool:
        return all(r.errors == 0 for r in self.loads.values()) and all(
            s == "succeeded" for s in self.jobs.values()
        )


def embeddings_mix(url: str, model: str = "default") -> list[Req]:
    r = httpx.post(f"{url}/v1/models/{model}/vectors", json={"words": CANDIDATES}, timeout=30)
    r.raise_for_status()
    words = [v["word"] for v in r.json()["vectors"] if v["known"]]
    assert len(words) >= 4, words
    base = f"/v1/models/{model}"
    mix = [Req("POST", f"{base}/similar", {"positive": [w], "topn": 10}) for w in words]
    mix += [
        Req("POST", f"{base}/similar", {"positive": [words[0], words[1]], "negative": [words[2]], "topn": 5}),
        Req("POST", f"{base}/analogy", {"a": words[0], "b": words[1], "c": words[2], "topn": 5}),
        Req("POST", f"{base}/vectors", {"words": words[:3]}),
    ]
    return mix


def attention_mix(model: str = "dates") -> list[Req]:
    base = f"/v1/models/{model}"
    mix = [Req("POST", f"{base}/translate", {"inputs": [d]}) for d in DATES]
    mix.append(Req("POST", f"{base}/align", {"pairs": [["26 november 2026", "2026-11-26"]]}))
    return mix


def submit_training(emb: str, att: str) -> dict[str, str]:
    """One training job per service; returns ``{service: job_id}``."""
    with open(_lee(), "rb") as f:
        assert httpx.post(f"{emb}/v1/corpora?name=lee", content=f.read(), timeout=60).status_code == 201
    jobs = {}
    r = httpx.post(
        f"{emb}/v1/models",
        json={"name": "under-load", "corpus_id": "lee", "params": {"epochs": 5, "workers": 1}},
        timeout=30,
    )
    r.raise_for_status()
    jobs["embeddings"] = r.json()["job_id"]
    body = {"name": "under-load", "task": {"name": "dates", "n_train": 2000}, "params": {"epochs": 2}}
    r = httpx.post(f"{att}/v1/models", json=body, timeout=30)
    r.raise_for_status()
    jobs["attention"] = r.json()["job_id"]
    return jobs


def _lee() -> str:
    from gensim.test.utils import datapath

    return datapath("lee_background.cor")


def wait_jobs(urls: dict[str, str], jobs: dict[str, str], timeout: float = 600) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    out = {}
    for service, job_id in jobs.items():
        while True:
            status = httpx.get(f"{urls[service]}/v1/jobs/{job_id}", timeout=10).json()["status"]
            if status not in ("queued", "running") or time.monotonic() > deadline:
                out[service] = status
                break
            time.sleep(0.5)
    return out


def run(data_dir: Path, *, seconds: float, connections: int, tool: str | None, train: bool = True) -> Report:
    """Start both services on ``data_dir``, load them, return the figures (the servers are stopped)."""
    with (
        Server("embeddings", data_dir, env={"EMBEDDINGS_TRAIN_DEFAULT": "true"}) as emb,
        Server("attention", data_dir, env={"ATTENTION_TRAIN_DEFAULT": "true"}) as att,
    ):
        urls = {"embeddings": emb.url, "attention": att.url}
        mixes = {"embeddings": embeddings_mix(emb.url), "attention": attention_mix()}
        jobs = submit_training(emb.url, att.url) if train else {}
        loads: dict[str, LoadResult] = {}
        with RssSampler([emb.proc.pid, att.proc.pid]) as rss:

            def load(service: str) -> None:
                loads[service] = drive(
                    urls[service], mixes[service], connections=connections // 2, seconds=seconds, tool=tool
                )

            threads = [threading.Thread(target=load, args=(s,)) for s in urls]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        statuses = wait_jobs(urls, jobs)
        return Report(loads, statuses, {"embeddings": rss.growth(0), "attention": rss.growth(1)})


def print_loads(loads: dict[str, LoadResult], jobs: dict[str, str]) -> None:
    """The table of each service's load, then what became of the training jobs."""
    print(f"{'service':<12}{'tool':<8}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for service, r in loads.items():
        print(
            f"{service:<12}{r.tool:<8}{r.requests:>10}{r.rps:>10.0f}{r.p50_ms:>10.1f}{r.p99_ms:>10.1f}"
            f"{r.errors:>8}" + (f"  {r.error_detail}" if r.errors else "")
        )
    for service, status in jobs.items():
        print(f"training job under load, {service}: {status}")


def print_report(report: Report, seconds: float, connections: int) -> None:
    print(f"\nLoad test: {connections} connections ({connections // 2} per service) for {seconds:.0f} s")
    print_loads(report.loads, report.jobs)
    for service, (first, last) in report.rss.items():
        print(f"RSS {service}: {first / 2**20:.0f} MiB at the start -> {last / 2**20:.0f} MiB at the end")
    print("OK: no errors, no lost jobs" if report.ok else "FAILED: errors or lost jobs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tool", choices=["wrk", "python"], default=None, help="default: wrk when installed")
    parser.add_argument("--short", action="store_true", help=short.HELP)
    args = parser.parse_args()
    if args.short:
        args.seconds, args.connections = SHORT["seconds"], SHORT["connections"]
    if args.tool is None and not wrk_available():
        print("wrk is not installed (apt-get install wrk): using the asyncio client", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="embattn-load-") as tmp:
        report = run(Path(tmp), seconds=args.seconds, connections=args.connections, tool=args.tool)
    print_report(report, args.seconds, args.connections)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
