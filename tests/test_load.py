"""The load test (bench/load_test.py), short: ``python bench/load_test.py --short`` (as ``make bench``
runs it, a subprocess): both real services under concurrent mixed load for a few seconds while each
trains a model; zero errors, no lost job, every answer a 2xx (else it exits 1). This is the
benchmark's short form in the suite (tests/test_bench_short.py leaves it to this module)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_short_load_with_training_has_no_errors_and_loses_no_job():
    cmd = [sys.executable, "bench/load_test.py", "--short"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr[-3000:]
    assert done.returncode == 0, out
    assert "OK: no errors, no lost jobs" in done.stdout, out
    for service in ("embeddings", "attention"):
        row = re.search(rf"^{service}\s+\S+\s+(\d+)\s", done.stdout, re.MULTILINE)
        assert row and int(row.group(1)) > 20, out  # its requests
        assert f"training job under load, {service}: succeeded" in done.stdout, out


def test_the_python_client_counts_errors(tmp_path):
    # the fallback driver is what runs where wrk is not installed: it must see a failing request
    from bench.load import Req, drive
    from tests.helpers import Server

    with Server("embeddings", tmp_path / "data") as srv:
        res = drive(
            srv.url,
            [Req("GET", "/healthz"), Req("GET", "/v1/models/nope")],
            connections=4,
            seconds=1,
            tool="python",
        )
    assert res.requests > 10 and res.errors == res.error_detail["status"] >= res.requests // 2 - 1
