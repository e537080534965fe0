"""Roles (service/kit/roles.py): a ``query`` process answers queries and hands writer routes to the
writer; alone it answers them with 503. The writer here is the real app in role ``all`` in this
process, reached through :class:`LocalForwarder` (what the Serve writer deployment runs)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from service.kit.roles import ForwardedRequest, LocalForwarder
from tests.helpers import assert_problem, embeddings_app, train, wait_job

SENTENCES = [["alpha", "beta", "gamma"], ["beta", "gamma", "delta"], ["gamma", "delta", "alpha"]] * 20
BODY = {"name": "tiny", "sentences": SENTENCES, "params": {"min_count": 1, "epochs": 1, "vector_size": 8}}


@pytest.fixture
def writer_and_query(tmp_path):
    """A writer (role ``all``) and a query process (role ``query``) on one data directory, the
    query's writer routes forwarded to the writer's app."""
    data = tmp_path / "data"
    writer_app = embeddings_app(data, api_token="s3cret-token")
    query_app = embeddings_app(data, api_token="s3cret-token", role="query")
    with TestClient(writer_app) as writer, TestClient(query_app) as query:
        query_app.state.forward_write = LocalForwarder(writer_app)
        yield writer, query


AUTH = {"Authorization": "Bearer s3cret-token"}


def test_a_query_process_alone_refuses_writes_and_never_opens_the_job_store(tmp_path):
    data = tmp_path / "data"
    with TestClient(embeddings_app(data)) as writer:
        train(writer, BODY)
    with TestClient(embeddings_app(data, role="query")) as query:
        ready = query.get("/readyz").json()
        assert ready["checks"]["role"] == "query"
        # queries are answered from the shared model store
        r = query.post("/v1/models/tiny/similar", json={"positive": ["alpha"], "topn": 2})
        assert r.status_code == 200, r.text
        assert r.json() == writer_answer(data)
        body = assert_problem(
            query.post("/v1/models", json={**BODY, "overwrite": True}), 503, "writes-elsewhere"
        )
        assert "POST /v1/models" in body["detail"]
        assert_problem(query.get("/v1/jobs"), 503, "writes-elsewhere")
        assert_problem(query.delete("/v1/models/tiny"), 503, "writes-elsewhere")
        assert_problem(query.get("/v1/corpora"), 503, "writes-elsewhere")
        assert query.get("/v1/models/tiny").status_code == 200
    # the model is untouched and no second job store or runner lock appeared beside the writer's
    with TestClient(embeddings_app(data)) as writer:
        assert [j["status"] for j in writer.get("/v1/jobs").json()["jobs"]] == ["succeeded"]
        assert writer.get("/v1/models/tiny").json()["version"] == 1


def writer_answer(data):
    with TestClient(embeddings_app(data)) as c:
        return c.post("/v1/models/tiny/similar", json={"positive": ["alpha"], "topn": 2}).json()


def test_writes_through_a_query_process_reach_the_writer_and_its_versions_are_served(writer_and_query):
    writer, query = writer_and_query
    # the token is still required on a forwarded write (the writer checks it)
    assert_problem(query.post("/v1/models", json=BODY), 401, "unauthenticated")
    r = query.post("/v1/models", json=BODY, headers=AUTH)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert r.headers["location"].endswith(f"/v1/jobs/{job_id}")
    assert r.headers["x-request-id"]  # one request id, the query process's
    job = wait_job(query, job_id)  # GET /v1/jobs/{id} is forwarded too
    assert job["status"] == "succeeded"
    assert writer.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
    q = {"positive": ["alpha"], "topn": 3}
    assert (
        query.post("/v1/models/tiny/similar", json=q).json()
        == writer.post("/v1/models/tiny/similar", json=q).json()
    )
    # a second version written through the query process is served by it at the next request
    r = query.post(
        "/v1/models", json={**BODY, "overwrite": True, "params": {**BODY["params"], "seed": 7}}, headers=AUTH
    )
    assert r.status_code == 202, r.text
    wait_job(query, r.json()["job_id"])
    assert query.get("/v1/models/tiny").json()["version"] == 2
    assert (
        query.post("/v1/models/tiny/similar", json=q).json()
        == writer.post("/v1/models/tiny/similar", json=q).json()
    )
    # conflicts and problems come back as the writer's problem+json
    assert_problem(query.post("/v1/models", json=BODY, headers=AUTH), 409, "model-exists")
    assert_problem(query.delete("/v1/jobs/" + "0" * 32, headers=AUTH), 404)


def test_the_query_process_limits_the_body_before_forwarding(writer_and_query):
    _, query = writer_and_query
    big = {**BODY, "sentences": [["w"] * 1000] * 300}  # > 1 MiB of JSON
    assert_problem(query.post("/v1/models", json=big, headers=AUTH), 413)


def test_a_writer_that_does_not_answer_is_a_503_and_queries_go_on(writer_and_query):
    writer, query = writer_and_query
    r = writer.post("/v1/models", json=BODY, headers=AUTH)
    wait_job(writer, r.json()["job_id"])

    async def gone(request: ForwardedRequest):
        raise ConnectionError("the writer's replica died")

    query.app.state.forward_write = gone
    body = assert_problem(query.post("/v1/models", json=BODY, headers=AUTH), 503, "writer-unavailable")
    assert "ConnectionError" in body["detail"]
    assert query.post("/v1/models/tiny/similar", json={"positive": ["alpha"], "topn": 1}).status_code == 200


@pytest.mark.parametrize("service", ["embeddings", "attention"])
def test_writer_routes_are_the_token_guarded_ones_plus_jobs_and_uploads(service, tmp_path):
    from tests.helpers import attention_app

    app = (embeddings_app if service == "embeddings" else attention_app)(tmp_path / "d")
    uploads = "/v1/corpora" if service == "embeddings" else "/v1/datasets"
    routes = {(m, r.path) for r in app.state.writer_routes if isinstance(r, APIRoute) for m in r.methods}
    every = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    # every mutating method is the writer's, and nothing a client reads a model through is
    assert {(m, p) for m, p in every if m in {"PUT", "DELETE"}} <= routes
    for method, path in every - routes:
        assert path.startswith(
            ("/v1/models", "/v1/embeddings", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/ui")
            + ("/openapi", "/static")
        ), (method, path)
    expected_writes = {
        ("POST", "/v1/models"),
        ("GET", "/v1/jobs"),
        ("DELETE", "/v1/jobs/{job_id}"),
        ("POST", uploads),
    }
    assert expected_writes <= routes
    queries = {"/v1/models/{name}/similar", "/v1/models/{name}/translate", "/v1/models/{name}/evaluate"}
    queries.add("/v1/embeddings")  # OpenAI's embeddings API: a query, answered by every process
    assert not {p for _, p in routes} & queries


def test_the_upload_limit_holds_below_a_route_prefix():
    """Under Serve the app is mounted at ``/embeddings``: an upload path keeps its larger limit."""
    from service.kit.middleware import BodySizeLimitMiddleware

    async def ok(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = BodySizeLimitMiddleware(
        ok, max_body_bytes=1024, max_upload_bytes=1 << 20, upload_paths=[r"/v1/corpora"]
    )

    def status(path, root, size):
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"x" * size, "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "root_path": root,
            "headers": [(b"content-length", str(size).encode())],
        }
        asyncio.run(app(scope, receive, send))
        return sent[0]["status"]

    assert status("/embeddings/v1/corpora", "/embeddings", 4096) == 204
    assert status("/v1/corpora", "", 4096) == 204
    assert status("/embeddings/v1/models", "/embeddings", 4096) == 413
