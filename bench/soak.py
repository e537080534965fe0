"""Soak: both services under legitimate load mixed with oversized requests while each trains a model.

    .venv/bin/python bench/soak.py [--seconds 60] [--connections 64] [--tool wrk|python]
    .venv/bin/python bench/soak.py --short   # 6 s at 24 connections (the suite runs it)

It starts both services as real uvicorn processes (their default models trained at start), submits
one training job per service, then for ``--seconds`` drives most connections with the load test's
legitimate mix (bench/load_test.py: ``/similar``, ``/analogy``, ``/vectors``, ``/translate``,
``/align``) and a few with requests built to cost the host gigabytes: a megabyte of vector
queries, a thousand neighbour queries of topn 1,000, a thousand long alignments, a 16-beam 16-best
decode of long inputs, a 190 x 190-token heatmap, a body over the size limit. It prints the
legitimate load's throughput, p99 and errors, what the oversized requests were answered, the jobs'
outcome and each server's peak memory (process and children) against the compose memory limits.
It exits 1 unless the legitimate requests saw no error and a p99 under 1 s, every oversized
request was refused with a 4xx, the jobs succeeded and the memory stayed under the limits.

``make bench`` runs it; the suite runs its ``--short`` form (tests/test_soak.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import short  # noqa: E402
from bench.load import LoadResult, Req, drive, wrk_available  # noqa: E402
from bench.load_test import attention_mix, embeddings_mix, print_loads, submit_training, wait_jobs  # noqa: E402
from tests.helpers import PeakRss, Server  # noqa: E402

#: The compose memory limits (docker-compose.yml: EMBEDDINGS_MEMORY, ATTENTION_MEMORY).
LIMITS = {"embeddings": 2 << 30, "attention": 3 << 30}
#: p99 of the legitimate requests, at most.
MAX_P99_MS = 1000.0
#: ``--short`` (what the suite runs): a few seconds, one oversized-request sender per service.
SHORT = {"seconds": 6, "connections": 24, "hammers": 1}


def oversized(service: str, words: list[str]) -> list[Req]:
    """Requests that cost gigabytes before the output budget (each must be refused with a 4xx)."""
    if service == "embeddings":
        base = "/v1/models/default"
        queries = [{"positive": [w], "topn": 1000} for w in (words * 1000)[:1000]]
        return [
            Req("POST", f"{base}/vectors/batch", {"queries": [{"words": (words * 1000)[:1000]}] * 120}),
            Req("POST", f"{base}/similar/batch", {"queries": queries}),
            Req("POST", f"{base}/vectors", {"words": ["x" * 100] * 20000}),  # over the body limit
        ]
    base = "/v1/models/dates"
    source = "Thursday, 1 January 2000, at noon..."  # near the dates model's longest input (40)
    target = "2000-01-01" * 19  # 190 characters
    deep = {"inputs": [source] * 150, "decode": "beam", "beam_size": 16, "n_best": 16, "max_len": 200}
    return [
        Req("POST", f"{base}/align", {"pairs": [[source, target]] * 1000}),
        Req("POST", f"{base}/translate", deep),
        Req("GET", f"{base}/attention.png?input={source}&target={target}"),
    ]


@dataclass
class Report:
    loads: dict[str, LoadResult]
    refused: dict[str, Counter[int]]
    jobs: dict[str, str]
    peak: dict[str, int]

    @property
    def ok(self) -> bool:
        return (
            all(r.errors == 0 and r.p99_ms < MAX_P99_MS for r in self.loads.values())
            and all(c and all(400 <= s < 500 for s in c) for c in self.refused.values())
            and all(s == "succeeded" for s in self.jobs.values())
            and all(self.peak[s] < LIMITS[s] for s in self.peak)
        )


def _hammer(url: str, reqs: list[Req], seconds: float, counts: Counter[int]) -> None:
    """Send ``reqs`` round-robin, one at a time, for ``seconds``; count the answers' statuses."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=60) as client:
        i = 0
        while time.monotonic() < deadline:
            r = reqs[i % len(reqs)]
            try:
                resp = client.request(r.method, r.path, json=r.body)
                counts[resp.status_code] += 1
            except httpx.HTTPError:
                counts[0] += 1  # the connection was cut
            i += 1


def run(data_dir: Path, *, seconds: float, connections: int, tool: str | None, hammers: int = 2) -> Report:
    """Start both services on ``data_dir``, soak them, return the figures (the servers are stopped)."""
    with (
        Server("embeddings", data_dir, env={"EMBEDDINGS_TRAIN_DEFAULT": "true"}) as emb,
        Server("attention", data_dir, env={"ATTENTION_TRAIN_DEFAULT": "true"}) as att,
    ):
        servers = {"embeddings": emb, "attention": att}
        mixes = {"embeddings": embeddings_mix(emb.url), "attention": attention_mix()}
        words = [r.body["positive"][0] for r in mixes["embeddings"] if r.path.endswith("/similar")]
        big = {s: oversized(s, words) for s in servers}
        jobs = submit_training(emb.url, att.url)
        loads: dict[str, LoadResult] = {}
        refused: dict[str, Counter[int]] = {s: Counter() for s in servers}
        legit = max(2, (connections - 2 * hammers) // 2)
        with PeakRss(emb.proc.pid, 0.1) as emb_rss, PeakRss(att.proc.pid, 0.1) as att_rss:

            def load(service: str) -> None:
                url = servers[service].url
                loads[service] = drive(url, mixes[service], connections=legit, seconds=seconds, tool=tool)

            threads = [threading.Thread(target=load, args=(s,)) for s in servers]
            threads += [
                threading.Thread(target=_hammer, args=(servers[s].url, big[s], seconds, refused[s]))
                for s in servers
                for _ in range(hammers)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        statuses = wait_jobs({s: srv.url for s, srv in servers.items()}, jobs)
        return Report(loads, refused, statuses, {"embeddings": emb_rss.peak, "attention": att_rss.peak})


def print_report(report: Report, seconds: float, connections: int) -> None:
    print(
        f"\nSoak: {connections} connections for {seconds:.0f} s, legitimate and oversized requests, training"
    )
    print_loads(report.loads, report.jobs)
    for service, counts in report.refused.items():
        print(f"oversized, {service}: " + ", ".join(f"{n} x {s or 'cut'}" for s, n in sorted(counts.items())))
    for service, peak in report.peak.items():
        print(f"peak RSS {service}: {peak / 2**20:.0f} MiB (limit {LIMITS[service] / 2**20:.0f} MiB)")
    print("OK" if report.ok else "FAILED")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tool", choices=["wrk", "python"], default=None, help="default: wrk when installed")
    parser.add_argument("--short", action="store_true", help=short.HELP)
    args = parser.parse_args()
    if args.short:
        args.seconds, args.connections = SHORT["seconds"], SHORT["connections"]
    with tempfile.TemporaryDirectory(prefix="embattn-soak-") as tmp:
        tool = args.tool or ("wrk" if wrk_available() else "python")
        hammers = SHORT["hammers"] if args.short else 2
        report = run(
            Path(tmp), seconds=args.seconds, connections=args.connections, tool=tool, hammers=hammers
        )
    print_report(report, args.seconds, args.connections)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
