"""Checkpoint choice through the attention service: ``params.eval_beam_size``, ``select_by``,
``label_smoothing`` and ``average_last`` reach the training job, the model and job say which metric
chose the checkpoint and whether the weight average was kept; out-of-range values are 422s naming
the field."""

from __future__ import annotations

import pytest

from models.seq2seq.limits import MAX_BEAM_SIZE
from tests.helpers import assert_problem, attention_client, train

BODY = {
    "task": {"name": "dates", "n_train": 200, "n_dev": 30, "n_test": 10},
    "config": {"emb_dim": 8, "hidden": 16},
    "params": {"epochs": 3, "batch_size": 32, "lr": 0.01},
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with attention_client(tmp_path_factory.mktemp("checkpoints"), max_beam_size=4) as c:
        yield c


def test_dev_evaluation_decodes_with_the_beam_asked_for(client):
    """The kept checkpoint's dev figures are the beam-3 decode's (what the evaluate route gives with beam 3)."""
    params = {**BODY["params"], "eval_beam_size": 3, "select_by": "loss"}
    job = train(client, {"name": "beam", **BODY, "params": params})
    assert job["result"]["selected_by"] == "loss"
    dev = client.get("/v1/models/beam").json()["dev_metrics"]
    assert dev["selected_by"] == "loss"
    beam = client.post(
        "/v1/models/beam/evaluate", json={"split": "dev", "decode": "beam", "beam_size": 3}
    ).json()
    assert beam["token_error_rate"] == pytest.approx(dev["dev_token_error_rate"])
    assert beam["loss"] == pytest.approx(dev["dev_loss"])
    greedy = client.post("/v1/models/beam/evaluate", json={"split": "dev"}).json()
    assert greedy["token_error_rate"] != pytest.approx(dev["dev_token_error_rate"])  # measured 1.67 vs 1.54
    epochs = [h for h in job["history"] if "dev_loss" in h]
    assert dev["best_epoch"] == min(epochs, key=lambda h: h["dev_loss"])["epoch"]  # chosen by loss


def test_average_last_and_label_smoothing_reach_the_job(client):
    params = {**BODY["params"], "average_last": 2, "label_smoothing": 0.1}
    job = train(client, {"name": "avg", **BODY, "params": params})
    info = client.get("/v1/models/avg").json()
    dev = info["dev_metrics"]
    assert dev["averaged_epochs"] == [2, 3] and isinstance(dev["average_kept"], bool)
    assert job["result"]["average_kept"] == dev["average_kept"]
    assert "average_dev_token_error_rate" in dev  # scored by select_by, token_error_rate by default
    assert job["result"]["selected_by"] == dev["selected_by"] == "token_error_rate"
    assert {"label_smoothing": 0.1, "average_last": 2, "eval_beam_size": 1}.items() <= info["params"].items()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("eval_beam_size", 0),
        ("eval_beam_size", MAX_BEAM_SIZE + 1),
        ("eval_beam_size", 5),  # above this service's max_beam_size (4)
        ("select_by", "bleu"),
        ("label_smoothing", 1.0),
        ("label_smoothing", -0.1),
        ("average_last", 0),
        ("average_last", 11),
    ],
)
def test_bad_checkpoint_params_are_422s(client, key, value):
    request = {"name": "bad", **BODY, "params": {**BODY["params"], key: value}}
    body = assert_problem(client.post("/v1/models", json=request), 422)
    assert body["errors"][0]["loc"] == ["body", "params", key]
