"""The shared kit through a real FastAPI app: problem+json, body limit, names, auth, health, metrics."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from service.kit.app import create_app
from service.kit.auth import require_query_token, require_token
from service.kit.errors import NotFoundError
from service.kit.names import ModelName
from service.kit.runtime import ServiceRuntime
from service.kit.settings import ServiceSettings
from service.kit.storage import stream_request_to_file
from tests.helpers import assert_problem


class Item(BaseModel):
    words: list[str] = Field(min_length=1)
    topn: int = Field(10, ge=1, le=100)


def build(tmp_path, **overrides):
    settings = ServiceSettings(data_dir=tmp_path, max_body_bytes=2048, max_upload_bytes=10_000, **overrides)
    router = APIRouter(prefix="/v1")

    @router.post("/models/{name}/similar", dependencies=[Depends(require_query_token)])
    def similar(name: ModelName, item: Item):
        if name == "missing":
            raise NotFoundError("model", "missing")
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

    app = create_app(
        settings,
        DemoRuntime(settings),
        title="t",
        description="d",
        routers=[router],
        job_view=lambda rec: JobShown(id=rec.id, status=rec.status),
        job_model=JobShown,
        version_summary=lambda meta: {},
        upload_paths=[r"/v1/corpora"],
    )
    return app


class JobShown(BaseModel):
    id: str
    status: str


class DemoRuntime(ServiceRuntime[str]):
    """The smallest service runtime: a model version is the text of its ``model.txt``."""

    job_target = "tests.jobfuncs:count"

    def load_model(self, version):
        return (version.path / "model.txt").read_text()


@pytest.fixture
def client(tmp_path):
    with TestClient(build(tmp_path), raise_server_exceptions=False) as c:
        yield c


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
    assert body["checks"]["startup_loading"] == "in progress"


def test_405_allow_lists_every_method_of_the_path(client):
    r = client.request("PATCH", "/v1/models/m")
    assert_problem(r, 405)
    assert r.headers["allow"] == "DELETE"  # the only route on that path here
    r = client.get("/v1/models/m/similar")
    assert r.headers["allow"] == "POST"


def test_versions_routes_roll_back_and_delete(client):
    runtime = client.app.state.runtime
    for text in ("one", "two"):
        with runtime.store.new_version("m", {"created": text}) as d:
            (d / "model.txt").write_text(text)
    assert runtime.registry.get("m").model == "two"
    listing = client.get("/v1/models/m/versions").json()
    assert listing["current"] == 2 and [v["version"] for v in listing["versions"]] == [1, 2]
    assert runtime.registry.get("m", 1).model == "one"  # ?version=N without a roll-back
    assert_problem(client.put("/v1/models/m/current", json={"version": 3}), 404, "version-not-found")
    assert_problem(client.put("/v1/models/m/current", json={"version": "1"}), 422)
    assert client.put("/v1/models/m/current", json={"version": 1}).json()["current"] == 1
    assert runtime.registry.get("m").model == "one"
    assert_problem(client.delete("/v1/models/m/versions/1"), 409, "version-current")
    assert client.delete("/v1/models/m/versions/2").status_code == 204
    assert_problem(client.delete("/v1/models/m/versions/2"), 404, "version-not-found")
    assert [v["version"] for v in client.get("/v1/models/m/versions").json()["versions"]] == [1]
    assert_problem(client.get("/v1/models/nope/versions"), 404, "model-not-found")


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
