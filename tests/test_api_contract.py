"""The one API contract of both services (README, "One contract for both services"), through their real
apps: envelopes, 202 bodies, versions as a resource, strict types, lone surrogates, readiness, OpenAPI.
"""

from __future__ import annotations

import gzip
import json

import pytest

from tests.helpers import assert_problem, embeddings_client, wait_job, wait_ready

LEE = ["the president spoke to the press about the war", "the minister said the government would act"] * 20
W2V = {"vector_size": 12, "min_count": 1, "epochs": 2, "workers": 1}
REV = {
    "task": {"name": "reversal", "n_train": 200, "n_dev": 20, "n_test": 20, "min_len": 3, "max_len": 5},
    "config": {"emb_dim": 8, "hidden": 16},
    "params": {"epochs": 1, "batch_size": 32},
}
SURROGATE = '"\\ud800"'  # a lone surrogate, as a JSON text spells it


def post_raw(client, url: str, body: str):
    return client.post(url, content=body.encode(), headers={"content-type": "application/json"})


@pytest.fixture(scope="module")
def emb(tmp_path_factory):
    with embeddings_client(tmp_path_factory.mktemp("emb")) as c:
        for sentences in (LEE, [s.replace("war", "peace") for s in LEE]):
            r = c.post("/v1/models", json={"name": "m", "algorithm": "word2vec", "sentences": sentences,
                                           "params": W2V, "overwrite": True})  # fmt: skip
            assert r.status_code == 202, r.text
            assert wait_job(c, r.json()["job_id"])["status"] == "succeeded"
        yield c


@pytest.fixture(scope="module")
def att(tmp_path_factory):
    from tests.helpers import attention_client

    with attention_client(tmp_path_factory.mktemp("att")) as c:
        r = c.post("/v1/models", json={"name": "rev", **REV})
        assert r.status_code == 202, r.text
        assert wait_job(c, r.json()["job_id"])["status"] == "succeeded"
        yield c


# --------------------------------------------------------------------------- envelopes and 202 bodies


def test_lists_are_envelopes_and_202_bodies_are_one_shape(emb, att):
    assert [m["name"] for m in emb.get("/v1/models").json()["models"]] == ["m"]
    assert [m["name"] for m in att.get("/v1/models").json()["models"]] == ["rev"]
    assert att.get("/v1/datasets").json() == {"datasets": []}
    assert emb.get("/v1/corpora").json() == {"corpora": []}
    for client, body in (
        (emb, {"name": "m", "algorithm": "word2vec", "sentences": LEE, "params": W2V, "overwrite": True}),
        (att, {"name": "rev", **REV, "overwrite": True}),
    ):
        r = client.post("/v1/models", json=body)
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert set(accepted) == {"job_id", "model", "status", "location"}
        assert r.headers["location"] == accepted["location"] == f"/v1/jobs/{accepted['job_id']}"
        client.delete(accepted["location"])  # cancel: nothing is written
        job = wait_job(client, accepted["job_id"])
        assert (
            job["status"] == "cancelled"
            and "history" not in client.get(accepted["location"], params={"history": "false"}).json()
        )


def test_a_taken_name_is_409_unless_overwrite_in_both_services(emb, att):
    for client, body in (
        (emb, {"name": "m", "algorithm": "word2vec", "sentences": LEE, "params": W2V}),
        (att, {"name": "rev", **REV}),
    ):
        before = len(client.get("/v1/jobs").json()["jobs"])
        assert_problem(client.post("/v1/models", json=body), 409, "model-exists")
        assert len(client.get("/v1/jobs").json()["jobs"]) == before  # no job for a refused request


# --------------------------------------------------------------------------- versions


def test_embeddings_versions_query_by_version_roll_back_and_delete(emb, tmp_path):
    listing = emb.get("/v1/models/m/versions").json()
    assert listing["model"] == "m" and listing["current"] == 2
    assert [(v["version"], v["current"]) for v in listing["versions"]] == [(1, False), (2, True)]
    assert all(v["vocab_size"] and v["created"] for v in listing["versions"])
    # "war" is only in version 1's vocabulary, "peace" only in version 2's
    assert_problem(emb.post("/v1/models/m/vectors", json={"words": ["war"]}), 404, "unknown-words")
    assert emb.post("/v1/models/m/vectors?version=1", json={"words": ["war"]}).status_code == 200
    missing = assert_problem(emb.post("/v1/models/m/similar?version=9", json={"positive": ["war"]}), 404)
    assert missing["type"].endswith("version-not-found") and "9" in missing["detail"]
    assert_problem(emb.post("/v1/models/m/similar?version=0", json={"positive": ["war"]}), 422)

    # a second process on the same data directory follows a roll-back on its next request
    data_dir = emb.app.state.settings.data_dir
    with embeddings_client(data_dir) as other:
        assert other.post("/v1/models/m/vectors", json={"words": ["peace"]}).status_code == 200
        assert emb.put("/v1/models/m/current", json={"version": 1}).json()["current"] == 1
        assert other.post("/v1/models/m/vectors", json={"words": ["war"]}).status_code == 200
        assert other.get("/v1/models/m").json()["version"] == 1
    assert_problem(emb.put("/v1/models/m/current", json={"version": "2"}), 422)
    assert_problem(emb.put("/v1/models/m/current", json={"version": 7}), 404, "version-not-found")
    assert_problem(emb.delete("/v1/models/m/versions/1"), 409, "version-current")
    assert emb.put("/v1/models/m/current", json={"version": 2}).json()["current"] == 2
    assert (
        emb.post("/v1/models/m/similar/batch?version=1", json={"queries": [{"positive": ["war"]}]}).json()[
            "errors"
        ]
        == []
    )


def test_attention_versions_and_version_query(att):
    r = att.post("/v1/models", json={"name": "rev", **REV, "overwrite": True})
    assert wait_job(att, r.json()["job_id"])["status"] == "succeeded"
    listing = att.get("/v1/models/rev/versions").json()
    assert listing["current"] == 2 and [v["version"] for v in listing["versions"]] == [1, 2]
    assert listing["versions"][0]["config"]["attention"] == "bahdanau"
    one = att.post("/v1/models/rev/translate?version=1", json={"inputs": ["abc"]}).json()
    assert (
        one["version"] == 1
        and att.post("/v1/models/rev/translate", json={"inputs": ["abc"]}).json()["version"] == 2
    )
    assert_problem(
        att.post("/v1/models/rev/translate?version=5", json={"inputs": ["abc"]}), 404, "version-not-found"
    )
    assert att.put("/v1/models/rev/current", json={"version": 1}).json()["current"] == 1
    assert att.get("/v1/models/rev").json()["version"] == 1
    assert att.delete("/v1/models/rev/versions/2").status_code == 204
    assert [v["version"] for v in att.get("/v1/models/rev/versions").json()["versions"]] == [1]


# --------------------------------------------------------------------------- strict types, ignored options


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": ["abc"], "decode": "beam", "beam_size": "4"},
        {"inputs": ["abc"], "decode": "beam", "beam_size": 4.0},
        {"inputs": ["abc"], "return_attention": 0},
        {"inputs": ["abc"], "beam_size": 4},  # greedy: the beam size would be ignored
        {"inputs": ["abc"], "decode": "beam", "beam_size": 17},  # over the core's own limit
    ],
)
def test_attention_types_are_strict_and_ignored_options_refused(att, body):
    problem = assert_problem(att.post("/v1/models/rev/translate", json=body), 422)
    assert problem["errors"]


def test_every_bad_item_of_a_list_is_reported_at_once(att):
    body = {"inputs": ["abc", " ", "x" * 500, ""]}
    problem = assert_problem(att.post("/v1/models/rev/translate", json=body), 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "inputs", i] for i in (1, 2, 3)]


# --------------------------------------------------------------------------- lone surrogates


@pytest.mark.parametrize(
    ("url", "body", "loc"),
    [
        ("/v1/models/rev/translate", '{"inputs": ["abc", %s]}', ["body", "inputs", 1]),
        ("/v1/models/rev/align", '{"pairs": [["abc", %s]]}', ["body", "pairs", 0, 1]),
        ("/v1/models/rev/evaluate", '{"pairs": [[%s, "cba"]]}', ["body", "pairs", 0, 0]),
        ("/v1/models", '{"name": "s", "pairs": [["abc", %s]]}', ["body", "pairs", 0, 1]),
    ],
)
def test_attention_lone_surrogates_are_422_naming_the_field_and_make_no_job(att, url, body, loc):
    jobs = len(att.get("/v1/jobs").json()["jobs"])
    problem = assert_problem(post_raw(att, url, body % SURROGATE), 422)
    assert loc in [e["loc"] for e in problem["errors"]], problem
    assert len(att.get("/v1/jobs").json()["jobs"]) == jobs
    assert att.get("/healthz").status_code == 200


def test_surrogates_in_uploads_name_the_line(att, emb):
    bad = b'{"source": "abc", "target": "cba"}\n{"source": "\\ud800", "target": "x"}\n'
    problem = assert_problem(att.post("/v1/datasets?format=jsonl", content=bad), 422, "invalid-dataset")
    assert problem["line"] == 2
    bad = b'["a", "b"]\n["\\udc00"]\n'
    problem = assert_problem(
        emb.post("/v1/corpora?name=sur&format=jsonl", content=bad), 422, "invalid-corpus"
    )
    assert problem["line"] == 2
    problem = assert_problem(post_raw(emb, "/v1/models/m/similar", '{"positive": [' + SURROGATE + "]}"), 422)
    assert problem["errors"][0]["loc"] == ["body", "positive", 0]


# --------------------------------------------------------------------------- bounded uploads, empty vocabulary


def test_a_gzip_bomb_is_413_naming_the_setting(make_embeddings_client):
    bomb = gzip.compress(b"the cat sat on the mat\n" * 200_000)  # 4.6 MB inflated, a few kB sent
    with make_embeddings_client(max_decompressed_bytes=1 << 20) as c:
        problem = assert_problem(c.post("/v1/corpora?name=bomb", content=bomb), 413, "corpus-too-large")
        assert "EMBEDDINGS_MAX_DECOMPRESSED_BYTES" in problem["detail"]
        assert c.get("/v1/corpora").json() == {"corpora": []}
        assert not [p for p in c.app.state.runtime.uploads.root.iterdir()]


def test_a_corpus_whose_vocabulary_would_be_empty_is_refused_before_a_job(emb):
    r = emb.post("/v1/corpora?name=rare", content=b"every word here is unique\n")
    assert r.status_code == 201 and r.json()["max_token_count"] == 1
    jobs = len(emb.get("/v1/jobs").json()["jobs"])
    body = {"name": "rare", "algorithm": "word2vec", "corpus_id": "rare", "params": {"min_count": 2}}
    problem = assert_problem(emb.post("/v1/models", json=body), 422, "empty-vocabulary")
    assert problem["errors"][0]["loc"] == ["body", "params", "min_count"]
    assert len(emb.get("/v1/jobs").json()["jobs"]) == jobs
    assert emb.delete("/v1/corpora/rare").status_code == 204


# --------------------------------------------------------------------------- readiness, OpenAPI, 405


def test_readiness_stays_200_once_serving_even_without_the_default_model(make_embeddings_client):
    with make_embeddings_client(train_default=True) as c:
        checks = wait_ready(c, 120)["checks"]
        assert checks["default_model_loaded"] is True
        assert c.delete("/v1/models/default").status_code == 204
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["default_model_loaded"] is False


def test_openapi_documents_problems_everywhere_and_one_version(emb, att):
    specs = [emb.get("/openapi.json").json(), att.get("/openapi.json").json()]
    assert specs[0]["info"]["version"] == specs[1]["info"]["version"]
    for spec in specs:
        assert "Problem" in spec["components"]["schemas"]
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, ops in spec["paths"].items():
            for method, op in ops.items():
                responses = op["responses"]
                assert "4XX" in responses and "5XX" in responses, (method, path)
                # every 4xx/5xx the operation declares (404, 422, 409, 503...) is the Problem, nothing else
                for code, response in responses.items():
                    if code[0] in "45" and path == "/v1/embeddings":
                        # OpenAI's route answers its own errors in OpenAI's envelope; what is refused
                        # before it runs (413, 408, 503) is still the problem: both under the ranges
                        openai = {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
                        }
                        expected = {**openai, **problem} if code.endswith("XX") else openai
                        assert response["content"] == expected, (method, path, code)
                    elif code[0] in "45":
                        assert response["content"] == problem, (method, path, code)
                    else:  # and every other answer has a schema (a generated client keeps it)
                        for media, content in (response.get("content") or {}).items():
                            assert "schema" in content, (method, path, code, media)
        for path, ops in spec["paths"].items():  # every body a generator can send: a schema
            for method, op in ops.items():
                for media, content in op.get("requestBody", {}).get("content", {}).items():
                    assert "schema" in content, (method, path, media)
        metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
        assert [m.split(";")[0] for m in metrics] == ["text/plain"], metrics
    r = emb.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain") and "embattn_http_requests_total" in r.text
    heatmap = specs[1]["paths"]["/v1/models/{name}/attention.{fmt}"]["get"]["responses"]["200"]["content"]
    binary = {"schema": {"type": "string", "format": "binary"}}
    assert heatmap == {"image/png": binary, "image/svg+xml": binary}
    uploads = [
        specs[0]["paths"]["/v1/corpora"]["post"],
        specs[0]["paths"]["/v1/models/{name}/import"]["post"],
        specs[1]["paths"]["/v1/datasets"]["post"],
    ]
    for op in uploads:  # the raw file, as application/octet-stream (generated clients keep that one)
        assert op["requestBody"]["content"]["application/octet-stream"] == binary
    importing = specs[0]["paths"]["/v1/models/{name}/import"]["post"]["requestBody"]["content"]
    assert importing["application/json"]["schema"] == {"$ref": "#/components/schemas/ImportRequest"}
    assert "ImportRequest" in specs[0]["components"]["schemas"]


def test_405_allow_lists_every_method_of_the_path(emb, att):
    for client, path, allowed in (
        (emb, "/v1/models/m", {"GET", "DELETE"}),
        (att, "/v1/models/rev", {"GET", "DELETE"}),
        (att, "/v1/models/rev/current", {"PUT"}),
        (emb, "/v1/jobs", {"GET"}),
    ):
        r = client.request("PATCH", path)
        assert_problem(r, 405)
        assert set(r.headers["allow"].split(", ")) == allowed, (path, r.headers["allow"])


def test_problem_bodies_are_json_even_for_bad_text(emb):
    r = post_raw(emb, "/v1/models/m/doesnt-match", '{"words": [' + SURROGATE + ', "a"]}')
    assert_problem(r, 422)
    json.loads(r.content.decode("utf-8"))  # valid UTF-8 JSON


def test_openapi_says_when_the_token_is_optional(make_embeddings_client):
    with make_embeddings_client(api_token="a-real-secret-0123456789") as c:
        paths = c.get("/openapi.json").json()["paths"]
        assert paths["/v1/models"]["post"]["security"] == [{"HTTPBearer": []}]  # a write: required
        assert {} in paths["/v1/models/{name}/similar"]["post"]["security"]  # a query, unprotected
        assert c.post("/v1/models/default/similar", json={"positive": ["a"]}).status_code == 404
        assert_problem(c.post("/v1/models", json={"name": "x", "sentences": ["a b"]}), 401)
    with make_embeddings_client(api_token="a-real-secret-0123456789", protect_queries=True) as c:
        paths = c.get("/openapi.json").json()["paths"]
        assert paths["/v1/models/{name}/similar"]["post"]["security"] == [{"HTTPBearer": []}]
