"""The built-in g2p task through the attention service: per-side units, every pronunciation counts,
phoneme/word error rates in ``/evaluate`` and in the job's per-epoch dev metrics."""

from __future__ import annotations

import pytest

from tests.helpers import assert_problem, attention_client, train

G2P = {
    "task": {"name": "g2p", "n_train": 300, "n_dev": 20, "n_test": 20, "max_len": 8},
    # Input feeding: after one epoch this tiny model already emits phonemes (without it, a model
    # this small first learns to stop at once, and an empty output has nothing to check).
    "config": {"emb_dim": 8, "hidden": 16, "input_feeding": True},
    "params": {"epochs": 1, "batch_size": 32},
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with attention_client(tmp_path_factory.mktemp("g2p")) as c:
        yield c


@pytest.fixture(scope="module")
def trained(client):
    return train(client, {"name": "g2p", **G2P})


def test_job_reports_error_rates_per_epoch(client, trained):
    epochs = [h for h in trained["history"] if "dev_exact_match" in h]
    assert epochs and all("dev_token_error_rate" in h and "dev_sequence_error_rate" in h for h in epochs)
    assert 0.0 <= trained["dev_sequence_error_rate"] <= 1.0
    info = client.get("/v1/models/g2p").json()
    assert info["config"]["tokenization"] == {"source": "char", "target": "word"}
    assert {"token_error_rate", "sequence_error_rate"} <= set(info["test_metrics"])


def test_translate_uses_letters_in_and_phonemes_out(client, trained):
    out = client.post("/v1/models/g2p/translate", json={"inputs": ["cat", "dog"]}).json()["outputs"]
    for o, word in zip(out, ["cat", "dog"], strict=True):
        assert o["source_tokens"] == list(word)
        assert o["output"] == " ".join(o["output_tokens"])
        assert all(t.isupper() and t.isalpha() for t in o["output_tokens"])
        assert len(o["attention"]) == len(o["output_tokens"]) and len(o["attention"][0]) == len(word)
    forced = client.post("/v1/models/g2p/align", json={"pairs": [["cat", "K AE T"]]}).json()
    assert forced["alignments"][0]["target_tokens"] == ["K", "AE", "T"]
    assert (
        client.get("/v1/models/g2p/attention.svg", params={"input": "cat", "target": "K AE T"}).status_code
        == 200
    )


def test_evaluate_reports_per_and_wer(client, trained):
    body = client.post("/v1/models/g2p/evaluate", json={"split": "test"}).json()
    assert body["n"] == 20
    assert 0.0 <= body["sequence_error_rate"] <= 1.0 and body["token_error_rate"] >= 0.0
    assert body["sequence_error_rate"] == pytest.approx(1 - body["exact_match"])
    out = client.post("/v1/models/g2p/translate", json={"inputs": ["cat"]}).json()["outputs"][0]
    pairs = [["cat", out["output"]], ["cat", out["output"] + " ZH ZH"]]
    m = client.post("/v1/models/g2p/evaluate", json={"pairs": pairs}).json()
    assert m["exact_match"] == m["sequence_error_rate"] == 0.5
    assert m["token_error_rate"] == pytest.approx(2 / (2 * len(out["output_tokens"]) + 2))


def test_task_options_apply_where_they_belong(client):
    bad = {"name": "x", "task": {"name": "g2p", "min_len": 2}}
    assert_problem(client.post("/v1/models", json=bad), 422)
    bad = {"name": "x", "task": {"name": "reversal", "keep_stress": True}}
    assert_problem(client.post("/v1/models", json=bad), 422)
    bad = {"name": "x", "pairs": [["ab", "b a"]], "config": {"tokenization": {"source": "char"}}}
    assert_problem(client.post("/v1/models", json=bad), 422)


def test_n_best_hypotheses_with_penalties(client, trained):
    body = {"inputs": ["cat", "tomato"], "decode": "beam", "beam_size": 4, "n_best": 3, "length_penalty": 0.6}
    resp = client.post("/v1/models/g2p/translate", json={**body, "coverage_penalty": 0.2})
    assert resp.status_code == 200, resp.text
    for o in resp.json()["outputs"]:
        hyps = o["hypotheses"]
        assert len(hyps) == 3 and len({h["output"] for h in hyps}) == 3
        assert hyps[0]["output"] == o["output"] and hyps[0]["score"] == o["score"]
        for h in hyps:
            assert h["output"] == " ".join(h["output_tokens"])
            assert len(h["attention"]) == len(h["output_tokens"]) and len(h["links"]) == len(
                h["output_tokens"]
            )
    one = client.post("/v1/models/g2p/translate", json={"inputs": ["cat"], "decode": "beam"}).json()
    assert "hypotheses" not in one["outputs"][0]  # additive: only with n_best > 1
    for bad in (
        {"inputs": ["cat"], "n_best": 2},  # greedy
        {"inputs": ["cat"], "length_penalty": 0.6},
        {"inputs": ["cat"], "decode": "beam", "beam_size": 2, "n_best": 3},
        {"inputs": ["cat"], "decode": "beam", "coverage_penalty": -1},
    ):
        assert_problem(client.post("/v1/models/g2p/translate", json=bad), 422)
