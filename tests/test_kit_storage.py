"""Atomic files, directories and the versioned model store."""

from __future__ import annotations

import pytest

from service.kit.model_store import ModelStore
from service.kit.storage import atomic_directory, atomic_write_json, read_json, remove_temporaries


def test_atomic_write_leaves_previous_version_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "meta.json"
    atomic_write_json(path, {"v": 1})

    import service.kit.storage as storage

    def crash(*a, **k):
        raise OSError("disk died mid-write")

    monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_json(path, {"v": 2})
    monkeypatch.undo()
    assert read_json(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_atomic_directory(tmp_path):
    with atomic_directory(tmp_path / "v1") as d:
        (d / "a.txt").write_text("x")
    assert (tmp_path / "v1" / "a.txt").read_text() == "x"
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "v2") as d:
        (d / "a.txt").write_text("half")
        raise RuntimeError("crash")
    assert not (tmp_path / "v2").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1"]
    (tmp_path / ".tmp-left-over").mkdir()
    assert remove_temporaries(tmp_path) == 1


def test_model_store_versions_and_crash(tmp_path):
    store = ModelStore(tmp_path)
    assert store.names() == [] and store.current("m") is None
    with store.new_version("m", {"algorithm": "x"}) as d:
        (d / "w.txt").write_text("one")
    with store.new_version("m", {"algorithm": "x"}) as d:
        (d / "w.txt").write_text("two")
    cur = store.current("m")
    assert cur.version == 2 and (cur.path / "w.txt").read_text() == "two" and cur.meta["algorithm"] == "x"
    with pytest.raises(RuntimeError), store.new_version("m", {}) as d:
        (d / "w.txt").write_text("three, half written")
        raise RuntimeError("killed mid-save")
    assert store.current("m").version == 2
    assert store.versions("m") == [1, 2]
    assert store.names() == ["m"]
    with pytest.raises(ValueError):
        store.current("../etc")
    assert store.delete("m") and store.names() == [] and not store.delete("m")


def test_run_while_connected_tells_the_work_when_the_client_has_gone(tmp_path):
    """A long validation of an upload (here: a real corpus scan) stops once the client disconnects."""
    import asyncio
    import gzip

    from starlette.requests import Request

    from models.embeddings.corpus import ScanCancelled, scan_corpus
    from service.kit.storage import run_while_connected

    path = tmp_path / "big.txt.gz"
    path.write_bytes(gzip.compress(b"the cat sat on the mat\n" * 200_000))

    async def gone():  # the ASGI server's message once the client closed the connection
        return {"type": "http.disconnect"}

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, gone)

    def work(should_stop):
        import time

        deadline = time.monotonic() + 5
        while not should_stop() and time.monotonic() < deadline:  # the watcher polls every 0.25 s
            time.sleep(0.01)
        return scan_corpus(path, should_stop=should_stop)

    with pytest.raises(ScanCancelled):
        asyncio.run(run_while_connected(request, work))

    async def connected():
        await asyncio.sleep(10)
        return {"type": "http.request", "body": b"", "more_body": False}

    still_there = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, connected)
    stats = asyncio.run(
        run_while_connected(still_there, lambda should_stop: scan_corpus(path, should_stop=should_stop))
    )
    assert stats.sentences == 200_000


# --------------------------------------------------------------------------- publish last


def _dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_draft_is_invisible_until_published_and_an_abandoned_first_one_leaves_nothing(tmp_path):
    store = ModelStore(tmp_path)
    with store.draft("m") as draft:
        (draft.path / "w.txt").write_text("one")
        assert store.versions("m") == [] and store.current("m") is None and store.names() == []
        published = draft.publish({"algorithm": "x"})
    assert published.version == 1 and store.current("m").meta == {"algorithm": "x", "version": 1}
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["CURRENT.json", "v1"]
    with pytest.raises(RuntimeError), store.draft("m") as draft:
        (draft.path / "w.txt").write_text("two, half written")
        raise RuntimeError("cancelled")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["CURRENT.json", "v1"]
    with pytest.raises(RuntimeError), store.draft("first") as draft:
        (draft.path / "w.txt").write_text("a failed first version")
        raise RuntimeError("failed")
    assert not (tmp_path / "first").exists()  # no empty model directory


PUBLISH_AND_DIE = """
import os, pathlib, sys
from service.kit.model_store import ModelStore

unlink = pathlib.Path.unlink

def die_before_the_journal_goes(self, *args, **kwargs):
    if self.name.startswith(".publish-"):
        os._exit(9)  # killed after CURRENT.json was replaced, before the publication was done
    return unlink(self, *args, **kwargs)

pathlib.Path.unlink = die_before_the_journal_goes
with ModelStore(pathlib.Path(sys.argv[1])).draft("m") as draft:
    (draft.path / "w.txt").write_text("two")
    draft.publish({})
"""


def test_a_publication_cut_short_by_a_crash_is_undone_by_the_cleaning(tmp_path):
    import os
    import subprocess
    import sys

    store = ModelStore(tmp_path / "models")
    with store.new_version("m", {}) as d:
        (d / "w.txt").write_text("one")
    script = tmp_path / "die.py"
    script.write_text(PUBLISH_AND_DIE)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, str(script), str(store.root)], env=env, capture_output=True)
    assert done.returncode == 9, done.stderr.decode()
    assert store.current("m").version == 2  # what the crash left: v2 current, its journal beside it
    assert [p.name.startswith(".publish-") for p in (store.root / "m").iterdir()].count(True) == 1
    assert store.clean_model("m") == 1
    assert store.current("m").version == 1 and store.versions("m") == [1]
    assert sorted(p.name for p in (store.root / "m").iterdir()) == ["CURRENT.json", "v1"]
    assert (store.current("m").path / "w.txt").read_text() == "one"


def test_a_publication_that_fails_midway_undoes_itself(tmp_path, monkeypatch):
    import service.kit.model_store as model_store

    store = ModelStore(tmp_path)
    with store.new_version("m", {}) as d:
        (d / "w.txt").write_text("one")
    write = model_store.atomic_write_json

    def fail_on_current(path, obj, **kw):
        if path.name == "CURRENT.json":
            raise SystemExit(143)  # a cancel's SIGTERM, unwinding, just after the rename
        return write(path, obj, **kw)

    monkeypatch.setattr(model_store, "atomic_write_json", fail_on_current)
    with pytest.raises(SystemExit), store.draft("m") as draft:
        (draft.path / "w.txt").write_text("two")
        draft.publish({})
    monkeypatch.undo()
    assert store.current("m").version == 1 and store.versions("m") == [1]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["CURRENT.json", "v1"]


def test_cleaning_removes_the_drafts_of_dead_writers_only(tmp_path):
    store = ModelStore(tmp_path)
    with store.new_version("m", {}) as d:
        (d / "w.txt").write_text("one")
    dead = tmp_path / "m" / f".tmp-new-{_dead_pid()}-0123abcd"
    dead.mkdir()
    (dead / "w.txt").write_text("half")
    orphan = tmp_path / "gone" / f".tmp-new-{_dead_pid()}-0123abcd"  # a first version, killed
    orphan.mkdir(parents=True)
    with store.draft("m") as mine:  # a live writer's (this process)
        assert store.clean_model("m") == 1 and not dead.exists() and mine.path.exists()
        assert store.clean() == 1 and not (tmp_path / "gone").exists() and mine.path.exists()
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["CURRENT.json", "v1"]


def test_files_added_beside_a_version_arrive_with_their_metadata_or_not_at_all(tmp_path):
    store = ModelStore(tmp_path)
    with store.new_version("m", {"algorithm": "x"}) as d:
        (d / "w.txt").write_text("one")
    with pytest.raises(RuntimeError), store.add_files("m", 1) as addition:
        (addition.path / "index.bin").write_text("half")
        raise RuntimeError("cancelled")
    assert sorted(p.name for p in store.get("m", 1).path.iterdir()) == ["version.json", "w.txt"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["CURRENT.json", "v1"]
    with store.add_files("m", 1) as addition:
        (addition.path / "index.bin").write_text("whole")
        added = addition.commit({"index": {"kind": "test"}})
    assert added.meta == {"algorithm": "x", "version": 1, "index": {"kind": "test"}}
    assert (store.get("m", 1).path / "index.bin").read_text() == "whole"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["CURRENT.json", "v1"]
