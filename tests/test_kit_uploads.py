"""UploadStore on real files: commit, read, list, delete, name clashes, invalid ids, and the clean-up
of what an interrupted upload left."""

from __future__ import annotations

import time

import pytest

from service.kit.errors import ConflictError, NotFoundError
from service.kit.storage import TMP_PREFIX
from service.kit.uploads import META, UploadStore


def upload(store: UploadStore, upload_id: str, body: bytes = b"the cat sat\n", **meta) -> dict:
    tmp = store.incoming()
    tmp.write_bytes(body)
    return store.commit(upload_id, tmp, "data.txt", {"format": "text", **meta})


def test_a_committed_upload_is_read_back_listed_and_deleted(tmp_path):
    store = UploadStore(tmp_path / "corpora", kind="corpus")
    assert store.list() == [] and not store.exists("cats")
    meta = upload(store, "cats", b"the cat sat\n")
    assert meta["id"] == "cats" and meta["kind"] == "corpus" and meta["format"] == "text"
    assert meta["bytes"] == len(b"the cat sat\n") and meta["created"]
    assert store.exists("cats") and store.get("cats") == meta  # the stored file's name stays inside
    assert store.path("cats") == tmp_path / "corpora" / "cats" / "data.txt"
    assert store.path("cats").read_bytes() == b"the cat sat\n"
    assert sorted(p.name for p in (tmp_path / "corpora").iterdir()) == ["cats"]  # no temporary left
    time.sleep(0.01)
    upload(store, "dogs", b"the dog ran\n", kind="jsonl")
    assert [m["id"] for m in store.list()] == ["dogs", "cats"]  # newest first
    assert store.get("dogs")["kind"] == "jsonl"  # a kind the service gives wins over the store's
    store.delete("cats")
    assert not store.exists("cats") and [m["id"] for m in store.list()] == ["dogs"]
    with pytest.raises(NotFoundError) as err:
        store.delete("cats")
    assert err.value.code == "corpus-not-found"


def test_a_taken_id_is_a_conflict_and_the_new_upload_is_removed(tmp_path):
    store = UploadStore(tmp_path / "datasets", kind="dataset")
    upload(store, "pairs", b"ab\tba\n")
    tmp = store.incoming()
    tmp.write_bytes(b"other\tpairs\n")
    with pytest.raises(ConflictError) as err:
        store.commit("pairs", tmp, "data.tsv", {"format": "tsv"})
    assert err.value.code == "dataset-exists"
    assert not tmp.exists() and store.path("pairs").read_bytes() == b"ab\tba\n"


def test_unknown_and_invalid_ids_are_not_found_and_never_touch_other_paths(tmp_path):
    store = UploadStore(tmp_path / "corpora", kind="corpus")
    (tmp_path / "secret.txt").write_text("outside the store")
    for bad in ("missing", "../secret.txt", "UPPER", "a/b", ""):
        with pytest.raises(NotFoundError) as err:
            store.get(bad)
        assert err.value.code == "corpus-not-found"
        with pytest.raises(NotFoundError):
            store.path(bad)
        assert not store.exists("missing")
    with pytest.raises(NotFoundError):
        store.delete("../secret.txt")
    assert (tmp_path / "secret.txt").exists()


def test_only_directories_with_a_readable_meta_json_are_uploads(tmp_path):
    store = UploadStore(tmp_path / "corpora", kind="corpus")
    upload(store, "real")
    (store.root / "no-meta").mkdir()
    (store.root / "no-meta" / "data.txt").write_text("x")
    (store.root / "damaged").mkdir()
    (store.root / "damaged" / META).write_text("{not json")
    (store.root / "stray.txt").write_text("a file, not an upload")
    assert [m["id"] for m in store.list()] == ["real"]
    assert not store.exists("no-meta")
    with pytest.raises(NotFoundError):
        store.get("damaged")


def test_an_upload_left_by_a_crash_is_removed_at_start(tmp_path):
    store = UploadStore(tmp_path / "datasets", kind="dataset")
    leftover = store.incoming()  # streamed, then the process died before commit
    leftover.write_bytes(b"ab\tba\n" * 1000)
    UploadStore(tmp_path / "datasets", kind="dataset").clean()  # the next start
    assert not leftover.exists()


def test_clean_removes_only_temporaries_and_counts_them(tmp_path):
    store = UploadStore(tmp_path / "corpora", kind="corpus")
    assert store.clean() == 0 and store.root.is_dir()  # creates the root
    upload(store, "kept")
    store.incoming().write_bytes(b"half an upload")
    (store.root / f"{TMP_PREFIX}half-made-dir").mkdir()
    assert store.clean() == 2
    assert sorted(p.name for p in store.root.iterdir()) == ["kept"] and store.exists("kept")
