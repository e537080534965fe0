"""Assertions and waits shared by the API tests (plain functions; the fixtures are in conftest.py).

>>> from tests.helpers import assert_problem, wait_job, wait_ready
"""

from __future__ import annotations

import time
from typing import Any

PROBLEM = "application/problem+json"
PROBLEM_BASE = "https://embattn.dev/problems/"
ACTIVE = ("queued", "running")


def assert_problem(resp, status: int, type_: str | None = None) -> dict:
    """``resp`` is an RFC 9457 problem with this status (and type slug ``type_``); returns its body.

    Checks the status code, the ``application/problem+json`` media type and the RFC's members:
    ``type`` (a URI reference), ``title`` and ``status`` always; ``detail`` and
    ``instance`` strings when present.
    """
    assert resp.status_code == status, resp.text
    content_type = resp.headers.get("content-type", "")
    assert content_type.startswith(PROBLEM), f"content-type {content_type!r}: {resp.text}"
    body = resp.json()
    assert isinstance(body, dict), body
    assert body.get("status") == status, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("type"), str) and body["type"], body
    for member in ("detail", "instance"):
        if member in body:
            assert isinstance(body[member], str), body
    if type_:
        assert body["type"].endswith("/" + type_), body
    return body


def _get_json(client, url: str) -> tuple[int, Any]:
    r = client.get(url)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text


def wait_job(client, job_id: str, timeout: float = 120.0, *, loaded: bool = True) -> dict:
    """Poll ``GET /v1/jobs/{job_id}`` until the job has ended; returns its last record.

    When it succeeded and names a model (and ``loaded``), also waits (within the same ``timeout``,
    at most 10 s more) until ``GET /v1/models/{model}`` says the model is loaded, so the caller can
    query it at once. ``client`` is any client with ``get(url)`` (TestClient, httpx, requests).
    """
    deadline = time.monotonic() + timeout
    while True:
        status, job = _get_json(client, f"/v1/jobs/{job_id}")
        assert status == 200, f"GET /v1/jobs/{job_id}: {status} {job}"
        if job["status"] not in ACTIVE:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not finish in {timeout}s: {job}")
        time.sleep(0.05)
    if loaded and job["status"] == "succeeded" and job.get("model"):
        until = min(deadline, time.monotonic() + 10)
        while time.monotonic() < until:
            status, info = _get_json(client, f"/v1/models/{job['model']}")
            if status == 200 and isinstance(info, dict) and info.get("loaded", True):
                break
            time.sleep(0.02)
    return job


def wait_ready(client, timeout: float = 60.0) -> dict:
    """Poll ``GET /readyz`` until it answers 200; returns its body (an AssertionError naming the checks)."""
    deadline = time.monotonic() + timeout
    status, body = _get_json(client, "/readyz")
    while status != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout}s: {status} {body}")
        time.sleep(0.1)
        status, body = _get_json(client, "/readyz")
    return body


# --------------------------------------------------------------------------- the services' apps


def embeddings_app(data_dir, **overrides):
    """The embeddings service's real app on ``data_dir`` (``train_default`` off unless overridden)."""
    from service.embeddings.app import create_app
    from service.embeddings.settings import Settings

    return create_app(Settings(data_dir=data_dir, **{"train_default": False, **overrides}))


def attention_app(data_dir, **overrides):
    """The attention service's real app on ``data_dir`` (``train_default`` off unless overridden)."""
    from service.attention.app import create_app
    from service.attention.settings import Settings

    return create_app(Settings(data_dir=data_dir, **{"train_default": False, **overrides}))


def embeddings_client(data_dir, **overrides):
    """A TestClient (not yet entered: use ``with``) on :func:`embeddings_app`."""
    from fastapi.testclient import TestClient

    return TestClient(embeddings_app(data_dir, **overrides))


def attention_client(data_dir, **overrides):
    """A TestClient (not yet entered: use ``with``) on :func:`attention_app`."""
    from fastapi.testclient import TestClient

    return TestClient(attention_app(data_dir, **overrides))
