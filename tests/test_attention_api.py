"""The attention service over its real app: training jobs, translate, align, heatmaps, evaluate, errors.

One tiny reversal model is trained once (module fixture, a real job in a worker process) and reused.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.attention.app import create_app
from service.attention.settings import Settings
from tests.helpers import assert_problem, attention_client, wait_job

TINY = {
    "task": {"name": "reversal", "n_train": 800, "n_dev": 60, "n_test": 60, "min_len": 3, "max_len": 7},
    "config": {"emb_dim": 16, "hidden": 32, "attention": "luong-general"},
    "params": {"epochs": 6, "batch_size": 32, "lr": 0.01, "schedule": "linear", "warmup_steps": 10},
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("attention")


@pytest.fixture(scope="module")
def client(data_dir):
    with attention_client(data_dir, max_batch=50) as c:
        yield c


@pytest.fixture(scope="module")
def trained(client):
    resp = client.post("/v1/models", json={"name": "rev", **TINY})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert resp.headers["location"] == body["location"] == f"/v1/jobs/{body['job_id']}"
    job = wait_job(client, body["job_id"])
    assert job["status"] == "succeeded", job.get("error")
    return job


def translate(client, inputs, **kw):
    if kw.get("decode", "greedy") == "greedy":
        kw.pop("beam_size", None)  # a beam size with greedy decoding is a 422 (it would be ignored)
    resp = client.post("/v1/models/rev/translate", json={"inputs": inputs, **kw})
    assert resp.status_code == 200, resp.text
    return resp.json()["outputs"]


# ------------------------------------------------------------------------------------------ training


def test_job_reports_lr_per_step_and_dev_metrics_per_epoch(client, trained):
    job = trained
    assert job["progress"] == 1.0 and job["epoch"] == 6 and job["step"] > 0  # epochs count from 1
    for key in "lr train_loss dev_loss dev_exact_match dev_token_accuracy dev_alignment_accuracy".split():
        assert isinstance(job[key], float), key
    steps = [h for h in job["history"] if "lr" in h]
    epochs = [h for h in job["history"] if "dev_exact_match" in h]
    assert [h["step"] for h in steps] == list(range(1, job["step"] + 1))  # lr of every step
    assert steps[0]["lr"] < steps[9]["lr"] and steps[-1]["lr"] < steps[9]["lr"]  # warmup, then linear decay
    assert [h["epoch"] for h in epochs] == list(range(1, 7))
    assert all(0 <= h["dev_alignment_accuracy"] <= 1 for h in epochs)
    assert job["spec"]["task"]["name"] == "reversal"
    listed = client.get("/v1/jobs", params={"model": "rev"}).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]] and "history" not in listed[0]
    assert client.get("/v1/jobs", params={"status": "failed", "model": "rev"}).json()["jobs"] == []


def test_model_description(client, trained):
    info = client.get("/v1/models/rev").json()
    assert info["version"] == 1 and info["loaded"] is True
    assert info["config"]["attention"] == "luong-general" and info["config"]["hidden"] == 32
    assert info["src_vocab_size"] == info["tgt_vocab_size"] == 4 + 36
    assert info["dev_metrics"]["dev_exact_match"] >= 0 and info["training_time_s"] > 0
    assert info["source"]["task"]["name"] == "reversal"
    assert 0 <= info["test_metrics"]["exact_match"] <= 1
    assert [m["name"] for m in client.get("/v1/models").json()["models"]] == ["rev"]


# ------------------------------------------------------------------------------------------ translate


@pytest.mark.parametrize("decode", ["greedy", "beam"])
def test_translate_attention_shape_rows_links(client, trained, decode):
    outs = translate(client, ["abc12", "zyxw", "q9!"], decode=decode, beam_size=3)
    assert len(outs) == 3
    for out in outs:
        att = np.array(out["attention"])
        assert att.shape == (len(out["output_tokens"]), len(out["source_tokens"]))  # no pad columns
        assert np.allclose(att.sum(axis=1), 1.0, atol=1e-5)
        assert out["links"] == [[int(row.argmax()), t] for t, row in enumerate(att)]
        assert out["pharaoh"] == " ".join(f"{s}-{t}" for s, t in sorted(map(tuple, out["links"])))
        assert out["output"] == "".join(out["output_tokens"])
        assert out["score"] <= 0
    assert outs[0]["source_tokens"] == list("abc12")
    assert outs[2]["unknown_tokens"] == ["!"] and outs[0]["unknown_tokens"] == []
    no_att = translate(client, ["abc"], decode=decode, return_attention=False)[0]
    assert "attention" not in no_att and no_att["links"]


@pytest.mark.parametrize("decode", ["greedy", "beam"])
def test_batch_invariance_through_the_api(client, trained, decode):
    probe = "k3m9p"
    alone = translate(client, [probe], decode=decode, beam_size=4)[0]
    batch = translate(client, ["ab", "a1b2c3d4e", probe, "zz9", "qwertyu"], decode=decode, beam_size=4)
    inside = batch[2]
    assert inside["output_tokens"] == alone["output_tokens"]
    assert abs(inside["score"] - alone["score"]) < 1e-5
    np.testing.assert_allclose(np.array(inside["attention"]), np.array(alone["attention"]), atol=1e-5)


def test_max_len_bounds_the_output(client, trained):
    out = translate(client, ["abcdefg"], max_len=2)[0]
    assert len(out["output_tokens"]) <= 2 and len(out["attention"]) == len(out["output_tokens"])


# ------------------------------------------------------------------------------------------ align / heatmap / evaluate


def test_align_with_gold_scores(client, trained):
    pairs = [["abc", "cba"], ["hello", "olleh"]]
    gold = ["0-2 1-1 2-0", [[i, 4 - i] for i in range(5)]]
    as_list = client.post("/v1/models/rev/align", json={"pairs": pairs[:1], "gold": [["0-2", "1-1", "2-0"]]})
    assert as_list.status_code == 200, as_list.text
    resp = client.post("/v1/models/rev/align", json={"pairs": pairs, "gold": gold})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    first = body["alignments"][0]
    att = np.array(first["attention"])
    assert att.shape == (3, 3) and np.allclose(att.sum(1), 1, atol=1e-5)
    assert first["links"] == [[int(r.argmax()), t] for t, r in enumerate(att)]
    gold_set = {(0, 2), (1, 1), (2, 0)}
    hits = len(gold_set & {tuple(x) for x in first["links"]})
    assert first["scores"]["precision"] == pytest.approx(hits / 3)
    assert first["scores"]["aer"] == pytest.approx(1 - 2 * hits / 6)
    assert 0 <= body["scores"]["aer"] <= 1 and 0 <= body["alignment_accuracy"] <= 1
    assert as_list.json()["alignments"][0]["scores"] == first["scores"]
    plain = client.post("/v1/models/rev/align", json={"pairs": pairs}).json()
    assert "scores" not in plain and plain["alignments"][0]["pharaoh"]


def test_align_unencodable_target_is_422_naming_tokens(client, trained):
    body = assert_problem(
        client.post("/v1/models/rev/align", json={"pairs": [["abc", "ab"], ["abc", "c!?"]]}), 422
    )
    assert body["tokens"] == ["!", "?"] and body["errors"][0]["loc"] == ["body", "pairs", 1, 1]
    assert "'!'" in body["detail"]


@pytest.mark.parametrize(
    ("fmt", "media", "magic"), [("png", "image/png", b"\x89PNG\r\n\x1a\n"), ("svg", "image/svg+xml", b"<svg")]
)
def test_heatmap_images(client, trained, fmt, media, magic):
    resp = client.get(f"/v1/models/rev/attention.{fmt}", params={"input": "abcd"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == media
    assert magic in resp.content[:400]
    forced = client.get(
        f"/v1/models/rev/attention.{fmt}", params={"input": "abcd", "target": "dcba", "decode": "beam"}
    )
    assert forced.status_code == 200 and magic in forced.content[:400]


def test_evaluate_splits_and_pairs(client, trained):
    test = client.post("/v1/models/rev/evaluate", json={"split": "test"}).json()
    assert test["n"] == 60
    for key in (
        "exact_match",
        "token_accuracy",
        "bleu",
        "loss",
        "alignment_accuracy",
        "aer",
        "precision",
        "recall",
    ):
        assert key in test, key
    dev = client.post(
        "/v1/models/rev/evaluate", json={"split": "dev", "decode": "beam", "beam_size": 2}
    ).json()
    assert dev["n"] == 60 and dev["beam_size"] == 2
    pairs = client.post(
        "/v1/models/rev/evaluate", json={"pairs": [["abc", "cba", "0-2 1-1 2-0"], ["xyz", "zyx"]]}
    )
    assert pairs.status_code == 200, pairs.text
    assert pairs.json()["n"] == 2 and "aer" in pairs.json()


# ------------------------------------------------------------------------------------------ errors


def test_bad_inputs_are_problems_and_the_service_keeps_serving(client, trained):
    post = client.post
    cases = [
        (post("/v1/models/rev/translate", json={"inputs": []}), 422),
        (post("/v1/models/rev/translate", json={"inputs": ["abc", ""]}), 422),
        (post("/v1/models/rev/translate", json={"inputs": ["   "]}), 422),
        (post("/v1/models/rev/translate", json={"inputs": ["a" * 201]}), 422),
        (post("/v1/models/rev/translate", json={"inputs": ["abc"] * 51}), 422),
        (post("/v1/models/nope/translate", json={"inputs": ["abc"]}), 404),
        (post("/v1/models/rev/translate", json={"inputs": ["abc"], "decode": "beam", "beam_size": 17}), 422),
        (post("/v1/models/rev/translate", json={"inputs": ["abc"], "decode": "beam", "beam_size": 0}), 422),
        (post("/v1/models/rev/translate", json={"inputs": ["abc"], "max_len": 0}), 422),
        (post("/v1/models/rev/translate", json={"inputs": ["abc"], "max_len": 201}), 422),
        (post("/v1/models/rev/translate", json={"inputs": ["abc"], "decode": "sample"}), 422),
        (post("/v1/models/rev/translate", json={"inputs": [3]}), 422),
        (
            post(
                "/v1/models/rev/translate", content=b"{not json", headers={"content-type": "application/json"}
            ),
            422,
        ),
        (post("/v1/models/Bad..Name/translate", json={"inputs": ["abc"]}), 422),
        (post("/v1/models/rev/align", json={"pairs": [["", "abc"]]}), 422),
        (post("/v1/models/rev/align", json={"pairs": [["abc", "cba"]], "gold": ["0-0", "1-1"]}), 422),
        (post("/v1/models/rev/align", json={"pairs": [["abc", "cba"]], "gold": ["0:0"]}), 422),
        (post("/v1/models/rev/evaluate", json={"split": "dev", "pairs": [["a", "a"]]}), 422),
        (post("/v1/models/rev/evaluate", json={"pairs": [["a"]]}), 422),
        (client.get("/v1/models/rev/attention.png"), 422),
        (
            client.get(
                "/v1/models/rev/attention.png", params={"input": "abc", "beam_size": 99, "decode": "beam"}
            ),
            422,
        ),
        (client.get("/v1/models/nope/attention.svg", params={"input": "abc"}), 404),
        (client.get("/v1/models/rev/attention.gif", params={"input": "abc"}), 422),
        (client.get("/v1/models/nope"), 404),
        (client.get("/v1/jobs/" + "0" * 32), 404),
        (client.delete("/v1/jobs/" + "0" * 32), 404),
        (client.delete("/v1/models/nope"), 404),
        (client.put("/v1/models/rev/translate", json={}), 405),
    ]
    for resp, status in cases:
        assert_problem(resp, status)
    long_input = cases[3][0].json()
    assert long_input["errors"][0]["loc"] == ["body", "inputs", 0] and "200" in long_input["detail"]
    assert cases[1][0].json()["errors"][0]["loc"] == ["body", "inputs", 1]
    assert translate(client, ["abc"])[0]["output_tokens"]  # still serving


def test_heatmap_errors_name_the_query_parameter(client, trained):
    get = client.get
    bad_target = assert_problem(
        get("/v1/models/rev/attention.png", params={"input": "abc", "target": "c!"}), 422
    )
    assert bad_target["errors"][0]["loc"] == ["query", "target"] and "'!'" in bad_target["detail"]
    assert bad_target["detail"].startswith("query.target:")
    empty_target = assert_problem(
        get("/v1/models/rev/attention.png", params={"input": "abc", "target": " "}), 422
    )
    assert empty_target["errors"][0]["loc"] == ["query", "target"]
    beam = assert_problem(
        get("/v1/models/rev/attention.svg", params={"input": "abc", "decode": "beam", "beam_size": 17}), 422
    )
    assert beam["errors"][0]["loc"] == ["query", "beam_size"] and "16" in beam["detail"]
    long_input = assert_problem(get("/v1/models/rev/attention.png", params={"input": "a" * 201}), 422)
    assert long_input["errors"][0]["loc"] == ["query", "input"]
    assert long_input["detail"].startswith("query.input: 201 tokens")


def test_gold_links_outside_the_pair_and_empty_targets_are_422(client, trained):
    post = client.post
    pairs = [["abc", "cba"]]
    for gold in (["0-2 9-1"], ["0-3"], [[[-1, 0]]], [[[0, 5]]]):
        body = assert_problem(post("/v1/models/rev/align", json={"pairs": pairs, "gold": gold}), 422)
        assert body["errors"][0]["loc"] == ["body", "gold", 0], gold
        assert "3 source x 3 target" in body["detail"], body["detail"]
    empty = assert_problem(post("/v1/models/rev/align", json={"pairs": [["abc", "cba"], ["abc", ""]]}), 422)
    assert empty["errors"][0]["loc"] == ["body", "pairs", 1, 1] and "empty target" in empty["detail"]
    ev = assert_problem(
        post("/v1/models/rev/evaluate", json={"pairs": [["abc", "cba"], ["ab", "ba", "0-1 2-0"]]}), 422
    )
    assert ev["errors"][0]["loc"] == ["body", "pairs", 1, 2] and "2-0" in ev["detail"]
    negative = assert_problem(post("/v1/models/rev/evaluate", json={"pairs": [["ab", "ba", [[-1, 0]]]]}), 422)
    assert "negative" in negative["detail"]
    assert translate(client, ["abc"])[0]["output_tokens"]  # still serving


def test_char_model_bleu_is_over_characters(client, trained):
    # a character string is one 13a "word": a nearly right output must not score BLEU 0
    body = client.post("/v1/models/rev/evaluate", json={"pairs": [["abcdefg", "gfedcbx"]]}).json()
    assert body["exact_match"] == 0.0 and body["bleu"] > 0
    right = client.post("/v1/models/rev/evaluate", json={"pairs": [["abcde", "edcba"]]}).json()
    assert right["exact_match"] < 1.0 or right["bleu"] == pytest.approx(100.0)


def test_invalid_configurations_and_impossible_tasks_are_422_before_any_job(client):
    dot = {"name": "dot", "task": {"name": "copy"}, "config": {"attention": "luong-dot"}}
    body = assert_problem(client.post("/v1/models", json=dot), 422)  # bidirectional is the default
    assert body["errors"][0]["loc"] == ["body", "config"] and "bidirectional" in body["detail"]
    few = {"name": "few", "task": {"name": "copy", "n_train": 5000, "min_len": 1, "max_len": 1}}
    body = assert_problem(client.post("/v1/models", json=few), 422)
    assert body["errors"][0]["loc"] == ["body", "task"] and "only 36 exist" in body["detail"]
    assert client.get("/v1/jobs", params={"model": "dot"}).json()["jobs"] == []
    assert client.get("/v1/jobs", params={"model": "few"}).json()["jobs"] == []
    ok = {**dot, "task": {"name": "copy", "n_train": 10, "n_dev": 2, "n_test": 2}}
    ok["config"] = {"attention": "luong-dot", "bidirectional": False, "hidden": 8, "emb_dim": 4}
    ok["config"]["input_feeding"] = False  # the fused teacher-forced decoder, through the API
    ok["params"] = {"epochs": 1}
    resp = client.post("/v1/models", json=ok)
    assert resp.status_code == 202, resp.text
    assert wait_job(client, resp.json()["job_id"])["status"] == "succeeded"
    assert client.get("/v1/models/dot").json()["config"]["input_feeding"] is False
    assert client.post("/v1/models/dot/translate", json={"inputs": ["abc"]}).status_code == 200


def test_input_feeding_must_be_a_boolean(client):
    body = {"name": "x", "task": {"name": "copy"}, "config": {"input_feeding": "sometimes"}}
    problem = assert_problem(client.post("/v1/models", json=body), 422)
    assert problem["errors"][0]["loc"] == ["body", "config", "input_feeding"]


def test_training_request_bounds(client):
    base = {"name": "x", "task": {"name": "copy"}}
    bad = [
        {**base, "config": {"hidden": 1025}},
        {**base, "config": {"layers": 5}},
        {**base, "config": {"attention": "luong-magic"}},
        {**base, "params": {"epochs": 201}},
        {**base, "params": {"lr": 0}},
        {**base, "params": {"schedule": "cosine"}},
        {**base, "pairs": [["a", "b"]]},  # two sources
        {"name": "x"},  # no source
        {"name": "Bad Name", "task": {"name": "copy"}},
        {"name": "x", "task": {"name": "copy", "n_train": 10**7}},
        {"name": "x", "dataset_id": "0" * 32},
        {"name": "x", "pairs": [["a", "b"], ["", "c"]]},
        {"name": "x", "pairs": [["a b", "c"]], "embeddings": {"model": "default"}},  # char model + vectors
        {**base, "surprise": 1},
    ]
    for body in bad:
        assert_problem(client.post("/v1/models", json=body), 422)
    detail = client.post("/v1/models", json={"name": "x", "pairs": [["a", "b"], ["", "c"]]}).json()
    assert detail["errors"][0]["loc"] == ["body", "pairs", 1]
    # gold links are checked against the tokens of the requested tokenization
    chars = {"name": "x", "pairs": [["ab", "ba", "0-1 1-0"], ["abc", "cba", "0-2 5-0"]]}
    far = assert_problem(client.post("/v1/models", json=chars), 422)
    assert far["errors"][0]["loc"] == ["body", "pairs", 1, 2] and "5-0" in far["detail"]
    words = {"name": "x", "pairs": [["ab cd", "cd ab", "0-1 1-0"], ["xy zw", "zw xy", "0-1 4-0"]]}
    far = assert_problem(client.post("/v1/models", json={**words, "config": {"tokenization": "word"}}), 422)
    assert far["errors"][0]["loc"] == ["body", "pairs", 1, 2] and "2 source x 2 target" in far["detail"]


# ------------------------------------------------------------------------------------------ datasets


def test_dataset_upload_list_get_delete_and_bad_lines(client):
    tsv = "abc\tcba\t0-2 1-1 2-0\nhello\tolleh\n\nxy\tyx\n"
    resp = client.post("/v1/datasets", content=tsv.encode(), params={"format": "tsv"})
    assert resp.status_code == 201, resp.text
    ds = resp.json()
    assert ds["pairs"] == 3 and ds["linked"] == 1 and ds["format"] == "tsv" and ds["kind"] == "pairs"
    assert resp.headers["location"] == f"/v1/datasets/{ds['id']}"
    jsonl = b'{"source": "ab", "target": "ba"}\n["cd", "dc"]\n'
    auto = client.post("/v1/datasets", content=jsonl).json()
    assert auto["format"] == "jsonl" and auto["pairs"] == 2
    one = client.get(f"/v1/datasets/{ds['id']}").json()
    assert one["sample"][0] == {"source": "abc", "target": "cba", "links": [[0, 2], [1, 1], [2, 0]]}
    assert {d["id"] for d in client.get("/v1/datasets").json()["datasets"]} >= {ds["id"], auto["id"]}

    bad = assert_problem(
        client.post("/v1/datasets", content=b"a\tb\nno tab here\n", params={"format": "tsv"}), 422
    )
    assert bad["line"] == 2 and "line 2" in bad["detail"]
    bad = assert_problem(client.post("/v1/datasets", content=b'{"source": "a", "target": "b"}\n{oops\n'), 422)
    assert bad["line"] == 2
    assert_problem(client.post("/v1/datasets", content=b""), 422)
    assert_problem(client.post("/v1/datasets", content=b"not vectors", params={"format": "word2vec"}), 422)
    latin1 = assert_problem(
        client.post("/v1/datasets", content=b"ab\tba\ncd\tdc\ncaf\xe9\t\xe9fac\n", params={"format": "tsv"}),
        422,
    )
    assert latin1["line"] == 3 and latin1["errors"][0]["loc"] == ["body", "line", 3]
    assert "0xe9" in latin1["detail"] and "UTF-8" in latin1["detail"]
    negative = assert_problem(
        client.post("/v1/datasets", content=b'{"source": "ab", "target": "ba", "links": [[-1, 0]]}\n'), 422
    )
    assert negative["line"] == 1 and "negative" in negative["detail"]

    assert client.delete(f"/v1/datasets/{auto['id']}").status_code == 204
    assert_problem(client.get(f"/v1/datasets/{auto['id']}"), 404)
    assert_problem(client.delete(f"/v1/datasets/{auto['id']}"), 404)


def test_dataset_name_names_it_as_a_corpus_name_does(client):
    """``POST /v1/datasets?name=`` gives the dataset its id, with the rules of every name (pattern,
    64 characters) and a 409 when taken -- as ``POST /v1/corpora?name=`` does; it used to be ignored."""
    tsv = b"abc\tcba\nxy\tyx\n"
    resp = client.post("/v1/datasets", content=tsv, params={"format": "tsv", "name": "named-ds"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["id"] == "named-ds" and resp.headers["location"] == "/v1/datasets/named-ds"
    assert client.get("/v1/datasets/named-ds").json()["pairs"] == 2
    taken = assert_problem(
        client.post("/v1/datasets", content=tsv, params={"name": "named-ds"}), 409, "dataset-exists"
    )
    assert "named-ds" in taken["detail"]
    for bad in ("Bad/Name", "UPPER", "x" * 65, ".."):
        problem = assert_problem(client.post("/v1/datasets", content=tsv, params={"name": bad}), 422)
        assert problem["errors"][0]["loc"] == ["query", "name"], problem
    assert client.get("/v1/datasets/named-ds").json()["pairs"] == 2  # the 409 kept the first one
    assert client.delete("/v1/datasets/named-ds").status_code == 204
    again = client.post("/v1/datasets", content=tsv, params={"name": "named-ds"})
    assert again.status_code == 201 and again.json()["id"] == "named-ds"  # a freed name can be used again
    assert client.post("/v1/datasets", content=tsv).json()["id"] != "named-ds"  # no name: 32 hex characters


def test_dataset_with_more_pairs_than_a_job_accepts_is_refused_and_keeps_nothing(client):
    # every pair of an upload used to be parsed into memory at once, however many there were
    limit = client.app.state.runtime.settings.max_train_pairs
    body = b"ab\tba\n" * (limit + 1)
    before = {d["id"] for d in client.get("/v1/datasets").json()["datasets"]}
    bad = assert_problem(client.post("/v1/datasets", content=body, params={"format": "tsv"}), 422)
    assert bad["line"] == limit + 1 and f"more than {limit} pairs" in bad["detail"]
    assert {d["id"] for d in client.get("/v1/datasets").json()["datasets"]} == before
    root = client.app.state.runtime.uploads.root
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_train_from_dataset_and_inline_pairs(client):
    rows = [f"{w}\t{w[::-1]}" for w in ("abc", "bcd", "cde", "def", "efg", "fgh", "ghi", "hij", "ijk", "jkl")]
    ds = client.post("/v1/datasets", content="\n".join(rows).encode()).json()
    small = {"config": {"emb_dim": 8, "hidden": 8}, "params": {"epochs": 2, "batch_size": 4}}
    job = client.post(
        "/v1/models", json={"name": "fromds", "dataset_id": ds["id"], "dev_fraction": 0.2, **small}
    )
    assert job.status_code == 202, job.text
    inline = client.post(
        "/v1/models",
        json={
            "name": "inline",
            "pairs": [[r.split("\t")[0], r.split("\t")[1]] for r in rows],
            "dev_dataset_id": ds["id"],
            **small,
        },
    )
    assert inline.status_code == 202, inline.text
    done = wait_job(client, job.json()["job_id"])
    assert done["status"] == "succeeded", done.get("error")
    info = client.get("/v1/models/fromds").json()
    assert info["source"] == {"dataset_id": ds["id"], "pairs": 10, "dev_fraction": 0.2}
    dev = client.post("/v1/models/fromds/evaluate", json={"split": "dev"}).json()
    assert dev["n"] == 2
    assert_problem(client.post("/v1/models/fromds/evaluate", json={"split": "test"}), 422)
    done = wait_job(client, inline.json()["job_id"])
    assert done["status"] == "succeeded", done.get("error")
    assert client.get("/v1/models/inline").json()["source"]["dev_dataset_id"] == ds["id"]


def test_delete_conflicts_while_training_then_cancel_and_delete(client, trained):
    slow = {
        "name": "rev",
        "task": {"name": "reversal", "n_train": 20000},
        "params": {"epochs": 50},
        "overwrite": True,
    }
    job = client.post("/v1/models", json=slow).json()
    body = assert_problem(client.delete("/v1/models/rev"), 409)
    assert "cancel" in body["detail"]
    assert_problem(client.post("/v1/models", json=slow), 409)  # one job per model at a time
    cancelled = client.delete(f"/v1/jobs/{job['job_id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert_problem(client.delete(f"/v1/jobs/{job['job_id']}"), 409)
    assert client.get("/v1/models/rev").json()["version"] == 1  # the served version is untouched
    assert translate(client, ["abc"])[0]["output_tokens"]


def test_concurrent_trainings_of_one_name_queue_exactly_one_job(client):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    slow = {"name": "race", "task": {"name": "reversal", "n_train": 20000}, "params": {"epochs": 50}}
    start = threading.Barrier(8)

    def post(_):
        start.wait()
        return client.post("/v1/models", json=slow)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    accepted = [r for r in answers if r.status_code == 202]
    assert sorted(r.status_code for r in answers) == [202] + [409] * 7
    assert len(client.get("/v1/jobs", params={"model": "race"}).json()["jobs"]) == 1
    assert client.delete(f"/v1/jobs/{accepted[0].json()['job_id']}").json()["status"] == "cancelled"


def test_delete_model(client):
    job = client.post(
        "/v1/models",
        json={
            "name": "tmp",
            "task": {"name": "copy", "n_train": 50, "n_dev": 5, "n_test": 5},
            "params": {"epochs": 1},
        },
    ).json()
    assert wait_job(client, job["job_id"])["status"] == "succeeded"
    assert client.delete("/v1/models/tmp").status_code == 204
    assert_problem(client.get("/v1/models/tmp"), 404)
    assert_problem(client.post("/v1/models/tmp/translate", json={"inputs": ["abc"]}), 404)


# ------------------------------------------------------------------------------------------ restart / auth / default


def test_persistence_across_restart(client, trained, data_dir):
    before = translate(client, ["abc12", "xyz"], decode="beam")
    with TestClient(create_app(Settings(data_dir=data_dir, train_default=False))) as again:
        resp = again.post("/v1/models/rev/translate", json={"inputs": ["abc12", "xyz"], "decode": "beam"})
        assert resp.status_code == 200
        after = resp.json()["outputs"]
        assert [o["output_tokens"] for o in after] == [o["output_tokens"] for o in before]
        np.testing.assert_allclose(after[0]["attention"], before[0]["attention"], atol=1e-6)
        assert again.get(f"/v1/jobs/{trained['id']}").json()["status"] == "succeeded"
        assert again.get("/readyz").status_code == 200


def test_token_protects_mutating_routes(client, trained, data_dir):
    settings = Settings(data_dir=data_dir, train_default=False, api_token="s3cret")
    with TestClient(create_app(settings)) as c:
        assert_problem(c.post("/v1/models", json={"name": "y", "task": {"name": "copy"}}), 401)
        assert_problem(c.delete("/v1/models/rev"), 401)
        assert_problem(c.post("/v1/datasets", content=b"a\tb\n"), 401)
        assert_problem(c.delete("/v1/jobs/" + "0" * 32), 401)
        wrong = c.post(
            "/v1/models", json={"name": "y", "task": {"name": "copy"}}, headers={"Authorization": "Bearer no"}
        )
        assert_problem(wrong, 403)
        ok = c.post("/v1/datasets", content=b"a\tb\n", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 201
        assert c.post("/v1/models/rev/translate", json={"inputs": ["abc"]}).status_code == 200  # queries open


def test_default_model_job_and_readiness(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, train_default=True))) as c:
        deadline = time.monotonic() + 30  # start-up loading runs in the background
        while "default_job" not in (ready := assert_problem(c.get("/readyz"), 503))["checks"]:
            assert time.monotonic() < deadline, ready
            time.sleep(0.05)
        assert ready["checks"]["default_job"]["status"] in ("queued", "running")
        jobs = c.get("/v1/jobs", params={"model": "dates"}).json()["jobs"]
        assert len(jobs) == 1 and jobs[0]["spec"]["recipe"] == "DEFAULT_DATES_RECIPE"
        c.delete(f"/v1/jobs/{jobs[0]['id']}")


def test_openapi_manual_and_body_limit(client, trained):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/models/{name}/translate",
        "/v1/models/{name}/align",
        "/v1/models/{name}/evaluate",
        "/v1/models/{name}/attention.{fmt}",
        "/v1/models",
        "/v1/models/{name}",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/datasets",
        "/v1/datasets/{name}",
    ):
        assert path in paths, path
    assert spec["components"]["schemas"]["TranslateRequest"]["examples"]
    too_big = client.post("/v1/models/rev/translate", json={"inputs": ["a" * 100] * 12_000})
    assert_problem(too_big, 413)
    assert translate(client, ["abc"])[0]["output_tokens"]
