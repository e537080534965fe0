"""The embeddings service over HTTP (FastAPI TestClient on the real app, real tiny gensim models).

One module-scoped app trains two small models once (Word2Vec on an uploaded slice of gensim's Lee
corpus, FastText on inline sentences); the tests query them and compare every answer with gensim
called in-process on the SAME stored vectors.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from fastapi.testclient import TestClient
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from tests.helpers import assert_problem, embeddings_client, train, wait_job

W2V_PARAMS = {"vector_size": 24, "window": 5, "min_count": 2, "epochs": 3, "workers": 1, "seed": 7}
FT_PARAMS = {
    "vector_size": 16,
    "min_count": 1,
    "epochs": 2,
    "workers": 1,
    "bucket": 5000,
    "min_n": 3,
    "max_n": 5,
}


def lee_lines(n: int) -> list[str]:
    with open(datapath("lee_background.cor"), encoding="utf-8") as f:
        return [next(f) for _ in range(n)]


def stored_kv(client: TestClient, name: str) -> KeyedVectors:
    """The model's stored vectors, loaded by gensim directly (not through the service's loader).

    Imported word2vec files are stored as plain arrays (``vectors.npy``, ``words.txt``): gensim's
    ``add_vectors`` builds their ``KeyedVectors`` here.
    """
    state = client.app.state.runtime
    current = state.store.current(name)
    if current.meta.get("storage") == "npy":
        vectors = np.load(current.path / "vectors.npy")
        words = (current.path / "words.txt").read_text(encoding="utf-8").split("\n")[:-1]
        kv = KeyedVectors(vectors.shape[1], count=0)
        kv.add_vectors(words, vectors)
        return kv
    cls = KeyedVectors
    if current.meta["kind"].startswith("fasttext"):
        from gensim.models.fasttext import FastTextKeyedVectors

        cls = FastTextKeyedVectors
    return cls.load(str(current.path / "vectors.kv"))


def assert_neighbours(got: list[dict], expected: list[tuple[str, float]]) -> None:
    assert [g["word"] for g in got] == [w for w, _ in expected]
    np.testing.assert_allclose([g["score"] for g in got], [s for _, s in expected], atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data = tmp_path_factory.mktemp("embeddings")
    with embeddings_client(data, max_topn=50, max_batch=20) as c:
        text = "".join(lee_lines(150)).encode()
        r = c.post("/v1/corpora?name=lee150", content=text)
        assert r.status_code == 201, r.text
        train(c, {"name": "w2v", "algorithm": "word2vec", "corpus_id": "lee150", "params": W2V_PARAMS})
        sentences = [line.split()[:60] for line in lee_lines(40)]
        train(c, {"name": "ft", "algorithm": "fasttext", "sentences": sentences, "params": FT_PARAMS})
        yield c


@pytest.fixture(scope="module")
def kv(client) -> KeyedVectors:
    return stored_kv(client, "w2v")


@pytest.fixture(scope="module")
def words(kv) -> list[str]:
    return [w for w in kv.index_to_key[:60] if len(w) > 3][:10]


# --------------------------------------------------------------------------- corpora


def test_corpus_upload_list_show_delete(client):
    body = client.get("/v1/corpora/lee150").json()
    assert body["lines"] == 150 and body["sentences"] == 150 and body["tokens"] > 10_000
    assert body["format"] == "text" and body["tokenizer"] == "simple"
    gz = gzip.compress(b"the cat sat\n\nthe dog sat\n")
    r = client.post("/v1/corpora?name=tiny-gz&tokenizer=whitespace", content=gz)
    assert r.status_code == 201, r.text
    assert r.json()["gzip"] is True and r.json()["sentences"] == 2 and r.json()["tokens"] == 6
    r = client.post("/v1/corpora?format=jsonl", content=b'["a", "b"]\n["c"]\n')
    assert r.status_code == 201 and len(r.json()["id"]) == 32
    ids = {c["id"] for c in client.get("/v1/corpora").json()["corpora"]}
    assert {"lee150", "tiny-gz", r.json()["id"]} <= ids
    assert client.delete("/v1/corpora/tiny-gz").status_code == 204
    assert_problem(client.get("/v1/corpora/tiny-gz"), 404, "corpus-not-found")
    assert_problem(client.delete("/v1/corpora/tiny-gz"), 404)
    assert_problem(client.post("/v1/corpora?name=lee150", content=b"x y\n"), 409, "corpus-exists")


@pytest.mark.parametrize(
    ("query", "content", "line"),
    [
        ("format=jsonl&name=bad-json", b'["a"]\n["b"]\n{oops\n', 3),
        ("format=jsonl&name=bad-shape", b'["a"]\n{"a": 1}\n', 2),
        ("name=bad-utf8", b"fine line\nbad \xff\xfe line\n", 2),
    ],
)
def test_corpus_bad_content_names_the_line_and_keeps_nothing(client, query, content, line):
    body = assert_problem(client.post(f"/v1/corpora?{query}", content=content), 422, "invalid-corpus")
    assert body["line"] == line and f"line {line}" in body["detail"]
    name = query.split("name=")[1]
    assert_problem(client.get(f"/v1/corpora/{name}"), 404)
    root = client.app.state.runtime.uploads.root
    assert not list(root.glob(f"{name}*")) and not list(root.glob(".tmp-*"))


def test_corpus_gzip_inflating_to_a_huge_line_is_refused_and_keeps_nothing(client):
    # a small upload that would inflate to one 64 MiB line in the API process' memory: a bomb by its
    # ratio (~1000:1), refused before any line is read (413)
    bomb = gzip.compress(b"ok line\n" + b"z" * (64 << 20))
    assert len(bomb) < 200_000
    body = assert_problem(client.post("/v1/corpora?name=bomb", content=bomb), 413, "corpus-compression-ratio")
    assert "EMBEDDINGS_MAX_DECOMPRESSION_RATIO" in body["detail"]
    # a line too long that compresses as ordinary text does: the line guard names it (422)
    rng = np.random.default_rng(0)
    long_line = bytes(rng.integers(97, 123, size=3 << 20, dtype=np.uint8))  # 3 MiB of random letters
    body = assert_problem(
        client.post("/v1/corpora?name=bomb", content=gzip.compress(b"ok line\n" + long_line)),
        422,
        "invalid-corpus",
    )
    assert body["line"] == 2 and "longer than" in body["detail"]
    assert_problem(client.get("/v1/corpora/bomb"), 404)
    root = client.app.state.runtime.uploads.root
    assert not list(root.glob("bomb*")) and not list(root.glob(".tmp-*"))


def test_corpus_bad_query_params(client):
    assert_problem(client.post("/v1/corpora?format=csv", content=b"a b"), 422, "validation-error")
    assert_problem(client.post("/v1/corpora?name=Bad/Name", content=b"a b"), 422)
    assert_problem(client.post("/v1/corpora", content=b""), 422, "empty-upload")
    assert_problem(client.post("/v1/corpora?name=blank", content=b"\n \n"), 422, "invalid-corpus")


# --------------------------------------------------------------------------- jobs and models


def test_word2vec_job_reports_loss_lr_and_speed_per_epoch(client):
    jobs = client.get("/v1/jobs?model=w2v").json()["jobs"]
    assert "history" not in jobs[0]  # listings leave the history out
    assert "history" not in client.get(f"/v1/jobs/{jobs[0]['id']}?history=false").json()
    job = client.get(f"/v1/jobs/{jobs[0]['id']}").json()
    assert job["status"] == "succeeded" and job["progress"] == 1.0 and job["epoch"] == 3
    assert len(job["history"]) == 3
    for h in job["history"]:
        assert h["loss"] is not None and h["loss"] > 0
        assert 0 < h["learning_rate"] <= 0.025 and h["words_per_second"] > 0
    assert job["request"]["corpus"]["id"] == "lee150" and "store_root" not in job["request"]
    assert job["result"]["version"] == 1


def test_fasttext_job_has_no_loss_and_says_why(client):
    job = client.get("/v1/jobs?model=ft").json()["jobs"][0]
    job = client.get(f"/v1/jobs/{job['id']}").json()
    assert job["status"] == "succeeded" and job["loss"] is None
    assert "FastText" in job["loss_note"] and all(h["loss"] is None for h in job["history"])
    assert job["request"]["inline_sentences"] == 40


def test_model_info_and_list(client):
    info = client.get("/v1/models/w2v").json()
    assert info["algorithm"] == "word2vec" and info["vector_size"] == 24 and info["version"] == 1
    assert info["source"] == "trained" and info["trainable"] and info["loaded"] and not info["oov_vectors"]
    assert info["params"]["epochs"] == 3 and info["corpus"]["id"] == "lee150" and info["training_time_s"] > 0
    assert [v["version"] for v in info["versions"]] == [1]
    ft = client.get("/v1/models/ft").json()
    assert ft["algorithm"] == "fasttext" and ft["oov_vectors"] is True
    names = {m["name"] for m in client.get("/v1/models").json()["models"]}
    assert {"w2v", "ft"} <= names


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"vector_size": 0}, "vector_size"),
        ({"vector_size": 1001}, "vector_size"),
        ({"epochs": 101}, "epochs"),
        ({"workers": 9}, "workers"),
        ({"window": 51}, "window"),
        ({"alpha": 0.01, "min_alpha": 0.02}, "min_alpha"),
        ({"hs": 0, "negative": 0}, "negative"),
        ({"bucket": 100}, "fasttext only"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_training_params_out_of_bounds_are_422(client, params, fragment):
    body = {"name": "bad", "algorithm": "word2vec", "sentences": ["a b c"], "params": params}
    problem = assert_problem(client.post("/v1/models", json=body), 422, "validation-error")
    assert fragment in problem["detail"]


def test_training_request_shape_errors(client):
    body = assert_problem(
        client.post("/v1/models", json={"name": "x", "algorithm": "fasttext", "sentences": ["a"],
                                        "params": {"min_n": 5, "max_n": 3}}), 422)  # fmt: skip
    assert "min_n" in body["detail"]
    assert_problem(client.post("/v1/models", json={"name": "x"}), 422)  # no corpus
    assert_problem(
        client.post("/v1/models", json={"name": "x", "corpus_id": "lee150", "sentences": ["a b"]}), 422
    )
    assert_problem(client.post("/v1/models", json={"name": "x", "sentences": []}), 422)
    assert_problem(client.post("/v1/models", json={"name": "Bad Name", "sentences": ["a b"]}), 422)
    assert_problem(
        client.post("/v1/models", json={"name": "x", "algorithm": "glove", "sentences": ["a"]}), 422
    )
    assert_problem(
        client.post("/v1/models", json={"name": "x", "corpus_id": "nope"}), 404, "corpus-not-found"
    )
    assert_problem(client.post("/v1/models", json={"name": "x", "sentences": ["!!! ..."]}), 422)
    too_many = ["a b"] * 10_001
    assert_problem(client.post("/v1/models", json={"name": "x", "sentences": too_many}), 422)


def test_existing_name_is_409_and_overwrite_makes_a_new_version(client):
    sentences = [["alpha", "beta", "gamma"], ["beta", "gamma", "delta"]] * 20
    base = {
        "name": "versions",
        "sentences": sentences,
        "params": {"min_count": 1, "epochs": 1, "vector_size": 8},
    }
    train(client, base)
    assert_problem(client.post("/v1/models", json=base), 409, "model-exists")
    train(client, {**base, "overwrite": True})
    info = client.get("/v1/models/versions").json()
    assert info["version"] == 2 and [v["version"] for v in info["versions"]] == [1, 2]
    assert (
        client.post("/v1/models/versions/similar", json={"positive": ["alpha"], "topn": 1}).status_code == 200
    )


def test_active_job_is_409_cancel_and_delete(client):
    body = {"name": "slow", "corpus_id": "lee150", "params": {"min_count": 1, "epochs": 100, "workers": 1}}
    r = client.post("/v1/models", json=body)
    assert r.status_code == 202
    job_id = r.json()["job_id"]
    assert_problem(client.post("/v1/models", json={**body, "overwrite": True}), 409, "job-active")
    assert_problem(client.post("/v1/models/slow/import", content=b"1 1\na 1.0\n"), 409, "job-active")
    cancelled = client.delete(f"/v1/jobs/{job_id}").json()
    assert cancelled["status"] == "cancelled"
    assert_problem(client.delete(f"/v1/jobs/{job_id}"), 409, "job-ended")
    assert_problem(client.get("/v1/models/slow"), 404, "model-not-found")
    assert_problem(client.get("/v1/jobs/0123456789abcdef0123456789abcdef"), 404, "job-not-found")
    # a model with an active job cannot be deleted
    r = client.post("/v1/models/w2v/continue", json={"corpus_id": "lee150", "epochs": 50})
    assert r.status_code == 202
    assert_problem(client.delete("/v1/models/w2v"), 409, "job-active")
    client.delete(f"/v1/jobs/{r.json()['job_id']}")
    assert client.get("/v1/models/w2v").json()["version"] == 1


def test_continue_training_adds_words_in_a_new_version(client):
    sentences = [["zebra", "quokka", "the", "president"], ["quokka", "zebra", "said"]] * 5
    base = {"name": "grow", "corpus_id": "lee150", "params": {**W2V_PARAMS, "epochs": 1}}
    train(client, base)
    before = client.get("/v1/models/grow").json()
    r = client.post("/v1/models/grow/continue", json={"sentences": sentences, "epochs": 2})
    assert r.status_code == 202
    job = wait_job(client, r.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["kind"] == "continue" and len(job["history"]) == 2
    after = client.get("/v1/models/grow").json()
    assert after["version"] == 2 and after["source"] == "continued"
    assert after["vocab_size"] == before["vocab_size"] + 2
    r = client.post("/v1/models/grow/vectors", json={"words": ["quokka"]})
    assert r.status_code == 200 and r.json()["vectors"][0]["known"]
    assert_problem(client.post("/v1/models/nope/continue", json={"sentences": ["a b"]}), 404)


def test_delete_model(client):
    train(client, {"name": "doomed", "sentences": [["a", "b"]] * 5, "params": {"min_count": 1, "epochs": 1}})
    assert client.delete("/v1/models/doomed").status_code == 204
    assert_problem(client.get("/v1/models/doomed"), 404)
    assert_problem(client.post("/v1/models/doomed/similar", json={"positive": ["a"]}), 404, "model-not-found")
    assert_problem(client.delete("/v1/models/doomed"), 404)


# --------------------------------------------------------------------------- parity with gensim


def test_similar_parity(client, kv, words):
    w = words
    for body, expected in [
        ({"positive": [w[0]], "topn": 7}, kv.most_similar(positive=[w[0]], topn=7)),
        ({"positive": [w[0], w[1]], "negative": [w[2]], "topn": 5},
         kv.most_similar(positive=[w[0], w[1]], negative=[w[2]], topn=5)),
        ({"positive": [w[3]], "topn": 5, "method": "cosmul"}, kv.most_similar_cosmul(positive=[w[3]], topn=5)),
        ({"positive": [w[0], w[4]], "negative": [w[5]], "method": "cosmul", "topn": 4},
         kv.most_similar_cosmul(positive=[w[0], w[4]], negative=[w[5]], topn=4)),
        ({"positive": [w[1]], "topn": 5, "restrict_vocab": 100},
         kv.most_similar(positive=[w[1]], topn=5, restrict_vocab=100)),
        ({"vector": kv[w[2]].tolist(), "topn": 6}, kv.similar_by_vector(kv[w[2]], topn=6)),
    ]:  # fmt: skip
        r = client.post("/v1/models/w2v/similar", json=body)
        assert r.status_code == 200, r.text
        assert_neighbours(r.json()["results"], expected)


def test_similar_batch_parity_and_per_query_errors(client, kv, words):
    queries = [{"positive": [w], "topn": 5} for w in words[:6]]
    queries += [
        {"positive": [words[0]], "negative": [words[1]], "topn": 3, "restrict_vocab": 200},
        {"positive": ["qwzx", words[0], "zzyzx"]},
        {"positive": [words[2]], "method": "cosmul", "topn": 3},
        {"vector": kv[words[3]].tolist(), "topn": 4},
        {"positive": [words[0]], "topn": 51},
    ]
    r = client.post("/v1/models/w2v/similar/batch", json={"queries": queries})
    assert r.status_code == 200, r.text
    body = r.json()
    results = body["results"]
    for q, res in zip(queries[:6], results[:6], strict=True):
        assert_neighbours(res["results"], kv.most_similar(positive=q["positive"], topn=5))
    assert_neighbours(
        results[6]["results"], kv.most_similar([words[0]], [words[1]], topn=3, restrict_vocab=200)
    )
    assert results[7] is None and results[10] is None
    assert_neighbours(results[8]["results"], kv.most_similar_cosmul(positive=[words[2]], topn=3))
    assert_neighbours(results[9]["results"], kv.similar_by_vector(kv[words[3]], topn=4))
    errors = {e["index"]: e for e in body["errors"]}
    assert set(errors) == {7, 10}
    assert errors[7]["status"] == 404 and errors[7]["unknown_words"] == ["qwzx", "zzyzx"]
    assert errors[10]["status"] == 422 and errors[10]["type"].endswith("topn-too-large")


def test_analogy_parity(client, kv, words):
    a, b, c = words[:3]
    r = client.post("/v1/models/w2v/analogy", json={"a": a, "b": b, "c": c, "topn": 5})
    assert_neighbours(r.json()["results"], kv.most_similar(positive=[b, c], negative=[a], topn=5))
    r = client.post("/v1/models/w2v/analogy", json={"a": a, "b": b, "c": c, "topn": 5, "method": "cosmul"})
    assert_neighbours(r.json()["results"], kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5))
    r = client.post(
        "/v1/models/w2v/analogy/batch",
        json={"queries": [{"a": a, "b": b, "c": c, "topn": 3}, {"a": "qq", "b": b, "c": c}]},
    )
    body = r.json()
    assert_neighbours(body["results"][0]["results"], kv.most_similar(positive=[b, c], negative=[a], topn=3))
    assert body["results"][1] is None and body["errors"][0]["unknown_words"] == ["qq"]


def test_similarity_n_similarity_doesnt_match_parity(client, kv, words):
    pairs = [[words[0], words[1]], [words[2], words[3]], [words[4], words[4]]]
    r = client.post("/v1/models/w2v/similarity", json={"pairs": pairs})
    np.testing.assert_allclose(r.json()["similarities"], [kv.similarity(a, b) for a, b in pairs], atol=1e-6)
    r = client.post("/v1/models/w2v/n-similarity", json={"words1": words[:2], "words2": words[2:5]})
    np.testing.assert_allclose(r.json()["similarity"], kv.n_similarity(words[:2], words[2:5]), atol=1e-6)
    r = client.post("/v1/models/w2v/doesnt-match", json={"words": words[:5]})
    assert r.json()["word"] == kv.doesnt_match(words[:5])
    r = client.post(
        "/v1/models/w2v/similarity/batch", json={"queries": [{"pairs": pairs}, {"pairs": [["x1", "x2"]]}]}
    )
    assert r.json()["results"][1] is None and r.json()["errors"][0]["unknown_words"] == ["x1", "x2"]
    r = client.post(
        "/v1/models/w2v/n-similarity/batch", json={"queries": [{"words1": words[:2], "words2": words[2:3]}]}
    )
    np.testing.assert_allclose(
        r.json()["results"][0]["similarity"], kv.n_similarity(words[:2], words[2:3]), atol=1e-6
    )
    r = client.post("/v1/models/w2v/doesnt-match/batch", json={"queries": [{"words": words[:4]}]})
    assert r.json()["results"][0]["word"] == kv.doesnt_match(words[:4])


def test_vectors_parity_and_unknown_words(client, kv, words):
    r = client.post("/v1/models/w2v/vectors", json={"words": [words[0], "qwzx", words[1]]})
    assert r.status_code == 200
    body = r.json()
    assert body["unknown_words"] == ["qwzx"]
    v0, unk, v1 = body["vectors"]
    np.testing.assert_allclose(v0["vector"], kv[words[0]], atol=1e-6)
    np.testing.assert_allclose(v1["vector"], kv[words[1]], atol=1e-6)
    assert unk == {"word": "qwzx", "vector": None, "known": False, "in_vocab": False, "oov": False}
    problem = assert_problem(
        client.post("/v1/models/w2v/vectors", json={"words": ["qwzx", "zzyzx"]}), 404, "unknown-words"
    )
    assert problem["unknown_words"] == ["qwzx", "zzyzx"]
    r = client.post(
        "/v1/models/w2v/vectors/batch", json={"queries": [{"words": [words[0]]}, {"words": ["qq"]}]}
    )
    assert r.json()["results"][1] is None and r.json()["errors"][0]["index"] == 1


def test_sentence_vectors_parity(client, kv, words):
    sentences = [" ".join(words[:3]) + " qwzx", [words[3], words[4], "zzyzx"], "qwzx zzyzx"]
    r = client.post("/v1/models/w2v/sentence-vectors", json={"sentences": sentences})
    assert r.status_code == 200, r.text
    out = r.json()["vectors"]
    np.testing.assert_allclose(out[0]["vector"], np.mean([kv[w] for w in words[:3]], axis=0), atol=1e-6)
    assert out[0]["unknown_tokens"] == ["qwzx"] and out[0]["known_tokens"] == 3
    np.testing.assert_allclose(out[1]["vector"], np.mean([kv[words[3]], kv[words[4]]], axis=0), atol=1e-6)
    assert out[2]["known_tokens"] == 0 and out[2]["vector"] == [0.0] * 24
    r = client.post("/v1/models/w2v/sentence-vectors", json={"sentences": [words[:3]], "pooling": "max"})
    np.testing.assert_allclose(
        r.json()["vectors"][0]["vector"], np.max([kv[w] for w in words[:3]], axis=0), atol=1e-6
    )
    r = client.post("/v1/models/w2v/sentence-vectors/batch", json={"queries": [{"sentences": [words[:2]]}]})
    np.testing.assert_allclose(
        r.json()["results"][0]["vectors"][0]["vector"], np.mean([kv[w] for w in words[:2]], axis=0), atol=1e-6
    )


def test_fasttext_oov_vectors_and_parity(client):
    ftkv = stored_kv(client, "ft")
    r = client.post("/v1/models/ft/vectors", json={"words": ["the", "unseenwordxyz"]})
    assert r.status_code == 200
    the, oov = r.json()["vectors"]
    assert the["in_vocab"] and not the["oov"]
    assert oov["known"] and oov["oov"] and not oov["in_vocab"]
    np.testing.assert_allclose(oov["vector"], ftkv["unseenwordxyz"], atol=1e-6)
    r = client.post("/v1/models/ft/similar", json={"positive": ["unseenwordxyz"], "topn": 5})
    assert_neighbours(r.json()["results"], ftkv.most_similar("unseenwordxyz", topn=5))
    r = client.post(
        "/v1/models/ft/similar/batch", json={"queries": [{"positive": ["unseenwordxyz"], "topn": 5}]}
    )
    assert_neighbours(r.json()["results"][0]["results"], ftkv.most_similar("unseenwordxyz", topn=5))


def test_evaluate_builtin_and_inline_parity(client, kv, words):
    r = client.post(
        "/v1/models/w2v/evaluate",
        json={"pairs": {"dataset": "wordsim353"}, "analogies": {"dataset": "questions-words"}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    pearson, spearman, oov = kv.evaluate_word_pairs(datapath("wordsim353.tsv"))
    if body["pairs"]["pearson_r"] is not None:
        assert body["pairs"]["pearson_r"] == pytest.approx(pearson[0], abs=1e-6)
        assert body["pairs"]["spearman_rho"] == pytest.approx(spearman[0], abs=1e-6)
    assert body["pairs"]["oov_ratio"] == pytest.approx(oov / 100, abs=1e-3)
    score, _sections = kv.evaluate_word_analogies(datapath("questions-words.txt"))
    assert body["analogies"]["accuracy"] == pytest.approx(score, abs=1e-9)
    assert body["analogies"]["questions_total"] == 19544
    items = [
        [words[0], words[1], 5.0],
        [words[2], words[3], 2.0],
        [words[4], words[5], 8.0],
        ["qwzx", words[0], 1.0],
    ]
    a, b, c, d = words[:4]
    r = client.post(
        "/v1/models/w2v/evaluate",
        json={
            "pairs": {"items": items},
            "analogies": {"sections": [{"name": "mine", "questions": [[a, b, c, d]]}]},
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pairs"]["pairs_total"] == 4 and body["pairs"]["pairs_used"] == 3
    assert body["pairs"]["oov_ratio"] == pytest.approx(0.25)
    assert body["analogies"]["sections"][0]["section"] == "mine"
    assert body["analogies"]["questions_evaluated"] == 1
    expected = kv.most_similar(positive=[b, c], negative=[a], topn=1)[0][0] == d
    assert body["analogies"]["accuracy"] == float(expected)
    assert_problem(client.post("/v1/models/w2v/evaluate", json={}), 422)
    assert_problem(client.post("/v1/models/w2v/evaluate", json={"pairs": {"dataset": "nope"}}), 422)


# --------------------------------------------------------------------------- bad queries


@pytest.mark.parametrize(
    ("path", "body", "status", "type_"),
    [
        ("similar", {"positive": ["qwzx", "zzyzx"]}, 404, "unknown-words"),
        ("similar", {"positive": []}, 422, "validation-error"),
        ("similar", {"positive": ["the"], "topn": 51}, 422, "topn-too-large"),
        ("similar", {"positive": ["the"], "topn": 0}, 422, "validation-error"),
        ("similar", {"positive": ["the"], "method": "cosmul", "restrict_vocab": 10}, 422, "invalid-query"),
        ("similar", {"vector": [1.0, 2.0]}, 422, "invalid-query"),
        ("similar", {"vector": [0.0] * 24}, 422, "invalid-query"),
        ("similar", {"vector": [1.0] * 24, "positive": ["the"]}, 422, "validation-error"),
        ("similarity", {"pairs": []}, 422, "validation-error"),
        ("similarity", {"pairs": [["the", "qwzx"], ["zzyzx", "the"]]}, 404, "unknown-words"),
        ("similarity", {"pairs": [["the", "of"]] * 21}, 422, "too-many-items"),
        ("n-similarity", {"words1": [], "words2": ["the"]}, 422, "validation-error"),
        ("analogy", {"a": "qwzx", "b": "the", "c": "zzyzx"}, 404, "unknown-words"),
        ("doesnt-match", {"words": ["the"]}, 422, "validation-error"),
        ("doesnt-match", {"words": ["the", "qwzx", "of"]}, 404, "unknown-words"),
        ("vectors", {"words": []}, 422, "validation-error"),
        ("vectors", {"words": ["the"] * 21}, 422, "too-many-items"),
        ("sentence-vectors", {"sentences": []}, 422, "validation-error"),
        ("sentence-vectors", {"sentences": ["a"], "pooling": "median"}, 422, "validation-error"),
        ("similar/batch", {"queries": []}, 422, "validation-error"),
        ("similar/batch", {"queries": [{"positive": ["the"]}] * 21}, 422, "too-many-items"),
        ("doesnt-match/batch", {"queries": [{"words": ["the", "of"]}] * 21}, 422, "too-many-items"),
    ],
)
def test_bad_queries_are_problems_and_the_service_keeps_serving(client, path, body, status, type_):
    problem = assert_problem(client.post(f"/v1/models/w2v/{path}", json=body), status, type_)
    if type_ == "unknown-words":
        assert set(problem["unknown_words"]) >= {"qwzx"} and "qwzx" in problem["detail"]
        if "zzyzx" in str(body):
            assert "zzyzx" in problem["unknown_words"]
    assert client.post("/v1/models/w2v/similar", json={"positive": ["the"], "topn": 1}).status_code == 200


def test_unknown_model_and_invalid_names(client):
    assert_problem(client.post("/v1/models/nope/similar", json={"positive": ["the"]}), 404, "model-not-found")
    assert_problem(client.get("/v1/models/nope/vectors"), 404, "model-not-found")
    assert_problem(client.post("/v1/models/Bad/similar", json={"positive": ["the"]}), 422)
    assert_problem(
        client.post("/v1/models/a%2F..%2Fb/similar", json={"positive": ["the"]}), 422, "invalid-name"
    )


def test_openapi_documents_every_route(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ["/v1/corpora", "/v1/models", "/v1/models/{name}/import", "/v1/models/{name}/similar/batch",
              "/v1/models/{name}/evaluate", "/v1/jobs/{job_id}", "/v1/models/{name}/continue"]:  # fmt: skip
        assert p in paths
    assert paths["/v1/models/{name}/similar"]["post"]["summary"]
    assert "examples" in spec["components"]["schemas"]["SimilarRequest"]
