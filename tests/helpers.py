"""Assertions and waits shared by the API tests (plain functions; the fixtures are in conftest.py).

>>> from tests.helpers import assert_problem, wait_for_job, wait_job, wait_ready
"""

from __future__ import annotations

import re
import time
from typing import Any

from service.kit.job_record import ACTIVE

PROBLEM = "application/problem+json"
PROBLEM_BASE = "/problems/"
#: A problem's ``type``: ``about:blank``, or ``/problems/<slug>`` under the service's path prefix if any.
PROBLEM_TYPE = re.compile(r"(?:/[A-Za-z0-9._~-]+)*/problems/([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def assert_problem(resp, status: int, type_: str | None = None) -> dict:
    """``resp`` is an RFC 9457 problem with this status (and type slug ``type_``); returns its body.

    Checks the status code, the ``application/problem+json`` media type and the RFC's members:
    ``type`` (``about:blank`` or ``[<prefix>]/problems/<slug>``, a URI reference the service
    answers), ``title`` and ``status`` always; ``detail`` and ``instance`` strings when present.
    """
    assert resp.status_code == status, resp.text
    content_type = resp.headers.get("content-type", "")
    assert content_type.startswith(PROBLEM), f"content-type {content_type!r}: {resp.text}"
    body = resp.json()
    assert isinstance(body, dict), body
    assert body.get("status") == status, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("type"), str) and body["type"], body
    assert body["type"] == "about:blank" or PROBLEM_TYPE.fullmatch(body["type"]), body
    for member in ("detail", "instance"):
        if member in body:
            assert isinstance(body[member], str), body
    if type_:
        assert body["type"].endswith(PROBLEM_BASE + type_), body
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


def wait_for_job(manager, job_id: str, timeout: float = 60.0):
    """Block until the job ``job_id`` of a :class:`~service.kit.job_manager.JobManager` has ended;
    returns its record (a :class:`TimeoutError` when it is still queued or running after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = manager.get(job_id)
        if rec.status not in ACTIVE:
            return rec
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} still {manager.get(job_id).status} after {timeout}s")


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


def train(client, body: dict, *, ok: bool = True) -> dict:
    """``POST /v1/models`` with ``body`` (a training request of either service), check its 202 and
    ``Location``, and wait for the job; returns its last record (which must have succeeded, when ``ok``)."""
    r = client.post("/v1/models", json=body)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["location"]
    job = wait_job(client, r.json()["job_id"])
    if ok:
        assert job["status"] == "succeeded", job
    return job


# --------------------------------------------------------------------------- real server processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m service <service>`` as a real uvicorn process on 127.0.0.1 (a context manager).

    >>> with Server("embeddings", data_dir) as srv:  # doctest: +SKIP
    ...     httpx.get(srv.url + "/healthz")
    """

    def __init__(
        self,
        service: str,
        data_dir,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        log=None,
    ) -> None:
        """``log``: a file the server's output (JSON log lines) is written to (else discarded)."""
        self.service, self.data_dir, self.workers, self.log = service, data_dir, workers, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        prefix = service.upper() + "_"
        self.env = {prefix + "TRAIN_DEFAULT": "false", prefix + "LOG_JSON": "true", **(env or {})}
        self.proc = None

    def __enter__(self) -> Server:
        import os
        import subprocess
        import sys

        import httpx

        cmd = [sys.executable, "-m", "service", self.service, "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir), "--workers", str(self.workers)]
        out = open(self.log, "ab") if self.log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                cmd, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT
            )
        finally:
            if self.log is not None:
                out.close()
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.service} server exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.service} server not ready in 90 s")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the server (and, with --workers, its worker processes: the whole group)."""
        import signal

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except Exception:
                self.proc.kill()
                self.proc.wait(10)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tiny_seq2seq(tokenization: str = "char", max_src_len: int = 64):
    """An untrained tiny encoder-decoder over sources ``abc`` and targets ``xyz`` (seeded)."""
    import torch

    from models.seq2seq.model import Seq2Seq, Seq2SeqConfig
    from models.vocab import Vocabulary

    torch.manual_seed(0)
    cfg = Seq2SeqConfig(emb_dim=4, hidden=6, tokenization=tokenization, max_src_len=max_src_len)
    return Seq2Seq(cfg, Vocabulary(list("abc")), Vocabulary(list("xyz")))


def assert_violation(exc, loc: list, type_: str, *, problem_type: str = "validation-error") -> dict:
    """``exc`` is a 422 of type ``problem_type`` whose single ``errors`` item is at ``loc`` of ``type_``."""
    from service.kit.problems import problem_status

    assert problem_status(exc)[0] == 422
    assert exc.code == problem_type
    assert exc.errors and len(exc.errors) == 1, exc.errors
    [error] = exc.errors
    assert error["loc"] == loc and error["type"] == type_ and error["msg"]
    return error


class PeakRss:
    """The peak resident memory of a process and its children, sampled every ``period_s`` by a thread
    (Linux ``/proc``), as a context manager: ``with PeakRss(pid) as rss: ...; rss.peak_delta``.

    ``start`` is the tree's RSS when entered, ``peak`` the largest seen, ``peak_delta`` their
    difference (bytes).
    """

    def __init__(self, pid: int, period_s: float = 0.02) -> None:
        self.pid, self.period_s = pid, period_s
        self.start = self.peak = 0
        self._stop = None
        self._thread = None

    def tree_rss(self) -> int:
        import os

        pids, total = [self.pid], 0
        while pids:
            pid = pids.pop()
            try:
                with open(f"/proc/{pid}/status", encoding="ascii") as fh:
                    total += next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                        pids += [int(c) for c in fh.read().split()]
            except (OSError, StopIteration):
                continue
        return total

    def __enter__(self) -> PeakRss:
        import threading

        self.start = self.peak = self.tree_rss()
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(self.period_s):
                self.peak = max(self.peak, self.tree_rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, self.tree_rss())

    @property
    def peak_delta(self) -> int:
        return self.peak - self.start
