"""Both services on a real local Ray cluster with Ray Serve (service/kit/serve.py, deploy/serve/serve.yaml).

One cluster for the module (``ray.init`` starts a real GCS, raylet and worker processes), with Ray's
token authentication on (``RAY_AUTH_MODE=token``, the token in a tmp file named by
``RAY_AUTH_TOKEN_PATH``, as `make serve` and KubeRay's ``authOptions`` do); the two applications
come from the Serve config file, two query replicas and one writer each, on a tmp data directory.
Checked over real HTTP through Serve's proxy: answers equal the plain app's, a model trained
through the writer is served by every replica, and a replica killed with SIGKILL during a stream of
requests loses no accepted write while Serve brings it back. And the control plane refuses a caller
without the token: the GCS (what ``ray.init(address=...)`` asks first), a node's job agent (a job
submission) and a replica's gRPC server.
"""

from __future__ import annotations

import importlib
import os
import secrets
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers import attention_app, embeddings_app, free_port, wait_job

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "serve" / "serve.yaml"

SENTENCES = [
    s.split() for s in ["the king rules the land", "the queen rules the land", "a man walks a dog"] * 30
]
EMB_BODY = {
    "name": "tiny",
    "sentences": SENTENCES,
    "params": {"min_count": 1, "epochs": 5, "vector_size": 16},
}
ATT_BODY = {
    "name": "rev",
    "task": {"name": "reversal", "n_train": 300, "n_dev": 20, "n_test": 20},
    "config": {"hidden": 16, "emb_dim": 8},
    "params": {"epochs": 2},
}
QUERIES = {
    "embeddings": [
        ("/v1/models/tiny/similar", {"positive": ["king"], "topn": 3}),
        ("/v1/models/tiny/similarity", {"pairs": [["king", "queen"], ["man", "dog"]]}),
        ("/v1/models/tiny/analogy", {"a": "king", "b": "queen", "c": "man", "topn": 2}),
    ],
    "attention": [
        ("/v1/models/rev/translate", {"inputs": ["abcde", "xyz"]}),
        ("/v1/models/rev/translate", {"inputs": ["hello"], "decode": "beam", "beam_size": 3}),
        ("/v1/models/rev/align", {"pairs": [["abc", "cba"]]}),
    ],
}


def _builder(import_path: str):
    module, _, attr = import_path.partition(":")
    return getattr(importlib.import_module(module), attr)


@pytest.fixture(scope="module")
def ray_token(tmp_path_factory):
    """Token authentication for the module's cluster: ``RAY_AUTH_MODE=token`` and the token in a
    file (mode 600) named by ``RAY_AUTH_TOKEN_PATH``, set before ``ray.init`` starts the cluster (its
    processes inherit them); restored afterwards (``ray.init`` would otherwise write a token to
    ``~/.ray/auth_token``). Returns the token."""
    from ray._private.authentication_test_utils import reset_auth_token_state

    path = tmp_path_factory.mktemp("ray-auth") / "token"
    token = secrets.token_hex(32)
    path.write_text(token)
    path.chmod(0o600)
    with pytest.MonkeyPatch.context() as env:
        env.delenv("RAY_AUTH_TOKEN", raising=False)
        env.setenv("RAY_AUTH_MODE", "token")
        env.setenv("RAY_AUTH_TOKEN_PATH", str(path))
        reset_auth_token_state()  # Ray's C++ config and token cache read the environment again
        yield token
    reset_auth_token_state()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, ray_token):
    """``(base_urls, data_dir)``: both applications of deploy/serve/serve.yaml running on a local
    Ray cluster with token authentication (logical CPUs 8 on this 2-core machine: 6 one-CPU
    replicas must fit)."""
    data = tmp_path_factory.mktemp("serve") / "data"
    # address="local": a new cluster, even where a `ray start` left /tmp/ray/ray_current_cluster behind
    ray.init(
        address="local", num_cpus=8, include_dashboard=False, log_to_driver=False, logging_level="warning"
    )
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    bases = {}
    try:
        for app in yaml.safe_load(CONFIG.read_text())["applications"]:
            args = app["args"]
            settings = {**args["settings"], "data_dir": str(data), "train_default": False}
            serve.run(
                _builder(app["import_path"])({**args, "settings": settings}),
                name=app["name"],
                route_prefix=app["route_prefix"],
            )
            bases[args["service"]] = f"http://127.0.0.1:{port}{app['route_prefix']}"
        yield bases, data
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def trained(cluster):
    """Train one model per service through the Serve proxy (the writer runs the jobs)."""
    bases, _ = cluster
    for service, body in (("embeddings", EMB_BODY), ("attention", ATT_BODY)):
        with httpx.Client(base_url=bases[service], timeout=60) as c:
            r = c.post("/v1/models", json=body)
            assert r.status_code == 202, r.text
            job = wait_job(c, r.json()["job_id"], timeout=180)
            assert job["status"] == "succeeded", job
    return cluster


def replicas(app: str, deployment: str = "query") -> dict[str, int]:
    """``{replica id: pid}`` of the live replicas of ``app``'s ``deployment``."""
    out = {}
    for actor in ray.util.list_named_actors(all_namespaces=True):
        name = actor["name"]
        if name.startswith(f"SERVE_REPLICA::{app}#{deployment}#"):
            handle = ray.get_actor(name, namespace=actor["namespace"])
            try:
                out[name.rsplit("#", 1)[1]] = ray.get(
                    handle.__ray_call__.remote(lambda self: os.getpid()), timeout=10
                )
            except ray.exceptions.RayError:  # dying
                continue
    return out


def test_ready_and_the_roles_split(cluster):
    bases, _ = cluster
    for service, base in bases.items():
        r = httpx.get(f"{base}/readyz", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["checks"]["role"] == "query"
        assert r.headers["x-serve-replica"]
        assert len(replicas(service)) == 2 and len(replicas(service, "writer")) == 1


def _grpc_status(target: str, method: str, token: str | None):
    """The status of one unary call of ``method`` (an empty request) at ``target``."""
    import grpc

    metadata = [("authorization", f"Bearer {token}")] if token is not None else None
    with grpc.insecure_channel(target) as channel:
        try:
            channel.unary_unary(method)(b"", timeout=10, metadata=metadata)
        except grpc.RpcError as e:
            return e.code()
    return grpc.StatusCode.OK


def test_the_control_plane_wants_the_token(cluster, ray_token):
    """Without the token (or with a wrong one) the cluster answers nothing but "unauthenticated";
    the driver of this module (``ray.init``, which read the token) and the replicas work."""
    import grpc
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    assert is_token_auth_enabled()
    # the GCS: `ray.init(address=...)` first asks it for the cluster id
    gcs = ray.get_runtime_context().gcs_address
    get_cluster_id = "/ray.rpc.NodeInfoGcsService/GetClusterId"
    assert _grpc_status(gcs, get_cluster_id, None) == grpc.StatusCode.UNAUTHENTICATED
    assert _grpc_status(gcs, get_cluster_id, "not-the-token") == grpc.StatusCode.UNAUTHENTICATED
    assert _grpc_status(gcs, get_cluster_id, ray_token) == grpc.StatusCode.OK
    # the node's dashboard agent: a job submission (a ShadowRay-style entry point) is refused
    node = ray._private.worker.global_worker.node
    agent = f"http://{node.node_ip_address}:{node.dashboard_agent_listen_port}"
    assert httpx.post(f"{agent}/api/job_agent/jobs/", json={}, timeout=10).status_code == 401
    bad = {"Authorization": "Bearer not-the-token"}
    assert httpx.post(f"{agent}/api/job_agent/jobs/", json={}, headers=bad, timeout=10).status_code == 403
    # a replica's inter-deployment gRPC server (Ray binds it to [::], every interface)
    ports = [
        ray.get(ray.get_actor(a["name"], namespace=a["namespace"]).__ray_call__.remote(
            lambda self: self._replica_impl._internal_grpc_port))
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["name"].startswith("SERVE_REPLICA::embeddings#query#")
    ]  # fmt: skip
    assert ports
    for port in ports:
        status = _grpc_status(f"127.0.0.1:{port}", "/ray.serve.ASGIService/HandleRequest", None)
        assert status == grpc.StatusCode.UNAUTHENTICATED


def test_answers_equal_the_plain_apps(trained):
    bases, data = trained
    for service, make in (("embeddings", embeddings_app), ("attention", attention_app)):
        with httpx.Client(base_url=bases[service], timeout=60) as ray_client:
            from fastapi.testclient import TestClient

            with TestClient(make(data, role="query")) as plain:
                for path, body in QUERIES[service]:
                    got, want = ray_client.post(path, json=body), plain.post(path, json=body)
                    assert got.status_code == want.status_code == 200, (path, got.text, want.text)
                    assert got.json() == want.json(), path
                # the same models and versions ("loaded" is each process's own)
                assert _listing(ray_client) == _listing(plain)


def _listing(client):
    return [{k: v for k, v in m.items() if k != "loaded"} for m in client.get("/v1/models").json()["models"]]


def test_every_replica_serves_the_model_the_writer_trained(trained):
    bases, _ = trained
    for service, base in bases.items():
        path, body = QUERIES[service][0]
        seen, answers = set(), set()
        with httpx.Client(base_url=base, timeout=60) as c:
            for _ in range(60):
                r = c.post(path, json=body)
                assert r.status_code == 200, r.text
                seen.add(r.headers["x-serve-replica"])
                answers.add(r.text)
                if len(seen) == 2 and _ > 10:
                    break
        assert seen == set(replicas(service)), (service, seen)
        assert len(answers) == 1, answers


def _query_stream(base, path, body, stop, stats):
    """Send ``body`` to ``path`` until ``stop``; a failed attempt is retried (queries are safe to
    repeat) up to 5 times. ``stats``: attempts, first-try failures, failures after retries, replicas."""
    with httpx.Client(base_url=base, timeout=30) as c:
        while not stop.is_set():
            for attempt in range(6):
                stats["attempts"] += 1
                try:
                    r = c.post(path, json=body)
                    ok = r.status_code == 200
                except httpx.TransportError:
                    ok = False
                if ok:
                    stats["replicas"].append((time.monotonic(), r.headers.get("x-serve-replica")))
                    break
                stats["failed_attempts"] += 1
                if attempt == 0:
                    stats["first_try_failures"] += 1
                time.sleep(0.2 * (attempt + 1))
            else:
                stats["failures"] += 1
            stats["requests"] += 1


def test_a_killed_query_replica_comes_back_and_loses_no_accepted_write(trained):
    bases, _ = trained
    base = bases["embeddings"]
    before = replicas("embeddings")
    assert len(before) == 2
    stop = threading.Event()
    stats = {
        "attempts": 0,
        "failed_attempts": 0,
        "first_try_failures": 0,
        "failures": 0,
        "requests": 0,
        "replicas": [],
    }
    path, body = QUERIES["embeddings"][0]
    streams = [
        threading.Thread(target=_query_stream, args=(base, path, body, stop, stats), daemon=True)
        for _ in range(4)  # four clients: requests are in flight on the replica when it dies
    ]
    for stream in streams:
        stream.start()
    try:
        time.sleep(1.0)
        # a write accepted while the replica dies: it must still be done
        with httpx.Client(base_url=base, timeout=60) as c:
            r = c.post(
                "/v1/models",
                json={**EMB_BODY, "overwrite": True, "params": {**EMB_BODY["params"], "seed": 3}},
            )
            assert r.status_code == 202, r.text
            job_id = r.json()["job_id"]
            victim, pid = sorted(before.items())[0]
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            # Serve replaces the replica: two live ones again, one of them new
            deadline = time.monotonic() + 120
            while True:
                now = replicas("embeddings")
                if len(now) == 2 and victim not in now:
                    break
                assert time.monotonic() < deadline, now
                time.sleep(0.5)
            back_after = time.monotonic() - killed_at
            new = (set(now) - set(before)).pop()
            deadline = time.monotonic() + 60
            while not any(rid == new for _, rid in stats["replicas"]):
                assert time.monotonic() < deadline, "the new replica never answered"
                time.sleep(0.2)
            answering_after = min(t for t, rid in stats["replicas"] if rid == new) - killed_at
            job = wait_job(c, job_id, timeout=120)
            assert job["status"] == "succeeded", job
            assert c.get("/v1/models/tiny").json()["version"] >= 2
    finally:
        stop.set()
        for stream in streams:
            stream.join(timeout=60)
    print(
        f"\nreplica killed: replaced after {back_after:.1f} s, the new one answering after "
        f"{answering_after:.1f} s; {stats['requests']} requests, "
        f"{stats['first_try_failures']} failed at the first try, {stats['failures']} after retries"
    )
    assert stats["failures"] == 0, stats
    assert not any(rid == victim for t, rid in stats["replicas"] if t > killed_at + 1.0)
