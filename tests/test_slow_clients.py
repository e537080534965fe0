"""Slow clients against a real ``python -m service embeddings`` (uvicorn, on 127.0.0.1).

A client that connects and sends nothing, drips its headers or its body, or answers a response
with more body, is cut off by the timeouts (``*_HEADER_TIMEOUT_S``: a 408 problem when it had
begun a request, then the connection is closed; ``*_BODY_TIMEOUT_S`` with ``*_BODY_MIN_RATE``: a
408 problem with ``Connection: close``); past ``*_MAX_CONCURRENT_REQUESTS`` a request is a 503
problem. The drip test holds 20 connections dripping a byte a second (10 in their headers, 10 in
their bodies) for 30 s while a client sends ordinary ``/similar`` queries: their p99 stays within
3x (+ 50 ms) of the p99 measured without the drip, and every dripper is cut off by the timeouts.
Headers past 64 KiB are a 431 problem (httptools alone took 10 MB of them).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time

import httpx
import numpy as np
import pytest

from tests.helpers import Server

HEADER_TIMEOUT_S = 3
BODY_TIMEOUT_S = 5
DRIP_S = 30
DRIPPERS = 20
WORDS = [f"w{i}" for i in range(2000)]


def timed_env(**extra: str) -> dict[str, str]:
    return {
        "EMBEDDINGS_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "EMBEDDINGS_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "EMBEDDINGS_BODY_MIN_RATE": "1024",
        "EMBEDDINGS_LOG_LEVEL": "warning",
        **extra,
    }


def vectors_file() -> bytes:
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((len(WORDS), 32)).astype(np.float32)
    lines = [f"{len(WORDS)} 32"] + [
        w + " " + " ".join(f"{x:.4f}" for x in row) for w, row in zip(WORDS, rows)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server("embeddings", tmp_path_factory.mktemp("slow"), env=timed_env()) as srv:
        r = httpx.post(
            srv.url + "/v1/models/vec/import",
            content=vectors_file(),
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        assert r.status_code == 201, r.text
        yield srv


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(HEADER_TIMEOUT_S + BODY_TIMEOUT_S + 10)
    return s


def read_until_closed(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def problem(raw: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert headers["content-type"].startswith("application/problem+json"), raw
    return int(lines[0].split()[1]), headers, json.loads(body)


QUERY = b'{"positive": ["w1"], "topn": 5}'


def similar_request(body: bytes = QUERY, length: int | None = None) -> bytes:
    return (
        b"POST /v1/models/vec/similar HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body) if length is None else length}\r\n\r\n".encode()
        + body
    )


# --------------------------------------------------------------------------- each timeout alone


def test_a_connection_that_sends_nothing_is_closed_silently(server):
    s = connect(server.port)
    started = time.monotonic()
    assert read_until_closed(s) == b""  # no request begun: nothing to answer
    assert HEADER_TIMEOUT_S - 0.5 < time.monotonic() - started < HEADER_TIMEOUT_S + 3


def test_headers_that_never_complete_get_a_408_then_the_connection_closes(server):
    s = connect(server.port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line, ever
    started = time.monotonic()
    status, headers, body = problem(read_until_closed(s))
    assert HEADER_TIMEOUT_S - 0.5 < time.monotonic() - started < HEADER_TIMEOUT_S + 3
    assert status == 408 and headers["connection"] == "close"
    assert body["type"].endswith("/request-timeout") and f"within {HEADER_TIMEOUT_S} s" in body["detail"]
    assert "EMBEDDINGS_HEADER_TIMEOUT_S" in body["detail"]


def test_headers_past_64_kib_get_a_431_then_the_connection_closes(server):
    from service.kit.http_server import MAX_HEADER_BYTES

    s = connect(server.port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        for i in range(4 * MAX_HEADER_BYTES // 1000):  # headers of 256 KiB (httptools alone took 10 MB)
            s.sendall(f"X-Big-{i}: ".encode() + b"a" * 1000 + b"\r\n")
        s.sendall(b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while we were still sending: the 431 may be lost with it
    try:
        raw = read_until_closed(s)
    except ConnectionResetError:
        raw = b""
    assert raw == b"" or problem(raw)[0] == 431, raw[:200]
    assert httpx.get(server.url + "/healthz", headers={"X-Ok": "a" * 8000}, timeout=10).status_code == 200


def test_headers_just_past_the_bound_get_a_431_problem(server):
    from service.kit.http_server import MAX_HEADER_BYTES

    s = connect(server.port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * MAX_HEADER_BYTES + b"\r\n\r\n")
    status, headers, body = problem(read_until_closed(s))
    assert status == 431 and headers["connection"] == "close" and str(MAX_HEADER_BYTES) in body["detail"]


def test_the_next_request_on_a_kept_alive_connection_gets_the_same_bound(server):
    s = connect(server.port)
    s.sendall(similar_request())
    first = b""
    while b'"results"' not in first or not first.endswith(b"}"):
        first += s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    s.sendall(b"GET /hea")  # the next request starts, and stalls
    started = time.monotonic()
    status, _, _ = problem(read_until_closed(s))
    assert status == 408 and time.monotonic() - started < HEADER_TIMEOUT_S + 3


def test_a_body_that_never_comes_gets_a_408_that_closes(server):
    s = connect(server.port)
    s.sendall(similar_request(b'{"positive"', length=len(QUERY)))
    started = time.monotonic()
    status, headers, body = problem(read_until_closed(s))
    assert BODY_TIMEOUT_S - 0.5 < time.monotonic() - started < BODY_TIMEOUT_S + 3
    assert status == 408 and headers["connection"] == "close" and headers["x-request-id"]
    assert "EMBEDDINGS_BODY_TIMEOUT_S" in body["detail"]


def test_a_body_nobody_reads_cannot_keep_the_connection_by_dripping(server):
    """A 405 answers at once without reading the body; the client drips on: the connection is closed
    after the header timeout all the same."""
    s = connect(server.port)
    s.sendall(b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
    assert s.recv(65536).startswith(b"HTTP/1.1 405")
    started = time.monotonic()
    while time.monotonic() - started < HEADER_TIMEOUT_S + 5:
        try:
            s.sendall(b"x")
        except OSError:
            break
        if select.select([s], [], [], 0.5)[0] and s.recv(65536) == b"":
            break
    else:
        pytest.fail("a dripping body kept its connection")
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 3


def test_past_the_concurrency_limit_a_request_is_a_503_problem(tmp_path):
    with Server("embeddings", tmp_path, env=timed_env(EMBEDDINGS_HEADER_TIMEOUT_S="30",
                                                      EMBEDDINGS_MAX_CONCURRENT_REQUESTS="3")) as srv:  # fmt: skip
        held = [connect(srv.port) for _ in range(3)]  # three idle connections: the limit
        time.sleep(0.3)
        r = httpx.get(srv.url + "/healthz", timeout=10)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "MAX_CONCURRENT_REQUESTS" in r.json()["detail"]
        for s in held:
            s.close()
        time.sleep(0.3)
        assert httpx.get(srv.url + "/healthz", timeout=10).status_code == 200


# --------------------------------------------------------------------------- 20 drippers, 30 s


class Dripper(threading.Thread):
    """Keeps one connection dripping a byte a second (its headers, or a body it announced) until
    ``stop``; each time the server cuts it off, notes after how long and whether a 408 came, and
    connects again."""

    def __init__(self, port: int, kind: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.kind, self.stop = port, kind, stop
        self.cuts: list[tuple[float, bytes]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.drip_once()
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            self.error = exc

    def drip_once(self) -> None:
        if self.kind == "headers":
            opening, payload = b"", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: " + b"z" * 500
        else:
            opening, payload = similar_request(b"", length=100_000), b'{"positive": [' + b" " * 100_000
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        started = time.monotonic()
        try:
            if opening:
                s.sendall(opening)
            for byte in payload:
                if self.stop.is_set():
                    return
                s.sendall(bytes([byte]))
                if select.select([s], [], [], 1.0)[0]:  # the server spoke: an answer, or the close
                    answer = b""
                    while chunk := s.recv(65536):
                        answer += chunk
                    self.cuts.append((time.monotonic() - started, answer))
                    return
        except (BrokenPipeError, ConnectionResetError):
            self.cuts.append((time.monotonic() - started, b""))
        finally:
            s.close()


def query_latencies(url: str, seconds: float) -> list[float]:
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            r = client.post(
                "/v1/models/vec/similar", content=QUERY, headers={"Content-Type": "application/json"}
            )
            out.append(time.perf_counter() - started)
            assert r.status_code == 200 and len(r.json()["results"]) == 5, r.text
    return out


def p99(samples: list[float]) -> float:
    return float(np.percentile(samples, 99))


def test_drippers_are_cut_off_and_queries_keep_their_p99(server):
    query_latencies(server.url, 2)  # warm up
    before = query_latencies(server.url, 8)
    stop = threading.Event()
    drippers = [Dripper(server.port, "headers" if i % 2 else "body", stop) for i in range(DRIPPERS)]
    for d in drippers:
        d.start()
    try:
        during = query_latencies(server.url, DRIP_S)
    finally:
        stop.set()
        for d in drippers:
            d.join(10)
    base, drip = p99(before), p99(during)
    cuts = {kind: [c for d in drippers if d.kind == kind for c in d.cuts] for kind in ("headers", "body")}
    print(
        f"\n/similar p99 without the drip {base * 1000:.1f} ms ({len(before)} queries), with {DRIPPERS} "
        f"drippers {drip * 1000:.1f} ms ({len(during)} queries); cut off: {len(cuts['headers'])} header "
        f"drips after {np.median([t for t, _ in cuts['headers']]):.1f} s, {len(cuts['body'])} body drips "
        f"after {np.median([t for t, _ in cuts['body']]):.1f} s (medians)"
    )
    assert not [d.error for d in drippers if d.error], [d.error for d in drippers if d.error]
    assert drip <= 3 * base + 0.050, (base, drip)
    for d in drippers:  # every one of them was cut off, again and again, each time by the timeout
        assert len(d.cuts) >= DRIP_S // (BODY_TIMEOUT_S + 3), (d.kind, d.cuts)
    for kind, timeout in (("headers", HEADER_TIMEOUT_S), ("body", BODY_TIMEOUT_S)):
        for elapsed, answer in cuts[kind]:  # a 408 then the close (b"": the close reset the 408 away)
            assert timeout - 0.5 < elapsed < timeout + 2, (kind, elapsed)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), (kind, answer[:80])
        answered = sum(answer.startswith(b"HTTP/1.1 408") for _, answer in cuts[kind])
        assert answered >= 0.8 * len(cuts[kind]), (kind, answered, len(cuts[kind]))
