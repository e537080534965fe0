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
