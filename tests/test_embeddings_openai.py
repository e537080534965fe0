"""``POST /v1/embeddings`` through the official ``openai`` SDK against the real service
(``python -m service embeddings``, :class:`tests.helpers.Server`), on models imported in the test: a
Word2Vec of known vectors (two versions) and gensim's Lee FastText (out-of-vocabulary vectors).

The SDK's answers equal ``/sentence-vectors`` with its defaults (and the mean of the imported
vectors, computed here) for both encodings; ``name@N`` serves version N; errors are the SDK's own
exceptions (OpenAI's envelope, this route only); 2,048 inputs pass at the default settings;
concurrent SDK calls share micro-batches (``embattn_batch_rows`` of batcher ``openai_embeddings``).
"""

from __future__ import annotations

import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

openai = pytest.importorskip("openai")

from tests.helpers import PROBLEM, Server  # noqa: E402

DIM = 24
SIMPLE = re.compile(r"^[a-z]{2,15}$")


def vocabulary(n: int, seed: int) -> list[str]:
    """``n`` distinct lowercase words of 3..9 letters (all kept by the ``simple`` tokenizer)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words: dict[str, None] = {}
    while len(words) < n:
        words["".join(rng.choice(letters, rng.integers(3, 10)))] = None
    return list(words)


WORDS = vocabulary(300, seed=0)


def word2vec_text(words: list[str], vectors: np.ndarray) -> bytes:
    """A word2vec text file; ``repr`` of a float32 value parses back to the same float32."""
    lines = [f"{len(words)} {vectors.shape[1]}"]
    lines += [w + " " + " ".join(repr(float(x)) for x in v) for w, v in zip(words, vectors, strict=True)]
    return ("\n".join(lines) + "\n").encode()


VECTORS = {
    version: np.random.default_rng(version).standard_normal((len(WORDS), DIM)).astype(np.float32)
    for version in (1, 2)
}


def sentences(n: int, seed: int) -> list[str]:
    """``n`` sentences of known words, capitals, punctuation and unknown words; a few without any
    known word (all-zero vectors) and one empty."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        picked = [WORDS[j] for j in rng.integers(0, len(WORDS), rng.integers(1, 12))]
        if i % 3 == 0:
            picked.insert(int(rng.integers(0, len(picked) + 1)), "qqzxv")  # unknown: masked out
        if i % 5 == 0:
            picked[0] = picked[0].capitalize() + ","
        out.append(" ".join(picked) + ".")
    out[1] = "42 !!! qqzxv"  # no known token
    out[2] = ""
    return out


def import_model(url: str, name: str, body: bytes, fmt: str, headers: dict | None = None) -> dict:
    r = httpx.post(
        f"{url}/v1/models/{name}/import?format={fmt}&overwrite=true",
        content=body,
        headers={"content-type": "application/octet-stream", **(headers or {})},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from gensim.test.utils import datapath

    with Server("embeddings", tmp_path_factory.mktemp("openai")) as srv:
        for version in (1, 2):
            info = import_model(srv.url, "w2v", word2vec_text(WORDS, VECTORS[version]), "word2vec-text")
            assert info["version"] == version
        with open(datapath("lee_fasttext.bin"), "rb") as f:
            assert import_model(srv.url, "ft", f.read(), "fasttext-bin")["oov_vectors"] is True
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def sentence_route(url: str, model: str, inputs: list[str], version: int | None = None) -> list[dict]:
    """``POST /v1/models/{model}/sentence-vectors`` with its defaults (``?version=N``)."""
    params = {"version": version} if version is not None else {}
    r = httpx.post(
        f"{url}/v1/models/{model}/sentence-vectors", json={"sentences": inputs}, params=params, timeout=120
    )
    assert r.status_code == 200, r.text
    return r.json()["vectors"]


def matrix(response) -> np.ndarray:
    assert [d.index for d in response.data] == list(range(len(response.data)))
    assert all(d.object == "embedding" for d in response.data) and response.object == "list"
    return np.array([d.embedding for d in response.data], dtype=np.float64)


def mean_of_known(vectors: np.ndarray, text: str) -> np.ndarray:
    """What masked mean pooling must give, computed here: the mean of the known words' vectors."""
    from gensim.utils import simple_preprocess

    index = {w: i for i, w in enumerate(WORDS)}
    rows = [vectors[index[t]] for t in simple_preprocess(text) if t in index]
    return np.mean(rows, axis=0) if rows else np.zeros(vectors.shape[1])


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize("model", ["w2v", "ft"])
def test_sdk_answers_equal_the_sentence_vector_route_in_both_encodings(server, client, model):
    inputs = sentences(40, seed=3)
    if model == "ft":  # Lee's words, and words it never saw (FastText builds them from n-grams)
        inputs[:4] = ["the president spoke", "flibbertigibbet zorblaxian", "", "42 !!!"]
    expected = sentence_route(server.url, model, inputs)
    want = np.array([v["vector"] for v in expected])
    tokens = sum(len(v["tokens"]) for v in expected)

    as_floats = client.embeddings.create(model=model, input=inputs, encoding_format="float")
    as_base64 = client.embeddings.create(model=model, input=inputs)  # the SDK asks for base64
    for response in (as_floats, as_base64):
        np.testing.assert_allclose(matrix(response), want, rtol=0, atol=1e-6)
        assert response.model == f"{model}@{2 if model == 'w2v' else 1}"
        assert response.usage.prompt_tokens == response.usage.total_tokens == tokens
    # the default encoding really is base64 on the wire: little-endian float32, exactly the floats
    np.testing.assert_array_equal(matrix(as_base64), matrix(as_floats))
    raw = client.embeddings.with_raw_response.create(model=model, input=inputs[:1])
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], str)

    if model == "w2v":  # masked mean pooling, computed independently of the service
        mine = np.array([mean_of_known(VECTORS[2], s) for s in inputs])
        np.testing.assert_allclose(matrix(as_floats), mine, rtol=0, atol=1e-6)
        assert not matrix(as_floats)[[1, 2]].any()  # no known token: all zeros
    else:
        oov = expected[1]
        assert oov["known_tokens"] == 2 and oov["oov_tokens"] == oov["tokens"] and np.any(want[1])


def test_one_string_dimensions_and_user(server, client):
    text = f"Qqzxv, the {WORDS[7]}!"
    one = client.embeddings.create(model="w2v", input=text, dimensions=DIM, user="u-1")
    assert len(one.data) == 1 and len(one.data[0].embedding) == DIM
    np.testing.assert_allclose(one.data[0].embedding, mean_of_known(VECTORS[2], text), rtol=0, atol=1e-6)
    assert one.usage.prompt_tokens == 3  # qqzxv, the, the word: counted by the simple tokenizer


def test_name_at_version(server, client):
    inputs = sentences(12, seed=4)
    for asked, version in (("w2v@1", 1), ("w2v@2", 2), ("w2v", None)):
        got = client.embeddings.create(model=asked, input=inputs, encoding_format="float")
        want = [v["vector"] for v in sentence_route(server.url, "w2v", inputs, version)]
        np.testing.assert_allclose(matrix(got), want, rtol=0, atol=1e-6)
        assert got.model == f"w2v@{version or 2}"
    np.testing.assert_allclose(
        matrix(client.embeddings.create(model="w2v@1", input=inputs)),
        [mean_of_known(VECTORS[1], s) for s in inputs],
        rtol=0,
        atol=1e-6,
    )
    with pytest.raises(openai.NotFoundError) as e:
        client.embeddings.create(model="w2v@3", input="x")
    assert e.value.code == "model_not_found" and e.value.param == "model"
    assert "model 'w2v' has no version 3" in e.value.message


# --------------------------------------------------------------------------- errors


def test_errors_are_the_sdks_own_exceptions(server, client):
    cases = [
        (openai.NotFoundError, {"model": "text-embedding-3-small", "input": "x"}, "model_not_found", "model"),
        (openai.NotFoundError, {"model": "Some/Model", "input": "x"}, "model_not_found", "model"),
        (openai.UnprocessableEntityError, {"model": "w2v", "input": [1, 2, 3]}, "token_ids_unsupported", "input"),
        (openai.UnprocessableEntityError, {"model": "w2v", "input": [[1, 2], [3]]}, "token_ids_unsupported", "input"),
        (openai.UnprocessableEntityError, {"model": "w2v", "input": "x", "dimensions": 8}, "dimensions_mismatch", "dimensions"),
        (openai.UnprocessableEntityError, {"model": "w2v", "input": ["x"] * 2049}, "too_many_items", "input"),
        (openai.UnprocessableEntityError, {"model": "w2v", "input": ["x", "y" * 100_001]}, "string_too_long", "input[1]"),
        (openai.UnprocessableEntityError, {"model": "w2v", "input": []}, "too_short", "input"),
    ]  # fmt: skip
    for exc, kwargs, code, param in cases:
        with pytest.raises(exc) as e:
            client.embeddings.create(**kwargs)
        assert (e.value.code, e.value.param, e.value.type) == (code, param, "invalid_request_error"), kwargs
        assert isinstance(e.value.message, str) and e.value.message
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.embeddings.create(model="w2v", input="x", extra_body={"truncate": True})
    assert e.value.code == "extra_forbidden" and e.value.param == "truncate"

    # the envelope on the wire, this route only: the other routes keep problem+json
    r = httpx.post(f"{server.url}/v1/embeddings", json={"model": "nope", "input": "x"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"error"} and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = httpx.post(f"{server.url}/v1/models/nope/sentence-vectors", json={"sentences": ["x"]})
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    r = httpx.post(  # a body that is not UTF-8 text (found by test_fuzz: it was a 500)
        f"{server.url}/v1/embeddings", content=b"\xcdn%\xff", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body"
    r = httpx.get(f"{server.url}/v1/embeddings")  # before the route runs: problem+json, as everywhere
    assert r.status_code == 405 and r.headers["content-type"].startswith(PROBLEM)


def test_a_missing_or_wrong_key_is_an_authentication_error(tmp_path):
    token = secrets.token_hex(16)
    env = {"EMBEDDINGS_API_TOKEN": token, "EMBEDDINGS_PROTECT_QUERIES": "true"}
    with Server("embeddings", tmp_path, env=env) as srv:
        auth = {"Authorization": f"Bearer {token}"}
        import_model(srv.url, "w2v", word2vec_text(WORDS, VECTORS[1]), "word2vec-text", headers=auth)
        good = openai.OpenAI(base_url=srv.url + "/v1", api_key=token, max_retries=0)
        assert len(good.embeddings.create(model="w2v", input=["a", "b"]).data) == 2
        sdk = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        no_key = {"Authorization": openai.Omit()}  # the SDK sends no Authorization header at all
        for headers, code in ((None, "invalid_api_key"), (no_key, "missing_api_key")):
            with pytest.raises(openai.AuthenticationError) as e:
                sdk.embeddings.create(model="w2v", input="x", extra_headers=headers)
            assert e.value.status_code == 401 and e.value.code == code
            assert e.value.response.headers["www-authenticate"].startswith("Bearer")


# --------------------------------------------------------------------------- 2,048 inputs, micro-batching


def test_2048_inputs_at_the_default_settings(server, client):
    inputs = sentences(2048, seed=5)
    start = time.perf_counter()
    got = client.embeddings.create(model="w2v", input=inputs)
    seconds = time.perf_counter() - start
    want = [v["vector"] for v in sentence_route(server.url, "w2v", inputs)]
    np.testing.assert_allclose(matrix(got), want, rtol=0, atol=1e-6)
    print(f"\n[openai] 2048 inputs x {DIM} dims (base64, via the SDK): {seconds * 1000:.0f} ms")


def batch_rows(url: str) -> tuple[float, float]:
    """``(batches, batches of one row)`` the ``openai_embeddings`` batcher has run."""
    text = httpx.get(f"{url}/metrics").text
    found = {}
    for name in ("embattn_batch_rows_count", "embattn_batch_rows_bucket"):
        for labels, value in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M):
            pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            if pairs.get("batcher") == "openai_embeddings" and pairs.get("le") in (None, "1.0"):
                found[name] = float(value)
    return found.get("embattn_batch_rows_count", 0.0), found.get("embattn_batch_rows_bucket", 0.0)


def test_concurrent_sdk_calls_share_micro_batches(server):
    inputs = sentences(32, seed=6)
    want = {s: v["vector"] for s, v in zip(inputs, sentence_route(server.url, "w2v", inputs), strict=True)}
    before = batch_rows(server.url)

    def calls(k: int) -> list[tuple[str, list[float]]]:
        sdk = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
        out = []
        for j in range(25):
            text = inputs[(k + j) % len(inputs)]
            out.append((text, sdk.embeddings.create(model="w2v", input=[text]).data[0].embedding))
        return out

    with ThreadPoolExecutor(8) as pool:
        answers = [a for part in pool.map(calls, range(8)) for a in part]
    assert len(answers) == 200
    for text, vector in answers:  # each request got its own answer, as alone
        np.testing.assert_allclose(vector, want[text], rtol=0, atol=1e-6)
    after = batch_rows(server.url)
    batches, singles = after[0] - before[0], after[1] - before[1]
    print(
        f"\n[openai] 200 calls from 8 threads: {batches:.0f} batches, {batches - singles:.0f} of several requests"
    )
    assert 0 < batches < 200, (before, after)  # fewer batches than requests
    assert batches - singles > 0, (before, after)  # batches that held more than one request


# --------------------------------------------------------------------------- OpenAPI


def test_openapi_documents_the_route_and_its_envelope(server):
    spec = httpx.get(f"{server.url}/openapi.json").json()
    op = spec["paths"]["/v1/embeddings"]["post"]
    assert op["operationId"] == "create_embeddings" and op["tags"] == ["openai"]
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok.endswith("/EmbeddingsResponse")
    for status in ("401", "404", "422"):
        content = op["responses"][status]["content"]
        assert list(content) == ["application/json"]
        assert content["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert {"application/json", PROBLEM} <= set(op["responses"]["4XX"]["content"])
    body = spec["components"]["schemas"]["EmbeddingsRequest"]
    assert set(body["properties"]) == {"input", "model", "encoding_format", "dimensions", "user"}
    assert len(body["properties"]["input"]["anyOf"]) == 4  # OpenAI's four forms (token ids: a 422)
    others = [o for path, ops in spec["paths"].items() if path != "/v1/embeddings" for o in ops.values()]
    assert all("ErrorResponse" not in str(o["responses"]) for o in others)
