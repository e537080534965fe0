"""No answer shows a server path: a realistic session of each service, every JSON answer walked.

Embeddings: a corpus upload, a training on it, an import from the import directory (a job), an
upload imported by a job (staged) and one within the request, an import job that fails on an
``OSError`` naming its file, refusals of bad paths; then every list and show route. Attention:
datasets (pairs, dev pairs, vectors), trainings on them, then every list and show route. No answer
may contain an absolute spelling of the data or the import directory (nor of the test's directory
above them). Also: an OS error on a path the client named is a 422 on that field, not a 500.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from gensim.models import KeyedVectors

from tests.helpers import assert_problem, embeddings_client, wait_job

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OCTET = {"Content-Type": "application/octet-stream"}


def vectors(path, n: int, dim: int = 8, *, binary: bool = True) -> None:
    kv = KeyedVectors(vector_size=dim)
    words = [f"w{i}" for i in range(n)]
    kv.add_vectors(words, np.random.default_rng(n).standard_normal((n, dim)).astype(np.float32))
    kv.save_word2vec_format(str(path), binary=binary)


class Recorder:
    """Every answer a client got (method, URL, status, text), to search them all at the end."""

    def __init__(self, client):
        self.client = client
        self.answers: list[tuple[str, str, int, str]] = []

    def __call__(self, method: str, url: str, **kwargs):
        r = self.client.request(method, url, **kwargs)
        self.answers.append((method, url, r.status_code, r.text))
        return r

    def get(self, url: str, **kwargs):
        return self("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        return self("POST", url, **kwargs)

    def wait(self, job_id: str) -> dict:
        job = wait_job(self.client, job_id, 180)
        self.get(f"/v1/jobs/{job_id}")
        return job

    def walk_collections(self, *collections: str) -> None:
        """Every list, and every item of it, of the service: jobs, models (and versions), uploads."""
        for job in self.get("/v1/jobs").json()["jobs"]:
            self.get(f"/v1/jobs/{job['id']}")
            self.get(f"/v1/jobs/{job['id']}?history=false")
        for model in self.get("/v1/models").json()["models"]:
            self.get(f"/v1/models/{model['name']}")
            self.get(f"/v1/models/{model['name']}/versions")
        for collection in collections:
            for item in self.get(f"/v1/{collection}").json()[collection]:
                self.get(f"/v1/{collection}/{item['id']}")
        for url in ("/readyz", "/healthz", "/ui/config.json"):
            self.get(url)

    def assert_no_paths(self, *dirs) -> None:
        forms = {form for d in dirs for form in (str(d), os.path.realpath(d))}
        leaks = [
            (method, url, status, form)
            for method, url, status, text in self.answers
            for form in forms
            if form in text or json.dumps(form)[1:-1] in text
        ]
        assert not leaks, leaks
        assert not [a for a in self.answers if ".upload" in a[3] or "/staged/" in a[3]]
        assert len(self.answers) > 20


def test_embeddings_session_shows_no_server_path(tmp_path):
    data, imports = tmp_path / "data", tmp_path / "imports"
    (imports / "sub").mkdir(parents=True)
    vectors(imports / "sub" / "vecs.bin", 300)
    vectors(imports / "gone.bin", 50)
    big, small = tmp_path / "big.bin", tmp_path / "small.txt"
    vectors(big, 800)  # over import_job_bytes: a job imports the staged upload
    vectors(small, 10, binary=False)  # under it: imported within the request
    corpus = "\n".join(" ".join(f"w{(i * 7 + j) % 40}" for j in range(12)) for i in range(200)) + "\n"
    settings = {"import_dir": imports, "import_job_bytes": 16 << 10, "max_concurrent_jobs": 1}
    with embeddings_client(data, **settings) as client:
        rec = Recorder(client)
        r = rec.post("/v1/corpora?name=toy&tokenizer=whitespace", content=corpus.encode(), headers=OCTET)
        assert r.status_code == 201, r.text
        body = {
            "name": "toy-w2v",
            "corpus_id": "toy",
            "params": {"vector_size": 8, "epochs": 2, "min_count": 1},
        }
        train = rec.post("/v1/models", json=body)
        assert train.status_code == 202, train.text
        # queued behind the training (one job at a time), then its file goes: the job fails on an
        # OSError whose message names the file
        gone = rec.post("/v1/models/gone/import", json={"path": "gone.bin"})
        assert gone.status_code == 202, gone.text
        (imports / "gone.bin").unlink()
        named = rec.post("/v1/models/named/import", json={"path": "sub/../sub/vecs.bin"})
        assert named.status_code == 202, named.text
        staged = rec.post("/v1/models/staged/import", content=big.read_bytes(), headers=OCTET)
        assert staged.status_code == 202, staged.text
        inline = rec.post("/v1/models/inline/import", content=small.read_bytes(), headers=OCTET)
        assert inline.status_code == 201, inline.text
        jobs = {k: rec.wait(r.json()["job_id"]) for k, r in (("train", train), ("gone", gone),
                                                             ("named", named), ("staged", staged))}  # fmt: skip
        assert jobs["train"]["status"] == jobs["named"]["status"] == jobs["staged"]["status"] == "succeeded"
        assert jobs["gone"]["status"] == "failed"
        # the failed job says which file, relative to the import directory's setting
        assert "$EMBEDDINGS_IMPORT_DIR/gone.bin" in jobs["gone"]["error"], jobs["gone"]["error"]
        assert jobs["named"]["request"]["path"] == "sub/vecs.bin"
        assert jobs["staged"]["request"]["path"] == "upload" and jobs["gone"]["request"]["path"] == "gone.bin"
        # refusals of paths the client named
        for path, status, kind in (
            ("../data/embeddings/jobs/jobs.sqlite3", 422, "path-outside-import-dir"),
            ("nope.bin", 422, "import-file-not-found"),
            ("x" * 300, 422, "invalid-import-path"),
            ("sub/" + "y" * 300 + "/v.bin", 422, "invalid-import-path"),
        ):
            assert_problem(rec.post("/v1/models/x/import", json={"path": path}), status, kind)
        absolute = client.post("/v1/models/x/import", json={"path": str(imports / "sub" / "vecs.bin")})
        assert_problem(absolute, 422, "path-outside-import-dir")  # (its detail echoes the client's path)
        rec.walk_collections("corpora")
        rec.assert_no_paths(tmp_path, data, imports)


def test_an_os_error_on_a_named_path_is_a_422_naming_the_field(tmp_path):
    """``Path.is_file`` raises ENAMETOOLONG for a 300-character name: a 422 on ``body.path`` (with the
    OS's reason, not the server's path), never a 500."""
    imports = tmp_path / "imports"
    imports.mkdir()
    (imports / "loop").symlink_to(imports / "loop")  # ELOOP when it is looked up
    with embeddings_client(tmp_path / "data", import_dir=imports) as client:
        for path in ("x" * 300, "loop", "a/" * 2100):
            r = client.post("/v1/models/m/import", json={"path": path[:1024]})
            problem = assert_problem(r, 422)
            assert problem["errors"][0]["loc"] == ["body", "path"], problem
            assert str(tmp_path) not in r.text
        long = assert_problem(client.post("/v1/models/m/import", json={"path": "x" * 300}), 422)
        assert long["type"].endswith("/invalid-import-path") and "too long" in long["detail"], long


def test_attention_session_shows_no_server_path(tmp_path, make_attention_client):
    data = tmp_path / "data"
    pairs = "".join(
        f"{w}\t{w[::-1]}\n" for w in ("abc", "hello", "xyz", "ab12", "qwerty", "dog", "cat", "mat")
    )
    words = ["the", "cat", "sat", "dog", "ran"]
    kv = KeyedVectors(vector_size=4)
    kv.add_vectors(words, np.random.default_rng(0).standard_normal((len(words), 4)).astype(np.float32))
    kv.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    with make_attention_client(data, max_concurrent_jobs=1) as client:
        rec = Recorder(client)
        tsv = {"Content-Type": "text/tab-separated-values"}
        assert (
            rec.post("/v1/datasets?format=tsv&name=rev", content=pairs.encode(), headers=tsv).status_code
            == 201
        )
        dev_pairs = "".join(pairs.splitlines(keepends=True)[:3])
        dev = rec.post("/v1/datasets?format=tsv", content=dev_pairs.encode(), headers=tsv)
        assert dev.status_code == 201, dev.text
        vec = rec.post("/v1/datasets?format=word2vec&name=vecs", content=(tmp_path / "v.bin").read_bytes(),
                       headers=OCTET)  # fmt: skip
        assert vec.status_code == 201, vec.text
        small = {"hidden": 8, "emb_dim": 4}
        first = rec.post("/v1/models", json={"name": "rev", "dataset_id": "rev", "dev_dataset_id": dev.json()["id"],
                                             "config": small, "params": {"epochs": 1}})  # fmt: skip
        second = rec.post(
            "/v1/models",
            json={"name": "words", "pairs": [["the cat sat", "sat cat the"], ["the dog ran", "ran dog the"]] * 3,
                  "config": {"tokenization": "word", "hidden": 8}, "embeddings_file": "vecs",
                  "params": {"epochs": 1}},
        )  # fmt: skip
        for r in (first, second):
            assert r.status_code == 202, r.text
            assert rec.wait(r.json()["job_id"])["status"] == "succeeded"
        rec.walk_collections("datasets")
        rec.assert_no_paths(tmp_path, data)


def test_redactor_rewrites_directories_and_credentials(tmp_path):
    from service.kit.redact import Redactor, redact_url

    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "link").symlink_to(data)
    redact = Redactor([(tmp_path / "link", "$DATA")])  # both its spellings: as written, resolved
    text = f"No such file: '{data}/a/b.bin'; see {tmp_path}/link/x and {data}-other/y"
    assert redact.text(text) == f"No such file: '$DATA/a/b.bin'; see $DATA/x and {data}-other/y"
    assert redact({"a": [f"{data}/f", 3, None], "b": "http://u:p@h:1/x"}) == {
        "a": ["$DATA/f", 3, None],
        "b": "http://***@h:1/x",
    }
    assert redact_url("see https://h/x@y and ftp://a@b") == "see https://h/x@y and ftp://***@b"
    started = time.perf_counter()
    redact({"k": ["x" * 10_000] * 100})
    assert time.perf_counter() - started < 1
