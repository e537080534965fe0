"""The soak (bench/soak.py), short: ``python bench/soak.py --short`` (as ``make bench`` runs it, a
subprocess): both real services under legitimate load mixed with oversized requests for a few
seconds while each trains a model. It exits 0 only when the legitimate requests saw no error and a
p99 under 1 s, every oversized one was refused with a 4xx, the jobs succeeded and memory stayed
under the compose limits. This is the benchmark's short form in the suite
(tests/test_bench_short.py leaves it to this module)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_short_soak_refuses_the_oversized_and_serves_the_rest():
    cmd = [sys.executable, "bench/soak.py", "--short"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr[-3000:]
    assert done.returncode == 0 and done.stdout.rstrip().endswith("OK"), out
    for service in ("embeddings", "attention"):
        row = re.search(rf"^{service}\s+\S+\s+(\d+)\s", done.stdout, re.MULTILINE)
        assert row and int(row.group(1)) > 20, out  # its legitimate requests
        refused = re.search(rf"^oversized, {service}: (.+)$", done.stdout, re.MULTILINE)
        assert refused, out
        statuses = [part.split(" x ")[1] for part in refused.group(1).split(", ")]
        assert statuses and all(s.isdigit() and 400 <= int(s) < 500 for s in statuses), out
