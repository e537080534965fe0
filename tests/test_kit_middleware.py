"""The kit's ASGI middleware (service/kit/middleware.py) on real FastAPI apps.

The app is wired like the kit wires both services: problem handlers, the body limit inside the
request context. Requests go through Starlette's TestClient, and through httpx's ASGI transport
where a body must arrive in chunks (a streamed, chunked upload).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from service.kit.logging import JsonFormatter, request_id_var
from service.kit.middleware import BodySizeLimitMiddleware, BodyTimeoutMiddleware, RequestContextMiddleware
from service.kit.problems import install_problem_handlers
from tests.helpers import assert_problem

SERVICE = "mwtest"
MAX_BODY = 2048
MAX_UPLOAD = 10_000
UPLOAD_PATHS = [r"/v1/corpora", r"/v1/models/[^/]+/import"]
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def build() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    seen: dict[str, int] = {}
    app.state.seen = seen

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics():
        return {"metrics": True}

    @app.get("/v1/items/{name}")
    async def item(name: str):
        return {"name": name, "request_id": request_id_var.get()}

    async def read_all(request: Request) -> dict:
        size = chunks = 0
        async for chunk in request.stream():
            size += len(chunk)
            chunks += 1 if chunk else 0
            seen["bytes"] = size
        return {"bytes": size, "chunks": chunks}

    @app.post("/v1/echo")
    async def echo(request: Request):
        return await read_all(request)

    @app.post("/v1/corpora")
    async def upload(request: Request):
        return await read_all(request)

    @app.post("/v1/corpora/extra")
    async def not_an_upload(request: Request):
        return await read_all(request)

    @app.post("/v1/models/{name}/import")
    async def import_model(name: str, request: Request):
        return await read_all(request)

    @app.get("/boom")
    async def boom():
        raise RuntimeError("secret internals")

    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=MAX_BODY,
        max_upload_bytes=MAX_UPLOAD,
        upload_paths=UPLOAD_PATHS,
    )
    app.add_middleware(RequestContextMiddleware, service=SERVICE)
    return app


@pytest.fixture
def app() -> FastAPI:
    return build()


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


class JsonLines(logging.Handler):
    """Formats each record as it is emitted (while the request id is still set), like the real handler."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def access_log():
    logger = logging.getLogger("service.access")
    handler = JsonLines()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def requests_total(method: str, route: str, status: int) -> float:
    labels = {"service": SERVICE, "method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("embattn_http_requests_total", labels) or 0.0


def chunks(n: int, size: int, pulled: list[int]):
    async def gen():
        for i in range(n):
            pulled.append(i)
            yield b"x" * size

    return gen()


def asgi_post(app: FastAPI, path: str, content, headers: dict | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post(path, content=content, headers=headers)

    return asyncio.run(go())


# --------------------------------------------------------------------------- request id


def test_a_sane_incoming_request_id_is_kept_and_echoed(client):
    for rid in ("abc-123", "A.b_c-9", "x" * 128):
        r = client.get("/v1/items/one", headers={"X-Request-ID": rid})
        assert r.status_code == 200
        assert r.headers["x-request-id"] == rid
        assert r.json()["request_id"] == rid  # the route sees it (request_id_var)


@pytest.mark.parametrize("rid", ["", "has space", "x" * 129, "semi;colon", "quote'", "a/b", "ünï"])
def test_an_insane_or_missing_request_id_is_replaced(client, rid):
    headers = {"X-Request-ID": rid.encode("utf-8")} if rid else {}
    r = client.get("/v1/items/one", headers=headers)
    assert r.status_code == 200
    got = r.headers["x-request-id"]
    assert HEX_ID.fullmatch(got) and got != rid
    assert r.json()["request_id"] == got


def test_generated_ids_are_unique_and_the_context_is_reset(client):
    ids = {client.get("/v1/items/one").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20
    assert request_id_var.get() is None


def test_error_responses_carry_the_request_id(client):
    r = client.get("/nowhere", headers={"X-Request-ID": "find-me"})
    body = assert_problem(r, 404)
    assert r.headers["x-request-id"] == "find-me" and body["request_id"] == "find-me"


# --------------------------------------------------------------------------- access log and metrics


def test_one_json_access_line_per_request(client, access_log):
    r = client.get("/v1/items/abc", headers={"X-Request-ID": "log-me"})
    assert r.status_code == 200
    [line] = access_log
    assert line["logger"] == "service.access" and line["level"] == "info"
    assert line["msg"] == "GET /v1/items/abc 200"
    assert line["status"] == 200 and line["route"] == "/v1/items/{name}"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["request_id"] == "log-me"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])


def test_access_lines_for_errors_and_unmatched_paths(client, access_log):
    client.get("/nowhere/at/all")
    client.post("/v1/echo", content=b"x" * (MAX_BODY + 1))
    # a 413 refused on its Content-Length never reaches the router: its route is "unmatched" too
    assert [(x["status"], x["msg"]) for x in access_log] == [
        (404, "GET /nowhere/at/all 404"),
        (413, "POST /v1/echo 413"),
    ]
    assert access_log[0]["route"] == "unmatched"
    assert all(HEX_ID.fullmatch(x["request_id"]) for x in access_log)


def test_health_and_metrics_are_not_logged_but_counted(client, access_log):
    before = requests_total("GET", "/healthz", 200)
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert access_log == []
    assert requests_total("GET", "/healthz", 200) == before + 1


def test_requests_are_counted_by_route_template_not_raw_path(client):
    before = requests_total("GET", "/v1/items/{name}", 200)
    for name in ("a", "b", "c"):
        client.get(f"/v1/items/{name}")
    assert requests_total("GET", "/v1/items/{name}", 200) == before + 3
    assert REGISTRY.get_sample_value("embattn_http_requests_total", {"service": SERVICE, "method": "GET", "route": "/v1/items/a", "status": "200"}) is None  # fmt: skip


# --------------------------------------------------------------------------- last-resort 500


def test_a_route_exception_is_a_problem_500_without_internals(client, access_log):
    r = client.get("/boom", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(r, 500, "internal-error")
    assert "secret" not in r.text and "Traceback" not in r.text
    assert r.headers["x-request-id"] == "boom-1" and body["request_id"] == "boom-1"
    assert [(x["status"], x["route"]) for x in access_log if x["msg"].startswith("GET")] == [(500, "/boom")]


def test_an_exception_escaping_a_bare_asgi_app_becomes_a_problem_500(access_log):
    async def raw(scope, receive, send):
        if scope["type"] == "http":
            raise RuntimeError("secret internals")

    c = TestClient(RequestContextMiddleware(raw, service=SERVICE), raise_server_exceptions=False)
    r = c.get("/anything", headers={"X-Request-ID": "raw-1"})
    body = assert_problem(r, 500, "internal-error")
    assert body["instance"] == "/anything" and body["request_id"] == "raw-1"
    assert r.headers["x-request-id"] == "raw-1" and "secret" not in r.text
    assert any(x["msg"] == "unhandled error" and "exc" in x for x in access_log)
    assert any(x["msg"] == "GET /anything 500" for x in access_log)


# --------------------------------------------------------------------------- body size: Content-Length


def test_bodies_up_to_the_limit_pass(client):
    for size in (0, 1, MAX_BODY):
        r = client.post("/v1/echo", content=b"x" * size)
        assert r.status_code == 200, r.text
        assert r.json()["bytes"] == size


def test_a_declared_length_over_the_limit_is_refused_before_reading(client, app):
    r = client.post("/v1/echo", content=b"x" * (MAX_BODY + 1), headers={"X-Request-ID": "big-1"})
    body = assert_problem(r, 413, "body-too-large")
    assert body["title"] == "Content Too Large" and str(MAX_BODY) in body["detail"]
    assert body["instance"] == "/v1/echo" and body["request_id"] == "big-1"
    assert r.headers["x-request-id"] == "big-1" and r.headers["connection"] == "close"
    assert "bytes" not in app.state.seen  # the route never ran


def test_a_lying_small_content_length_is_still_counted(app):
    """Content-Length says 10, the body is bigger: the bytes are counted as they arrive."""
    r = asgi_post(app, "/v1/echo", content=b"x" * (MAX_BODY * 3), headers={"content-length": "10"})
    assert_problem(r, 413, "body-too-large")


def test_a_non_numeric_content_length_falls_back_to_counting(app):
    r = asgi_post(app, "/v1/echo", content=b"x" * (MAX_BODY + 5), headers={"content-length": "lots"})
    assert_problem(r, 413, "body-too-large")
    r = asgi_post(app, "/v1/echo", content=b"x" * 5, headers={"content-length": "lots"})
    assert r.status_code == 200 and r.json()["bytes"] == 5


# --------------------------------------------------------------------------- body size: chunked streams


def test_a_chunked_body_within_the_limit_streams_through(app):
    pulled: list[int] = []
    r = asgi_post(app, "/v1/echo", content=chunks(4, 512, pulled))
    assert r.status_code == 200, r.text
    assert r.json() == {"bytes": 2048, "chunks": 4} and len(pulled) == 4


def test_a_chunked_body_over_the_limit_stops_as_soon_as_it_crosses_it(app):
    pulled: list[int] = []
    r = asgi_post(app, "/v1/echo", content=chunks(1000, 1000, pulled), headers={"X-Request-ID": "chunky"})
    body = assert_problem(r, 413, "body-too-large")
    assert str(MAX_BODY) in body["detail"] and body["request_id"] == "chunky"
    assert r.headers["x-request-id"] == "chunky"
    assert "content-length" not in r.request.headers  # it really was chunked
    # the third 1000-byte chunk crosses 2048: nothing after it is read, nothing past the limit buffered
    assert len(pulled) == 3
    assert app.state.seen.get("bytes", 0) <= MAX_BODY


def test_a_chunked_upload_gets_the_upload_limit(app):
    pulled: list[int] = []
    r = asgi_post(app, "/v1/corpora", content=chunks(9, 1000, pulled))
    assert r.status_code == 200 and r.json()["bytes"] == 9000
    pulled.clear()
    r = asgi_post(app, "/v1/corpora", content=chunks(100, 1000, pulled))
    body = assert_problem(r, 413, "body-too-large")
    assert str(MAX_UPLOAD) in body["detail"] and len(pulled) == 11


# --------------------------------------------------------------------------- upload paths


@pytest.mark.parametrize("path", ["/v1/corpora", "/v1/models/m1/import"])
def test_upload_paths_get_the_bigger_limit(client, path):
    r = client.post(path, content=b"x" * (MAX_BODY * 3))
    assert r.status_code == 200 and r.json()["bytes"] == MAX_BODY * 3
    r = client.post(path, content=b"x" * MAX_UPLOAD)
    assert r.status_code == 200
    body = assert_problem(client.post(path, content=b"x" * (MAX_UPLOAD + 1)), 413, "body-too-large")
    assert str(MAX_UPLOAD) in body["detail"]


@pytest.mark.parametrize("path", ["/v1/echo", "/v1/corpora/extra", "/v1/models/a/b/import"])
def test_other_paths_keep_the_json_limit(client, path):
    """Upload patterns match the whole path: a longer path, or a name with a slash, is not an upload."""
    r = client.post(path, content=b"x" * (MAX_BODY + 1))
    body = assert_problem(r, 413, "body-too-large")
    assert str(MAX_BODY) in body["detail"]


def test_the_limit_is_per_request(client):
    for _ in range(3):
        assert client.post("/v1/echo", content=b"x" * MAX_BODY).status_code == 200


def test_non_http_scopes_pass_through_both_middlewares():
    seen = []

    async def raw(scope, receive, send):
        seen.append(scope["type"])
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    wrapped = RequestContextMiddleware(BodySizeLimitMiddleware(raw, MAX_BODY, MAX_UPLOAD), service=SERVICE)
    with TestClient(wrapped):
        pass
    assert seen == ["lifespan"]


# --------------------------------------------------------------------------- body timeout


def timed_app(timeout_s: float = 0.3, min_rate: int = 1000) -> FastAPI:
    """An app wired as the kit wires it: the body timeout inside the request context."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/echo")
    async def echo(request: Request):
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"bytes": size}

    @app.post("/busy")
    async def busy(request: Request):
        """Works 0.2 s between reads: the app's own time is not the client's."""
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            await asyncio.sleep(0.2)
        return {"bytes": size}

    app.add_middleware(BodyTimeoutMiddleware, timeout_s=timeout_s, min_rate=min_rate, prefix="MW_")
    app.add_middleware(RequestContextMiddleware, service=SERVICE)
    return app


def paced(n: int, size: int, pause: float, first_pause: float = 0.0):
    async def gen():
        await asyncio.sleep(first_pause)
        for _ in range(n):
            yield b"x" * size
            await asyncio.sleep(pause)

    return gen()


def timed_post(app: FastAPI, path: str, content) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    r = asgi_post(app, path, content)
    return r, time.perf_counter() - started


@pytest.mark.parametrize(
    ("what", "content"),
    [
        ("a drip of a byte every 50 ms", lambda: paced(200, 1, 0.05)),
        ("a body that stalls", lambda: paced(2, 100, 30.0)),
        ("a body that never starts", lambda: paced(1, 100, 0.0, first_pause=30.0)),
    ],
)
def test_a_body_that_keeps_the_app_waiting_is_a_408_that_closes(what, content, access_log):
    r, elapsed = timed_post(timed_app(), "/echo", content())
    body = assert_problem(r, 408, "request-timeout")
    assert elapsed < 1.5, (what, elapsed)
    assert r.headers["connection"] == "close"  # the rest of the body is never read
    assert "MW_BODY_TIMEOUT_S" in body["detail"] and "MW_BODY_MIN_RATE" in body["detail"]
    assert body["request_id"] == r.headers["x-request-id"]
    assert any(line["msg"] == "request body timed out" for line in access_log)


def test_a_body_at_an_ordinary_speed_earns_its_time():
    # 2 s of sending, far past the 0.3 s: each 10 kB earns 10 s at 1000 B/s
    r, elapsed = timed_post(timed_app(), "/echo", paced(100, 10_000, 0.02))
    assert r.status_code == 200 and r.json() == {"bytes": 1_000_000}, r.text
    assert elapsed > 1.5


def test_only_the_waits_for_the_body_count_not_the_apps_work():
    r, elapsed = timed_post(timed_app(), "/busy", paced(5, 10, 0.0))
    assert r.status_code == 200 and r.json() == {"bytes": 50}, r.text
    assert elapsed > 0.9  # five reads, 0.2 s of work after each: three times the timeout


def test_bodiless_requests_and_the_wait_for_a_disconnect_are_not_timed():
    app = timed_app(timeout_s=0.05)

    @app.get("/wait")
    async def wait(request: Request):
        await request.body()  # no body: complete at once
        await asyncio.sleep(0.2)
        return {"disconnected": await request.is_disconnected()}

    with TestClient(app) as client:
        r = client.get("/wait")
        assert r.status_code == 200 and r.json() == {"disconnected": False}
