"""The G2P benchmark (bench/g2p_bench.py): its PER/WER scoring on hand-made examples, the epochs it picks
from a budget, and a tiny end-to-end run through the real service (uvicorn subprocess, HTTP) whose results
file has the expected structure (its ``--short`` form, with smaller layers: tests/test_bench_short.py
leaves it to this module). No timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_bench():
    spec = importlib.util.spec_from_file_location("g2p_bench", ROOT / "bench" / "g2p_bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["g2p_bench"] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


def test_edit_distance():
    assert bench.edit_distance([], []) == 0
    assert bench.edit_distance(["K", "AE", "T"], ["K", "AE", "T"]) == 0
    assert bench.edit_distance(["K", "AE", "T"], ["K", "AH", "T"]) == 1  # substitution
    assert bench.edit_distance(["K", "T"], ["K", "AE", "T"]) == 1  # deletion
    assert bench.edit_distance(["K", "AE", "T", "S"], ["K", "AE", "T"]) == 1  # insertion
    assert bench.edit_distance(["A", "B"], ["B", "A"]) == 2
    assert bench.edit_distance([], ["A", "B", "C"]) == 3


def test_exact_matches_score_zero():
    refs = [[["K", "AE", "T"]], [["D", "AO", "G"]]]
    s = bench.score([["K", "AE", "T"], ["D", "AO", "G"]], refs)
    assert s["per"] == 0.0 and s["wer"] == 0.0 and s["n"] == 2 and s["ref_len"] == 6


def test_second_pronunciation_counts_as_correct():
    refs = [[["T", "AH", "M", "EY", "T", "OW"], ["T", "AH", "M", "AA", "T", "OW"]]]
    s = bench.score([["T", "AH", "M", "AA", "T", "OW"]], refs)
    assert s["wer"] == 0.0 and s["per"] == 0.0


def test_per_against_the_closest_reference_and_wer_share():
    refs = [
        [["K", "AE", "T"]],
        [["T", "AH", "M", "EY", "T", "OW"], ["T", "AH", "M", "AA", "T", "OW", "Z"]],
        [["D", "AO", "G"]],
    ]
    hyps = [["K", "AE", "T"], ["T", "AH", "M", "AA", "T", "OW"], ["D", "AA"]]
    s = bench.score(hyps, refs)
    # item 2: 1 edit to either reference, the first on ties (length 6); item 3: 2 edits over 3
    assert s["edits"] == 3 and s["ref_len"] == 3 + 6 + 3
    assert s["per"] == pytest.approx(3 / 12)
    assert s["wer"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        bench.score(hyps[:2], refs)


def test_choose_epochs_fits_the_budget():
    # 1000 steps of 0.1 s + 5 s dev = 105 s an epoch; 0.9 x 1800 s - 20 s load = 1600 s -> 15 epochs
    epochs = bench.choose_epochs(1800, 128_000, 128, 0.1, 5.0, 20.0, safety=0.9)
    assert epochs == 15 and 20 + epochs * 105 <= 1800 * 0.9 < 20 + (epochs + 1) * 105
    assert bench.choose_epochs(10, 128_000, 128, 0.1, 5.0, 20.0) == 1  # at least one
    assert bench.choose_epochs(1e9, 1000, 100, 0.01, 0.0, 0.0, max_epochs=200) == 200


def test_table_rows(tmp_path):
    results = {
        "ours": {
            "system": "ours",
            "beam": 5,
            "train_words": 1000,
            "training_time_s": 90.0,
            "test": {"per": 0.05, "wer": 0.25},
        },
        "deep-phonemizer": {
            "system": "deep-phonemizer 0.0.19",
            "train_words": 1000,
            "error": "cannot install",
        },
    }
    text = bench.table(results)
    lines = text.splitlines()
    assert lines[0].split(" | ")[0].strip() == "system"
    assert any("5.00%" in line and "25.00%" in line and "1.5 min" in line for line in lines)
    assert any("NOT RUN (cannot install)" in line for line in lines)
    assert sum("published, not run here" in line for line in lines) == len(bench.PUBLISHED)


def test_tiny_run_through_the_service(tmp_path):
    out = tmp_path / "g2p.json"
    png = tmp_path / "heatmap.png"
    argv = ["--short", "--threads", "1", "--emb-dim", "8", "--hidden", "16", "--beam", "2"]
    assert bench.main([*argv, "--out", str(out), "--heatmap", str(png)]) == 0
    results = json.loads(out.read_text())
    ours = results["ours"]
    assert ours["train_words"] == 300 and ours["params"]["epochs"] == 1
    assert ours["test"]["n"] == 50 and ours["service_evaluate_beam"]["n"] == 50
    assert ours["test"]["per"] >= 0.0 and 0.0 <= ours["test"]["wer"] <= 1.0
    # our scoring of the service's beam outputs is the service's own /evaluate figure
    assert ours["test"]["per"] == pytest.approx(ours["service_evaluate_beam"]["token_error_rate"])
    assert ours["test"]["wer"] == pytest.approx(ours["service_evaluate_beam"]["sequence_error_rate"])
    assert 0.0 <= ours["service_test_metrics_greedy"]["sequence_error_rate"] <= 1.0
    assert ours["training_time_s"] > 0 and ours["within_budget"] is True
    assert "deep-phonemizer" not in results  # --short skips the baseline
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ours" in results["table"] and results["run"]["uptime_start"]
