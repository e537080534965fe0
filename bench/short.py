"""What the benchmarks' ``--short`` forms share.

Every script that ``make bench`` runs (``bench/run_all.py``) takes ``--short``: tiny sizes, seconds
instead of minutes, the same code path and the same printed table (its figures mean nothing). The
suite runs every short form (tests/test_bench_short.py), so a benchmark whose assumptions about the
services went stale fails ``make test`` instead of ``make bench`` months later.

The attention benchmarks wait for the default ``dates`` model, which the service trains at its first
start (the default recipe: ~15 s alone on a core, a minute on a busy machine). Their short forms
start the service without it and train a small ``dates`` model through ``POST /v1/models`` instead
(:data:`TINY_DATES`), a second or two: the same job, the same model name, the same routes after.
"""

from __future__ import annotations

import time

import httpx

#: The help text of every script's ``--short`` flag.
HELP = "tiny sizes, seconds not minutes: the same code path and table (what the suite runs)"

#: A small ``dates`` model (the short forms' stand-in for the default recipe's, same name and task).
TINY_DATES = {
    "name": "dates",
    "task": {"name": "dates", "n_train": 600, "n_dev": 50, "n_test": 100, "seed": 0},
    "config": {"emb_dim": 16, "hidden": 32},
    "params": {"epochs": 1, "batch_size": 64, "seed": 0},
}


def wait_job(url: str, job_id: str, timeout: float = 300) -> dict:
    """Poll ``{url}/v1/jobs/{job_id}`` until it ends; its last record (a RuntimeError unless it succeeded)."""
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30).json()
        if job["status"] not in ("queued", "running"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.1)
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
    return job


def wait_loaded(url: str, name: str, timeout: float = 60) -> None:
    """Until ``GET {url}/v1/models/{name}`` says the model is served (a job's model is loaded just after)."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{url}/v1/models/{name}", timeout=30)
        if r.status_code == 200 and r.json().get("loaded", True):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"model {name} not served {timeout} s after its job: {r.status_code} {r.text}")
        time.sleep(0.1)


def train_tiny_dates(url: str, timeout: float = 300, *, loaded: bool = True) -> dict:
    """Train :data:`TINY_DATES` on the attention service at ``url``; the job's record once it is served
    (with ``loaded``; a Ray Serve query replica loads a model at its first request, not before)."""
    r = httpx.post(f"{url}/v1/models", json=TINY_DATES, timeout=60)
    if r.status_code != 202:
        raise RuntimeError(f"POST /v1/models: {r.status_code} {r.text}")
    job = wait_job(url, r.json()["job_id"], timeout)
    if loaded:
        wait_loaded(url, "dates")
    return job
