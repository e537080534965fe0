"""Raw uploads a web page of another site could send (CORS-"simple": no preflight) are refused while no
token is set: ``POST /v1/corpora``, ``POST /v1/datasets``, ``POST /v1/models/{name}/import``.

A page may POST cross-site, without asking first, a body typed ``text/plain``,
``application/x-www-form-urlencoded`` or ``multipart/form-data``, or one with no type at all (a
``fetch`` of bytes; the browser then sends ``Origin``). Without a token such a body is a 415 problem
naming the type to send, and nothing is stored; the documented types (and the project's own client,
which sends ``application/octet-stream``) still work. With a token, every type is taken as before.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from tests.helpers import assert_problem

CORPUS = b"the cat sat on the mat\nthe dog sat on the log\n"
PAIRS = b"abc\tcba\nxy\tyx\n"
TOKEN = "a-real-secret-for-the-test-0123456789"

SIMPLE = [
    {"Content-Type": "text/plain"},
    {"Content-Type": "Text/Plain; charset=utf-8"},
    {"Content-Type": "application/x-www-form-urlencoded"},  # curl --data-binary's default
    {"Content-Type": "multipart/form-data; boundary=xyz"},
    {"Origin": "http://evil.example"},  # no type, from a browser: fetch(url, {body: bytes})
]


def vectors() -> bytes:
    """A word2vec text file of three 4-d vectors."""
    rows = np.eye(3, 4, dtype=np.float32)
    return (
        "3 4\n" + "".join(f"{w} " + " ".join(f"{x:g}" for x in row) + "\n" for w, row in zip("abc", rows))
    ).encode()


@pytest.fixture
def clients(make_embeddings_client, make_attention_client, tmp_path):
    with make_embeddings_client(tmp_path / "e") as emb, make_attention_client(tmp_path / "a") as att:
        yield emb, att


def test_cors_simple_uploads_are_refused_without_a_token(clients):
    emb, att = clients
    routes = [
        (emb, "/v1/corpora", CORPUS, "/v1/corpora", "corpora"),
        (att, "/v1/datasets?format=tsv", PAIRS, "/v1/datasets", "datasets"),
        (emb, "/v1/models/vecs/import", vectors(), "/v1/models", "models"),
    ]
    for client, url, body, listing, key in routes:
        for headers in SIMPLE:
            problem = assert_problem(
                client.post(url, content=body, headers=headers), 415, "unsupported-upload-type"
            )
            assert "application/octet-stream" in problem["detail"], problem
            assert problem["accepted"][0] == "application/octet-stream", problem
            assert "no API token" in problem["detail"]
        assert client.get(listing).json()[key] == [], f"{url}: a refused upload was stored"
    # what each route documents, and what the project's client sends, still works
    assert (
        emb.post(
            "/v1/corpora?name=c1", content=CORPUS, headers={"Content-Type": "application/octet-stream"}
        ).status_code
        == 201
    )
    gz = gzip.compress(CORPUS)
    assert (
        emb.post("/v1/corpora?name=c2", content=gz, headers={"Content-Type": "application/gzip"}).status_code
        == 201
    )
    for i, media in enumerate(("application/octet-stream", "text/tab-separated-values", "application/jsonl")):
        body = PAIRS if media != "application/jsonl" else b'["ab", "ba"]\n'
        r = att.post(f"/v1/datasets?name=d{i}", content=body, headers={"Content-Type": media})
        assert r.status_code == 201, (media, r.text)
    r = emb.post(
        "/v1/models/vecs/import", content=vectors(), headers={"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 201, r.text
    # a script (no browser: no Origin) that sends bytes without a type is not a web page
    assert emb.post("/v1/corpora?name=c3", content=CORPUS).status_code == 201
    # the JSON form of the import route is another route's business (application/json needs a preflight)
    assert_problem(emb.post("/v1/models/x/import", json={"path": "v.bin"}), 422, "import-dir-unset")
    # the manual says what to send
    doc = emb.get("/openapi.json").json()["paths"]
    assert list(doc["/v1/corpora"]["post"]["requestBody"]["content"]) == ["application/octet-stream"]
    assert "415" in doc["/v1/corpora"]["post"]["requestBody"]["description"]
    datasets = att.get("/openapi.json").json()["paths"]["/v1/datasets"]["post"]
    assert set(datasets["requestBody"]["content"]) == {
        "application/octet-stream",
        "text/tab-separated-values",
        "application/jsonl",
    }


def test_with_a_token_every_type_is_taken_as_before(make_embeddings_client, make_attention_client, tmp_path):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    emb_c = make_embeddings_client(tmp_path / "e", api_token=TOKEN)
    att_c = make_attention_client(tmp_path / "a", api_token=TOKEN)
    with emb_c as emb, att_c as att:
        plain = {**auth, "Content-Type": "text/plain"}
        assert emb.post("/v1/corpora?name=c", content=CORPUS, headers=plain).status_code == 201
        assert att.post("/v1/datasets?format=tsv", content=PAIRS, headers=plain).status_code == 201
        r = emb.post("/v1/models/v/import", content=vectors(), headers={**auth, "Origin": "http://x.example"})
        assert r.status_code == 201, r.text
        # and the token is what stops a page: it cannot send one
        assert_problem(
            emb.post("/v1/corpora?name=d", content=CORPUS, headers={"Content-Type": "text/plain"}), 401
        )
