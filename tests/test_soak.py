"""The soak (bench/soak.py), short: both real services under legitimate load mixed with oversized
requests for a few seconds while each trains a model; the legitimate requests see no error, every
oversized one is refused with a 4xx, the jobs succeed and memory stays under the compose limits."""

from __future__ import annotations

from bench.load import wrk_available
from bench.soak import MAX_P99_MS, print_report, run


def test_short_soak_refuses_the_oversized_and_serves_the_rest(tmp_path, capsys):
    tool = "wrk" if wrk_available() else "python"
    report = run(tmp_path / "data", seconds=6, connections=24, tool=tool, hammers=1)
    print_report(report, 6, 24)
    out = capsys.readouterr().out
    assert {s: r.errors for s, r in report.loads.items()} == {"embeddings": 0, "attention": 0}, out
    assert all(r.requests > 20 and r.p99_ms < MAX_P99_MS for r in report.loads.values()), out
    for service, counts in report.refused.items():
        assert counts and all(400 <= status < 500 for status in counts), (service, counts)
    assert report.jobs == {"embeddings": "succeeded", "attention": "succeeded"}
    assert report.ok, out
