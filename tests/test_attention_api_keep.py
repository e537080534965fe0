"""``DELETE /v1/jobs/{id}?keep=best`` on real attention training jobs: training stops, evaluates and
the best checkpoint so far is published as a new version that answers ``/translate``, the job
``succeeded`` with ``stopped_by: "cancel"``; a plain cancel still leaves nothing; an embeddings job
refuses ``keep`` (409 ``keep-unsupported`` naming it); a bad ``keep`` is a 422."""

from __future__ import annotations

import time

import pytest

from service.client import AttentionClient
from tests.helpers import assert_problem, attention_client, embeddings_client, train, wait_job

BODY = {
    "task": {"name": "dates", "n_train": 1000, "n_dev": 20, "n_test": 20},
    "config": {"emb_dim": 8, "hidden": 16},
    "params": {"epochs": 200, "batch_size": 32},  # 32 updates an epoch: runs for minutes unless stopped
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with attention_client(tmp_path_factory.mktemp("keep")) as c:
        yield c


def start_training(client, name: str, min_step: int = 10) -> str:
    """Queue a long training of ``name`` and return its job id once it has made ``min_step`` updates."""
    r = client.post("/v1/models", json={"name": name, **BODY})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 120
    while (client.get(f"/v1/jobs/{job_id}?history=false").json().get("step") or 0) < min_step:
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.05)
    return job_id


def test_keep_best_publishes_the_best_checkpoint_as_a_new_version(client):
    job_id = start_training(client, "kept")
    typed = AttentionClient(client=client)  # the typed client sends ?keep=best
    assert typed.cancel_job(job_id, keep="best").id == job_id
    job = wait_job(client, job_id)
    assert job["status"] == "succeeded" and job["error"] is None, job
    result = job["result"]
    assert result["stopped_by"] == "cancel" and result["version"] == 1
    assert 10 <= result["steps"] < 200 * 32
    assert result["dev_metrics"]["best_epoch"] >= 1  # the stopped epoch was evaluated at least
    info = client.get("/v1/models/kept").json()
    assert info["version"] == 1
    r = client.post("/v1/models/kept/translate", json={"inputs": ["march 3, 2001"]})
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["outputs"][0]["output"], str)


def test_a_plain_cancel_still_leaves_nothing(client):
    job_id = start_training(client, "dropped", min_step=3)
    r = client.delete(f"/v1/jobs/{job_id}")
    assert r.status_code == 200, r.text
    job = wait_job(client, job_id)
    assert job["status"] == "cancelled" and job["result"] is None
    assert_problem(client.get("/v1/models/dropped"), 404, "model-not-found")


def test_a_bad_keep_is_a_422_naming_it(client):
    job = train(client, {"name": "short", **BODY, "params": {**BODY["params"], "epochs": 1}})
    body = assert_problem(client.delete(f"/v1/jobs/{job['id']}", params={"keep": "all"}), 422)
    assert body["errors"][0]["loc"] == ["query", "keep"]


def test_keep_on_an_embeddings_job_is_refused(tmp_path):
    sentences = [["king", "queen", "man", "woman"]] * 20
    with embeddings_client(tmp_path) as c:
        job = train(
            c,
            {
                "name": "w",
                "algorithm": "word2vec",
                "sentences": sentences,
                "params": {"vector_size": 8, "min_count": 1, "epochs": 1, "workers": 1},
            },
        )
        body = assert_problem(
            c.delete(f"/v1/jobs/{job['id']}", params={"keep": "best"}), 409, "keep-unsupported"
        )
        assert body["errors"][0]["loc"] == ["query", "keep"] and "keep" in body["detail"]


def test_the_cli_passes_keep():
    from service.cli.main import build_parser

    args = build_parser().parse_args(["attention", "jobs", "cancel", "0" * 32, "--keep", "best"])
    assert args.keep == "best"
    assert build_parser().parse_args(["attention", "jobs", "cancel", "0" * 32]).keep == "nothing"


def test_a_stop_before_the_first_update_keeps_nothing(tmp_path, monkeypatch):
    """The worker's side, in this process: asked to stop (the stop signal's flag) before training made
    an update, the job raises NothingToKeep and writes no version."""
    from service.attention.worker import train_job
    from service.kit import job_worker

    monkeypatch.setattr(job_worker, "_stop_asked", True)  # what STOP_SIGNAL's handler sets
    spec = {
        "name": "none",
        "models_dir": str(tmp_path / "models"),
        "threads": 1,
        "device": "cpu",
        "config": {"emb_dim": 8, "hidden": 16, "tokenization": "char"},
        "params": {"epochs": 1},
        "source": {"task": {"name": "dates", "kwargs": {"n_train": 50, "n_dev": 5, "n_test": 5}}},
        "dev": None,
        "embeddings": None,
    }
    phases = []
    with pytest.raises(job_worker.NothingToKeep, match="nothing was trained yet"):
        train_job(spec, lambda **fields: phases.append(fields.get("phase")))
    assert any(p and p.startswith("stopping (keep=best)") for p in phases)
    assert not (tmp_path / "models" / "none").exists() or not any((tmp_path / "models" / "none").iterdir())
