"""The image and the compose stack with a real engine (Podman + podman-compose): `make container-test`.

Builds the image (torch from the local CPU wheel when pip can find one, else from the CPU index),
brings docker-compose.yml up under a unique project name on free loopback ports with test tokens,
waits for both services' /healthz and /readyz, then makes real calls: a similarity query on the
embeddings service's `default`, a translation with attention on `dates`, a word-level attention
model whose source embeddings come from the embeddings service (by service name), 401/403 without
or with a wrong token, a stop that takes well under the grace period, and a restart (down without
-v, up) that keeps the models. Then the `scaled` profile: replicas behind nginx answer queries, writes reach the primary.
Everything the test started is removed in a finally, whatever happens.

The engine: `../shared/tools/container-env.sh` is sourced when it exists (idempotent; it sets up
Podman on these machines); otherwise podman must be on PATH. With no engine at all the tests are
SKIPPED, saying so. Measured on 2 cores: 1 min 46 s from an empty image cache, about 1 min with
the dependency layer cached (timings on stderr; `pytest -s` shows them); see the README.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONTAINER_ENV = ROOT.parent / "shared" / "tools" / "container-env.sh"
IMAGE = "localhost/embattn:container-test"
PROXY_IMAGE = "localhost/embattn-proxy:container-test"
TOKENS = {
    "EMBEDDINGS_API_TOKEN": "ct-embeddings-" + uuid.uuid4().hex,
    "ATTENTION_API_TOKEN": "ct-attention-" + uuid.uuid4().hex,
}
TIMINGS: dict[str, float] = {}


def log(msg: str) -> None:
    print(f"[container-test {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ engine


def engine_env() -> dict[str, str]:
    """The environment to run podman in; skip (saying why) where no engine can run."""
    env = dict(os.environ)
    if CONTAINER_ENV.is_file() and shutil.which("bash"):
        proc = subprocess.run(
            ["bash", "-c", f"source {shlex.quote(str(CONTAINER_ENV))} >&2 && env -0"],
            capture_output=True,
            timeout=900,
        )
        if proc.returncode == 0:
            env = dict(item.split("=", 1) for item in proc.stdout.decode().split("\0") if "=" in item)
        else:
            log(f"{CONTAINER_ENV} failed: {proc.stderr.decode()[-2000:]}")
    if not shutil.which("podman", path=env.get("PATH")):
        why = "could not set it up" if CONTAINER_ENV.is_file() else "does not exist"
        pytest.skip(
            f"SKIPPED: no container engine: podman is not installed and {CONTAINER_ENV} {why}; "
            "the image and compose stack were NOT tested"
        )
    if not (BIN / "podman-compose").exists() and not shutil.which("podman-compose", path=env.get("PATH")):
        pytest.skip(
            "SKIPPED: podman-compose is missing (pip install -e '.[dev]'); the compose stack was NOT tested"
        )
    info = subprocess.run(["podman", "info"], capture_output=True, text=True, env=env, timeout=120)
    if info.returncode != 0:
        pytest.skip(f"SKIPPED: podman cannot run here ({info.stderr.strip()[-500:]}); NOT tested")
    return env


def run(
    cmd: list[str], env: dict[str, str], timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{shlex.join(cmd)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------ HTTP


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an HTTP proxy


def http(
    method: str, url: str, body: object = None, token: str | None = None, timeout: float = 60
) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with _opener.open(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_until(what: str, check, timeout: float, stack: Stack | None = None) -> None:
    t0 = time.monotonic()
    last: object = None
    while time.monotonic() - t0 < timeout:
        try:
            ok, last = check()
            if ok:
                TIMINGS[what] = round(time.monotonic() - t0, 1)
                log(f"{what}: {TIMINGS[what]} s")
                return
        except (OSError, ValueError) as exc:  # not listening yet, connection reset while starting
            last = exc
        if stack is not None:
            stack.assert_running()
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout} s; last: {last}\n{stack.logs() if stack else ''}")


# ------------------------------------------------------------------------------------------ the stack


class Stack:
    """One podman-compose project: unique name, free ports, test tokens."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.project = f"embattn-ct-{uuid.uuid4().hex[:8]}"
        self.ports = {
            "EMBEDDINGS_HOST_PORT": free_port(),
            "ATTENTION_HOST_PORT": free_port(),
            "PROXY_HOST_PORT": free_port(),
        }
        settings = {
            **TOKENS,
            **{k: str(v) for k, v in self.ports.items()},
            "EMBATTN_IMAGE": IMAGE,
            "EMBATTN_PROXY_IMAGE": PROXY_IMAGE,
            "EMBEDDINGS_CPUS": "1",  # the entrypoint must turn this into EMBEDDINGS_THREADS=1
            "ATTENTION_CPUS": "2",
            "EMBEDDINGS_REPLICAS": "2",
        }
        example = [
            line
            for line in (ROOT / ".env.example").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        ]
        values = dict(line.split("=", 1) for line in example)
        values.update(settings)
        self.env_file = tmp / "stack.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        # the caller's own EMBEDDINGS_*/ATTENTION_*… would override the env file: drop them
        self.env = {
            k: v
            for k, v in env.items()
            if k not in values and not k.startswith(("EMBEDDINGS_", "ATTENTION_"))
        }
        compose = str(BIN / "podman-compose") if (BIN / "podman-compose").exists() else "podman-compose"
        self.compose_cmd = [
            compose,
            "-p",
            self.project,
            "--env-file",
            str(self.env_file),
            "-f",
            str(ROOT / "docker-compose.yml"),
        ]
        self.emb = f"http://127.0.0.1:{self.ports['EMBEDDINGS_HOST_PORT']}"
        self.att = f"http://127.0.0.1:{self.ports['ATTENTION_HOST_PORT']}"
        self.proxy = f"http://127.0.0.1:{self.ports['PROXY_HOST_PORT']}"

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        return run([*self.compose_cmd, *args], self.env, timeout=timeout, check=check)

    def container(self, service: str, num: int = 1) -> str:
        return f"{self.project}_{service}_{num}"

    def containers(self) -> list[tuple[str, str]]:
        """(name, state) of every container of the project, e.g. ("…_embeddings_1", "running")."""
        proc = run(
            [
                "podman",
                "ps",
                "-a",
                "--filter",
                f"label=io.podman.compose.project={self.project}",
                "--format",
                "json",
            ],
            self.env,
            check=False,
        )
        found = json.loads(proc.stdout or "[]") if proc.returncode == 0 else []
        return [(c["Names"][0] if isinstance(c["Names"], list) else c["Names"], c["State"]) for c in found]

    def assert_running(self) -> None:
        exited = [c for c in self.containers() if c[1] != "running"]
        if exited:
            raise AssertionError(f"containers not running: {exited}\n{self.logs()}")

    def logs(self) -> str:
        out = []
        for name, state in self.containers():
            proc = run(["podman", "logs", "--tail", "40", name], self.env, check=False)
            out.append(f"--- {name} ({state})\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
        return "\n".join(out)

    def up(self, *profile: str) -> None:
        try:
            self.compose(*profile, "up", "-d", "--no-build")
        except AssertionError as exc:
            if "netavark" in str(exc) and not shutil.which("iptables", path=self.env.get("PATH")):
                raise AssertionError(
                    f"{exc}\nhint: Podman's netavark needs iptables: apt-get install iptables"
                ) from None
            raise

    def wait_ready(self, label: str) -> None:
        for name, base in (("embeddings", self.emb), ("attention", self.att)):
            wait_until(
                f"{label}: {name} /healthz",
                lambda b=base: (http("GET", b + "/healthz", timeout=5)[0] == 200, None),
                120,
                self,
            )
        for name, base in (("embeddings", self.emb), ("attention", self.att)):
            wait_until(f"{label}: {name} /readyz", lambda b=base: _ready(b), 420, self)

    def teardown(self) -> None:
        """Remove everything of this project (containers, pod, network, volume), ignoring errors."""
        self.compose("--profile", "scaled", "down", "-v", "-t", "5", timeout=300, check=False)
        names = [name for name, _ in self.containers()]
        if names:
            run(["podman", "rm", "-f", "-v", *names], self.env, check=False)
        run(["podman", "pod", "rm", "-f", f"pod_{self.project}"], self.env, check=False)
        run(["podman", "volume", "rm", "-f", f"{self.project}_data"], self.env, check=False)
        run(["podman", "network", "rm", "-f", f"{self.project}_default"], self.env, check=False)
        left = self.containers()
        assert not left, f"left behind: {left}"


def _ready(base: str) -> tuple[bool, object]:
    status, body = http("GET", base + "/readyz", timeout=5)
    return status == 200, body


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    env = engine_env()
    t0 = time.monotonic()
    # torch: the local CPU wheel when pip finds one (no download here), else the CPU index
    build_args = []
    wheels = ROOT / "wheels"
    got = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels), "torch==2.13.0+cpu"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if got.returncode == 0 and list(wheels.glob("torch-2.13.0+cpu-*.whl")):
        build_args = ["--build-arg", "TORCH_WHEEL_DIR=wheels"]
    log(f"building {IMAGE} ({'local torch wheel' if build_args else 'torch from the CPU index'})")
    run(["podman", "build", "--format", "docker", "-t", IMAGE, *build_args, "."], env, timeout=1800)
    run(["podman", "build", "--format", "docker", "-t", PROXY_IMAGE, "deploy/nginx"], env, timeout=900)
    TIMINGS["build"] = round(time.monotonic() - t0, 1)
    log(f"images built in {TIMINGS['build']} s")
    s = Stack(env, tmp_path_factory.mktemp("stack"))
    try:
        t1 = time.monotonic()
        s.up()
        s.wait_ready("first start")
        TIMINGS["first start"] = round(time.monotonic() - t1, 1)
        yield s
    finally:
        t2 = time.monotonic()
        s.teardown()
        TIMINGS["teardown"] = round(time.monotonic() - t2, 1)
        TIMINGS["total"] = round(time.monotonic() - t0, 1)
        log(f"timings (s): {json.dumps(TIMINGS)}")


# ------------------------------------------------------------------------------------------ tests


def test_image_basics(stack):
    inspect = json.loads(run(["podman", "image", "inspect", IMAGE], stack.env).stdout)[0]
    cfg = inspect["Config"]
    assert cfg["User"] == "10001:10001"
    assert cfg["Entrypoint"] == ["python", "/opt/embattn/entrypoint.py"] and cfg["Cmd"] == ["embeddings"]
    assert "/data" in cfg["Volumes"]
    healthcheck = cfg.get("Healthcheck") or inspect.get("Healthcheck")  # podman keeps it outside Config
    assert healthcheck["Test"][:2] == ["CMD", "python"], "HEALTHCHECK lost: build with --format docker"
    # the image's HEALTHCHECK and the compose healthchecks pass
    for service in ("embeddings", "attention"):
        proc = run(["podman", "healthcheck", "run", stack.container(service)], stack.env, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # threads follow the CPU limit (EMBEDDINGS_CPUS=1, ATTENTION_CPUS=2), as seen by the service process
    probe = (
        "import os\n"
        "for p in filter(str.isdigit, os.listdir('/proc')):\n"
        "    env = dict(x.split('=', 1) for x in open(f'/proc/{p}/environ').read().split('\\0') if '=' in x)\n"
        "    if '{var}' in env: print(env['{var}'], env.get('OMP_NUM_THREADS'))\n"
    )
    for service, var, expected in (
        ("embeddings", "EMBEDDINGS_THREADS", "1 1"),
        ("attention", "ATTENTION_THREADS", "2 2"),
    ):
        proc = run(
            ["podman", "exec", stack.container(service), "python", "-c", probe.replace("{var}", var)],
            stack.env,
        )
        assert expected in proc.stdout.splitlines(), proc.stdout
    assert (
        run(["podman", "exec", stack.container("embeddings"), "id", "-u"], stack.env).stdout.strip()
        == "10001"
    )


def test_real_calls(stack):
    # embeddings: similarity query on `default` (gensim's Lee corpus)
    status, body = http(
        "POST", stack.emb + "/v1/models/default/similar", {"positive": ["government"], "topn": 5}
    )
    assert status == 200, body
    assert len(body["results"]) == 5

    # attention: a translation with its attention on `dates`
    status, body = http("POST", stack.att + "/v1/models/dates/translate", {"inputs": ["26 november 2026"]})
    assert status == 200, body
    out = body["outputs"][0]
    assert out["output"] and len(out["attention"]) == len(out["output_tokens"])
    assert all(abs(sum(row) - 1) < 1e-3 for row in out["attention"])

    # mutating calls without (or with a wrong) token
    for base, path, payload in (
        (stack.emb, "/v1/models", {"name": "x", "sentences": ["a b c"]}),
        (stack.att, "/v1/models", {"name": "x", "task": {"name": "copy"}}),
    ):
        assert http("POST", base + path, payload)[0] == 401
        assert http("POST", base + path, payload, token="wrong")[0] == 403


def test_cross_service_embeddings(stack):
    """A word-level attention model whose source vectors come from the embeddings service, by name."""
    words = ["government", "police", "australia", "people", "year", "world", "minister", "president"]
    pairs = [[f"{a} {b}", f"{b} {a}"] for a in words for b in words if a != b][:40]
    spec = {
        "name": "xwords",
        "pairs": pairs,
        "dev_fraction": 0.2,
        "config": {"tokenization": "word", "hidden": 16},
        "params": {"epochs": 2, "batch_size": 16},
        "embeddings": {"model": "default"},
    }
    status, body = http("POST", stack.att + "/v1/models", spec, token=TOKENS["ATTENTION_API_TOKEN"])
    assert status == 202, body
    job_url = stack.att + f"/v1/jobs/{body['job_id']}"
    wait_until("cross-service training", lambda: _job_done(job_url), 300, stack)
    status, job = http("GET", job_url)
    assert job["status"] == "succeeded", f"{job['status']}: {job.get('error')}"
    assert job["embedding_coverage"] and job["embedding_coverage"] > 0.9, job
    status, model = http("GET", stack.att + "/v1/models/xwords")
    assert status == 200 and model["embeddings"], model


def _job_done(url: str) -> tuple[bool, object]:
    status, job = http("GET", url, timeout=10)
    return status == 200 and job["status"] in ("succeeded", "failed", "cancelled"), job


def _models(stack: Stack) -> tuple[dict[str, int], dict[str, int]]:
    """{name: version} of the embeddings and the attention service."""
    status, emb = http("GET", stack.emb + "/v1/models")
    assert status == 200, emb
    status, att = http("GET", stack.att + "/v1/models")
    assert status == 200, att
    return {m["name"]: m["version"] for m in emb["models"]}, {m["name"]: m["version"] for m in att["models"]}


def test_stop_is_fast_and_restart_keeps_models(stack):
    before = _models(stack)
    assert "default" in before[0] and "dates" in before[1], before

    # SIGTERM reaches uvicorn (exec form, --init): it stops well inside the 10 s grace period
    t0 = time.monotonic()
    run(["podman", "stop", "-t", "10", stack.container("embeddings")], stack.env)
    TIMINGS["podman stop embeddings"] = round(time.monotonic() - t0, 2)
    log(f"podman stop embeddings: {TIMINGS['podman stop embeddings']} s")
    assert TIMINGS["podman stop embeddings"] < 5

    stack.compose("down", "-t", "10")  # no -v: the volume stays
    stack.up()
    stack.wait_ready("restart")
    assert _models(stack) == before, "models (or their versions) changed across down/up"
    status, body = http("POST", stack.att + "/v1/models/dates/translate", {"inputs": ["1 march 2027"]})
    assert status == 200, body
    if "xwords" in before[1]:  # trained by test_cross_service_embeddings
        status, body = http(
            "POST", stack.att + "/v1/models/xwords/translate", {"inputs": ["police government"]}
        )
        assert status == 200, body


def test_scaled_profile(stack):
    stack.up("--profile", "scaled")
    proxy_ok = lambda: (http("GET", stack.proxy + "/nginx-health", timeout=5)[0] == 200, None)  # noqa: E731
    wait_until("scaled: proxy", proxy_ok, 120, stack)
    for n in (1, 2):
        name = stack.container("embeddings-replica", n)
        wait_until(
            f"scaled: replica {n} ready",
            lambda c=name: (
                run(["podman", "healthcheck", "run", c], stack.env, check=False).returncode == 0,
                c,
            ),
            180,
            stack,
        )
    # queries through the proxy are answered by the replicas, from the shared (read-only) models
    for _ in range(4):
        status, body = http(
            "POST", stack.proxy + "/v1/models/default/similar", {"positive": ["police"], "topn": 3}
        )
        assert status == 200 and len(body["results"]) == 3, body
    # writes go to the primary, which still wants its token
    assert http("POST", stack.proxy + "/v1/models", {"name": "y", "sentences": ["a b c"]})[0] == 401
    # a model trained through the proxy (by the primary) is then served by the replicas
    spec = {
        "name": "tiny",
        "sentences": ["the cat sat on the mat", "the dog sat on the log"] * 5,
        "params": {"vector_size": 8, "min_count": 1, "epochs": 2},
    }
    status, body = http("POST", stack.proxy + "/v1/models", spec, token=TOKENS["EMBEDDINGS_API_TOKEN"])
    assert status == 202, body
    job_url = stack.proxy + f"/v1/jobs/{body['job_id']}"  # jobs live on the primary
    wait_until("scaled: training through the proxy", lambda: _job_done(job_url), 120, stack)
    assert http("GET", job_url)[1]["status"] == "succeeded"
    for _ in range(
        16
    ):  # nginx starts at a random one of the resolved addresses: both get some (p ~ 1 - 2**-15)
        status, body = http("POST", stack.proxy + "/v1/models/tiny/similar", {"positive": ["cat"], "topn": 2})
        assert status == 200 and len(body["results"]) == 2, body
    for n in (1, 2):  # both replicas answered queries (the proxy spreads them)
        logs = run(["podman", "logs", stack.container("embeddings-replica", n)], stack.env)
        assert "/similar" in logs.stdout + logs.stderr, f"replica {n} got no query"
