"""Micro-batching through both real apps: concurrent single requests are answered together, each
with the answer it would have had alone, errors stay with their own request.

Concurrency comes from threads sharing one TestClient (each request enters the app's one event
loop); the batches formed are read from the app's own ``/metrics`` (``embattn_batch_rows``).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from gensim.test.utils import datapath

from tests.helpers import assert_problem, attention_client, embeddings_client, wait_job

TINY = {
    "task": {"name": "reversal", "n_train": 600, "n_dev": 40, "n_test": 40, "min_len": 3, "max_len": 7},
    "config": {"emb_dim": 16, "hidden": 32, "attention": "bahdanau"},
    "params": {"epochs": 3, "batch_size": 32, "lr": 0.01},
}
SOURCES = ["abc", "defg", "hij", "klmno", "pqr", "stuvwx", "yz0", "1234"]  # reversal: characters


def batch_stats(client, batcher: str) -> tuple[float, float]:
    """(batches run, rows run) by the app's batcher ``batcher`` so far."""
    text = client.get("/metrics").text

    def value(kind: str) -> float:
        m = re.search(rf'embattn_batch_rows_{kind}\{{batcher="{batcher}",service="\w+"\}} (\S+)', text)
        return float(m.group(1)) if m else 0.0

    return value("count"), value("sum")


def concurrently(fn, args_list, workers: int = 16):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, args_list))


# --------------------------------------------------------------------------- attention


@pytest.fixture(scope="module")
def attention(tmp_path_factory):
    data = tmp_path_factory.mktemp("batching-attention")
    with attention_client(data, batch_wait_ms=30, max_batch_size=64) as c:
        r = c.post("/v1/models", json={"name": "rev", **TINY})
        assert r.status_code == 202, r.text
        assert wait_job(c, r.json()["job_id"])["status"] == "succeeded"
        yield c


def translate_one(client, text: str, **kw) -> dict:
    r = client.post("/v1/models/rev/translate", json={"inputs": [text], **kw})
    assert r.status_code == 200, r.text
    return r.json()["outputs"][0]


def assert_same_translation(got: dict, want: dict) -> None:
    for key in ("input", "source_tokens", "output_tokens", "output", "links", "pharaoh", "finished"):
        assert got[key] == want[key], key
    np.testing.assert_allclose(got["attention"], want["attention"], atol=1e-6, rtol=0)
    assert got["score"] == pytest.approx(want["score"], abs=1e-5)


@pytest.mark.parametrize("decode", ["greedy", "beam"])
def test_concurrent_translations_equal_the_answers_alone(attention, decode):
    kw = {"decode": "beam", "beam_size": 3} if decode == "beam" else {}
    alone = [translate_one(attention, text, **kw) for text in SOURCES]  # one at a time: batches of 1
    before = batch_stats(attention, "translate")
    together = concurrently(lambda t: translate_one(attention, t, **kw), SOURCES * 3)
    after = batch_stats(attention, "translate")
    for i, got in enumerate(together):
        assert_same_translation(got, alone[i % len(SOURCES)])
    batches, rows = after[0] - before[0], after[1] - before[1]
    assert rows == len(together) and batches < len(together)  # requests were decoded together


def test_errors_stay_with_their_own_request(attention):
    cases = [
        ("rev", {"inputs": ["abc"]}, 200),
        ("rev", {"inputs": ["abc" * 100]}, 422),  # longer than the model allows
        ("nope", {"inputs": ["abc"]}, 404),
        ("rev", {"inputs": ["qrs"], "max_len": 100000}, 422),
        ("rev", {"inputs": ["xyz"]}, 200),
    ]

    def call(case):
        name, body, _ = case
        return attention.post(f"/v1/models/{name}/translate", json=body)

    for (name, _body, status), resp in zip(cases * 4, concurrently(call, cases * 4), strict=True):
        assert resp.status_code == status, (name, resp.text)
        if status != 200:
            assert_problem(resp, status)
    assert attention.get("/healthz").status_code == 200


def test_concurrent_alignments_and_heatmaps(attention):
    pairs = [(s, s[::-1]) for s in SOURCES]
    alone = [
        attention.post("/v1/models/rev/align", json={"pairs": [list(p)]}).json()["alignments"][0]
        for p in pairs
    ]
    before = batch_stats(attention, "align")

    def align(pair):
        r = attention.post("/v1/models/rev/align", json={"pairs": [list(pair)], "gold": ["4-0 0-4"]})
        return r

    together = concurrently(align, pairs * 2)
    assert batch_stats(attention, "align")[0] - before[0] < len(together)
    for i, resp in enumerate(together):
        want = alone[i % len(pairs)]
        if len(pairs[i % len(pairs)][0]) >= 5:
            assert resp.status_code == 200, resp.text
            got = resp.json()["alignments"][0]
            assert got["links"] == want["links"]
            np.testing.assert_allclose(got["attention"], want["attention"], atol=1e-6, rtol=0)
        else:  # the gold links do not fit this pair: its own 422, the others answered
            assert_problem(resp, 422, "invalid-links")
    images = concurrently(
        lambda t: attention.get("/v1/models/rev/attention.svg", params={"input": t}), SOURCES[:4]
    )
    assert all(r.status_code == 200 and r.content.startswith(b"<?xml") for r in images)


def test_batching_off_is_the_unbatched_server(tmp_path, attention):
    data = attention.app.state.runtime.settings.data_dir
    with attention_client(data, max_batch_size=1) as plain:
        want = [translate_one(attention, t) for t in SOURCES[:3]]
        got = concurrently(lambda t: translate_one(plain, t), SOURCES[:3])
        for g, w in zip(got, want, strict=True):
            assert_same_translation(g, w)
        assert batch_stats(plain, "translate")[0] == batch_stats(attention, "translate")[0]  # no batch ran


# --------------------------------------------------------------------------- embeddings


@pytest.fixture(scope="module")
def embeddings(tmp_path_factory):
    data = tmp_path_factory.mktemp("batching-embeddings")
    with embeddings_client(data, batch_wait_ms=30, max_batch_size=64) as c:
        with open(datapath("lee_background.cor"), encoding="utf-8") as f:
            text = "".join(next(f) for _ in range(150)).encode()
        assert c.post("/v1/corpora?name=lee150", content=text).status_code == 201
        params = {"vector_size": 24, "min_count": 2, "epochs": 2, "workers": 1, "seed": 7}
        r = c.post("/v1/models", json={"name": "w2v", "corpus_id": "lee150", "params": params})
        assert r.status_code == 202, r.text
        assert wait_job(c, r.json()["job_id"])["status"] == "succeeded"
        yield c


def test_concurrent_similar_analogy_vectors_equal_the_answers_alone(embeddings):
    words = ["the", "of", "to", "and", "in", "said", "he", "for"]  # frequent in the Lee corpus
    queries = [
        ("similar", {"positive": [w], "topn": 7}) for w in words
    ] + [
        ("similar", {"positive": [words[0], words[1]], "negative": [words[2]], "topn": 5}),
        ("similar", {"positive": [words[3]], "method": "cosmul", "topn": 4}),
        ("analogy", {"a": words[0], "b": words[1], "c": words[2], "topn": 3}),
        ("vectors", {"words": [words[4], "zzzunknown"]}),
        ("similar", {"positive": ["zzzunknown"]}),  # its own 404
    ]  # fmt: skip

    def call(q):
        return embeddings.post(f"/v1/models/w2v/{q[0]}", json=q[1])

    alone = [call(q) for q in queries]
    before = batch_stats(embeddings, "similar")
    together = concurrently(call, queries * 3)
    assert batch_stats(embeddings, "similar")[0] - before[0] < 3 * len(
        [q for q in queries if q[0] == "similar"]
    )
    for i, resp in enumerate(together):
        want = alone[i % len(queries)]
        assert resp.status_code == want.status_code, resp.text
        if want.status_code != 200:
            assert resp.json()["unknown_words"] == want.json()["unknown_words"] == ["zzzunknown"]
            continue
        got, exp = resp.json(), want.json()
        if "results" in exp:
            assert [r["word"] for r in got["results"]] == [r["word"] for r in exp["results"]]
            np.testing.assert_allclose(
                [r["score"] for r in got["results"]], [r["score"] for r in exp["results"]], atol=1e-6, rtol=0
            )
        else:
            assert got == exp


def test_concurrent_requests_with_different_beam_options_keep_their_own(attention):
    """Items with other n_best / length / coverage penalties decode in their own sub-batch."""
    options = [
        {"decode": "beam", "beam_size": 3},
        {"decode": "beam", "beam_size": 3, "n_best": 2},
        {"decode": "beam", "beam_size": 3, "n_best": 3, "length_penalty": 0.6, "coverage_penalty": 0.3},
    ]
    cases = [(text, kw) for text in SOURCES[:3] for kw in options]
    alone = [translate_one(attention, text, **kw) for text, kw in cases]
    together = concurrently(lambda case: translate_one(attention, case[0], **case[1]), cases * 2)
    for i, got in enumerate(together):
        want = alone[i % len(cases)]
        assert_same_translation(got, want)
        assert len(got.get("hypotheses", [])) == len(want.get("hypotheses", []))
        for h, w in zip(got.get("hypotheses", []), want.get("hypotheses", []), strict=True):
            assert h["output_tokens"] == w["output_tokens"] and h["score"] == pytest.approx(
                w["score"], abs=1e-5
            )
