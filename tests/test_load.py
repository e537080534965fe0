"""The load test (bench/load_test.py), short: both real services under concurrent mixed load for a
few seconds while each trains a model; zero errors, no lost job, every answer a 2xx."""

from __future__ import annotations

import pytest

from bench.load import wrk_available
from bench.load_test import print_report, run


@pytest.mark.parametrize("tool", ["wrk" if wrk_available() else "python"])
def test_short_load_with_training_has_no_errors_and_loses_no_job(tool, tmp_path, capsys):
    report = run(tmp_path / "data", seconds=4, connections=32, tool=tool)
    print_report(report, 4, 32)
    assert {s: r.errors for s, r in report.loads.items()} == {"embeddings": 0, "attention": 0}, (
        capsys.readouterr().out
    )
    assert all(r.requests > 20 for r in report.loads.values())
    assert report.jobs == {"embeddings": "succeeded", "attention": "succeeded"}


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
