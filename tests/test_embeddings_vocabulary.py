"""The vocabulary resource (``GET /v1/models/{name}/words``) and the 2-D projection (``POST .../projection``).

One module-scoped real app trains a tiny Word2Vec model twice (versions 1 and 2 on different
sentences); answers are compared with the stored gensim vectors.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.embeddings.projection import pca_2d
from models.embeddings.vocabulary import PrefixIndex
from tests.helpers import assert_problem, embeddings_client, wait_job

PARAMS = {"vector_size": 12, "min_count": 1, "epochs": 2, "workers": 1, "seed": 3}
V1 = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "the cattle ate the catnip",
    "Cat and cat are different keys",
    "a catalogue of cats",
]
V2 = ["alpha beta gamma", "alpha beta", "alpha"]


def train(c, body):
    r = c.post("/v1/models", json=body)
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["job_id"])
    assert job["status"] == "succeeded", job


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with embeddings_client(tmp_path_factory.mktemp("vocab"), max_topn=50) as c:
        train(
            c,
            {
                "name": "voc",
                "algorithm": "word2vec",
                "sentences": [line.split() for line in V1],
                "params": PARAMS,
            },
        )
        train(
            c, {"name": "voc", "algorithm": "word2vec", "sentences": V2, "params": PARAMS, "overwrite": True}
        )
        yield c


def index_to_key(client, version: int) -> list[str]:
    return list(client.app.state.runtime.registry.get("voc", version).model.kv.index_to_key)


def words(resp) -> list[str]:
    return [w["word"] for w in resp.json()["words"]]


# --------------------------------------------------------------------------- /words


def test_words_in_frequency_order_with_envelope(client):
    keys = index_to_key(client, 1)
    r = client.get("/v1/models/voc/words?version=1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "voc" and body["version"] == 1
    assert body["prefix"] == "" and body["offset"] == 0 and body["limit"] == 100
    assert body["total"] == len(keys)
    assert words(r) == keys
    assert [w["rank"] for w in body["words"]] == list(range(len(keys)))
    assert keys[0] == "the"  # the most frequent word first


def test_words_current_version_by_default(client):
    r = client.get("/v1/models/voc/words")
    assert r.json()["version"] == 2
    assert words(r) == index_to_key(client, 2) == ["alpha", "beta", "gamma"]


def test_prefix_is_case_sensitive_and_in_frequency_order(client):
    keys = index_to_key(client, 1)
    r = client.get("/v1/models/voc/words", params={"prefix": "cat", "version": 1})
    expected = [k for k in keys if k.startswith("cat")]
    assert words(r) == expected and r.json()["total"] == len(expected)
    assert set(expected) == {"cat", "cattle", "catnip", "catalogue", "cats"}
    assert [w["rank"] for w in r.json()["words"]] == [keys.index(w) for w in expected]
    assert words(client.get("/v1/models/voc/words", params={"prefix": "Cat", "version": 1})) == ["Cat"]
    r = client.get("/v1/models/voc/words", params={"prefix": "zzz", "version": 1})
    assert r.status_code == 200 and r.json()["words"] == [] and r.json()["total"] == 0


def test_paging(client):
    keys = index_to_key(client, 1)
    r = client.get("/v1/models/voc/words", params={"offset": 2, "limit": 3, "version": 1})
    assert words(r) == keys[2:5] and r.json()["total"] == len(keys)
    assert [w["rank"] for w in r.json()["words"]] == [2, 3, 4]
    cats = [k for k in keys if k.startswith("cat")]
    r = client.get("/v1/models/voc/words", params={"prefix": "cat", "offset": 1, "limit": 2, "version": 1})
    assert words(r) == cats[1:3] and r.json()["total"] == len(cats)
    r = client.get("/v1/models/voc/words", params={"offset": 10_000, "version": 1})
    assert r.status_code == 200 and r.json()["words"] == []


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("version=0", "version"),
        ("prefix=" + "a" * 201, "prefix"),
    ],
)
def test_bad_parameters_are_problems_naming_the_field(client, query, field):
    body = assert_problem(client.get(f"/v1/models/voc/words?{query}"), 422)
    assert ["query", field] in [e["loc"] for e in body["errors"]], body


def test_unknown_model_and_version(client):
    assert_problem(client.get("/v1/models/nope/words"), 404)
    body = assert_problem(client.get("/v1/models/voc/words?version=9"), 404, "version-not-found")
    assert "9" in body["detail"]
    assert_problem(client.get("/v1/models/Bad%20Name/words"), 422)


def test_prefix_index_edges():
    keys = ["b", "ab", "a", "abc", "a\U0010ffff", "ac", "é"]
    index = PrefixIndex.build(keys)
    for prefix in ["a", "ab", "abc", "b", "c", "é", "a\U0010ffff", ""]:
        assert [keys[r] for r in index.matches(prefix)] == [k for k in keys if k.startswith(prefix)]


def test_prefix_index_is_fast_on_a_big_vocabulary():
    import time

    keys = [f"w{i:07d}" for i in range(300_000)][::-1]
    t0 = time.perf_counter()
    index = PrefixIndex.build(keys)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(100):
        index.matches("w00012")
    per_query = (time.perf_counter() - t0) / 100
    assert build < 5 and per_query < 0.005, (build, per_query)


# --------------------------------------------------------------------------- /projection


def test_projection_of_words_is_the_pca_of_unit_vectors(client):
    ws = ["cat", "dog", "mat", "log", "the"]
    r = client.post("/v1/models/voc/projection?version=1", json={"words": ws})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "voc" and body["version"] == 1
    assert [p["word"] for p in body["points"]] == ws
    kv = client.app.state.runtime.registry.get("voc", 1).model.kv
    x = np.stack([kv.get_vector(w, norm=True) for w in ws]).astype(np.float64)
    x -= x.mean(axis=0)
    _, sv, _ = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(body["explained_variance"], sv[:2] ** 2 / np.sum(sv**2), atol=1e-6)
    xy = np.array([[p["x"], p["y"]] for p in body["points"]])
    # Distances between points equal those in the top-2 principal subspace (rotation/sign free).
    ref, _ = pca_2d(np.stack([kv.get_vector(w, norm=True) for w in ws]))
    np.testing.assert_allclose(np.abs(xy), np.abs(ref), atol=1e-6)
    assert all(p["neighbour_score"] is None for p in body["points"])


def test_projection_of_a_word_and_its_neighbours(client):
    r = client.post("/v1/models/voc/projection?version=1", json={"word": "cat", "topn": 4})
    assert r.status_code == 200, r.text
    points = r.json()["points"]
    kv = client.app.state.runtime.registry.get("voc", 1).model.kv
    expected = kv.most_similar("cat", topn=4)
    assert [p["word"] for p in points] == ["cat", *(w for w, _ in expected)]
    assert points[0]["neighbour_score"] is None
    np.testing.assert_allclose(
        [p["neighbour_score"] for p in points[1:]], [s for _, s in expected], atol=1e-6
    )
    # default topn 20 (capped by what the vocabulary has)
    r = client.post("/v1/models/voc/projection", json={"word": "alpha"})
    got = [p["word"] for p in r.json()["points"]]
    assert got[0] == "alpha" and sorted(got[1:]) == ["beta", "gamma"]


def test_projection_is_deterministic(client):
    a = client.post("/v1/models/voc/projection?version=1", json={"word": "the", "topn": 6}).json()
    b = client.post("/v1/models/voc/projection?version=1", json={"word": "the", "topn": 6}).json()
    assert a == b


def test_projection_unknown_words_are_named(client):
    body = assert_problem(
        client.post("/v1/models/voc/projection?version=1", json={"words": ["cat", "qwzx", "zzq"]}),
        404,
        "unknown-words",
    )
    assert body["unknown_words"] == ["qwzx", "zzq"]
    body = assert_problem(
        client.post("/v1/models/voc/projection", json={"word": "qwzx"}), 404, "unknown-words"
    )
    assert body["unknown_words"] == ["qwzx"]


@pytest.mark.parametrize(
    "payload, loc",
    [
        ({"words": ["cat"]}, ["body", "words"]),
        ({"words": ["cat", "cat"]}, ["body", "words"]),
        ({"words": ["cat"] * 1001}, ["body", "words"]),
        ({"words": ["cat", ""]}, ["body", "words", 1]),
        ({"word": "cat", "topn": "3"}, ["body", "topn"]),
        ({"word": "cat", "topn": 0}, ["body", "topn"]),
        ({"word": "cat", "topn": 51}, ["body", "topn"]),
        ({"word": "cat", "extra": 1}, ["body", "extra"]),
    ],
)
def test_projection_bad_bodies_name_the_field(client, payload, loc):
    body = assert_problem(client.post("/v1/models/voc/projection?version=1", json=payload), 422)
    locs = [e["loc"] for e in body.get("errors", [])]
    assert loc in locs or any(loc[: len(x)] == x for x in locs), body


def test_projection_needs_exactly_one_source(client):
    assert_problem(client.post("/v1/models/voc/projection", json={}), 422)
    assert_problem(
        client.post("/v1/models/voc/projection", json={"words": ["alpha", "beta"], "word": "alpha"}), 422
    )
    assert_problem(
        client.post("/v1/models/voc/projection", json={"words": ["alpha", "beta"], "topn": 2}), 422
    )
