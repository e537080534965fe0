"""problem+json through a real FastAPI app: domain errors, 405 Allow, surrogate-safe bodies, /metrics."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from service.kit.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ServiceError,
    TooLargeError,
    UnavailableError,
    UnsupportedInputError,
)
from service.kit.metrics import METRICS_RESPONSES, PROMETHEUS_MEDIA_TYPE, PrometheusResponse, metrics_endpoint
from service.kit.problems import PROBLEM_BASE, install_problem_handlers

RAISED = {
    "missing": NotFoundError("model", "m1"),
    "taken": ConflictError("a model named 'm1' exists", code="model-exists"),
    "active": ConflictError("a job is active for 'm1'", code="job-active", title="Job active", job_id="ab12"),
    "empty": InvalidInputError(
        "min_count 5 > the most frequent token's count 3",
        code="empty-vocabulary",
        loc=["body", "params", "min_count"],
        max_token_count=3,
    ),
    "big": TooLargeError(
        "the corpus decompresses to more than 1024 bytes (EMBEDDINGS_MAX_DECOMPRESSED_BYTES)",
        code="corpus-too-large",
        limit=1024,
    ),
    "pickle": UnsupportedInputError("the file is a pickle", code="pickle-refused"),
    "down": UnavailableError(
        "the embeddings service does not answer", code="embeddings-unavailable", retry_after=7
    ),
    "bare": ServiceError("something the client did"),
}


@pytest.fixture
def client():
    app = FastAPI()
    install_problem_handlers(app)
    router = APIRouter(prefix="/v1")

    @router.get("/raise/{what}")
    def raise_(what: str):
        raise RAISED[what]

    @router.get("/models/{name}")
    def show(name: str):
        return {"name": name}

    @router.delete("/models/{name}")
    def delete(name: str):
        return {"deleted": name}

    @router.post("/models/{name}/similar")
    def similar(name: str):
        return {}

    @router.get("/echo-bad")
    def echo_bad():  # a detail echoing a client's lone surrogate must not turn into a 500
        raise NotFoundError(
            "words", ["x\ud800"], detail="not in the vocabulary: 'x\ud800'", code="unknown-words",
            title="Unknown words", words=["x\ud800"],
        )  # fmt: skip

    app.include_router(router)
    app.add_api_route(
        "/metrics",
        metrics_endpoint,
        methods=["GET"],
        response_class=PrometheusResponse,
        responses=METRICS_RESPONSES,
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["title"]
    return body


@pytest.mark.parametrize(
    "what,status,slug,title",
    [
        ("missing", 404, "model-not-found", "Model not found"),
        ("taken", 409, "model-exists", "Conflict"),
        ("active", 409, "job-active", "Job active"),
        ("empty", 422, "empty-vocabulary", "Unprocessable request"),
        ("big", 413, "corpus-too-large", "Content Too Large"),
        ("pickle", 415, "pickle-refused", "Unsupported Media Type"),
        ("down", 503, "embeddings-unavailable", "Service Unavailable"),
        ("bare", 400, "error", "Bad Request"),
    ],
)
def test_domain_errors_are_mapped_in_one_place(client, what, status, slug, title):
    body = problem(client.get(f"/v1/raise/{what}"), status)
    exc = RAISED[what]
    assert body["type"] == PROBLEM_BASE + slug and body["title"] == title
    assert body["detail"] == exc.detail and body["instance"] == f"/v1/raise/{what}"
    if exc.loc:
        assert body["errors"] == [{"loc": exc.loc, "msg": exc.detail, "type": slug}]
    else:
        assert "errors" not in body
    for key, value in exc.extensions.items():
        assert body[key] == value


def test_extensions_and_retry_after(client):
    assert problem(client.get("/v1/raise/empty"), 422)["max_token_count"] == 3
    assert problem(client.get("/v1/raise/active"), 409)["job_id"] == "ab12"
    assert problem(client.get("/v1/raise/big"), 413)["limit"] == 1024
    resp = client.get("/v1/raise/down")
    assert resp.headers["retry-after"] == "7"
    assert "retry-after" not in client.get("/v1/raise/taken").headers


def test_405_allow_lists_every_method_of_the_path(client):
    resp = client.put("/v1/models/m1")
    body = problem(resp, 405)
    assert resp.headers["allow"] == "GET, DELETE"
    assert body["type"] == PROBLEM_BASE + "method-not-allowed"
    assert "PUT" in body["detail"] and "GET, DELETE" in body["detail"]
    resp = client.get("/v1/models/m1/similar")
    assert problem(resp, 405) and resp.headers["allow"] == "POST"
    assert client.delete("/v1/models/m1").json() == {"deleted": "m1"}  # both methods still route


def test_a_lone_surrogate_in_a_problem_is_escaped_not_a_500(client):
    resp = client.get("/v1/echo-bad")
    assert resp.status_code == 404
    raw = resp.content.decode("utf-8")  # valid UTF-8
    assert "\\ud800" in raw
    assert json.loads(raw)["words"] == ["x\ud800"]  # and valid JSON that means the same string


def test_metrics_are_prometheus_text_0_0_4(client):
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == PROMETHEUS_MEDIA_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE embattn_http_requests_total counter" in resp.text
    op = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]
    content = op["responses"]["200"]["content"]
    assert list(content) == [PROMETHEUS_MEDIA_TYPE]  # text, not application/json
    assert content[PROMETHEUS_MEDIA_TYPE]["schema"] == {"type": "string"}
