"""Publish last: a job's new version becomes visible only once every phase of the job has ended.

Real ``python -m service embeddings`` servers, real cancels (``DELETE /v1/jobs/{id}``) and real
SIGKILLs — of the job's worker process, or of the whole server with its processes — in each phase
of an import (importing, indexing), a training and a ``/continue`` (building vocabulary, training,
saving, indexing) and an index job (indexing). After each, the previous version is current and
answers as before, the versions are the same, the model's directory holds what it held (no draft,
no journal, no empty directory: what a killed process left is removed by the runner, at once or at
the next start), and the job is ``cancelled`` / ``failed``. Also: a failed or killed first version
leaves no model directory, and a runner that takes over removes the staged upload of the import it
found interrupted at once (a queued import keeps its own).

To act *in* a phase, the test watches the job's ``phase`` and freezes the worker (SIGSTOP) as soon
as it shows; the cancel's SIGTERM (or the SIGKILL) then reaches it there, and it is let go
(SIGCONT) to handle it. The data are sized so that each phase lasts a few tenths of a second, and
the jobs of the eleven phases run side by side, one model each. The tests share one server and run
in file order: the last one kills it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.helpers import Server
from tests.test_embeddings_api_import import write_binary

MIN_VOCAB = 1000  # EMBEDDINGS_INDEX_MIN_VOCAB: the 2000-word versions get an index in their job
FT = {"vector_size": 16, "min_count": 1, "epochs": 3, "workers": 1, "bucket": 1_000_000}
TINY = {"vector_size": 8, "min_count": 1, "epochs": 2, "workers": 1}
SENTENCES = [["king", "queen", "royal", "palace"], ["queen", "royal", "crown"], ["king", "crown"]] * 10


def slug(phase: str) -> str:
    return phase.replace(" ", "_")


PAIRS = [
    ("import", "importing"),
    ("import", "indexing"),
    ("train", "building vocabulary"),
    ("train", "training"),
    ("train", "saving"),
    ("train", "indexing"),
    ("continue", "building vocabulary"),
    ("continue", "training"),
    ("continue", "saving"),
    ("continue", "indexing"),
    ("index", "indexing"),
]
#: ``(model, job kind, phase)``: one model per phase; each keeps its version 1 through every scenario.
SCENARIOS = [(f"{kind}-{slug(phase)}", kind, phase) for kind, phase in PAIRS]


def word(j: int) -> str:
    """An alphabetic word (the corpus tokenizer keeps letters only), distinct for each ``j``."""
    j += 26 * 26
    out = ""
    while j:
        out += chr(97 + j % 26)
        j //= 26
    return out


def corpus(words: int, tokens: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, words, tokens)
    ids[:words] = np.arange(words)  # every word occurs
    return "".join(" ".join(word(j) for j in ids[i : i + 10]) + "\n" for i in range(0, tokens, 10)).encode()


# --------------------------------------------------------------------------- processes


def _ppids() -> dict[int, int]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    out[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return out


def descendants(pid: int) -> list[int]:
    ppids = _ppids()
    found, frontier = [], [pid]
    while frontier:
        frontier = [p for p, pp in ppids.items() if pp in frontier]
        found += frontier
    return found


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def job_workers(server_pid: int) -> set[int]:
    """The job worker processes of a server: the children of its forkserver."""
    ppids = _ppids()
    forkservers = {p for p, pp in ppids.items() if pp == server_pid and b"forkserver" in _cmdline(p)}
    return {p for p, pp in ppids.items() if pp in forkservers}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "State:\tZ" not in f.read()
    except OSError:
        return False


def sigterm_pending(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("ShdPnd:", "SigPnd:")) and int(line.split()[1], 16) & (1 << 14):
                return True
    return False


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def kill_tree(srv: Server) -> None:
    """SIGKILL a server and every process it started (a crash of the whole machine, as it were)."""
    pids = descendants(srv.proc.pid)
    os.kill(srv.proc.pid, signal.SIGKILL)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    srv.proc.wait(10)
    wait_for(lambda: not any(alive(p) for p in pids), 10, "the server's processes to end")


def start_servers(n: int, data: Path, env: dict[str, str]) -> list[Server]:
    """``n`` servers on one data directory, started at once (one becomes the runner)."""
    servers = [Server("embeddings", data, env=env) for _ in range(n)]
    errors: list[BaseException] = []

    def enter(s: Server) -> None:
        try:
            s.__enter__()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=enter, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for s in servers:
            s.stop()
        raise errors[0]
    return servers


# --------------------------------------------------------------------------- the world


class World:
    """The data directory, the import directory and the first server; the state of each model."""

    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.imports = root / "imports"
        self.imports.mkdir()
        write_binary(self.imports / "big.bin", 150_000, seed=11)  # ~11 MB: importing lasts a while
        write_binary(self.imports / "mid.bin", 2_000, seed=12)  # imported at once, then indexed
        path = self.imports / "corrupt.bin"
        offsets = write_binary(path, 3000, seed=13)
        data = bytearray(path.read_bytes())
        data[offsets[2500] + 1] = 0xFF  # a word that is not UTF-8, far into the file
        path.write_bytes(bytes(data))
        self.env = {
            "EMBEDDINGS_INDEX_MIN_VOCAB": str(MIN_VOCAB),
            "EMBEDDINGS_IMPORT_DIR": str(self.imports),
            "EMBEDDINGS_MAX_CONCURRENT_JOBS": "16",
            "EMBEDDINGS_LOG_LEVEL": "warning",
        }
        self.server: Server | None = None
        self.before: dict[str, dict] = {}

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def models_dir(self) -> Path:
        return self.data / "embeddings" / "models"

    def files(self, name: str) -> list[str]:
        """What the model's directory holds, its versions' files included."""
        d = self.models_dir() / name
        if not d.exists():
            return []
        out = []
        for p in sorted(d.iterdir()):
            out.append(p.name)
            if p.is_dir():
                out += [f"{p.name}/{q.name}" for q in sorted(p.iterdir())]
        return out

    def state(self, c: httpx.Client, name: str) -> dict:
        info = c.get(f"/v1/models/{name}").json()
        query = {"positive": [probe(name)], "topn": 5}
        answer = c.post(f"/v1/models/{name}/similar", json=query).json()
        return {
            "version": info["version"],
            "versions": [v["version"] for v in info["versions"]],
            "index": info["index"],
            "answer": answer,
            "files": self.files(name),
        }


def probe(name: str) -> str:
    """A word the first version of model ``name`` knows."""
    return {"import": "w1", "index": "w1", "train": "king", "continue": word(0)}[name.split("-")[0]]


def post(c: httpx.Client, url: str, **kw) -> str:
    r = c.post(url, **kw)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def base_job(c: httpx.Client, kind: str, name: str) -> str:
    """Queue the job that makes version 1 of ``name``, the previous version of the scenario."""
    if kind in ("import", "index"):  # below MIN_VOCAB: no index
        return post(c, f"/v1/models/{name}/import", json={"path": "mid.bin", "limit": 900})
    if kind == "train":
        return post(c, "/v1/models", json={"name": name, "sentences": SENTENCES, "params": TINY})
    params = {**FT, "epochs": 1}
    return post(
        c, "/v1/models", json={"name": name, "algorithm": "fasttext", "corpus_id": "small", "params": params}
    )


def scenario_job(c: httpx.Client, kind: str, name: str, phase: str) -> str:
    """Queue the job under test: it would make version 2 of ``name``."""
    if kind == "import":
        path = "big.bin" if phase == "importing" else "mid.bin"
        return post(c, f"/v1/models/{name}/import", json={"path": path, "overwrite": True})
    if kind == "train":
        body = {"name": name, "algorithm": "fasttext", "corpus_id": "big", "params": FT, "overwrite": True}
        return post(c, "/v1/models", json=body)
    if kind == "continue":
        return post(c, f"/v1/models/{name}/continue", json={"corpus_id": "big", "epochs": 3})
    return post(c, f"/v1/models/{name}/index", json={})


def job(c: httpx.Client, job_id: str) -> dict:
    return c.get(f"/v1/jobs/{job_id}?history=false").json()


def wait_ended(c: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    return wait_for(
        lambda: (j := job(c, job_id))["status"] not in ("queued", "running") and j, timeout, f"job {job_id}"
    )


def freeze_all(
    c: httpx.Client, server_pid: int, scenarios: list[tuple[str, str, str]], start=None
) -> dict[str, tuple[str, int]]:
    """Run the job of each ``(model, kind, phase)`` (``start(c, kind, model, phase)``, by default
    :func:`scenario_job`, queues it) and freeze its worker (SIGSTOP) as soon as the job
    reports ``phase``; returns ``{model: (job id, worker pid)}`` once every one is frozen there.

    The jobs run side by side; each is started once the worker of the one before is known (so that
    each worker is told apart from the others).
    """
    todo = list(scenarios)
    started: dict[str, dict] = {}
    known = job_workers(server_pid)
    deadline = time.monotonic() + 120
    while todo or any(not st["frozen"] for st in started.values()):
        assert time.monotonic() < deadline, f"not every job reached its phase: {started}"
        if todo and all(st["pid"] is not None for st in started.values()):
            name, kind, phase = todo.pop(0)
            job_id = (start or scenario_job)(c, kind, name, phase)
            started[name] = {"job": job_id, "phase": phase, "pid": None, "frozen": False}
        for name, st in started.items():
            if st["frozen"]:
                continue
            j = job(c, st["job"])
            assert j["status"] in ("queued", "running"), f"{name}: the job ended before {st['phase']!r}: {j}"
            if st["pid"] is None and j["status"] == "running":
                new = job_workers(server_pid) - known
                if new:
                    (st["pid"],) = new
                    known |= new
            if st["pid"] is not None and j.get("phase") == st["phase"]:
                os.kill(st["pid"], signal.SIGSTOP)
                st["frozen"] = True
    time.sleep(0.3)  # the reports sent before the stops have arrived
    for name, st in started.items():
        j = job(c, st["job"])
        assert j["status"] == "running" and j["phase"] == st["phase"], (
            f"{name}: the phase ended too soon: {j}"
        )
    return {name: (st["job"], st["pid"]) for name, st in started.items()}


def cancel_frozen(url: str, frozen: dict[str, tuple[str, int]]) -> dict[str, httpx.Response]:
    """``DELETE /v1/jobs/{id}`` each frozen job; once the runner's SIGTERM is pending, let the worker
    go (SIGCONT): it handles the cancel where it was. Returns the answers."""
    answers: dict[str, httpx.Response] = {}

    def cancel(name: str, job_id: str) -> None:
        answers[name] = httpx.delete(f"{url}/v1/jobs/{job_id}", timeout=60)

    threads = [threading.Thread(target=cancel, args=(n, j)) for n, (j, _) in frozen.items()]
    for t in threads:
        t.start()
    for _job_id, pid in frozen.values():
        wait_for(lambda pid=pid: sigterm_pending(pid), 10, "the cancel's SIGTERM")
        os.kill(pid, signal.SIGCONT)
    for t in threads:
        t.join(60)
    return answers


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("publish"))
    (w.server,) = start_servers(1, w.data, w.env)
    try:
        with httpx.Client(base_url=w.url, timeout=60) as c:
            for cid, body in (("small", corpus(500, 10_000, 1)), ("big", corpus(2000, 60_000, 2))):
                assert c.post(f"/v1/corpora?name={cid}", content=body).status_code == 201
            jobs = [base_job(c, kind, name) for name, kind, _ in SCENARIOS]
            for job_id in jobs:
                assert wait_ended(c, job_id, 120)["status"] == "succeeded", job(c, job_id)
            for name, _, _ in SCENARIOS:
                w.before[name] = w.state(c, name)
                assert w.before[name]["version"] == 1 and w.before[name]["index"] is None
        yield w
    finally:
        if w.server is not None:
            w.server.stop()


def check_unchanged(w: World, c: httpx.Client, name: str) -> None:
    assert w.state(c, name) == w.before[name]


# --------------------------------------------------------------------------- cancel / kill the worker


def test_a_cancel_in_each_phase_leaves_the_previous_version(world):
    with httpx.Client(base_url=world.url, timeout=60) as c:
        frozen = freeze_all(c, world.server.proc.pid, SCENARIOS)
        answers = cancel_frozen(world.url, frozen)
        for name, (job_id, pid) in frozen.items():
            r = answers[name]
            assert r.status_code == 200 and r.json()["status"] == "cancelled", f"{name}: {r.text}"
            assert job(c, job_id)["status"] == "cancelled"
            wait_for(lambda pid=pid: not alive(pid), 10, f"the worker of {name} to end")
            check_unchanged(world, c, name)


def test_a_killed_worker_in_each_phase_leaves_the_previous_version(world):
    with httpx.Client(base_url=world.url, timeout=60) as c:
        frozen = freeze_all(c, world.server.proc.pid, SCENARIOS)
        for _job_id, pid in frozen.values():
            os.kill(pid, signal.SIGKILL)
        for name, (job_id, _) in frozen.items():
            ended = wait_ended(c, job_id)
            assert ended["status"] == "failed" and "died" in ended["error"], f"{name}: {ended}"
            check_unchanged(world, c, name)  # what the worker left was removed before the job showed failed


def test_a_failed_cancelled_or_killed_first_version_leaves_no_model_directory(world):
    models = world.models_dir()
    with httpx.Client(base_url=world.url, timeout=60) as c:
        failed = wait_ended(c, post(c, "/v1/models/first-a/import", json={"path": "corrupt.bin"}))
        assert failed["status"] == "failed" and "byte offset" in failed["error"], failed
        small = world.imports.parent / "small-corrupt.bin"  # imported within the request
        offsets = write_binary(small, 500, seed=14)
        bad = bytearray(small.read_bytes())
        bad[offsets[400] + 1] = 0xFF
        r = c.post("/v1/models/first-b/import?format=word2vec-binary", content=bytes(bad))
        assert r.status_code == 422 and "byte offset" in r.text, r.text

        frozen = freeze_all(c, world.server.proc.pid, [("first-c", "import", "importing")])
        assert cancel_frozen(world.url, frozen)["first-c"].json()["status"] == "cancelled"
        frozen = freeze_all(c, world.server.proc.pid, [("first-d", "import", "indexing")])
        ((job_id, pid),) = frozen.values()
        os.kill(pid, signal.SIGKILL)
        assert wait_ended(c, job_id)["status"] == "failed"
        for name in ("first-a", "first-b", "first-c", "first-d"):
            assert c.get(f"/v1/models/{name}").status_code == 404
            assert not (models / name).exists(), world.files(name)


# --------------------------------------------------------------------------- kill the whole server


def test_a_killed_server_in_each_phase_leaves_the_previous_versions_after_a_restart(world):
    srv = world.server
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        frozen = freeze_all(c, srv.proc.pid, SCENARIOS)  # one job in each phase, all at once
    kill_tree(srv)
    world.server = None
    drafts = [n for name in frozen for n in world.files(name) if n.startswith(".tmp-")]
    assert drafts, "the killed jobs left no draft: the test would prove nothing"

    # The restart: two processes, one of which runs the jobs (one at a time, for the take-over below).
    env = {**world.env, "EMBEDDINGS_MAX_CONCURRENT_JOBS": "1", "EMBEDDINGS_IMPORT_JOB_BYTES": "100000"}
    servers = start_servers(2, world.data, env)
    try:
        for s in servers:
            with httpx.Client(base_url=s.url, timeout=60) as c:
                for name, (job_id, _) in frozen.items():
                    ended = job(c, job_id)
                    assert ended["status"] == "failed" and "interrupted" in ended["error"], f"{name}: {ended}"
                    check_unchanged(world, c, name)
        takeover_removes_the_staged_upload_of_the_interrupted_import(world, servers)
    finally:
        for s in servers:
            s.stop()


def runner_of(servers: list[Server], data: Path) -> Server:
    """The server that holds the job runner's lock (``/proc/locks`` names its pid)."""
    inode = os.stat(data / "embeddings" / "jobs" / "runner.lock").st_ino
    with open("/proc/locks") as f:
        holders = {int(parts[4]) for line in f if (parts := line.split())[5].endswith(f":{inode}")}
    (runner,) = [s for s in servers if s.proc.pid in holders]
    return runner


def takeover_removes_the_staged_upload_of_the_interrupted_import(world: World, servers: list[Server]) -> None:
    """The runner dies while an uploaded file is imported and another waits: the process that takes
    over removes the first staged file at once (it is seconds old) and imports the second."""
    staged = world.data / "embeddings" / "staged"
    runner = runner_of(servers, world.data)
    big = (world.imports / "big.bin").read_bytes()
    with httpx.Client(base_url=runner.url, timeout=60) as c:
        upload = lambda c, kind, name, phase: post(c, f"/v1/models/{name}/import", content=big)  # noqa: E731
        ((first, pid),) = freeze_all(
            c, runner.proc.pid, [("staged-a", "upload", "importing")], upload
        ).values()
        (first_file,) = staged.iterdir()
        second = post(c, "/v1/models/staged-b/import", content=(world.imports / "mid.bin").read_bytes())
        assert job(c, second)["status"] == "queued"  # one job at a time
        (second_file,) = set(staged.iterdir()) - {first_file}
    kill_tree(runner)
    other = next(s for s in servers if s is not runner)
    with httpx.Client(base_url=other.url, timeout=60) as c:
        ended = wait_ended(c, first, 30)
        assert ended["status"] == "failed" and "interrupted" in ended["error"], ended
        assert not first_file.exists()  # at once, though it is seconds old
        assert not (world.models_dir() / "staged-a").exists()
        done = wait_ended(c, second, 60)  # it read its staged file, kept at the take-over
        assert done["status"] == "succeeded" and done["result"]["vocab_size"] == 2000, done
        assert not second_file.exists() and list(staged.iterdir()) == []
    assert not alive(pid)
