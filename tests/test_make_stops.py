"""One Ctrl-C stops `make run` and `make serve`, and every process they started (Makefile).

A terminal's Ctrl-C sends SIGINT to the foreground process group: here ``make`` runs in a session
of its own (``start_new_session``), the test waits until the services answer ``/readyz``, sends
SIGINT to make's process group, and then requires that within ``STOP_S`` no process of that session
is left (``ps``: the services, their job workers, and for `make serve` every Ray process: ``ray
start --block`` and Ray's workers move to process groups of their own, but not out of the session).
Before the Ctrl-C, both are checked to listen on 127.0.0.1 only, and `make serve`'s Ray cluster to
want its token.

make runs with ``-o <venv>/.installed`` (the installed stamp counts as current: make never runs
pip here) and the Makefile's ``VENV`` set to this interpreter's environment. Every wait is bounded;
whatever is still alive at the end is SIGKILLed, so a failing test leaves nothing running.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)
#: The bound the README promises: everything gone within this many seconds of one Ctrl-C.
STOP_S = 30.0
TOKEN = secrets.token_hex(16)
AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def session_processes(sid: int) -> list[str]:
    """``"pid stat command"`` of every live (not zombie) process of session ``sid``."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True, check=True)
    rows = []
    for line in out.stdout.splitlines():
        pid, psid, stat, *cmd = line.split(None, 3)
        if int(psid) == sid and not stat.startswith("Z"):
            rows.append(f"{pid} {stat} {' '.join(cmd)[:160]}")
    return rows


def listening(sid: int) -> dict[tuple[str, int], str]:
    """``{(address, port): "pid command"}`` of the TCP sockets that processes of session ``sid``
    listen on (from /proc: a socket's inode in /proc/net/tcp{,6}, its owner by /proc/<pid>/fd)."""
    owners = {}
    for row in session_processes(sid):
        pid = row.split()[0]
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    owners[link[8:-1]] = row
        except OSError:  # gone, or not ours to read
            continue
    found = {}
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A" or inode not in owners:  # 0A: LISTEN
                    continue
                hexaddr, hexport = local.split(":")
                raw = bytes.fromhex(hexaddr)
                # the kernel prints each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
                found[(str(ipaddress.ip_address(raw)), int(hexport, 16))] = owners[inode]
    return found


def exposed(sockets: dict[tuple[str, int], str]) -> dict[tuple[str, int], str]:
    """The sockets of ``sockets`` bound to more than a loopback address."""
    out = {}
    for (host, port), owner in sockets.items():
        ip = ipaddress.ip_address(host)
        if not (ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped and ip.ipv4_mapped.is_loopback)):
            out[(host, port)] = owner
    return out


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` (its process groups included)."""
    for row in session_processes(sid):
        try:
            os.kill(int(row.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_ready(urls: list[str], make: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending:
        assert make.poll() is None, f"make exited with {make.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, (
            f"not ready after {timeout} s: {pending}\n{log.read_text()[-3000:]}"
        )
        try:
            if httpx.get(pending[0], timeout=5).status_code == 200:
                pending.pop(0)
                continue
        except httpx.TransportError:
            pass
        time.sleep(0.5)


def run_and_interrupt(
    target: str,
    tmp_path: Path,
    variables: dict[str, str],
    urls: list[str],
    ready_s: float,
    running: Callable[[int], None] | None = None,
) -> tuple[float, int]:
    """Start ``make <target>``, wait for ``urls``, call ``running(session id)`` (checks, and work to
    be interrupted), send one SIGINT to make's process group and return ``(seconds until the
    session was empty, make's exit status)``."""
    stamp = VENV / ".installed"
    if not (VENV / "bin" / "python").exists():
        pytest.skip("no virtual environment to run make with")
    env = {
        **os.environ,
        "EMBEDDINGS_TRAIN_DEFAULT": "false",
        "ATTENTION_TRAIN_DEFAULT": "false",
        "EMBEDDINGS_API_TOKEN": TOKEN,
        "ATTENTION_API_TOKEN": TOKEN,
    }
    env.pop("MAKEFLAGS", None)
    log = tmp_path / f"make-{target}.log"
    args = [
        f"{k}={v}" for k, v in {"VENV": str(VENV), "DATA_DIR": str(tmp_path / "data"), **variables}.items()
    ]
    with open(log, "wb") as out:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "-C", str(ROOT), "-o", str(stamp), *args, target],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    sid = make.pid
    try:
        wait_ready(urls, make, log, ready_s)
        if running is not None:
            running(sid)
        started = session_processes(sid)
        os.killpg(sid, signal.SIGINT)
        t0 = time.monotonic()
        while session_processes(sid) and time.monotonic() - t0 < STOP_S + 5:
            time.sleep(0.25)
        elapsed = time.monotonic() - t0
        left = session_processes(sid)
        assert not left, (
            f"{len(left)} processes still running {elapsed:.0f} s after Ctrl-C:\n"
            + "\n".join(left)
            + f"\n(started: {len(started)})\n{log.read_text()[-3000:]}"
        )
        assert elapsed <= STOP_S, f"took {elapsed:.1f} s\n{log.read_text()[-3000:]}"
        status = make.wait(timeout=5)
        # make re-raises the SIGINT it got once its recipe has ended (-2); 0 when the recipe exits first
        assert status in (0, -signal.SIGINT), f"make: {status}\n{log.read_text()[-3000:]}"
        print(f"\nmake {target}: {len(started)} processes, all gone {elapsed:.1f} s after one Ctrl-C")
        return elapsed, status
    finally:
        if make.poll() is None:
            os.killpg(sid, signal.SIGKILL)
        kill_session(sid)
        make.wait(timeout=10)


def _training(base: str) -> Callable[[int], None]:
    """Listening on 127.0.0.1 only, and a training job of the embeddings service running when
    Ctrl-C comes (its worker process too)."""

    def running(sid: int) -> None:
        sockets = listening(sid)
        assert sockets and not exposed(sockets), sockets
        from gensim.test.utils import datapath

        with open(datapath("lee_background.cor"), "rb") as f:
            r = httpx.post(f"{base}/v1/corpora?name=lee", content=f.read(), headers=AUTH, timeout=60)
        assert r.status_code == 201, r.text
        params = {"vector_size": 100, "min_count": 1, "epochs": 100, "workers": 1, "seed": 3}
        r = httpx.post(
            f"{base}/v1/models", json={"name": "slow", "corpus_id": "lee", "params": params}, headers=AUTH
        )
        assert r.status_code == 202, r.text
        job_id, deadline = r.json()["job_id"], time.monotonic() + 60
        while (job := httpx.get(f"{base}/v1/jobs/{job_id}", timeout=10).json())["status"] != "running":
            assert job["status"] == "queued" and time.monotonic() < deadline, job
            time.sleep(0.2)

    return running


def test_make_run_stops_on_one_ctrl_c(tmp_path):
    emb, att = free_port(), free_port()
    run_and_interrupt(
        "run",
        tmp_path,
        {"EMBEDDINGS_PORT": str(emb), "ATTENTION_PORT": str(att)},
        [f"http://127.0.0.1:{emb}/readyz", f"http://127.0.0.1:{att}/readyz"],
        ready_s=90,
        running=_training(f"http://127.0.0.1:{emb}"),
    )


def _closed_cluster(token_file: Path, seen_dirs: list[Path]) -> Callable[[int], None]:
    """The local Ray cluster of `make serve` listens on 127.0.0.1, and its control plane wants the
    token of ``token_file`` (mode 600): the dashboard agent (the HTTP server of every Ray node: job
    agent, runtime envs) refuses a job submission without it (401) or with a wrong one (403), and
    lets the token pass. Appends the cluster's temporary directory to ``seen_dirs``.

    One exception, Ray's and not the Makefile's: Ray 2.60 binds each Serve replica's
    inter-deployment gRPC server to ``[::]:0`` (hard-coded in ``ray/serve/_private/replica.py``);
    with token authentication on, those refuse a call without the token (UNAUTHENTICATED)."""

    def running(sid: int) -> None:
        import grpc

        for row in session_processes(sid):  # the config `serve run` runs lies in the cluster's temp dir
            try:
                args = Path(f"/proc/{row.split()[0]}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            seen_dirs.extend(
                {Path(a.decode()).parent for a in args if a.endswith(b"/serve.yaml")} - set(seen_dirs)
            )
        sockets = listening(sid)
        assert sockets, "found no listening socket"
        for (host, port), owner in exposed(sockets).items():
            assert "ServeReplica" in owner, f"listening beyond 127.0.0.1: {host} {port} {owner}"
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/ray.serve.ASGIService/HandleRequest")
                with pytest.raises(grpc.RpcError) as refused:
                    call(b"", timeout=10)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, (owner, refused.value)
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text().strip()
        agent = sorted({port for (_, port), owner in sockets.items() if "DashboardAgent" in owner})
        seen = {}
        for port in agent:  # its HTTP port among its gRPC ones (all random: --dashboard-agent-listen-port 0)
            base = f"http://127.0.0.1:{port}"
            try:
                seen[port] = (
                    # a job submission (a ShadowRay-style entry point): refused, without or with a wrong token
                    httpx.post(f"{base}/api/job_agent/jobs/", json={}, timeout=5).status_code,
                    httpx.post(
                        f"{base}/api/job_agent/jobs/", json={}, headers={"Authorization": "Bearer x"}
                    ).status_code,
                    # the token passes the check (then: no such route)
                    httpx.get(
                        f"{base}/api/no-such-route", headers={"Authorization": f"Bearer {token}"}
                    ).status_code,
                )
            except httpx.HTTPError:  # a gRPC port
                continue
        # (and its metrics port: Prometheus text on any GET, no token; read-only, on 127.0.0.1)
        assert (401, 403, 404) in seen.values(), (agent, seen)

    return running


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="needs the ray extra (pip install -e '.[ray]')"
)
def test_make_serve_stops_on_one_ctrl_c(tmp_path):
    serve_port, ray_port, client_port = free_port(), free_port(), free_port()
    ray_dirs: list[Path] = []
    try:
        _serve(tmp_path, serve_port, ray_port, client_port, ray_dirs)
        assert len(ray_dirs) == 1 and ray_dirs[0].name.startswith("embattn-ray.")
        assert not ray_dirs[0].exists(), "make serve left its Ray temporary directory behind"
    finally:
        for d in ray_dirs:
            shutil.rmtree(d, ignore_errors=True)


def _serve(tmp_path, serve_port, ray_port, client_port, ray_dirs):
    run_and_interrupt(
        "serve",
        tmp_path,
        {
            "SERVE_PORT": str(serve_port),
            "RAY_PORT": str(ray_port),
            "RAY_CLIENT_PORT": str(client_port),
            "SERVE_CPUS": "6",
        },
        [
            f"http://127.0.0.1:{serve_port}/embeddings/readyz",
            f"http://127.0.0.1:{serve_port}/attention/readyz",
        ],
        ready_s=240,
        running=_closed_cluster(tmp_path / "data" / ".ray-token", ray_dirs),
    )
