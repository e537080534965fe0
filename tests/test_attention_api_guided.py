"""Guided alignment through the attention service: ``params.guided_alignment_weight`` on a training
request, the AER in the job's epochs, the model's params and metrics, ``/evaluate``; 422s before a job."""

from __future__ import annotations

import pytest

from service.attention.worker import split_dev
from tests.helpers import assert_problem, attention_client, train

GUIDED = {
    "task": {"name": "dates", "n_train": 300, "n_dev": 40, "n_test": 40},
    "config": {"emb_dim": 16, "hidden": 32, "attention": "luong-general"},
    "params": {"epochs": 2, "batch_size": 32, "lr": 0.01, "guided_alignment_weight": 1.0},
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with attention_client(tmp_path_factory.mktemp("guided")) as c:
        yield c


@pytest.fixture(scope="module")
def trained(client):
    return train(client, {"name": "guided", **GUIDED})


def test_job_reports_aer_and_alignment_loss_per_epoch(client, trained):
    epochs = [h for h in trained["history"] if "dev_exact_match" in h]
    assert [h["epoch"] for h in epochs] == [1, 2]
    for h in epochs:
        assert 0.0 <= h["dev_alignment_error_rate"] <= 1.0 and 0.0 <= h["dev_alignment_accuracy"] <= 1.0
        assert h["train_alignment_loss"] >= 0.0
    assert trained["dev_alignment_error_rate"] == epochs[-1]["dev_alignment_error_rate"]
    assert trained["train_alignment_loss"] == epochs[-1]["train_alignment_loss"]
    assert trained["spec"]["params"]["guided_alignment_weight"] == 1.0  # the request, in the job's record


def test_model_keeps_the_weight_and_reports_aer(client, trained):
    info = client.get("/v1/models/guided").json()
    assert info["params"]["guided_alignment_weight"] == 1.0
    assert 0.0 <= info["dev_metrics"]["dev_alignment_error_rate"] <= 1.0
    assert 0.0 <= info["test_metrics"]["alignment_error_rate"] <= 1.0
    versions = client.get("/v1/models/guided/versions").json()["versions"]
    assert versions[-1]["params"]["guided_alignment_weight"] == 1.0


def test_evaluate_reports_alignment_error_rate(client, trained):
    body = client.post("/v1/models/guided/evaluate", json={"split": "test"}).json()
    assert body["alignment_error_rate"] == pytest.approx(body["aer"])
    assert 0.0 <= body["alignment_error_rate"] <= 1.0
    unlinked = client.post("/v1/models/guided/evaluate", json={"pairs": [["5/3/2026", "2026-03-05"]]}).json()
    assert "alignment_error_rate" not in unlinked and "aer" not in unlinked


def test_default_weight_is_zero(client, trained):
    rev = {"task": {"name": "reversal", "n_train": 40, "n_dev": 10, "n_test": 10, "max_len": 4}}
    job = train(client, {"name": "plain", **rev, "config": {"hidden": 8}, "params": {"epochs": 1}})
    assert job["train_alignment_loss"] is None and job["dev_alignment_error_rate"] is not None
    assert client.get("/v1/models/plain").json()["params"]["guided_alignment_weight"] == 0.0


def _weight(body: dict, weight) -> dict:
    return {**body, "params": {**body.get("params", {}), "guided_alignment_weight": weight}}


@pytest.mark.parametrize("weight", [-0.5, 100.5, "1", True])
def test_out_of_range_weight_is_a_422(client, weight):
    body = assert_problem(client.post("/v1/models", json=_weight({"name": "bad", **GUIDED}, weight)), 422)
    assert body["errors"][0]["loc"] == ["body", "params", "guided_alignment_weight"]


def test_weight_without_links_is_a_422(client):
    def refused(request: dict) -> dict:
        body = assert_problem(client.post("/v1/models", json=request), 422, "needs-links")
        assert "guided_alignment_weight needs training pairs with links" in body["detail"]
        assert body["errors"][0]["loc"] == ["body", "params", "guided_alignment_weight"]
        return body

    g2p = {"name": "nolinks", "task": {"name": "g2p", "n_train": 100, "n_dev": 10, "n_test": 10}}
    assert "g2p" in refused(_weight(g2p, 0.5))["detail"]
    plain = [["ab", "ba"], ["cd", "dc"], ["ef", "fe"]]
    refused(_weight({"name": "nolinks", "pairs": plain}, 1.0))
    ds = client.post("/v1/datasets?format=tsv", content=b"ab\tba\ncd\tdc\nef\tfe\n").json()["id"]
    refused(_weight({"name": "nolinks", "dataset_id": ds}, 1.0))
    # the only linked pair is the one the (seeded) dev split holds out
    _, dev = split_dev(list(range(3)), 0.34, 0)
    held = [[*p, "0-1 1-0"] if i in dev else p for i, p in enumerate(plain)]
    body = refused(_weight({"name": "nolinks", "pairs": held, "dev_fraction": 0.34}, 1.0))
    assert "dev share" in body["detail"]


def test_weight_with_some_linked_pairs_trains(client):
    pairs = [["ab", "ba"], ["cd", "dc", None], ["gh", "hg", "0-1 1-0"], ["ij", "ji", [[0, 1], [1, 0]]]]
    spec = {"name": "some", "pairs": pairs, "dev_fraction": 0.25, "config": {"hidden": 8}}
    train(client, _weight({**spec, "params": {"epochs": 1}}, 2.5))
    assert client.get("/v1/models/some").json()["params"]["guided_alignment_weight"] == 2.5
