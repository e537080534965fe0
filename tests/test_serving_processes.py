"""Several real server processes over one data directory: every process sees every job and every
new version, exactly one runs the jobs, and a killed runner is replaced by another process.

Real ``python -m service`` processes (uvicorn) on 127.0.0.1; two single-worker servers on one
data directory are what ``--workers 2`` (or two replicas sharing a volume) are, with the
difference that a test can choose which one it asks.
"""

from __future__ import annotations

import time

import httpx
import pytest
from gensim.test.utils import datapath

from tests.helpers import Server

QUICK = {"vector_size": 16, "min_count": 2, "epochs": 2, "workers": 1, "seed": 3}
SLOW = {"vector_size": 100, "min_count": 1, "epochs": 100, "workers": 1, "seed": 3}


def lee() -> bytes:
    with open(datapath("lee_background.cor"), "rb") as f:
        return f.read()


def wait_status(url: str, job_id: str, statuses: tuple[str, ...], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def train(url: str, name: str, params: dict) -> str:
    r = httpx.post(f"{url}/v1/models", json={"name": name, "corpus_id": "lee", "params": params}, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def test_two_processes_share_jobs_and_versions_and_a_killed_runner_is_replaced(tmp_path):
    data = tmp_path / "data"
    with Server("embeddings", data) as a, Server("embeddings", data) as b:
        assert httpx.post(f"{b.url}/v1/corpora?name=lee", content=lee(), timeout=60).status_code == 201
        assert httpx.get(f"{a.url}/v1/corpora/lee", timeout=10).status_code == 200  # an upload, seen by both

        job = train(b.url, "quick", QUICK)  # asked of the stand-by, run by the runner
        done = wait_status(a.url, job, ("succeeded", "failed"))
        assert done["status"] == "succeeded", done
        assert wait_status(b.url, job, ("succeeded",))["result"] == done["result"]
        lists = [httpx.get(f"{s.url}/v1/jobs", timeout=10).json() for s in (a, b)]
        assert lists[0] == lists[1] and [j["id"] for j in lists[0]["jobs"]] == [job]
        answers = [
            httpx.post(f"{s.url}/v1/models/quick/similar", json={"positive": ["the"], "topn": 5}, timeout=10)
            for s in (a, b)
        ]
        assert [r.status_code for r in answers] == [200, 200] and answers[0].json() == answers[1].json()

        # a new version, written by a job, is what both serve at once
        r = httpx.post(
            f"{b.url}/v1/models", json={"name": "quick", "corpus_id": "lee", "params": {**QUICK, "seed": 4},
                                        "overwrite": True}, timeout=30,
        )  # fmt: skip
        assert r.status_code == 202, r.text
        assert wait_status(b.url, r.json()["job_id"], ("succeeded",))["status"] == "succeeded"
        assert [httpx.get(f"{s.url}/v1/models/quick", timeout=10).json()["version"] for s in (a, b)] == [2, 2]

        # one job per model, whichever process is asked; a cancel sent to the stand-by stops the runner's job
        slow = train(a.url, "slow", SLOW)
        wait_status(b.url, slow, ("running",))
        again = httpx.post(f"{b.url}/v1/models", json={"name": "slow", "corpus_id": "lee", "overwrite": True})
        assert again.status_code == 409 and again.json()["job_id"] == slow
        cancelled = httpx.delete(f"{b.url}/v1/jobs/{slow}", timeout=30)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text

        # the runner dies mid-job: the other process marks the job interrupted and runs the next one
        slow2 = train(b.url, "slow2", SLOW)
        wait_status(b.url, slow2, ("running",))
        a.kill()
        interrupted = wait_status(b.url, slow2, ("failed",), timeout=30)
        assert "interrupted" in interrupted["error"]
        after = train(b.url, "after", QUICK)
        assert wait_status(b.url, after, ("succeeded", "failed"))["status"] == "succeeded"
        assert httpx.get(f"{b.url}/readyz", timeout=10).status_code == 200


@pytest.mark.parametrize("service", ["embeddings"])
def test_workers_answer_one_job_list(service, tmp_path):
    with Server(service, tmp_path / "data", workers=2) as srv:
        assert httpx.post(f"{srv.url}/v1/corpora?name=lee", content=lee(), timeout=60).status_code == 201
        jobs = [train(srv.url, f"m{i}", QUICK) for i in range(2)]
        for job in jobs:
            wait_status(srv.url, job, ("succeeded",))
        # a new connection each time: the kernel spreads them over the two worker processes
        seen = {
            tuple(j["id"] for j in httpx.get(f"{srv.url}/v1/jobs", timeout=10).json()["jobs"])
            for _ in range(20)
        }
        assert seen == {tuple(reversed(jobs))}
        for _ in range(10):
            for i in range(2):
                r = httpx.post(f"{srv.url}/v1/models/m{i}/similar", json={"positive": ["the"]}, timeout=10)
                assert r.status_code == 200, r.text
