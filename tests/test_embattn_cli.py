"""The ``embattn`` console script against real services: uvicorn processes on free loopback ports,
the real script run with subprocess (progress bars, ``--json``, exit codes, Ctrl-C)."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

EMBATTN = str(Path(sys.executable).with_name("embattn"))
SENTENCES = [
    "the king rules the land with the queen",
    "the queen rules the land with the king",
    "a man walks the dog in the park",
    "a woman walks the cat in the park",
    "the dog and the cat play in the park",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(service: str, data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    prefix = service.upper()
    env = {**os.environ, f"{prefix}_TRAIN_DEFAULT": "false", f"{prefix}_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", service, "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        assert proc.poll() is None, f"{service} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{service} not ready in 60 s"
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def emb_url(tmp_path_factory):
    proc, url = start_service("embeddings", tmp_path_factory.mktemp("cli-emb"))
    yield url
    stop(proc)


def embattn(
    *args: str, url: str | None = None, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EMBATTN_")}
    if url:
        full_env["EMBATTN_EMBEDDINGS_URL"] = url
    full_env.update(env)
    return subprocess.run(
        [EMBATTN, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-corpus") / "corpus.txt"
    path.write_text("\n".join(SENTENCES * 12) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(emb_url, corpus):
    proc = embattn(  # the issue's own words: `embattn train my-corpus.txt --name mine` (the embeddings service's)
        "train", str(corpus), "--name", "tiny", "--epochs", "3", "--min-count", "1",
        "--vector-size", "12", "--workers", "1", "--param", "seed=3", url=emb_url,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


def test_train_shows_progress_then_the_models_metadata(trained, emb_url):
    err = trained.stderr
    assert "upload corpus.txt" in err and "60 sentences" in err  # the transfer bar, then the corpus
    assert "train tiny" in err and "succeeded" in err and "epoch 3/3" in err  # the job's bar, final state
    assert "loss" in err and "words/s" in err and "ETA" in err
    lines = dict(line.split(None, 1) for line in trained.stdout.splitlines())
    assert lines["name"] == "tiny" and lines["version"] == "1" and lines["vector_size"] == "12"
    assert json.loads(lines["params"])["seed"] == 3
    info = httpx.get(f"{emb_url}/v1/models/tiny").json()
    assert info["corpus"]["sentences"] == 60


def test_similar_human_and_json(trained, emb_url):
    proc = embattn("embeddings", "similar", "tiny", "king", "--topn", "3", url=emb_url)
    assert proc.returncode == 0 and proc.stderr == ""
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert len(rows) == 3 and all(len(r) == 2 and -1 <= float(r[1]) <= 1 for r in rows)
    proc = embattn("e", "similar", "tiny", "king", "--topn", "3", "--json", url=emb_url)
    assert proc.returncode == 0
    expected = httpx.post(f"{emb_url}/v1/models/tiny/similar", json={"positive": ["king"], "topn": 3}).json()
    assert json.loads(proc.stdout) == expected
    assert [r[0] for r in rows] == [r["word"] for r in expected["results"]]
    # global options before the group work too; --url overrides the environment
    proc = embattn("--json", "--url", emb_url, "e", "analogy", "tiny", "man", "king", "woman", "--topn", "2")
    assert proc.returncode == 0 and len(json.loads(proc.stdout)["results"]) == 2
    proc = embattn("e", "vectors", "tiny", "king", "qwzx", url=emb_url)
    assert proc.returncode == 0
    king, unknown = proc.stdout.splitlines()
    assert len(king.split()) == 13 and unknown == "qwzx  (unknown)"
    short = embattn("--json", "similar", "tiny", "king", "--topn", "3", url=emb_url)  # service left out
    assert short.returncode == 0 and json.loads(short.stdout) == expected


def test_shortcuts_name_their_service():
    from service.cli.main import expand_shortcut

    assert expand_shortcut(["--url", "http://x", "train", "c.txt"]) == [
        "--url",
        "http://x",
        "embeddings",
        "train",
        "c.txt",
    ]
    assert expand_shortcut(["translate", "dates", "5/3/2026"])[0] == "attention"
    assert expand_shortcut(["attention", "train", "--task", "g2p"]) == ["attention", "train", "--task", "g2p"]
    assert expand_shortcut(["models", "list"]) == ["models", "list"]  # ambiguous: the service is needed
    assert expand_shortcut(["--json"]) == ["--json"]


def test_a_problem_exits_1_with_its_status_and_detail(emb_url):
    proc = embattn("embeddings", "similar", "nope", "king", url=emb_url)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == "embattn: 404 model-not-found: no model named 'nope'"
    proc = embattn("embeddings", "--json", "models", "show", "nope", url=emb_url)
    assert proc.returncode == 1 and json.loads(proc.stdout)["status"] == 404
    proc = embattn("embeddings", "similar", "nope", "king", "--topn", "0", url=emb_url)
    assert proc.returncode == 1 and "422" in proc.stderr and "body.topn" in proc.stderr


def test_cannot_connect_exits_3_and_usage_exits_2(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    proc = embattn("embeddings", "models", url=closed, timeout=30)
    assert proc.returncode == 3 and proc.stderr.startswith(f"embattn: cannot connect to {closed}")
    proc = embattn("attention", "jobs", EMBATTN_ATTENTION_URL=closed)
    assert proc.returncode == 3
    assert embattn().returncode == 2
    assert embattn("embeddings", "similar").returncode == 2
    assert embattn("embeddings", "train", "--name", "x", url=closed).returncode == 2  # no corpus
    assert (
        embattn("embeddings", "train", str(tmp_path / "missing.txt"), "--name", "x", url=closed).returncode
        == 2
    )
    helped = embattn("--help")
    assert helped.returncode == 0
    for text in ("exit status", "130", "EMBATTN_EMBEDDINGS_URL", "EMBATTN_TOKEN", "cannot connect"):
        assert text in helped.stdout


def test_export_import_models_and_jobs(trained, emb_url, tmp_path):
    out = tmp_path / "tiny.bin"
    proc = embattn("embeddings", "export", "tiny", str(out), url=emb_url)
    assert proc.returncode == 0 and out.stat().st_size > 0 and "export tiny" in proc.stderr
    assert proc.stdout.startswith(f"wrote {out} ({out.stat().st_size} bytes")
    proc = embattn("embeddings", "import", "copy", str(out), url=emb_url)
    assert proc.returncode == 0 and "import tiny.bin" in proc.stderr and "source" in proc.stdout
    assert embattn("embeddings", "import", "copy", str(out), url=emb_url).returncode == 1  # model-exists
    assert embattn("embeddings", "import", "copy", str(out), "--overwrite", url=emb_url).returncode == 0
    versions = json.loads(embattn("--json", "embeddings", "models", "versions", "copy", url=emb_url).stdout)
    assert versions["current"] == 2
    proc = embattn("embeddings", "models", "rollback", "copy", "1", url=emb_url)
    assert proc.returncode == 0 and proc.stdout.splitlines()[1].split()[:2] == ["*", "1"]
    listed = json.loads(embattn("--json", "embeddings", "models", url=emb_url).stdout)
    assert {m["name"] for m in listed["models"]} == {"tiny", "copy"}
    assert embattn("embeddings", "models", "delete", "copy", "--version", "2", url=emb_url).returncode == 0
    assert embattn("embeddings", "models", "delete", "copy", url=emb_url).returncode == 0
    jobs = json.loads(embattn("--json", "embeddings", "jobs", "list", "--model", "tiny", url=emb_url).stdout)
    (job,) = jobs["jobs"]
    assert job["status"] == "succeeded"
    proc = embattn("embeddings", "jobs", "cancel", job["id"], url=emb_url)
    assert proc.returncode == 1 and "409" in proc.stderr  # it ended
    watched = embattn("--json", "embeddings", "jobs", "watch", job["id"], url=emb_url)
    assert watched.returncode == 0 and json.loads(watched.stdout.splitlines()[-1])["status"] == "succeeded"


def test_ctrl_c_cancels_the_job_when_stdin_is_not_a_terminal(emb_url, tmp_path):
    corpus = tmp_path / "long.txt"
    corpus.write_text("\n".join(SENTENCES * 400) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBATTN_")}
    proc = subprocess.Popen(
        [EMBATTN, "--url", emb_url, "embeddings", "train", str(corpus), "--name", "long", "--epochs", "100",
         "--min-count", "1", "--workers", "1", "--interval", "0.1"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not httpx.get(f"{emb_url}/v1/jobs", params={"model": "long", "status": "running"}).json()[
            "jobs"
        ]:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.1)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    (job,) = httpx.get(f"{emb_url}/v1/jobs", params={"model": "long"}).json()["jobs"]
    assert job["status"] == "cancelled"
    assert f"job {job['id']} cancelled" in err and "Traceback" not in err


def _read_pty(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    out, end = b"", time.monotonic() + seconds
    while time.monotonic() < end and not (until and until in out):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
    return out


def test_ctrl_c_on_a_terminal_asks_before_cancelling(emb_url, tmp_path):
    """On a terminal: a live bar, then Ctrl-C asks "cancel job …? [y/N]"; "n" leaves the job running."""
    corpus = tmp_path / "long.txt"
    corpus.write_text("\n".join(SENTENCES * 400) + "\n")
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBATTN_")}
    proc = subprocess.Popen(
        [EMBATTN, "--url", emb_url, "embeddings", "train", str(corpus), "--name", "asked", "--epochs", "100",
         "--min-count", "1", "--workers", "1", "--interval", "0.1"],
        env={**env, "COLUMNS": "120"}, stdin=slave, stdout=slave, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"running" not in seen:  # the live bar redraws while the job runs
            assert proc.poll() is None and time.monotonic() < deadline, seen
            seen += _read_pty(master, 0.2)
        proc.send_signal(signal.SIGINT)
        seen += _read_pty(master, 10, until=b"[y/N] ")
        (job,) = httpx.get(f"{emb_url}/v1/jobs", params={"model": "asked"}).json()["jobs"]
        assert f"cancel job {job['id']}? [y/N] ".encode() in seen
        os.write(master, b"n\n")
        assert proc.wait(timeout=15) == 130
        seen += _read_pty(master, 1)
        assert f"embattn embeddings jobs watch {job['id']}".encode() in seen
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert httpx.get(f"{emb_url}/v1/jobs/{job['id']}").json()["status"] in ("queued", "running")
    cancelled = embattn("embeddings", "jobs", "cancel", job["id"], url=emb_url)
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"job {job['id']} cancelled"


# --------------------------------------------------------------------------- attention


def test_attention_train_translate_heatmap_align(tmp_path_factory, tmp_path):
    proc, url = start_service("attention", tmp_path_factory.mktemp("cli-att"))
    try:
        env = {"EMBATTN_ATTENTION_URL": url}
        train = embattn(
            "attention", "train", "--task", "reversal", "--n-train", "300", "--max-len", "5", "--name", "rev",
            "--epochs", "2", "--hidden", "16", "--config", "emb_dim=8", "--param", "lr=0.01", timeout=120, **env,
        )  # fmt: skip
        assert train.returncode == 0, train.stderr
        assert "train rev" in train.stderr and "epoch 2/2" in train.stderr and "steps/s" in train.stderr
        assert "src_vocab_size" in train.stdout
        png = tmp_path / "rev.png"
        out = embattn(
            "attention", "translate", "rev", "abc", "hello", "--links", "--heatmap", str(png), **env
        )
        assert out.returncode == 0, out.stderr
        rows = [line.split("\t") for line in out.stdout.splitlines()]
        assert [r[0] for r in rows] == ["abc", "hello"] and all(len(r) == 4 for r in rows)
        for path in (tmp_path / "rev-1.png", tmp_path / "rev-2.png"):
            assert path.read_bytes().startswith(b"\x89PNG") and f"wrote {path}" in out.stderr
        svg = tmp_path / "one.svg"
        assert embattn("attention", "translate", "rev", "abc", "--heatmap", str(svg), **env).returncode == 0
        assert b"<svg" in svg.read_bytes()[:500]
        as_json = json.loads(
            embattn("--json", "attention", "translate", "rev", "abc", "--beam", "2", **env).stdout
        )
        assert as_json["decode"] == "beam" and as_json["outputs"][0]["attention"]
        nbest = embattn("attention", "translate", "rev", "abc", "--beam", "3", "--n-best", "2", **env)
        rows = [line.split("\t") for line in nbest.stdout.splitlines()]
        assert nbest.returncode == 0 and [r[3] for r in rows] == ["#1", "#2"], nbest.stdout + nbest.stderr
        greedy = embattn("attention", "translate", "rev", "abc", "--n-best", "2", **env)
        assert greedy.returncode == 1  # n_best needs --beam: a 422
        aligned = embattn("attention", "align", "rev", "abc", "cba", "--gold", "0-2 1-1 2-0", **env)
        assert aligned.returncode == 0 and "aer" in aligned.stdout
        bad = embattn("attention", "translate", "nope", "abc", **env)
        assert bad.returncode == 1 and "404" in bad.stderr
        assert json.loads(embattn("--json", "a", "evaluate", "rev", "--split", "test", **env).stdout)["n"] > 0
    finally:
        stop(proc)


def test_url_and_token_come_from_options_then_the_environment(monkeypatch):
    from service.cli.main import build_parser, make_client

    for var in (
        "EMBATTN_EMBEDDINGS_URL",
        "EMBATTN_ATTENTION_URL",
        "EMBATTN_TOKEN",
        "EMBATTN_EMBEDDINGS_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)

    def client_for(*argv):
        args = build_parser().parse_args(list(argv))
        for opt in ("url", "token", "timeout"):
            setattr(args, opt, getattr(args, opt, None))
        client = make_client(args)
        client.close()
        return client.base_url, client._http.token

    assert client_for("embeddings", "models") == ("http://127.0.0.1:8001", None)
    assert client_for("attention", "models") == ("http://127.0.0.1:8002", None)
    monkeypatch.setenv("EMBATTN_EMBEDDINGS_URL", "http://emb:9001")
    monkeypatch.setenv("EMBATTN_TOKEN", "shared")
    assert client_for("e", "models") == ("http://emb:9001", "shared")
    assert client_for("a", "jobs") == ("http://127.0.0.1:8002", "shared")
    monkeypatch.setenv("EMBATTN_EMBEDDINGS_TOKEN", "mine")
    assert client_for("e", "models") == ("http://emb:9001", "mine")
    # options win, and go before the group or after the command
    assert client_for("--url", "http://x:1", "e", "models", "--token", "t") == ("http://x:1", "t")


def test_a_large_import_is_followed_as_a_job(tmp_path):
    import numpy as np

    from tests.helpers import Server

    vectors = np.random.default_rng(2).standard_normal((300, 8)).astype("<f4")
    src = tmp_path / "v.bin"
    src.write_bytes(b"300 8\n" + b"".join(f"w{i} ".encode() + v.tobytes() for i, v in enumerate(vectors)))
    with Server("embeddings", tmp_path / "data", env={"EMBEDDINGS_IMPORT_JOB_BYTES": "1024"}) as srv:
        proc = embattn("embeddings", "import", "big", str(src), url=srv.url)
        assert proc.returncode == 0, proc.stderr
        assert "vocab_size" in proc.stdout and "300" in proc.stdout, proc.stdout
        proc = embattn("embeddings", "import", "big", str(src), "--json", url=srv.url)
        assert proc.returncode == 1 and "model-exists" in proc.stdout + proc.stderr
