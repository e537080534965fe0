"""Imports over HTTP: files in ``EMBEDDINGS_IMPORT_DIR`` and large uploads as jobs (202, progress,
cancel), ``limit``, paths that leave the import directory, faults found mid-file, a full disk, and a
second import of the same name (409) -- never a half-made version."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import numpy as np
import pytest
from gensim.models import KeyedVectors

from tests.helpers import assert_problem, embeddings_client, wait_job
from tests.test_embeddings_api import assert_neighbours, stored_kv


def write_binary(path, n: int, dim: int = 16, seed: int = 1, word_len: int = 0) -> list[int]:
    """A word2vec binary file of ``n`` random vectors ``w0..``; returns each record's byte offset."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype("<f4")
    offsets = []
    with open(path, "wb") as f:
        f.write(f"{n} {dim}\n".encode())
        for i, v in enumerate(vectors):
            offsets.append(f.tell())
            f.write(f"w{i}".ljust(word_len, "x").encode() + b" " + v.tobytes())
    return offsets


@pytest.fixture(scope="module")
def import_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("imports")
    write_binary(d / "vecs.bin", 3000)
    (d / "sub").mkdir()
    write_binary(d / "sub" / "small.bin", 50)
    outside = tmp_path_factory.mktemp("outside")
    write_binary(outside / "secret.bin", 10)
    os.symlink(outside / "secret.bin", d / "link.bin")
    return d


@pytest.fixture(scope="module")
def client(tmp_path_factory, import_dir):
    with embeddings_client(
        tmp_path_factory.mktemp("emb-import"),
        import_dir=str(import_dir),
        import_job_bytes=64 * 1024,
        index_min_vocab=1_000_000,
    ) as c:
        yield c


def run_import(c, name: str, body: dict) -> dict:
    r = c.post(f"/v1/models/{name}/import", json=body)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["location"]
    return wait_job(c, r.json()["job_id"])


def test_a_file_in_the_import_dir_is_imported_by_a_job(client, import_dir):
    job = run_import(client, "big", {"path": "vecs.bin"})
    assert job["status"] == "succeeded" and job["kind"] == "import", job
    result = job["result"]
    assert result["vocab_size"] == 3000 and result["vector_size"] == 16 and result["version"] == 1
    assert result["import_bytes"] == os.path.getsize(import_dir / "vecs.bin")
    assert result["peak_rss_bytes"] > 0 and result["mb_per_s"] > 0 and result["duplicates"] == 0
    info = client.get("/v1/models/big").json()
    assert info["source"] == "imported" and info["storage"] == "npy" and not info["trainable"]
    ref = KeyedVectors.load_word2vec_format(import_dir / "vecs.bin", binary=True)
    r = client.post("/v1/models/big/similar", json={"positive": ["w7"], "topn": 5})
    assert r.status_code == 200, r.text
    assert_neighbours(r.json()["results"], ref.most_similar("w7", topn=5))
    assert stored_kv(client, "big").index_to_key == ref.index_to_key
    assert not list((import_dir).glob("*.tmp*"))  # the source is read in place, never moved


def test_limit_keeps_the_first_vectors_and_overwrite_makes_a_version(client):
    job = run_import(client, "big", {"path": "vecs.bin", "limit": 100, "overwrite": True})
    assert job["status"] == "succeeded", job
    assert job["result"]["vocab_size"] == 100 and job["result"]["version"] == 2
    assert stored_kv(client, "big").index_to_key == [f"w{i}" for i in range(100)]
    r = client.post("/v1/models/big/import", json={"path": "vecs.bin"})
    assert_problem(r, 409, "model-exists")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("../outside/secret.bin", "path-outside-import-dir"),
        ("/etc/passwd", "path-outside-import-dir"),
        ("link.bin", "path-outside-import-dir"),  # a link pointing outside
        ("sub/../../x.bin", "path-outside-import-dir"),
        ("nope.bin", "import-file-not-found"),
        ("sub", "import-file-not-found"),
        ("a\x00b", "path-outside-import-dir"),
    ],
)
def test_paths_that_leave_the_import_dir_are_422(client, path, code):
    r = client.post("/v1/models/p/import", json={"path": path})
    body = assert_problem(r, 422, code)
    assert not client.app.state.runtime.store.exists("p"), body


def test_json_bodies_are_validated(client):
    assert_problem(client.post("/v1/models/p/import", json={"path": "vecs.bin", "limit": 0}), 422)
    assert_problem(client.post("/v1/models/p/import", json={"path": "vecs.bin", "extra": 1}), 422)
    assert_problem(client.post("/v1/models/p/import", json={}), 422)
    r = client.post("/v1/models/p/import", json={"path": "x" * 70_000})
    assert_problem(r, 422)


def test_without_an_import_dir_json_imports_are_422(tmp_path):
    with embeddings_client(tmp_path) as c:
        assert_problem(c.post("/v1/models/p/import", json={"path": "vecs.bin"}), 422, "import-dir-unset")


def test_a_large_upload_is_a_job_and_its_staged_copy_is_removed(client, tmp_path):
    src = tmp_path / "up.bin"
    write_binary(src, 2000, seed=5)  # ~140 kB, over import_job_bytes
    r = client.post("/v1/models/up/import?limit=1500", content=src.read_bytes())
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job_id"])
    assert job["status"] == "succeeded" and job["result"]["vocab_size"] == 1500, job
    staged = client.app.state.runtime.staged_dir
    assert not list(staged.iterdir())
    small = tmp_path / "small.bin"
    write_binary(small, 20, seed=6)
    r = client.post("/v1/models/tiny/import", content=small.read_bytes())
    assert r.status_code == 201 and r.json()["vocab_size"] == 20, r.text
    assert not list(staged.iterdir())


def test_a_file_corrupt_mid_way_fails_its_job_naming_the_offset_and_keeps_the_last_version(
    client, import_dir
):
    path = import_dir / "corrupt.bin"
    offsets = write_binary(path, 3000, seed=2)
    data = bytearray(path.read_bytes())
    data[offsets[2500] + 1] = 0xFF  # the word of record 2501 is not UTF-8
    path.write_bytes(bytes(data))
    before = client.get("/v1/models/big").json()["version"]
    job = run_import(client, "big", {"path": "corrupt.bin", "overwrite": True})
    assert job["status"] == "failed", job
    assert f"byte offset {offsets[2500]}" in job["error"] and "record 2501" in job["error"], job["error"]
    assert client.get("/v1/models/big").json()["version"] == before
    model_dir = client.app.state.runtime.models_dir / "big"
    assert sorted(p.name for p in model_dir.iterdir() if p.name.startswith(".")) == []  # no temporaries


def test_a_truncated_file_is_422_at_once(client, import_dir):
    path = import_dir / "cut.bin"
    write_binary(path, 3000, seed=3)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    r = client.post("/v1/models/cut/import", json={"path": "cut.bin"})
    body = assert_problem(r, 422, "invalid-model-file")
    assert "truncated" in body["detail"]
    assert not client.app.state.runtime.store.exists("cut")


def test_a_second_import_of_the_same_name_while_one_runs_is_409(client, import_dir):
    write_binary(import_dir / "slow.bin", 60_000, dim=64, seed=4)  # ~16 MB: runs long enough
    r1 = client.post("/v1/models/twice/import", json={"path": "slow.bin"})
    assert r1.status_code == 202, r1.text
    r2 = client.post("/v1/models/twice/import", json={"path": "slow.bin"})
    assert_problem(r2, 409, "job-active")
    r3 = client.post("/v1/models/twice/import", content=b"2 2\na 1 2\nb 3 4\n")
    assert_problem(r3, 409, "job-active")
    assert wait_job(client, r1.json()["job_id"])["status"] == "succeeded"


def test_a_cancelled_import_leaves_no_version_and_no_temporaries(client, import_dir):
    write_binary(import_dir / "cancel.bin", 200_000, dim=64, seed=8)  # ~52 MB
    r = client.post("/v1/models/cancelled/import", json={"path": "cancel.bin"})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 30
    while client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.delete(f"/v1/jobs/{job_id}").status_code in (200, 202, 409)
    job = wait_job(client, job_id)
    model_dir = client.app.state.runtime.models_dir / "cancelled"
    if job["status"] == "cancelled":
        assert not client.app.state.runtime.store.exists("cancelled")
    else:  # finished before the cancel arrived: then it is a complete version
        assert job["status"] == "succeeded", job
    leftovers = (
        [p.name for p in model_dir.iterdir() if not p.name.startswith("v")] if model_dir.exists() else []
    )
    assert [n for n in leftovers if n != "CURRENT.json"] == []


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs as the data directory (needs root and a kernel that lets it mount)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_fails_the_job_clearly_and_the_last_version_is_served(small_disk, tmp_path):
    imports = tmp_path / "imports"
    imports.mkdir()
    write_binary(imports / "ok.bin", 100)
    write_binary(imports / "huge.bin", 40_000, dim=32)  # a 5 MB matrix: more than the disk
    write_binary(imports / "longwords.bin", 3000, dim=4, word_len=1500)  # 48 kB matrix, 4.5 MB of words
    with embeddings_client(small_disk, import_dir=str(imports), train_default=False) as c:
        assert run_import(c, "m", {"path": "ok.bin"})["status"] == "succeeded"
        job = run_import(c, "m", {"path": "huge.bin", "overwrite": True})
        assert job["status"] == "failed" and "not enough disk space" in job["error"], job
        job = run_import(c, "m", {"path": "longwords.bin", "overwrite": True})
        assert job["status"] == "failed" and "disk filled up" in job["error"], job
        assert c.get("/v1/models/m").json()["version"] == 1
        r = c.post("/v1/models/m/similar", json={"positive": ["w1"], "topn": 3})
        assert r.status_code == 200, r.text
        model_dir = c.app.state.runtime.models_dir / "m"
        assert sorted(p.name for p in model_dir.iterdir()) == ["CURRENT.json", "v1"]


def test_a_glove_file_and_a_fasttext_bin_are_imported_and_answer_as_gensim(client, import_dir, tmp_path):
    from gensim.models.fasttext import load_facebook_vectors
    from gensim.test.utils import datapath

    from bench.fasttext_bench import write_fasttext_bin

    # GloVe (no header), named in the import directory: a job; the same file uploaded: within the request
    shutil.copy(datapath("test_glove.txt"), import_dir / "glove.6B.50d.txt")
    job = run_import(client, "glove", {"path": "glove.6B.50d.txt"})
    assert job["status"] == "succeeded", job
    assert job["result"]["import_format"] == "glove" and job["result"]["vocab_size"] == 76
    info = client.get("/v1/models/glove").json()
    assert info["algorithm"] == "glove" and info["storage"] == "npy" and not info["oov_vectors"]
    ref = KeyedVectors.load_word2vec_format(datapath("test_glove.txt"), binary=False, no_header=True)
    for word in ("the", "of", "said"):
        r = client.post("/v1/models/glove/similar", json={"positive": [word], "topn": 5})
        assert r.status_code == 200, r.text
        assert_neighbours(r.json()["results"], ref.most_similar(word, topn=5))
    r = client.post(
        "/v1/models/glove-up/import?format=glove", content=(import_dir / "glove.6B.50d.txt").read_bytes()
    )
    assert r.status_code == 201 and r.json()["vocab_size"] == 76, r.text
    assert stored_kv(client, "glove-up").index_to_key == ref.index_to_key

    # fastText .bin: by a job from the import directory, and uploaded
    write_fasttext_bin(import_dir / "cc.tiny.bin", 2000, 5000, 16)
    job = run_import(client, "ft", {"path": "cc.tiny.bin"})
    assert job["status"] == "succeeded", job
    assert job["result"]["import_format"] == "fasttext-bin" and job["result"]["vocab_size"] == 2000
    info = client.get("/v1/models/ft").json()
    assert info["algorithm"] == "fasttext" and info["oov_vectors"] and info["bucket"] == 5000
    r = client.post(
        "/v1/models/cp-ft/import?format=fasttext-bin",
        content=open(datapath("crime-and-punishment.bin"), "rb").read(),
    )
    assert r.status_code == 201, r.text
    for name, path in (("ft", import_dir / "cc.tiny.bin"), ("cp-ft", datapath("crime-and-punishment.bin"))):
        ref = load_facebook_vectors(str(path))
        oov = ["qwzxyy", "kingdomz", "éléphant", "babababaq"]
        r = client.post(f"/v1/models/{name}/vectors", json={"words": oov + [ref.index_to_key[5]]})
        assert r.status_code == 200, r.text
        got = r.json()["vectors"]
        assert [g["oov"] for g in got] == [True] * len(oov) + [False]
        for g in got:
            np.testing.assert_allclose(g["vector"], ref[g["word"]], atol=1e-6, rtol=0)
        for word in (ref.index_to_key[7], "qwzxyy"):
            r = client.post(f"/v1/models/{name}/similar", json={"positive": [word], "topn": 5})
            assert r.status_code == 200, r.text
            assert_neighbours(r.json()["results"], ref.most_similar(word, topn=5))


def test_a_quantized_fasttext_model_and_a_header_that_miscounts_are_422(client, import_dir):
    from bench.fasttext_bench import write_fasttext_bin

    write_fasttext_bin(import_dir / "model.ftz", 20, 30, 4, quantized=True)
    body = assert_problem(
        client.post("/v1/models/q/import", json={"path": "model.ftz"}), 422, "invalid-model-file"
    )
    assert "quantized fastText model" in body["detail"]
    small = b"2 2\na 1 2\nb 3 4\nc 5 6\n"  # the header says 2 vectors, the file holds 3
    body = assert_problem(client.post("/v1/models/q/import", content=small), 422, "invalid-model-file")
    assert "the header says 2 vectors, but the file holds 3" in body["detail"] and body["offset"] == 16
    assert not client.app.state.runtime.store.exists("q")
