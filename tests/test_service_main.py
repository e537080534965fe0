"""`python -m service <name>` starts a real uvicorn server that answers and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("service", ["embeddings", "attention"])
def test_python_m_service_starts_serves_and_stops_on_sigterm(service, tmp_path):
    port = free_port()
    env = {**os.environ, f"{service.upper()}_TRAIN_DEFAULT": "false", f"{service.upper()}_LOG_JSON": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", service, "--port", str(port), "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "server did not start in 60 s"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["service"] == service
        assert r.headers["x-request-id"]
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        missing = httpx.get(f"http://127.0.0.1:{port}/v1/models/nope", timeout=5)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert (tmp_path / service).is_dir()
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert time.monotonic() - start < 10
        # uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM is a clean stop.
        assert proc.returncode in (0, -signal.SIGTERM)
        logs = proc.stdout.read().decode()
        assert "Application shutdown complete" in logs
        assert '"level": "info"' in logs  # JSON log lines
        assert "color_message" not in logs and "\\u001b" not in logs  # no terminal colours in JSON
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _env_example_token(var: str) -> str:
    for line in (Path(__file__).resolve().parent.parent / ".env.example").read_text().splitlines():
        if line.startswith(var + "="):
            return line.partition("=")[2].strip()
    raise AssertionError(f".env.example lacks {var}")


@pytest.mark.parametrize(
    ("service", "token"),
    [
        ("embeddings", _env_example_token("EMBEDDINGS_API_TOKEN")),
        ("attention", _env_example_token("ATTENTION_API_TOKEN")),
        ("embeddings", "changethis"),
    ],
)
def test_python_m_service_refuses_a_placeholder_token(service, token, tmp_path):
    """The example tokens of .env.example (or FastAPI's "changethis") never guard a real service."""
    var = f"{service.upper()}_API_TOKEN"
    env = {**os.environ, var: token, f"{service.upper()}_TRAIN_DEFAULT": "false"}
    proc = subprocess.run(
        [sys.executable, "-m", "service", service, "--port", str(free_port()), "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr  # one plain line
    assert f"{var} is the placeholder" in lines[0] and "openssl rand -hex 32" in lines[0]
    assert not (tmp_path / service).exists()  # refused before anything was created
