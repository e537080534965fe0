"""Careless and hostile input to the embeddings service (regressions found by trying the README as a user).

Every bad input is a problem+json 4xx that names what is wrong, and leaves nothing behind.
"""

from __future__ import annotations

import os
import pickle
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.embeddings.app import create_app
from service.embeddings.settings import Settings
from tests.helpers import assert_problem, embeddings_client
from tests.test_embeddings_api import stored_kv, train

SENTENCES = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"] * 5
TINY = {"min_count": 1, "epochs": 1, "vector_size": 8, "workers": 1}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data = tmp_path_factory.mktemp("embeddings-qa")
    with embeddings_client(data) as c:
        train(c, {"name": "tiny", "sentences": SENTENCES, "params": TINY})
        yield c


def error_locs(body: dict) -> list[list]:
    return [e["loc"] for e in body.get("errors") or []]


# --------------------------------------------------------------------------- wrong JSON types


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/models/tiny/similar", {"positive": ["cat"], "topn": True}, ["body", "topn"]),
        ("/v1/models/tiny/similar", {"positive": ["cat"], "topn": "3"}, ["body", "topn"]),
        (
            "/v1/models/tiny/similar",
            {"positive": ["cat"], "restrict_vocab": False},
            ["body", "restrict_vocab"],
        ),
        ("/v1/models/tiny/similar", {"vector": [True] * 8}, ["body", "vector", 0]),
        ("/v1/models/tiny/analogy", {"a": "cat", "b": "dog", "c": "mat", "topn": True}, ["body", "topn"]),
        (
            "/v1/models",
            {"name": "t-bool", "sentences": SENTENCES, "params": {**TINY, "vector_size": True}},
            ["body", "params", "vector_size"],
        ),
        (
            "/v1/models",
            {"name": "t-bool", "sentences": SENTENCES, "params": {**TINY, "sg": True}},
            ["body", "params", "sg"],
        ),
        (
            "/v1/models",
            {"name": "t-bool", "sentences": SENTENCES, "params": {**TINY, "alpha": True}},
            ["body", "params", "alpha"],
        ),
        ("/v1/models/tiny/continue", {"sentences": SENTENCES, "epochs": True}, ["body", "epochs"]),
        (
            "/v1/models/tiny/evaluate",
            {"pairs": {"items": [["cat", "dog", True]]}},
            ["body", "pairs", "items", 0, 2],
        ),
    ],
)
def test_booleans_and_strings_are_not_numbers(client, path, body, loc):
    """Lax pydantic read `true` as 1: `vector_size: true` trained a 1-dimensional model, `topn: true` 1 result."""
    problem = assert_problem(client.post(path, json=body), 422, "validation-error")
    assert loc in error_locs(problem), problem
    assert not client.get("/v1/jobs?model=t-bool").json()["jobs"]


def test_evaluate_scores_must_be_finite_and_the_error_names_the_item(client):
    r = client.post(
        "/v1/models/tiny/evaluate",
        content=b'{"pairs": {"items": [["cat", "dog", 1.0], ["cat", "mat", NaN]]}}',
        headers={"Content-Type": "application/json"},
    )
    assert ["body", "pairs", "items", 1, 2] in error_locs(assert_problem(r, 422))


# --------------------------------------------------------------------------- tokens that cannot be exported


def test_jsonl_tokens_with_whitespace_or_empty_are_refused_naming_the_line(client):
    """Such tokens became vocabulary keys, and the model could then not be exported (422 cannot-export)."""
    state = client.app.state.runtime
    for content, line in [(b'["a", "b"]\n["hello world", "c"]\n', 2), (b'["a", ""]\n', 1)]:
        r = client.post("/v1/corpora?name=spaced&format=jsonl", content=content)
        problem = assert_problem(r, 422, "invalid-corpus")
        assert problem["line"] == line and "whitespace" in problem["detail"]
        assert_problem(client.get("/v1/corpora/spaced"), 404)
    assert not [p for p in state.uploads.root.iterdir() if "spaced" in p.name]


def test_inline_token_lists_with_whitespace_are_refused(client):
    body = {"name": "spaced", "sentences": [["hello world", "cat"], ["cat", "dog"]], "params": TINY}
    problem = assert_problem(client.post("/v1/models", json=body), 422, "validation-error")
    assert any(loc[:4] == ["body", "sentences", 0, "list[constrained-str]"] for loc in error_locs(problem))


# --------------------------------------------------------------------------- a job that could only fail


def test_inline_sentences_below_min_count_are_a_422_not_a_failed_job(client):
    """Default min_count is 5: a few inline sentences gave a job that failed with 'empty vocabulary'."""
    body = {"name": "sparse", "sentences": ["the cat sat", "a dog ran"]}
    problem = assert_problem(client.post("/v1/models", json=body), 422, "empty-vocabulary")
    assert ["body", "params", "min_count"] in error_locs(problem)
    assert "min_count=5" in problem["detail"]
    assert not client.get("/v1/jobs?model=sparse").json()["jobs"]
    body["params"] = {"min_count": 3}
    assert "min_count=3" in assert_problem(client.post("/v1/models", json=body), 422)["detail"]
    body["params"] = {"min_count": 1, "epochs": 1, "workers": 1}
    train(client, body)


# --------------------------------------------------------------------------- pickles


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 1, 2, 5])
@pytest.mark.parametrize("fmt", ["auto", "word2vec-text", "word2vec-binary", "fasttext-bin"])
def test_a_pickle_of_any_protocol_is_a_415_and_never_runs(client, tmp_path, protocol, fmt):
    """Protocol 0/1 pickles have no 0x80 header: they were a 422 'missing word2vec header', not a 415."""
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(str(marker)), protocol=protocol)
    r = client.post(f"/v1/models/evil/import?format={fmt}", content=payload)
    assert assert_problem(r, 415, "unsafe-model-file")["detected"] == "Python pickle"
    assert not marker.exists()
    assert_problem(client.get("/v1/models/evil"), 404)


def test_a_headerless_text_file_is_glove_or_a_422_not_a_pickle(client):
    # "cat ..." starts like a protocol-0 pickle's GLOBAL opcode: it is a GloVe file (no header)
    r = client.post("/v1/models/glove/import", content=b"cat 0.1 0.2\ndog 0.3 0.4\n")
    assert r.status_code == 201 and r.json()["algorithm"] == "glove" and r.json()["vocab_size"] == 2, r.text
    r = client.post("/v1/models/glove2/import", content=b"computer human interface\nsurvey user\n")
    detail = assert_problem(r, 422, "invalid-model-file")["detail"]
    assert "neither a word2vec header" in detail and "nor a GloVe vector" in detail


# --------------------------------------------------------------------------- huge vector values


@pytest.mark.parametrize("path", ["/v1/models/tiny/similar", "/v1/models/tiny/similar/batch"])
def test_a_vector_beyond_float32_is_a_422_without_a_stray_warning(client, path):
    """numpy's 'overflow encountered in cast' went to stderr as a non-JSON log line."""
    query = {"vector": [1e39] * 8}
    body = {"queries": [query]} if path.endswith("/batch") else query
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = client.post(path, json=body)
    if path.endswith("/batch"):
        assert r.status_code == 200, r.text
        assert r.json()["errors"][0]["status"] == 422 and "finite" in r.json()["errors"][0]["detail"]
    else:
        assert "finite" in assert_problem(r, 422, "invalid-query")["detail"]


# --------------------------------------------------------------------------- padding blow-up


def test_one_long_sentence_does_not_pad_the_whole_request(client):
    """One 10,000-token sentence and 999 one-token ones padded every row to 10,000 tokens: a 79 KB request
    took 8 GB and 18 s on the 100-d default model. Sentences are now pooled in batches of similar lengths."""
    kv = stored_kv(client, "tiny")
    sentences = [["cat", "dog"] * 5000] + [["mat"]] * 999
    tracemalloc.start()
    try:
        r = client.post("/v1/models/tiny/sentence-vectors", json={"sentences": sentences, "pooling": "mean"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 200, r.text
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    vectors = r.json()["vectors"]
    assert len(vectors) == 1000 and vectors[0]["known_tokens"] == 10_000
    np.testing.assert_allclose(vectors[0]["vector"], (kv["cat"] + kv["dog"]) / 2, rtol=1e-4, atol=1e-5)
    for v in vectors[1:]:
        np.testing.assert_allclose(v["vector"], kv["mat"], rtol=1e-6)


# --------------------------------------------------------------------------- readiness


def test_readyz_reports_a_deleted_default_model_as_not_loaded(tmp_path):
    """/readyz said `default_model_loaded: true` after the default model was deleted."""
    with TestClient(create_app(Settings(data_dir=tmp_path, train_default=False))) as c:
        train(c, {"name": "tiny", "sentences": SENTENCES, "params": TINY})
    with TestClient(create_app(Settings(data_dir=tmp_path, train_default=True, default_model="tiny"))) as c:
        deadline = time.monotonic() + 30
        while (r := c.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert r.status_code == 200 and r.json()["checks"]["default_model_loaded"] is True, r.text
        assert c.delete("/v1/models/tiny").status_code == 204
        r = c.get("/readyz")
        assert r.status_code == 200  # still ready: the service serves its other models
        assert r.json()["checks"]["default_model_loaded"] is False
        assert r.json()["checks"]["models_loaded"] == {}


def test_a_fasttext_ngram_table_over_the_memory_bound_is_a_422(client):
    body = {
        "name": "huge-ft",
        "algorithm": "fasttext",
        "sentences": ["a b c"] * 10,
        "params": {"vector_size": 1000, "bucket": 10_000_000, "min_count": 1},
    }
    problem = assert_problem(client.post("/v1/models", json=body), 422)
    assert problem["type"].endswith("model-too-large") and "EMBEDDINGS_MAX_NGRAM_BYTES" in problem["detail"]
    assert ["body", "params", "bucket"] in error_locs(problem)
    assert client.get("/v1/jobs", params={"model": "huge-ft"}).json() == {"jobs": []}
