"""The ANN index over HTTP: ``POST/DELETE /v1/models/{name}/index`` (a job), ``exact`` on the neighbour
queries, the index seen after a registry reload, and the automatic build above ``EMBEDDINGS_INDEX_MIN_VOCAB``."""

from __future__ import annotations

import numpy as np
import pytest

from models.embeddings.ann import INDEX_FILE
from service.kit.registry import ModelRegistry
from tests.helpers import assert_problem, embeddings_client, wait_job
from tests.test_embeddings_api import assert_neighbours, stored_kv, train

PARAMS = {"kind": "hnsw", "m": 16, "ef_construction": 100, "ef_search": 64}


def w2v_text(n: int, dim: int = 16, seed: int = 3) -> bytes:
    """A word2vec text file of ``n`` clustered vectors ``w0 .. w{n-1}``."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 20, 1), dim))  # (C, D)
    x = centres[rng.integers(0, len(centres), n)] + 0.4 * rng.standard_normal((n, dim))  # (n, D)
    lines = [f"{n} {dim}\n"] + [
        f"w{i} " + " ".join(f"{v:.5f}" for v in row) + "\n" for i, row in enumerate(x)
    ]
    return "".join(lines).encode()


def import_model(c, name: str, n: int) -> dict:
    r = c.post(f"/v1/models/{name}/import?format=word2vec-text", content=w2v_text(n))
    assert r.status_code == 201, r.text
    return r.json()


def build(c, name: str, body: dict | None = None) -> dict:
    r = c.post(f"/v1/models/{name}/index", json=PARAMS if body is None else body)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["location"]
    job = wait_job(c, r.json()["job_id"])
    assert job["status"] == "succeeded" and job["kind"] == "index", job
    return job


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with embeddings_client(tmp_path_factory.mktemp("emb-index"), max_topn=100) as c:  # threshold 200,000
        info = import_model(c, "clu", 3000)
        assert info["index"] is None and "index_job" not in info
        yield c


@pytest.fixture(scope="module")
def indexed(client):
    """Model ``clu`` indexed, plus a registry loaded before the index was built (another process)."""
    runtime = client.app.state.runtime
    other = ModelRegistry(runtime.store, runtime.load_model, service="other")
    assert other.get("clu").model.index is None
    job = build(client, "clu")
    return job, other


def test_the_build_job_records_the_index_in_the_metadata(client, indexed):
    job, _ = indexed
    info = client.get("/v1/models/clu").json()
    index = info["index"]
    assert {k: index[k] for k in PARAMS} == PARAMS  # ef_search 64 reached the target: not raised
    assert index["recall_at_10"] >= 0.95 and index["sample"] == 1000
    assert index["build_s"] > 0 and index["size_bytes"] > 0 and index["built"]
    assert job["result"]["index"] == index and job["result"]["version"] == info["version"] == 1
    path = client.app.state.runtime.store.current("clu").path / INDEX_FILE
    assert path.stat().st_size == index["size_bytes"]
    with open("/proc/self/maps") as fh:  # served memory-mapped: the file's pages, shared by every process
        assert str(path) in fh.read()
    assert info["loaded"] and client.app.state.runtime.registry.get("clu").model.index is not None


def test_similar_uses_the_index_by_default_and_exact_equals_gensim(client, indexed):
    kv = stored_kv(client, "clu")
    kv.fill_norms()
    for body in ({"positive": ["w1"]}, {"positive": ["w2", "w3"], "negative": ["w4"], "topn": 20}):
        approx = client.post("/v1/models/clu/similar", json=body).json()
        assert approx["exact"] is False
        topn = body.get("topn", 10)
        expected = kv.most_similar(positive=body["positive"], negative=body.get("negative"), topn=topn)
        words = [r["word"] for r in approx["results"]]
        assert len(words) == topn and not set(words) & set(body["positive"] + body.get("negative", []))
        assert len(set(words) & {w for w, _ in expected}) >= 0.9 * topn
        mean = kv.get_mean_vector(
            body["positive"] + body.get("negative", []),
            [1.0] * len(body["positive"]) + [-1.0] * len(body.get("negative", [])),
            pre_normalize=True, post_normalize=True,
        )  # fmt: skip
        for r in approx["results"]:  # scores are the exact cosines of the words returned
            exact_score = float(np.dot(kv[r["word"]], mean) / kv.norms[kv.get_index(r["word"])])
            assert r["score"] == pytest.approx(exact_score, abs=1e-6)
        exact = client.post("/v1/models/clu/similar", json={**body, "exact": True}).json()
        assert exact["exact"] is True
        assert_neighbours(exact["results"], expected)
    vec = kv["w7"].tolist()
    by_vector = client.post("/v1/models/clu/similar", json={"vector": vec, "topn": 3}).json()
    assert by_vector["exact"] is False and by_vector["results"][0]["word"] == "w7"
    exact = client.post("/v1/models/clu/similar", json={"vector": vec, "topn": 3, "exact": True}).json()
    assert_neighbours(exact["results"], kv.similar_by_vector(np.asarray(vec, dtype=np.float32), topn=3))


def test_restrict_vocab_and_cosmul_fall_back_to_exact(client, indexed):
    kv = stored_kv(client, "clu")
    r = client.post(
        "/v1/models/clu/similar", json={"positive": ["w1"], "restrict_vocab": 500, "exact": False}
    )
    assert r.json()["exact"] is True
    assert_neighbours(r.json()["results"], kv.most_similar("w1", topn=10, restrict_vocab=500))
    r = client.post("/v1/models/clu/similar", json={"positive": ["w1", "w2"], "method": "cosmul"})
    assert r.json()["exact"] is True
    assert_neighbours(r.json()["results"], kv.most_similar_cosmul(positive=["w1", "w2"], topn=10))


def test_analogy_uses_the_index_and_exact_equals_gensim(client, indexed):
    kv = stored_kv(client, "clu")
    body = {"a": "w1", "b": "w2", "c": "w3", "topn": 5}
    approx = client.post("/v1/models/clu/analogy", json=body).json()
    assert approx["exact"] is False and len(approx["results"]) == 5
    assert not {r["word"] for r in approx["results"]} & {"w1", "w2", "w3"}
    exact = client.post("/v1/models/clu/analogy", json={**body, "exact": True}).json()
    assert exact["exact"] is True
    assert_neighbours(exact["results"], kv.most_similar(positive=["w2", "w3"], negative=["w1"], topn=5))


def test_batch_forms_route_each_query(client, indexed):
    kv = stored_kv(client, "clu")
    queries = [
        {"positive": ["w5"], "topn": 4},
        {"positive": ["w5"], "topn": 4, "exact": True},
        {"positive": ["w5"], "topn": 4, "restrict_vocab": 100},
        {"positive": ["nope"]},
        {"positive": ["w5", "w6"], "method": "cosmul", "topn": 4},
    ]
    r = client.post("/v1/models/clu/similar/batch", json={"queries": queries})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x and x["exact"] for x in res] == [False, True, True, None, True]
    assert_neighbours(res[1]["results"], kv.most_similar("w5", topn=4))
    assert_neighbours(res[2]["results"], kv.most_similar("w5", topn=4, restrict_vocab=100))
    assert r.json()["errors"][0]["index"] == 3 and r.json()["errors"][0]["status"] == 404
    r = client.post("/v1/models/clu/analogy/batch", json={"queries": [
        {"a": "w1", "b": "w2", "c": "w3"}, {"a": "w1", "b": "w2", "c": "w3", "exact": True}]})  # fmt: skip
    assert [x["exact"] for x in r.json()["results"]] == [False, True]


def test_problems(client, indexed):
    assert_problem(client.post("/v1/models/nope/index", json={}), 404, "model-not-found")
    assert_problem(client.post("/v1/models/clu/index", json={"version": 9}), 404, "version-not-found")
    for body in ({"m": 2}, {"m": "32"}, {"ef_search": True}, {"extra": 1}, {"version": 0}):
        assert_problem(client.post("/v1/models/clu/index", json=body), 422)
    for exact in ("yes", 1):
        r = client.post("/v1/models/clu/similar", json={"positive": ["w1"], "exact": exact})
        assert_problem(r, 422)
    assert_problem(client.delete("/v1/models/nope/index"), 404, "model-not-found")
    first = client.post("/v1/models/clu/index", json=PARAMS)
    assert first.status_code == 202
    assert_problem(client.post("/v1/models/clu/index", json=PARAMS), 409, "job-active")
    assert wait_job(client, first.json()["job_id"])["status"] == "succeeded"


def test_another_registry_follows_the_index_and_its_removal(client, indexed):
    _, other = indexed
    assert other.get("clu").model.index is not None  # the stamp changed: reloaded with the index
    r = client.delete("/v1/models/clu/index")
    assert r.status_code == 204
    assert client.get("/v1/models/clu").json()["index"] is None
    assert client.post("/v1/models/clu/similar", json={"positive": ["w1"]}).json()["exact"] is True
    assert other.get("clu").model.index is None
    assert not (client.app.state.runtime.store.current("clu").path / INDEX_FILE).exists()
    assert_problem(client.delete("/v1/models/clu/index"), 404, "index-not-found")
    build(client, "clu", {"kind": "hnsw"})  # defaults (m 32, ef 200 / 128), the body optional fields
    assert client.get("/v1/models/clu").json()["index"]["m"] == 32
    assert other.get("clu").model.index is not None


def test_automatic_build_above_the_vocabulary_setting(tmp_path):
    with embeddings_client(tmp_path, index_min_vocab=1000) as c:
        info = import_model(c, "big", 1500)
        job = wait_job(c, info["index_job"]["job_id"])
        assert job["status"] == "succeeded" and job["kind"] == "index"
        assert c.get("/v1/models/big").json()["index"]["recall_at_10"] >= 0.95
        assert c.post("/v1/models/big/similar", json={"positive": ["w1"]}).json()["exact"] is False
        small = import_model(c, "small", 50)
        assert small["index"] is None and "index_job" not in small
    with embeddings_client(tmp_path / "t", index_min_vocab=5) as c:
        sentences = [["king", "queen", "royal", "palace", "crown", "throne"]] * 20
        params = {"min_count": 1, "epochs": 2, "vector_size": 8, "workers": 1}
        job = train(c, {"name": "royal", "sentences": sentences, "params": params})
        assert job["result"]["index"]["kind"] == "ivf-sq8"  # EMBEDDINGS_INDEX_KIND's default
        assert c.get("/v1/models/royal").json()["index"]["sample"] == 6
        assert (
            c.post("/v1/models/royal/similar", json={"positive": ["king"], "topn": 3}).json()["exact"]
            is False
        )
