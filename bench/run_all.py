"""Run every benchmark of ``make bench``, each to its end even when another fails; exit 1 naming the
failed ones.

    .venv/bin/python bench/run_all.py                 # the full sizes (make bench; an hour or more)
    .venv/bin/python bench/run_all.py --short         # every script's --short form (minutes)
    .venv/bin/python bench/run_all.py --only soak g2p_bench

:data:`BENCHES` is the one list of what ``make bench`` runs: the Makefile runs this script, and
tests/test_bench_short.py runs each entry's ``--short`` form, so a benchmark added here is covered by
the suite at once. Each script is a subprocess of its own (``python bench/<name>.py``), its output
passed through as it comes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bench:
    """One script of ``make bench``: ``bench/<name>.py`` with ``args`` at full size; ``marks`` are
    strings its table always prints (the short form's output must hold each)."""

    name: str
    args: tuple[str, ...] = ()
    marks: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return ROOT / "bench" / f"{self.name}.py"

    def command(self, *, short: bool = False) -> list[str]:
        """The command line: the full-size arguments, or ``--short`` alone."""
        return [sys.executable, str(self.path), *(["--short"] if short else self.args)]


#: What ``make bench`` runs, in this order.
BENCHES: tuple[Bench, ...] = (
    Bench("embeddings_bench", marks=("HTTP p50 / in-process p50", "batch speed-up")),
    Bench("attention_bench", marks=("attention service benchmark", "speed-up: one batched request")),
    Bench(
        "batching_bench", marks=("attention /translate, one input", "batched / unbatched at 64 connections")
    ),
    Bench("load_test", marks=("requests", "OK: no errors, no lost jobs")),
    Bench("soak", marks=("Soak:", "peak RSS embeddings")),
    Bench("million_bench", marks=("| ANN speed-up",)),
    Bench("index_kinds_bench", marks=("| data | vectors | kind |", "| gaussian |")),
    Bench("fasttext_bench", marks=("| figure | measured | target | |",)),
    Bench("serve_bench", marks=("| workload |", "proxy overhead")),
    Bench(
        "g2p_bench",
        args=("--parallel", "--threads", "1", "--safety", "0.88", "--out", "bench/out/g2p.json"),
        marks=("system | train words", "test PER"),
    ),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="run each script's --short form")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[b.name for b in BENCHES])
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    results: list[tuple[str, int, float]] = []
    for bench in chosen:
        cmd = bench.command(short=args.short)
        print(f"\n===== {' '.join([Path(cmd[0]).name, *cmd[1:]])}", flush=True)
        t0 = time.monotonic()
        try:
            rc = subprocess.run(cmd, cwd=ROOT).returncode
        except KeyboardInterrupt:
            print(f"\n{bench.name}: interrupted", flush=True)
            return 130
        results.append((bench.name, rc, time.monotonic() - t0))
    print("\n===== benchmarks")
    for name, rc, secs in results:
        print(f"{name:<18} {'ok' if rc == 0 else f'FAILED (exit {rc})':<18} {secs:7.0f} s")
    failed = [name for name, rc, _ in results if rc != 0]
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
