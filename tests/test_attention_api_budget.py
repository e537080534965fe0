"""Training budgets through the attention service: ``params.max_steps`` and ``params.max_time_s`` stop
the job, which says what stopped it in the result's ``stopped_by``; out-of-range budgets are 422s."""

from __future__ import annotations

import pytest

from tests.helpers import assert_problem, attention_client, train

BODY = {
    "task": {"name": "dates", "n_train": 200, "n_dev": 20, "n_test": 20},
    "config": {"emb_dim": 8, "hidden": 16},
    "params": {"epochs": 50, "batch_size": 32},
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with attention_client(tmp_path_factory.mktemp("budget")) as c:
        yield c


def test_max_steps_stops_the_job(client):
    job = train(client, {"name": "steps", **BODY, "params": {**BODY["params"], "max_steps": 3}})
    result = job["result"]
    assert result["steps"] == 3 and result["stopped_by"] == "max_steps"
    assert client.get("/v1/models/steps").json()["params"]["max_steps"] == 3


def test_max_time_s_stops_the_job(client):
    job = train(
        client, {"name": "time", **BODY, "params": {**BODY["params"], "epochs": 200, "max_time_s": 1.0}}
    )
    assert job["result"]["stopped_by"] == "max_time_s" and job["result"]["steps"] < 200 * 7


def test_no_budget_runs_the_epochs(client):
    job = train(client, {"name": "epochs", **BODY, "params": {**BODY["params"], "epochs": 1}})
    assert job["result"]["stopped_by"] == "epochs" and job["result"]["steps"] == 7


@pytest.mark.parametrize(("key", "value"), [("max_steps", 0), ("max_time_s", 0), ("max_time_s", -1.0)])
def test_bad_budget_is_a_422(client, key, value):
    request = {"name": "bad", **BODY, "params": {**BODY["params"], key: value}}
    body = assert_problem(client.post("/v1/models", json=request), 422)
    assert body["errors"][0]["loc"] == ["body", "params", key]
