"""The G2P benchmark (bench/g2p_bench.py): its PER/WER scoring on hand-made examples, the request it
sends (the time budget as ``params.max_time_s``, the recipe flags), the epochs ``--calibrate`` picks from a
budget, and a tiny end-to-end run through the real service (uvicorn subprocess, HTTP) whose results
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


def test_max_time_keeps_the_final_evaluations_out_of_the_budget():
    # 0.95 x 1800 s = 1710 s, less 20 s for the cut epoch's dev evaluation and 20 s for the average's
    assert bench.max_time_for(1800, 0.95, 2, 20.0) == pytest.approx(1670.0)
    assert bench.max_time_for(1800, 0.95, 1, 20.0) == pytest.approx(1690.0)
    assert bench.max_time_for(3600, 1.0, 1, 0.0) == pytest.approx(3600.0)
    assert bench.max_time_for(10, 0.5, 2, 20.0) == 1.0  # at least a second


def test_default_request_stops_on_its_own_time_budget():
    config, params = bench.training_request(bench.parse_args(["--budget-min", "30"]))
    assert "input_feeding" not in config  # the service's default
    assert params["epochs"] == bench.MAX_EPOCHS == 200  # never binds: max_time_s does
    assert params["max_time_s"] == pytest.approx(30 * 60 * 0.95 - 2 * 20)  # cut epoch's + average's dev eval
    assert params["label_smoothing"] == 0.1 and params["average_last"] == 3
    assert params["eval_beam_size"] == 1 and params["select_by"] == "token_error_rate"
    assert params["schedule"] == "linear" and params["min_lr"] == 1e-4


def test_recipe_flags_reach_the_request():
    argv = ["--budget-min", "60", "--input-feeding", "--label-smoothing", "0", "--average-last", "1"]
    argv += ["--eval-beam", "4", "--select-by", "sequence_error_rate", "--epochs", "7", "--safety", "0.9"]
    args = bench.parse_args(argv)
    config, params = bench.training_request(args)
    assert config["input_feeding"] is True
    assert params["label_smoothing"] == 0.0 and params["average_last"] == 1 and params["epochs"] == 7
    assert params["eval_beam_size"] == 4 and params["select_by"] == "sequence_error_rate"
    assert params["max_time_s"] == pytest.approx(3600 * 0.9 - 20)  # no average: one final dev evaluation
    assert bench.training_request(bench.parse_args(["--no-input-feeding"]))[0]["input_feeding"] is False
    # a calibration's epochs and measured dev evaluation replace the defaults
    _, calibrated = bench.training_request(args, epochs=12, eval_reserve_s=50.0)
    assert calibrated["epochs"] == 12 and calibrated["max_time_s"] == pytest.approx(3600 * 0.9 - 50)
    assert bench.recipe(args)["epochs"] == 7
    assert "input feeding, label smoothing 0.0, average of the last 1" in bench.recipe_line(
        bench.recipe(args)
    )
    with pytest.raises(SystemExit):
        bench.parse_args(["--select-by", "bleu"])


def test_calibration_is_off_by_default():
    args = bench.parse_args([])
    assert args.calibrate is False and args.epochs is None and args.input_feeding is None
    assert bench.recipe(args)["epochs"] == "max_time_s"
    assert bench.parse_args(["--calibrate"]).calibrate is True


def test_choose_epochs_fits_the_budget():  # the --calibrate path
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
            "steps": 1234,
            "stopped_by": "max_time_s",
            "recipe": bench.recipe(bench.parse_args([])),
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
    assert any(
        "5.00%" in line
        and "25.00%" in line
        and "1.5 min" in line
        and "1,234" in line
        and "max_time_s" in line
        for line in lines
    )
    assert [c.strip() for c in lines[0].split(" | ")][3:5] == ["steps", "stopped by"]
    assert lines[-1].startswith("ours: input feeding: the service's default, label smoothing 0.1")
    assert any("NOT RUN (cannot install)" in line for line in lines)
    assert sum("published, not run here" in line for line in lines) == len(bench.PUBLISHED)


def test_tiny_run_through_the_service(tmp_path):
    out = tmp_path / "g2p.json"
    png = tmp_path / "heatmap.png"
    argv = ["--short", "--threads", "1", "--emb-dim", "8", "--hidden", "16", "--beam", "2"]
    assert bench.main([*argv, "--out", str(out), "--heatmap", str(png)]) == 0
    results = json.loads(out.read_text())
    ours = results["ours"]
    assert ours["train_words"] == 300 and ours["params"]["epochs"] == 1  # --short: one epoch
    # the time budget is sent even so (30 min default); the single epoch ends first
    assert ours["params"]["max_time_s"] == pytest.approx(30 * 60 * 0.95 - 2 * 20)
    assert ours["stopped_by"] == "epochs" and ours["steps"] == 3  # ceil(300 / 128)
    # the recipe reached the service: its stored params and the trained model's config
    assert ours["params"]["label_smoothing"] == 0.1 and ours["params"]["average_last"] == 3
    assert ours["params"]["select_by"] == "token_error_rate" and ours["params"]["eval_beam_size"] == 1
    assert ours["recipe"]["input_feeding"] is False  # the service's default, read back from the model
    assert ours["dev_metrics"]["selected_by"] == "token_error_rate"
    assert "calibration" not in ours
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
