"""The embeddings service's lifecycle over HTTP: restarts, interrupted jobs, the default model,
the API token, and import / export (including the refusal of pickles)."""

from __future__ import annotations

import json
import os
import pickle
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from fastapi.testclient import TestClient
from gensim.models import KeyedVectors
from gensim.models.fasttext import load_facebook_vectors
from gensim.test.utils import datapath

from service.embeddings.app import create_app
from service.embeddings.settings import Settings
from service.kit.job_record import JobRecord
from service.kit.job_store import JobStore
from tests.helpers import assert_problem, embeddings_client, wait_job, wait_ready
from tests.test_embeddings_api import assert_neighbours, train

SENTENCES = [
    ["king", "queen", "royal", "palace"],
    ["queen", "royal", "crown"],
    ["king", "crown", "palace"],
] * 10
TINY = {"min_count": 1, "epochs": 2, "vector_size": 8, "workers": 1}


make_client = embeddings_client  # (data_dir, **settings) -> an unstarted TestClient, train_default off


def test_models_versions_and_jobs_survive_a_restart(tmp_path):
    with make_client(tmp_path) as c:
        job = train(c, {"name": "royal", "sentences": SENTENCES, "params": TINY})
        train(c, {"name": "royal", "sentences": SENTENCES, "params": {**TINY, "seed": 3}, "overwrite": True})
        before = c.post("/v1/models/royal/similar", json={"positive": ["king"], "topn": 3}).json()
    with make_client(tmp_path) as c:
        assert wait_ready(c)["checks"]["models_loaded"] == {"royal": 2}
        info = c.get("/v1/models/royal").json()
        assert info["version"] == 2 and [v["version"] for v in info["versions"]] == [1, 2]
        assert c.post("/v1/models/royal/similar", json={"positive": ["king"], "topn": 3}).json() == before
        old = c.get(f"/v1/jobs/{job['id']}").json()
        assert old["status"] == "succeeded" and len(old["history"]) == 2
        assert len(c.get("/v1/jobs?model=royal").json()["jobs"]) == 2


def test_a_job_interrupted_by_a_crash_shows_failed_after_restart(tmp_path):
    job_id = uuid.uuid4().hex
    record = JobRecord(
        id=job_id, kind="train", model="lost", status="running", started=datetime.now(UTC),
        progress=0.4, epoch=2, spec={"name": "lost"}, target="service.embeddings.worker:train",
    )  # fmt: skip
    store = JobStore(tmp_path / "embeddings" / "jobs" / "jobs.sqlite3")  # as the crashed runner left it
    with store.transaction() as tx:
        tx.insert(record)
    store.close()
    with make_client(tmp_path) as c:
        job = c.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "failed" and "interrupted" in job["error"]
        assert_problem(c.get("/v1/models/lost"), 404)
        # the name is free again: a new job for it is accepted
        train(c, {"name": "lost", "sentences": SENTENCES, "params": TINY})


def test_default_model_is_trained_at_start_and_readyz_waits_for_it(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, train_default=True))) as c:
        first = c.get("/readyz")
        if first.status_code == 503:
            assert first.headers["content-type"].startswith("application/problem+json")
        checks = wait_ready(c)["checks"]
        assert checks["default_model_loaded"] is True
        info = c.get("/v1/models/default").json()
        assert (
            info["source"] == "builtin"
            and info["vocab_size"] > 3000
            and info["corpus"]["id"] == "lee_background"
        )
        r = c.post("/v1/models/default/similar", json={"positive": ["president"], "topn": 3})
        assert r.status_code == 200 and len(r.json()["results"]) == 3
    # a restart finds it on disk: no second training job
    with TestClient(create_app(Settings(data_dir=tmp_path, train_default=True))) as c:
        wait_ready(c)
        assert len(c.get("/v1/jobs").json()["jobs"]) == 1


def test_mutating_routes_need_the_token(tmp_path):
    with make_client(tmp_path, api_token="s3cret") as c:
        body = {"name": "royal", "sentences": SENTENCES, "params": TINY}
        assert_problem(c.post("/v1/models", json=body), 401, "unauthenticated")
        assert_problem(c.post("/v1/models", json=body, headers={"Authorization": "Bearer nope"}), 403)
        assert_problem(c.post("/v1/corpora", content=b"a b c"), 401)
        assert_problem(c.post("/v1/models/royal/import", content=b"1 1\na 1\n"), 401)
        assert_problem(c.delete("/v1/models/royal"), 401)
        assert_problem(c.delete("/v1/corpora/x"), 401)
        assert_problem(c.delete(f"/v1/jobs/{uuid.uuid4().hex}"), 401)
        assert_problem(c.post("/v1/models/royal/continue", json={"sentences": ["king queen"]}), 401)
        auth = {"Authorization": "Bearer s3cret"}
        r = c.post("/v1/models", json=body, headers=auth)
        assert r.status_code == 202
        assert wait_job(c, r.json()["job_id"])["status"] == "succeeded"
        # queries stay open unless protect_queries
        assert c.post("/v1/models/royal/similar", json={"positive": ["king"], "topn": 2}).status_code == 200
        assert c.get("/v1/jobs").status_code == 200


def test_import_fasttext_bin_and_word2vec_binary_then_export_round_trip(tmp_path):
    with make_client(tmp_path) as c:
        with open(datapath("lee_fasttext.bin"), "rb") as f:
            r = c.post("/v1/models/leeft/import?format=fasttext-bin", content=f.read())
        assert r.status_code == 201, r.text
        info = r.json()
        assert info["algorithm"] == "fasttext" and info["oov_vectors"] and info["source"] == "imported"
        assert not info["trainable"]
        ref = load_facebook_vectors(datapath("lee_fasttext.bin"))
        r = c.post("/v1/models/leeft/vectors", json={"words": ["night", "nightxyzzy"]})
        night, oov = r.json()["vectors"]
        np.testing.assert_allclose(night["vector"], ref["night"], atol=1e-6)
        assert oov["oov"] and oov["known"]
        np.testing.assert_allclose(oov["vector"], ref["nightxyzzy"], atol=1e-5)
        r = c.post("/v1/models/leeft/similar", json={"positive": ["night"], "topn": 5})
        assert_neighbours(r.json()["results"], ref.most_similar("night", topn=5))
        # imported vectors cannot be trained further
        assert_problem(c.post("/v1/models/leeft/continue", json={"sentences": ["night day"]}), 422)

        with open(datapath("euclidean_vectors.bin"), "rb") as f:
            raw = f.read()
        r = c.post("/v1/models/euclid/import", content=raw)  # format=auto
        assert r.status_code == 201, r.text
        assert r.json()["import_format"] == "word2vec-binary"
        assert_problem(c.post("/v1/models/euclid/import", content=raw), 409, "model-exists")
        r = c.post("/v1/models/euclid/import?format=word2vec-binary&overwrite=true", content=raw)
        assert r.status_code == 201 and r.json()["version"] == 2
        ref_kv = KeyedVectors.load_word2vec_format(datapath("euclidean_vectors.bin"), binary=True)
        for fmt, binary in (("word2vec-binary", True), ("word2vec-text", False)):
            r = c.get(f"/v1/models/euclid/vectors?format={fmt}")
            assert r.status_code == 200
            assert "attachment" in r.headers["content-disposition"]
            path = tmp_path / f"export.{fmt}"
            path.write_bytes(r.content)
            back = KeyedVectors.load_word2vec_format(str(path), binary=binary)
            assert back.index_to_key == ref_kv.index_to_key
            np.testing.assert_allclose(back.vectors, ref_kv.vectors, atol=1e-7)
            # and the export imports back as a new model answering the same
            r = c.post(f"/v1/models/back-{fmt}/import?format={fmt}", content=path.read_bytes())
            assert r.status_code == 201, r.text
            word = ref_kv.index_to_key[0]
            got = c.post(f"/v1/models/back-{fmt}/similar", json={"positive": [word], "topn": 3}).json()[
                "results"
            ]
            assert_neighbours(got, ref_kv.most_similar(word, topn=3))


class _Marker:
    """Unpickling this creates a marker file (what an attacker's payload would do)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_is_refused_without_being_loaded(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Marker(str(marker)), protocol=4)
    assert payload[:1] == b"\x80"
    with make_client(tmp_path / "data") as c:
        for fmt in ("auto", "word2vec-binary", "word2vec-text", "fasttext-bin"):
            problem = assert_problem(c.post(f"/v1/models/evil/import?format={fmt}", content=payload), 415)
            assert problem["type"].endswith("unsafe-model-file")
        assert_problem(c.post("/v1/models/evil/import", content=b"PK\x03\x04 zip or torch"), 415)
        assert not marker.exists()
        assert_problem(c.get("/v1/models/evil"), 404)
        # garbage is a 422, and nothing is left behind
        assert_problem(
            c.post("/v1/models/evil/import", content=b"not vectors at all"), 422, "invalid-model-file"
        )
        assert_problem(c.post("/v1/models/evil/import?format=word2vec-text", content=b"3 2\na 1 2\n"), 422)
        assert_problem(c.post("/v1/models/evil/import?format=glove", content=b"x"), 422, "invalid-model-file")
        assert_problem(c.post("/v1/models/evil/import?format=ftz", content=b"x"), 422, "validation-error")
        assert_problem(c.post("/v1/models/evil/import", content=b""), 422)
        uploads = tmp_path / "data" / "embeddings" / "uploads"
        assert not [p for p in uploads.iterdir()] if uploads.exists() else True
        assert not (tmp_path / "data" / "embeddings" / "models" / "evil" / "v1").exists()
        # still serving
        assert c.get("/v1/models").status_code == 200
    assert not marker.exists()


@pytest.mark.parametrize("size", [1])
def test_upload_limit_applies_to_imports(tmp_path, size):
    with make_client(tmp_path, max_upload_bytes=4096) as c:
        r = c.post("/v1/models/big/import", content=os.urandom(5000))
        assert_problem(r, 413)
        assert c.get("/healthz").status_code == 200


def test_jsonl_corpus_fasttext_continue_and_corpus_in_use(tmp_path):
    lines = "".join(json.dumps(s) + "\n" for s in SENTENCES).encode()
    with make_client(tmp_path) as c:
        assert c.post("/v1/corpora?name=royal&format=jsonl", content=lines).status_code == 201
        params = {**TINY, "bucket": 2000, "min_n": 2, "max_n": 4}
        train(c, {"name": "ft", "algorithm": "fasttext", "corpus_id": "royal", "params": params})
        r = c.post(
            "/v1/models/ft/continue", json={"sentences": [["castle", "king", "moat"]] * 3, "epochs": 1}
        )
        job = wait_job(c, r.json()["job_id"])
        assert job["status"] == "succeeded", job
        info = c.get("/v1/models/ft").json()
        assert info["version"] == 2 and info["params"]["bucket"] == 2000 and info["source"] == "continued"
        vec = c.post("/v1/models/ft/vectors", json={"words": ["castle"]}).json()["vectors"][0]
        assert vec["in_vocab"] and not vec["oov"]
        # a corpus that a queued or running job trains on cannot be deleted
        with open(datapath("lee_background.cor"), "rb") as f:
            assert c.post("/v1/corpora?name=lee", content=f.read()).status_code == 201
        slow = {"name": "slow", "corpus_id": "lee", "params": {**TINY, "epochs": 100, "vector_size": 100}}
        r = c.post("/v1/models", json=slow)
        assert_problem(c.delete("/v1/corpora/lee"), 409, "corpus-in-use")
        assert c.delete(f"/v1/jobs/{r.json()['job_id']}").json()["status"] == "cancelled"
        assert c.delete("/v1/corpora/lee").status_code == 204
        assert c.delete("/v1/corpora/royal").status_code == 204


def test_protected_queries_need_the_token(tmp_path):
    with make_client(tmp_path, api_token="s3cret", protect_queries=True) as c:
        body = {"positive": ["king"], "topn": 2}
        assert_problem(c.post("/v1/models/royal/similar", json=body), 401)
        assert_problem(c.get("/v1/models"), 401)
        assert_problem(c.get(f"/v1/jobs/{uuid.uuid4().hex}"), 401)
        c.headers.update({"Authorization": "Bearer s3cret"})
        train(c, {"name": "royal", "sentences": SENTENCES, "params": TINY})
        assert c.post("/v1/models/royal/similar", json=body).status_code == 200


def test_queries_keep_answering_while_a_new_version_loads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with make_client(tmp_path) as c:
        train(c, {"name": "royal", "sentences": SENTENCES, "params": TINY})
        r = c.post(
            "/v1/models", json={"name": "royal", "sentences": SENTENCES, "params": TINY, "overwrite": True}
        )

        def ask(i: int) -> int:
            return c.post("/v1/models/royal/similar", json={"positive": ["king"], "topn": 2}).status_code

        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(ask, range(80)))
        assert wait_job(c, r.json()["job_id"])["status"] == "succeeded"
        assert set(statuses) == {200}
        assert c.get("/v1/models/royal").json()["version"] == 2
        assert ask(0) == 200
        metrics = c.get("/metrics").text
        assert 'embattn_models_loaded{service="embeddings"} 1.0' in metrics
