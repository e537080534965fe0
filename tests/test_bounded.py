"""Small requests cannot cost the host gigabytes: the output budget and the heatmap bounds, on real
servers (``python -m service``), each case sampling the server's memory while it runs.

The cases are the ones an adversarial pass found (a 1 MB body answering 372 MB of vectors, 1,000
neighbour queries of topn 1,000, 1,000 long alignments, a 16-beam 16-best decode of 150 long
inputs, a 200 x 200-token heatmap): each is now refused before any work with a 422 naming the
count, the budget and the setting, and the server's resident memory stays within 300 MB of where
it was, while ordinary requests beside them are answered.
"""

from __future__ import annotations

import threading

import httpx
import numpy as np
import pytest

from tests.helpers import PeakRss, Server, assert_problem, wait_job

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MB = 2**20
#: What one request may add to a server's resident memory (the issue's bound).
MAX_DELTA = 300 * MB


def _vectors_file(path, n: int, dim: int) -> None:
    matrix = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{n} {dim}\n")
        for i, row in enumerate(matrix):
            fh.write(f"w{i} " + " ".join(f"{x:.4f}" for x in row) + "\n")


@pytest.fixture(scope="module")
def embeddings(tmp_path_factory):
    data = tmp_path_factory.mktemp("bounded-emb")
    _vectors_file(data / "vecs.txt", 5000, 100)
    with Server("embeddings", data / "data") as srv, httpx.Client(base_url=srv.url, timeout=120) as c:
        r = c.post(
            "/v1/models/v/import?format=word2vec-text",
            content=(data / "vecs.txt").read_bytes(),
            headers={"content-type": "application/octet-stream"},
        )
        assert r.status_code == 201, r.text
        yield srv, c


@pytest.fixture(scope="module")
def attention(tmp_path_factory):
    data = tmp_path_factory.mktemp("bounded-att")
    env = {"ATTENTION_THREADS": "1"}
    with Server("attention", data / "data", env=env) as srv, httpx.Client(base_url=srv.url, timeout=120) as c:
        pairs = [
            [" ".join(f"a{j}" for j in range(i % 7 + 1)), " ".join(f"b{j}" for j in range(i % 7 + 1))]
            for i in range(200)
        ]
        body = {"name": "w", "pairs": pairs, "config": {"tokenization": "word", "emb_dim": 8, "hidden": 16}}
        r = c.post("/v1/models", json={**body, "params": {"epochs": 1}})
        assert r.status_code == 202, r.text
        assert wait_job(c, r.json()["job_id"])["status"] == "succeeded"
        yield srv, c


def refused_within_budget(srv: Server, send) -> dict:
    """``send()`` is refused as too large before any work; the server's memory barely moves."""
    with PeakRss(srv.proc.pid) as rss:
        resp = send()
    problem = assert_problem(resp, 422)
    assert rss.peak_delta < MAX_DELTA, f"+{rss.peak_delta / MB:.0f} MB"
    return problem


def assert_names_the_budget(problem: dict, setting: str) -> None:
    assert problem["type"].endswith("/answer-too-large")
    assert problem["count"] > problem["budget"] and problem["setting"] == setting
    assert str(problem["count"]) in problem["detail"] and setting in problem["detail"]


def test_a_megabyte_of_vector_queries_is_refused_not_answered_with_hundreds_of_megabytes(embeddings):
    srv, c = embeddings
    words = [f"w{i}" for i in range(1000)]
    body = {"queries": [{"words": words}] * 120}  # ~1 MB: 180 such queries answered 372 MB at +1.8 GB
    problem = refused_within_budget(srv, lambda: c.post("/v1/models/v/vectors/batch", json=body))
    assert_names_the_budget(problem, "EMBEDDINGS_MAX_ANSWER_VALUES")
    assert problem["count"] == 120 * 1000 * 104
    with PeakRss(srv.proc.pid) as rss:  # within the budget: answered, and the memory stays bounded
        r = c.post("/v1/models/v/vectors/batch", json={"queries": [{"words": words}] * 15})
    assert r.status_code == 200 and len(r.json()["results"]) == 15
    assert rss.peak_delta < MAX_DELTA, f"+{rss.peak_delta / MB:.0f} MB"


def test_a_thousand_neighbour_queries_of_topn_1000_are_refused(embeddings):
    srv, c = embeddings
    body = {"queries": [{"positive": [f"w{i}"], "topn": 1000} for i in range(1000)]}  # was +650 MB
    problem = refused_within_budget(srv, lambda: c.post("/v1/models/v/similar/batch", json=body))
    assert_names_the_budget(problem, "EMBEDDINGS_MAX_ANSWER_VALUES")
    single = c.post("/v1/models/v/similar", json={"positive": ["w1"], "topn": 1000})
    assert single.status_code == 200 and len(single.json()["results"]) == 1000  # one query: answered


def test_a_thousand_long_alignments_are_refused(attention):
    srv, c = attention
    src, tgt = " ".join(["a1"] * 150), " ".join(["b1"] * 150)
    body = {"pairs": [[src, tgt]] * 1000}  # 1000 matrices of 151 x 150: was +1.7 GB
    problem = refused_within_budget(srv, lambda: c.post("/v1/models/w/align", json=body))
    assert_names_the_budget(problem, "ATTENTION_MAX_ANSWER_VALUES")
    assert c.post("/v1/models/w/align", json={"pairs": [["a1 a2", "b1 b2"]]}).status_code == 200


def test_a_wide_deep_decode_is_refused_and_ordinary_translations_go_on(attention):
    srv, c = attention
    src = " ".join(["a2"] * 190)
    body = {"inputs": [src] * 150, "decode": "beam", "beam_size": 16, "n_best": 16, "max_len": 200}
    answers: list[int] = []

    def ordinary() -> None:
        for _ in range(20):
            answers.append(c.post("/v1/models/w/translate", json={"inputs": ["a1 a2 a3"]}).status_code)

    beside = threading.Thread(target=ordinary)
    beside.start()
    problem = refused_within_budget(srv, lambda: c.post("/v1/models/w/translate", json=body))  # was 497 MB
    beside.join(60)
    assert_names_the_budget(problem, "ATTENTION_MAX_ANSWER_VALUES")
    assert answers == [200] * 20


def test_a_heatmap_is_bounded_in_tokens_and_drawn_one_at_a_time(attention):
    srv, c = attention
    big = {"input": " ".join(["a2"] * 190), "target": " ".join(["b2"] * 190)}  # was +1.4 GB for 8 s
    with PeakRss(srv.proc.pid) as rss:
        problem = assert_problem(c.get("/v1/models/w/attention.png", params=big), 422, "heatmap-too-large")
    assert "ATTENTION_MAX_HEATMAP_TOKENS" in problem["detail"] and rss.peak_delta < MAX_DELTA
    at_limit = {"input": " ".join(["a2"] * 60), "target": " ".join(["b2"] * 60)}
    codes: list[int] = []
    with PeakRss(srv.proc.pid) as rss:
        threads = [
            threading.Thread(
                target=lambda: codes.append(c.get("/v1/models/w/attention.png", params=at_limit).status_code)
            )
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert codes == [200] * 3 and rss.peak_delta < MAX_DELTA, f"+{rss.peak_delta / MB:.0f} MB"
