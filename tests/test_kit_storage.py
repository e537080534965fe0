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
