"""ModelRegistry over a real ModelStore on disk: loading once, following the store (new versions,
deletions, roll-backs, metadata changed in place), pinned versions, and concurrent lookups."""

from __future__ import annotations

import threading
import time

import pytest

from service.kit.errors import NotFoundError
from service.kit.model_store import ModelStore
from service.kit.registry import ModelRegistry


def write_version(store: ModelStore, name: str, text: str, **meta) -> None:
    with store.new_version(name, meta) as d:
        (d / "model.txt").write_text(text)


class CountingLoader:
    """A loader that reads a version's ``model.txt`` and counts its calls."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[tuple[str, int]] = []
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def __call__(self, version):
        with self._lock:
            self.calls.append((version.name, version.version))
        time.sleep(self.delay_s)
        text = (version.path / "model.txt").read_text()
        if text == "broken":
            raise ValueError(f"cannot load {version.name} v{version.version}")
        return text


def test_a_model_is_loaded_once_and_a_version_written_by_another_process_is_served_next(tmp_path):
    store = ModelStore(tmp_path)
    write_version(store, "m", "one")
    loader = CountingLoader()
    registry = ModelRegistry(store, loader, service="t")
    assert registry.loaded() == {} and not registry.is_loaded("m")
    first = registry.get("m")
    assert (first.name, first.version, first.model) == ("m", 1, "one")
    assert registry.get("m") is first and loader.calls == [("m", 1)]
    assert registry.loaded() == {"m": 1} and registry.is_loaded("m")
    write_version(ModelStore(tmp_path), "m", "two")  # another process's store, same directory
    second = registry.get("m")
    assert (second.version, second.model) == (2, "two") and loader.calls == [("m", 1), ("m", 2)]
    assert first.model == "one"  # a request holding the old entry keeps a consistent pair


def test_a_model_deleted_on_disk_is_dropped_from_memory_and_not_found(tmp_path):
    store = ModelStore(tmp_path)
    write_version(store, "m", "one")
    registry = ModelRegistry(store, CountingLoader(), service="t")
    registry.get("m")
    assert ModelStore(tmp_path).delete("m")
    with pytest.raises(NotFoundError) as err:
        registry.get("m")
    assert err.value.code == "model-not-found"
    assert registry.loaded() == {} and not registry.is_loaded("m")
    assert registry.load("m") is None
    with pytest.raises(NotFoundError):
        registry.get("never-was")


def test_making_the_loaded_version_current_again_does_not_reload_it(tmp_path):
    store = ModelStore(tmp_path)
    write_version(store, "m", "one")
    write_version(store, "m", "two")
    loader = CountingLoader()
    registry = ModelRegistry(store, loader, service="t")
    before = registry.get("m")
    store.set_current("m", 2)  # CURRENT.json rewritten with the version already in memory
    after = registry.get("m")
    assert after.model is before.model and after.version == 2 and len(loader.calls) == 1
    assert registry.get("m") is after  # the new stamp is kept: no reload on the next lookup either
    store.set_current("m", 1)
    assert registry.get("m").model == "one" and loader.calls == [("m", 2), ("m", 1)]


def test_update_meta_changes_a_version_in_place_and_the_registry_follows(tmp_path):
    store = ModelStore(tmp_path)
    for text in ("one", "two"):
        with store.new_version("m", {"algorithm": "x"}) as d:
            (d / "w.txt").write_text(text)
    loads: list[dict] = []
    registry = ModelRegistry(store, lambda v: loads.append(dict(v.meta)) or v.meta, service="t")
    assert "extra" not in registry.get("m").meta and len(loads) == 1
    assert registry.get("m") is registry.get("m") and len(loads) == 1  # same stamp: no reload
    store.update_meta("m", 2, {"extra": {"a": 1}})
    assert store.current("m").meta["extra"] == {"a": 1} and store.current("m").version == 2
    assert registry.get("m").model["extra"] == {"a": 1} and len(loads) == 2  # reloaded in place
    store.update_meta("m", 1, {"old": True})  # not the current one: CURRENT.json is left alone
    assert store.get("m", 1).meta["old"] and registry.get("m").model["extra"] and len(loads) == 2
    store.update_meta("m", 2, {}, remove=("extra",))
    assert "extra" not in registry.get("m").model and len(loads) == 3
    with pytest.raises(NotFoundError):
        store.update_meta("m", 9, {"x": 1})


def test_pinned_versions_are_served_beside_the_current_one_and_only_the_most_recent_kept(tmp_path):
    store = ModelStore(tmp_path)
    for text in ("one", "two", "three", "four"):
        write_version(store, "m", text)
    loader = CountingLoader()
    registry = ModelRegistry(store, loader, service="t")
    assert registry.pinned_cache == 2
    assert registry.get("m", 4) is registry.get("m")  # the current version is not pinned twice
    assert registry.get("m", 1).model == "one" and registry.get("m", 2).model == "two"
    assert registry.get("m", 1).model == "one"  # cached (and now the most recently used)
    assert loader.calls == [("m", 4), ("m", 1), ("m", 2)]
    assert registry.loaded() == {"m": 4}  # pinned versions never become current
    assert registry.get("m", 3).model == "three"  # a third pinned version evicts the least recent: 2
    assert registry.is_loaded("m", 1) and registry.is_loaded("m", 3) and not registry.is_loaded("m", 2)
    registry.forget_version("m", 1)
    assert not registry.is_loaded("m", 1)
    with pytest.raises(NotFoundError) as err:
        registry.get("m", 9)
    assert err.value.code == "version-not-found" and err.value.extensions["model"] == "m"
    registry.drop("m")
    assert registry.loaded() == {} and not registry.is_loaded("m", 3)


def test_load_all_skips_a_model_that_cannot_be_loaded_and_a_lookup_raises_its_error(tmp_path):
    store = ModelStore(tmp_path)
    write_version(store, "bad", "broken")
    write_version(store, "good", "fine")
    registry = ModelRegistry(store, CountingLoader(), service="t")
    assert registry.load_all() == ["good"]
    assert registry.loaded() == {"good": 1}
    with pytest.raises(ValueError, match="cannot load bad v1"):
        registry.get("bad")


def test_concurrent_lookups_of_a_model_not_yet_in_memory_load_it_once(tmp_path):
    store = ModelStore(tmp_path)
    write_version(store, "m", "one")
    loader = CountingLoader(delay_s=0.2)  # a slow load: every thread asks while it runs
    registry = ModelRegistry(store, loader, service="t")
    barrier = threading.Barrier(8)
    got = []

    def lookup():
        barrier.wait()
        got.append(registry.get("m"))

    threads = [threading.Thread(target=lookup) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(got) == 8 and all(entry is got[0] for entry in got)
    assert loader.calls == [("m", 1)]
