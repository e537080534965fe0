"""The shared kit through a real FastAPI app: problem+json, body limit, names, auth, health, metrics."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from service.kit.app import create_app
from service.kit.auth import require_query_token, require_token
from service.kit.names import ModelName
from service.kit.problems import ProblemError
from service.kit.settings import ServiceSettings
from service.kit.storage import stream_request_to_file


class Item(BaseModel):
    words: list[str] = Field(min_length=1)
    topn: int = Field(10, ge=1, le=100)


def build(tmp_path, **overrides):
    settings = ServiceSettings(data_dir=tmp_path, max_body_bytes=2048, max_upload_bytes=10_000, **overrides)
    router = APIRouter(prefix="/v1")
    state = {"ready": False}

    @router.post("/models/{name}/similar", dependencies=[Depends(require_query_token)])
    def similar(name: ModelName, item: Item):
        if name == "missing":
            raise ProblemError(404, "Model not found", "no model named 'missing'", type="model-not-found")
        return {"name": name, "n": len(item.words)}

    @router.delete("/models/{name}", dependencies=[Depends(require_token)])
    def delete(name: ModelName):
        return {"deleted": name}

    @router.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    @router.post("/corpora")
    async def upload(request: Request):
        size = await stream_request_to_file(request, tmp_path / "upload.bin", settings.max_upload_bytes)
        return {"bytes": size}

    @asynccontextmanager
    async def lifespan(app):
        state["ready"] = True
        yield

    app = create_app(
        settings,
        title="t",
        description="d",
        version="0",
        routers=[router],
        lifespan=lifespan,
        readiness=lambda app: (state["ready"], {"models": state["ready"]}),
        upload_paths=[r"/v1/corpora"],
    )
    return app


@pytest.fixture
def client(tmp_path):
    with TestClient(build(tmp_path), raise_server_exceptions=False) as c:
        yield c


def assert_problem(resp, status):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


def test_health_ready_metrics_and_request_id(client):
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["status"] == "ready"
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32
    client.post("/v1/models/m/similar", json={"words": ["a"]})
    text = client.get("/metrics").text
    assert (
        'embattn_http_requests_total{method="POST",route="/v1/models/{name}/similar",service="service",status="200"}'
        in text
    )


def test_not_ready_before_lifespan(tmp_path):
    client = TestClient(build(tmp_path))  # lifespan not entered: models not loaded
    body = assert_problem(client.get("/readyz"), 503)
    assert body["checks"] == {"models": False}


def test_validation_errors_are_problems_with_field_list(client):
    body = assert_problem(client.post("/v1/models/m/similar", json={"words": [], "topn": 0}), 422)
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "words") in locs and ("body", "topn") in locs
    assert "topn" in body["detail"]
    body = assert_problem(
        client.post(
            "/v1/models/m/similar", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
    )
    assert body["errors"][0]["type"] == "json_invalid"


def test_404_405_and_500_are_problems_without_stack_trace(client):
    assert "no route" in assert_problem(client.get("/nope"), 404)["detail"]
    assert "not allowed" in assert_problem(client.get("/v1/models/m/similar"), 405)["detail"]
    body = assert_problem(client.get("/v1/boom"), 500)
    assert "secret internals" not in json.dumps(body) and "Traceback" not in json.dumps(body)
    assert body["request_id"]
    assert assert_problem(client.post("/v1/models/missing/similar", json={"words": ["a"]}), 404)[
        "type"
    ].endswith("model-not-found")
    assert client.get("/healthz").status_code == 200  # still serving


@pytest.mark.parametrize(
    "name", ["UPPER", "-lead", "a" * 65, "a%2F..%2Fb", "%2e%2e", "a%2F..%2F..%2Fetc", "a%2Fb"]
)
def test_invalid_names_are_422(client, name):
    body = assert_problem(client.post(f"/v1/models/{name}/similar", json={"words": ["a"]}), 422)
    assert "name" in json.dumps(body["errors"])


def test_body_limit_413_by_content_length_and_while_streaming(client, tmp_path):
    big = {"words": ["x" * 3000]}
    body = assert_problem(client.post("/v1/models/m/similar", json=big), 413)
    assert "2048" in body["detail"]

    def chunks():  # no Content-Length: counted while it streams
        for _ in range(20):
            yield b"y" * 1000

    body = assert_problem(client.post("/v1/corpora", content=chunks()), 413)
    assert not (tmp_path / "upload.bin").exists()
    ok = client.post("/v1/corpora", content=b"z" * 5000)
    assert ok.json() == {"bytes": 5000}
    assert assert_problem(client.post("/v1/corpora", content=b""), 422)["type"].endswith("empty-upload")


def test_token_required_for_mutations_only(tmp_path):
    with TestClient(build(tmp_path, api_token="s3cret")) as c:
        body = assert_problem(c.delete("/v1/models/m"), 401)
        assert "Bearer" in body["detail"]
        assert assert_problem(c.delete("/v1/models/m", headers={"Authorization": "Bearer nope"}), 403)
        assert c.delete("/v1/models/m", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.post("/v1/models/m/similar", json={"words": ["a"]}).status_code == 200
    with TestClient(build(tmp_path, api_token="s3cret", protect_queries=True)) as c:
        assert_problem(c.post("/v1/models/m/similar", json={"words": ["a"]}), 401)


def test_form_encoded_json_gets_a_content_type_hint(client):
    # `curl -d '{...}'` sends application/x-www-form-urlencoded
    r = client.post(
        "/v1/models/m/similar",
        content=b'{"words": ["a"]}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    body = assert_problem(r, 422)
    assert "Content-Type: application/json" in body["detail"]


def test_both_413_paths_have_one_title(client):
    by_length = client.post("/v1/models/m/similar", json={"words": ["x" * 3000]})

    def chunks():
        for _ in range(20):
            yield b"y" * 1000

    streamed = client.post("/v1/corpora", content=chunks())
    titles = {assert_problem(by_length, 413)["title"], assert_problem(streamed, 413)["title"]}
    assert titles == {"Content Too Large"}
