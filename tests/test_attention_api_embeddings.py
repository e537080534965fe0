"""Word-level models whose source embeddings start from word2vec vectors: from an uploaded file made
with gensim, and from the embeddings service running on a real uvicorn port."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import numpy as np
import pytest
import torch
import uvicorn
from fastapi.testclient import TestClient
from gensim.models import KeyedVectors

from service.attention.app import create_app
from service.attention.settings import Settings
from tests.helpers import wait_job

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "home"]
PAIRS = [
    ["the cat sat", "sat cat the"],
    ["the dog ran", "ran dog the"],
    ["cat on mat", "mat on cat"],
    ["dog ran home", "home ran dog"],
    ["the cat ran home", "home ran cat the"],
    ["a dog sat", "sat dog a"],  # "a" has no vector
    ["the mat", "mat the"],
    ["cat sat on the mat", "mat the on sat cat"],
]
SRC_TOKENS = sorted({w for src, _ in PAIRS for w in src.split()})
COVERAGE = sum(w in WORDS for w in SRC_TOKENS) / len(SRC_TOKENS)
DIM = 6


def make_vectors(path) -> KeyedVectors:
    kv = KeyedVectors(vector_size=DIM)
    rng = np.random.default_rng(0)
    kv.add_vectors(WORDS, rng.standard_normal((len(WORDS), DIM)).astype(np.float32))
    kv.save_word2vec_format(str(path), binary=True)
    return kv


def train_word_model(client, name: str, **source) -> dict:
    body = {
        "name": name,
        "pairs": PAIRS,
        "dev_fraction": 0.25,
        "config": {"tokenization": "word", "hidden": 8},  # emb_dim follows the vectors
        "params": {"epochs": 2, "batch_size": 4},
        "freeze_embeddings": True,
        **source,
    }
    resp = client.post("/v1/models", json=body)
    assert resp.status_code == 202, resp.text
    return wait_job(client, resp.json()["job_id"], 120)


def assert_initialised(client, name: str, kv: KeyedVectors) -> None:
    deadline = time.time() + 10
    registry = client.app.state.runtime.registry
    while not registry.is_loaded(name) and time.time() < deadline:
        time.sleep(0.02)
    model = registry.get(name).model
    emb = model.encoder.embedding.weight.detach()  # (V, DIM)
    assert emb.shape[1] == DIM  # emb_dim follows the vectors
    for word in WORDS:
        if word in model.src_vocab:
            torch.testing.assert_close(emb[model.src_vocab.lookup(word)], torch.tensor(kv[word]))
    info = client.get(f"/v1/models/{name}").json()
    assert info["embeddings"]["coverage"] == pytest.approx(COVERAGE)
    assert info["config"]["emb_dim"] == DIM and info["config"]["tokenization"] == "word"


def test_init_from_uploaded_word2vec_file(tmp_path):
    kv = make_vectors(tmp_path / "vectors.bin")
    with TestClient(create_app(Settings(data_dir=tmp_path / "data", train_default=False))) as client:
        up = client.post(
            "/v1/datasets", content=(tmp_path / "vectors.bin").read_bytes(), params={"format": "word2vec"}
        )
        assert up.status_code == 201, up.text
        assert up.json()["kind"] == "vectors" and up.json()["words"] == len(WORDS) and up.json()["dim"] == DIM
        job = train_word_model(client, "wordfile", embeddings_file=up.json()["id"])
        assert job["status"] == "succeeded", job.get("error")
        assert job["embedding_coverage"] == pytest.approx(COVERAGE)
        assert_initialised(client, "wordfile", kv)
        out = client.post("/v1/models/wordfile/translate", json={"inputs": ["the zebra sat"]}).json()[
            "outputs"
        ][0]
        assert out["source_tokens"] == ["the", "zebra", "sat"] and out["unknown_tokens"] == ["zebra"]
        pairs_ds = client.post("/v1/datasets", content=b"a\tb\n").json()["id"]
        wrong = client.post(
            "/v1/models",
            json={
                "name": "w",
                "pairs": PAIRS,
                "config": {"tokenization": "word"},
                "embeddings_file": pairs_ds,
            },
        )
        assert wrong.status_code == 422


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def embeddings_service(tmp_path):
    from service.embeddings.app import create_app as create_embeddings_app
    from service.embeddings.settings import Settings as EmbeddingsSettings

    port = _free_port()
    app = create_embeddings_app(EmbeddingsSettings(data_dir=tmp_path / "emb", train_default=False, port=port))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_init_from_the_embeddings_service(tmp_path, embeddings_service):
    import httpx

    kv = make_vectors(tmp_path / "vectors.bin")
    imported = httpx.post(
        f"{embeddings_service}/v1/models/vecs/import",
        content=(tmp_path / "vectors.bin").read_bytes(),
        timeout=30,
    )
    assert imported.status_code == 201, imported.text
    settings = Settings(data_dir=tmp_path / "data", train_default=False, embeddings_url=embeddings_service)
    with TestClient(create_app(settings)) as client:
        job = train_word_model(client, "wordurl", embeddings={"model": "vecs"})
        assert job["status"] == "succeeded", job.get("error")
        assert job["embedding_coverage"] == pytest.approx(COVERAGE)
        assert_initialised(client, "wordurl", kv)
        # a model the embeddings service lacks, or a service that cannot be reached, is answered at
        # once (naming it), not as a job that fails later
        body = {"name": "nope", "pairs": PAIRS, "config": {"tokenization": "word", "hidden": 8}}
        missing = client.post("/v1/models", json={**body, "embeddings": {"model": "absent"}})
        assert missing.status_code == 422, missing.text
        problem = missing.json()
        assert problem["errors"][0]["loc"] == ["body", "embeddings", "model"]
        assert "'absent'" in problem["detail"] and embeddings_service in problem["detail"]
        # A URL the client names: refused, timed out, no such model, any other answer -- one and the
        # same problem, so a token holder cannot use the service to probe what answers where.
        dead = f"http://127.0.0.1:{_free_port()}"
        logged: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger("service.attention.training").addHandler(handler)
        answers = [
            client.post("/v1/models", json={**body, "embeddings": {"model": model, "url": url}})
            for model, url in (
                ("vecs", dead),  # connection refused
                ("absent", embeddings_service),  # the service answers 404
                ("vecs", f"{embeddings_service}/healthz"),  # something answers, not a model (404)
            )
        ]
        for resp in answers:
            assert resp.status_code == 422, resp.text
            problem = resp.json()
            assert problem["type"].endswith("/embeddings-model-unavailable")
            assert problem["errors"][0]["loc"] == ["body", "embeddings"]
            assert dead not in problem["detail"] and "refused" not in problem["detail"].lower()
            assert "404" not in problem["detail"] and "Connect" not in problem["detail"]
        details = {r.json()["detail"].replace("'absent'", "'vecs'") for r in answers}
        assert len(details) == 1, details  # the same words whatever went wrong (the model's name aside)
        logging.getLogger("service.attention.training").removeHandler(handler)
        assert any("ConnectError" in m and dead in m for m in logged), logged  # the log says which
        assert any("answered 404" in m for m in logged), logged
        # credentials in the URL are refused, naming the field (jobs and models would show them)
        creds = client.post(
            "/v1/models",
            json={
                **body,
                "embeddings": {"model": "vecs", "url": embeddings_service.replace("//", "//u:pw@")},
            },
        )
        assert creds.status_code == 422, creds.text
        assert creds.json()["errors"][0]["loc"] == ["body", "embeddings", "url"]
        assert "credentials" in creds.json()["detail"] and "pw" not in json.dumps(
            creds.json()["errors"][0]["msg"]
        )
        assert client.get("/v1/jobs", params={"model": "nope"}).json()["jobs"] == []
        assert client.get("/readyz").status_code == 200


def test_configured_embeddings_service_down_is_503_naming_it(tmp_path):
    dead = f"http://127.0.0.1:{_free_port()}"
    settings = Settings(data_dir=tmp_path / "data", train_default=False, embeddings_url=dead)
    with TestClient(create_app(settings)) as client:
        body = {"name": "w", "pairs": PAIRS, "config": {"tokenization": "word"}, "embeddings": {"model": "x"}}
        resp = client.post("/v1/models", json=body)
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert dead in resp.json()["detail"] and "ATTENTION_EMBEDDINGS_URL" in resp.json()["detail"]
        assert client.get("/v1/jobs").json()["jobs"] == []


def test_fetch_vectors_errors_name_the_service_and_model(tmp_path):
    from service.attention.worker import fetch_vectors

    dead = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(RuntimeError, match="embeddings service at " + dead):
        fetch_vectors(dead, "default", tmp_path / "v.bin", timeout=5)
