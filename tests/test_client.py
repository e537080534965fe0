"""service.client over the services' real apps, in-process (a TestClient is an httpx.Client; the
async clients go through httpx.ASGITransport on the same started app)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from service.client import (
    AsyncAttentionClient,
    AsyncEmbeddingsClient,
    AttentionClient,
    AuthenticationError,
    ConflictError,
    EmbeddingsClient,
    Job,
    ModelInfo,
    Neighbour,
    NotFoundError,
    ProblemError,
    ServiceUnreachableError,
    Translation,
    ValidationProblemError,
)
from tests.helpers import attention_client, embeddings_client

SENTENCES = [
    "the king rules the land with the queen",
    "the queen rules the land with the king",
    "a man walks the dog in the park",
    "a woman walks the cat in the park",
    "the dog and the cat play in the park",
]
CORPUS = "\n".join(SENTENCES * 12) + "\n"
PARAMS = {"vector_size": 12, "min_count": 1, "epochs": 3, "workers": 1, "seed": 7}
TINY_ATTENTION = {
    "task": {"name": "reversal", "n_train": 300, "n_dev": 30, "n_test": 30, "min_len": 3, "max_len": 5},
    "config": {"emb_dim": 8, "hidden": 16},
    "params": {"epochs": 2, "batch_size": 32, "lr": 0.01},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def emb_app(tmp_path_factory):
    with embeddings_client(tmp_path_factory.mktemp("client-emb")) as tc:
        yield tc


@pytest.fixture(scope="module")
def emb(emb_app):
    return EmbeddingsClient(client=emb_app)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(CORPUS)
    return path


@pytest.fixture(scope="module")
def trained(emb, corpus_file):
    sent = []
    info = emb.upload_corpus(
        corpus_file, name="tiny", progress=lambda done, total: sent.append((done, total))
    )
    assert info["id"] == "tiny" and info["sentences"] == len(SENTENCES) * 12
    size = corpus_file.stat().st_size
    assert sent[0] == (0, size) and sent[-1] == (size, size)
    assert [d for d, _ in sent] == sorted(d for d, _ in sent)
    accepted = emb.train("w2v", corpus_id="tiny", params=PARAMS)
    assert accepted.job_id and accepted.location == f"/v1/jobs/{accepted.job_id}" and accepted.model == "w2v"
    updates: list[Job] = []
    job = emb.wait_job(accepted.job_id, on_update=updates.append, interval=0.05, timeout=60)
    assert job.status == "succeeded", job.error
    assert updates and updates[-1].ended and all(not u.ended for u in updates[:-1])
    assert job.epoch == 3 and job.epochs == 3 and job.loss is not None and job.words_per_second
    assert len(job.history) == 3  # the final record comes with its history
    return job


def test_model_metadata_listing_and_jobs(emb, trained):
    info = emb.model("w2v")
    assert isinstance(info, ModelInfo) and info.name == "w2v" and info.version == 1 and info.loaded
    assert info["vector_size"] == 12 and info.raw["algorithm"] == "word2vec"
    models = emb.models()
    assert [m.name for m in models] == ["w2v"] and models.raw == {"models": [m.raw for m in models]}
    jobs = emb.jobs(model="w2v", status="succeeded")
    assert [j.id for j in jobs] == [trained.id] and "jobs" in jobs.raw
    assert emb.jobs(model="nothing") == []
    with pytest.raises(ConflictError) as exc:
        emb.cancel_job(trained.id)  # it ended
    assert exc.value.status == 409


def test_queries_answer_what_the_http_api_answers(emb, emb_app, trained):
    hits = emb.similar("w2v", ["king"], topn=3)
    assert all(isinstance(h, Neighbour) for h in hits) and len(hits) == 3
    raw = emb_app.post("/v1/models/w2v/similar", json={"positive": ["king"], "topn": 3}).json()
    assert hits.raw == raw and [(h.word, h.score) for h in hits] == [
        (r["word"], r["score"]) for r in raw["results"]
    ]
    assert len(emb.similar("w2v", ["king"], ["man"], topn=2, method="cosmul")) == 2
    assert len(emb.analogy("w2v", "man", "king", "woman", topn=2)) == 2
    vectors = emb.vectors("w2v", ["king", "qwzx"])
    assert len(vectors[0].vector) == 12 and vectors[0].known and vectors[1].vector is None
    assert vectors.raw["unknown_words"] == ["qwzx"]
    (cos,) = emb.similarity("w2v", [("king", "queen")])
    assert -1 <= cos <= 1
    assert -1 <= emb.n_similarity("w2v", ["king"], ["queen", "land"]) <= 1
    assert emb.doesnt_match("w2v", ["king", "queen", "park"]) in {"king", "queen", "park"}
    pooled = emb.sentence_vectors("w2v", ["the king walks", ["qwzx"]])
    assert pooled[0]["known_tokens"] == 3 and pooled[1]["known_tokens"] == 0
    batch = emb.batch("w2v", "similar", [{"positive": ["king"], "topn": 2}, {"positive": ["qwzx"]}])
    assert batch["results"][1] is None and batch["errors"][0]["index"] == 1
    assert emb.analogy_batch("w2v", [{"a": "man", "b": "king", "c": "woman", "topn": 1}])["errors"] == []
    report = emb.evaluate(
        "w2v", pairs={"items": [["king", "queen", 9.0], ["dog", "cat", 7.0], ["king", "park", 1.0]]}
    )
    assert report["pairs"]["pairs_used"] == 3
    with pytest.raises(ValueError):
        emb.batch("w2v", "nothing", [{}])


def test_problems_carry_the_parsed_body(emb, trained):
    with pytest.raises(NotFoundError) as exc:
        emb.similar("nope", ["king"])
    err = exc.value
    assert (err.status, err.code, err.detail) == (404, "model-not-found", "no model named 'nope'")
    assert err.problem["instance"] == "/v1/models/nope/similar" and err.title and err.message == err.detail
    with pytest.raises(NotFoundError) as exc:
        emb.similar("w2v", ["qwzx", "zzz"])
    assert exc.value.code == "unknown-words" and exc.value["unknown_words"] == ["qwzx", "zzz"]
    with pytest.raises(ValidationProblemError) as exc:
        emb.similar("w2v", ["king"], topn=0)
    assert exc.value.status == 422 and exc.value.errors[0]["loc"] == ["body", "topn"]
    assert isinstance(exc.value, ProblemError)


def test_export_import_versions_rollback_delete(emb, trained, tmp_path):
    seen = []
    path = emb.export_vectors("w2v", tmp_path / "w2v.bin", progress=lambda d, t: seen.append(d))
    assert path == tmp_path / "w2v.bin" and path.stat().st_size == seen[-1] > 0
    assert not (tmp_path / "w2v.bin.part").exists()
    text = emb.export_vectors("w2v", tmp_path / "w2v.txt", format="word2vec-text")
    assert text.read_text().split("\n", 1)[0].split() == [str(trained.result["vocab_size"]), "12"]
    with pytest.raises(NotFoundError):
        emb.export_vectors("nope", tmp_path / "nope.bin")
    assert not (tmp_path / "nope.bin").exists() and not (tmp_path / "nope.bin.part").exists()
    sent = []
    info = emb.import_vectors("copy", path, progress=lambda d, t: sent.append((d, t)))
    assert info.name == "copy" and info.version == 1 and sent[-1] == (path.stat().st_size,) * 2
    with pytest.raises(ConflictError) as exc:
        emb.import_vectors("copy", path)
    assert exc.value.code == "model-exists"
    assert emb.import_vectors("copy", text, format="word2vec-text", overwrite=True).version == 2
    versions = emb.versions("copy")
    assert versions.current == 2 and [v.version for v in versions.versions] == [1, 2]
    assert emb.similar("copy", ["king"], topn=2, version=1) == emb.similar("w2v", ["king"], topn=2)
    rolled = emb.rollback("copy", 1)
    assert rolled.current == 1 and [v.current for v in rolled.versions] == [True, False]
    assert emb.delete_version("copy", 2) is None
    assert [v.version for v in emb.versions("copy").versions] == [1]
    emb.delete_model("copy")
    with pytest.raises(NotFoundError):
        emb.model("copy")


def test_async_client_over_asgi_transport(emb_app, trained, tmp_path, corpus_file):
    async def scenario():
        transport = httpx.ASGITransport(app=emb_app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://embeddings") as http:
            client = AsyncEmbeddingsClient(client=http)
            hits = await client.similar("w2v", ["king"], topn=3)
            assert hits == EmbeddingsClient(client=emb_app).similar("w2v", ["king"], topn=3)
            assert [m.name for m in await client.models()] == ["w2v"]
            path = await client.export_vectors("w2v", tmp_path / "a.bin")
            info = await client.import_vectors("acopy", path)
            assert info.version == 1
            accepted = await client.train("again", sentences=SENTENCES, params=PARAMS)
            updates = []

            async def on_update(job):
                updates.append(job.status)

            job = await client.wait_job(accepted.job_id, on_update=on_update, interval=0.05, timeout=60)
            assert job.status == "succeeded" and updates[-1] == "succeeded"
            watched = [j.status async for j in client.watch_job(accepted.job_id)]
            assert watched == ["succeeded"]
            with pytest.raises(NotFoundError):
                await client.model("nope")
            await client.delete_model("acopy")
            await client.delete_model("again")

    asyncio.run(scenario())


def test_unreachable_service_and_the_token(tmp_path):
    port = free_port()
    with pytest.raises(ServiceUnreachableError) as exc:
        EmbeddingsClient(f"http://127.0.0.1:{port}", timeout=2).models()
    assert exc.value.url == f"http://127.0.0.1:{port}" and isinstance(exc.value, ConnectionError)

    async def unreachable():
        async with AsyncEmbeddingsClient(f"http://127.0.0.1:{port}", timeout=2) as client:
            await client.health()

    with pytest.raises(ServiceUnreachableError):
        asyncio.run(unreachable())
    token = "t0k3n-for-the-client-test-0123456789"
    with embeddings_client(tmp_path / "data", api_token=token) as tc:
        with pytest.raises(AuthenticationError) as exc:
            EmbeddingsClient(client=tc).train("x", sentences=SENTENCES, params=PARAMS)
        assert exc.value.status == 401
        with pytest.raises(AuthenticationError) as exc:
            EmbeddingsClient(client=tc, token="wrong").delete_model("x")
        assert exc.value.status == 403
        accepted = EmbeddingsClient(client=tc, token=token).train("x", sentences=SENTENCES, params=PARAMS)
        assert accepted.status in ("queued", "running")
        assert EmbeddingsClient(client=tc).wait_job(accepted.job_id, interval=0.05, timeout=60).succeeded


# --------------------------------------------------------------------------- attention


@pytest.fixture(scope="module")
def att_app(tmp_path_factory):
    with attention_client(tmp_path_factory.mktemp("client-att")) as tc:
        yield tc


@pytest.fixture(scope="module")
def att(att_app):
    return AttentionClient(client=att_app)


@pytest.fixture(scope="module")
def rev(att):
    accepted = att.train("rev", **TINY_ATTENTION)
    updates = []
    job = att.wait_job(accepted.job_id, on_update=updates.append, interval=0.05, timeout=120)
    assert job.succeeded, job.error
    assert job.step and job.epoch == 2 and job.loss is not None and job.lr is not None
    return job


def test_attention_translate_align_heatmap_evaluate(att, rev):
    outputs = att.translate("rev", ["abc", "hello"])
    assert all(isinstance(t, Translation) for t in outputs) and outputs.raw["model"] == "rev"
    t = outputs[0]
    assert t.input == "abc" and t.source_tokens == ["a", "b", "c"] and t.output == "".join(t.tokens)
    assert len(t.attention) == len(t.tokens) and all(len(row) == 3 for row in t.attention)
    assert len(t.links) == len(t.tokens) and isinstance(t.score, float)
    beam = att.translate("rev", ["abc"], decode="beam", beam_size=3, return_attention=False)
    assert beam[0].attention is None and beam.raw["beam_size"] == 3
    nbest = att.translate("rev", ["abc"], decode="beam", beam_size=3, n_best=3, length_penalty=0.6)
    hyps = nbest[0].hypotheses
    assert len(hyps) == 3 and hyps[0].output == nbest[0].output and hyps[0].input == "abc"
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
    assert all(len(h.attention) == len(h.tokens) for h in hyps) and beam[0].hypotheses == []
    aligned = att.align("rev", [("abc", "cba")], gold=["0-2 1-1 2-0"])
    a = aligned[0]
    assert (
        a.target_tokens == ["c", "b", "a"] and len(a.attention) == 3 and set(a.scores) >= {"precision", "aer"}
    )
    assert aligned.raw["scores"] is not None
    png = att.heatmap("rev", "abc")
    assert png.startswith(b"\x89PNG")
    svg = att.heatmap("rev", "abc", target="cba", fmt="svg")
    assert b"<svg" in svg[:500]
    report = att.evaluate("rev", split="test")
    assert report["n"] == 30 and 0 <= report["exact_match"] <= 1
    with pytest.raises(ValidationProblemError) as exc:
        att.translate("rev", [""])
    assert exc.value.errors and exc.value.errors[0]["loc"][:2] == ["body", "inputs"]
    with pytest.raises(NotFoundError):
        att.heatmap("nope", "abc")


def test_attention_datasets_models_versions(att, rev, tmp_path):
    path = tmp_path / "rev.tsv"
    path.write_text("abc\tcba\nhello\tolleh\nxyz\tzyx\nab12\t21ba\nqwerty\tytrewq\n")
    ds = att.upload_dataset(path)
    assert ds["pairs"] == 5 and ds["kind"] == "pairs"
    assert [d["id"] for d in att.datasets()] == [ds["id"]]
    assert att.dataset(ds["id"])["sample"]
    info = att.model("rev")
    assert info.version == 1 and info.loaded and info["config"]["hidden"] == 16
    assert att.versions("rev").current == 1
    with pytest.raises(ConflictError) as exc:
        att.train("rev", **TINY_ATTENTION)
    assert exc.value.code == "model-exists"
    att.delete_dataset(ds["id"])
    assert att.datasets() == []


def test_async_attention_client(att_app, rev):
    async def scenario():
        transport = httpx.ASGITransport(app=att_app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://attention") as http:
            client = AsyncAttentionClient(client=http)
            outputs = await client.translate("rev", ["abc"])
            assert outputs[0].output == AttentionClient(client=att_app).translate("rev", ["abc"])[0].output
            assert (await client.heatmap("rev", "abc")).startswith(b"\x89PNG")
            assert [j.id for j in await client.jobs(model="rev")] == [rev.id]

    asyncio.run(scenario())


def test_large_imports_and_server_side_files_are_jobs_and_exact_is_sent(tmp_path):
    import numpy as np

    from service.client import Accepted

    imports = tmp_path / "imports"
    imports.mkdir()
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((400, 8)).astype("<f4")
    data = b"400 8\n" + b"".join(f"w{i} ".encode() + v.tobytes() for i, v in enumerate(vectors))
    (imports / "v.bin").write_bytes(data)
    (tmp_path / "up.bin").write_bytes(data)
    with embeddings_client(
        tmp_path / "data", import_dir=str(imports), import_job_bytes=1024, index_min_vocab=100
    ) as tc:
        emb = EmbeddingsClient(client=tc)
        accepted = emb.import_vectors("up", tmp_path / "up.bin", limit=300)
        assert isinstance(accepted, Accepted)
        job = emb.wait_job(accepted.job_id)
        assert job.succeeded and job.result["vocab_size"] == 300 and "index" in job.result, job.raw
        job = emb.wait_job(emb.import_file("srv", "v.bin").job_id)
        assert job.succeeded and job.result["vocab_size"] == 400, job.raw
        with pytest.raises(ValidationProblemError):
            emb.import_file("srv2", "../v.bin")
        exact = emb.similar("srv", ["w1"], topn=5, exact=True)
        approx = emb.similar("srv", ["w1"], topn=5)
        assert exact.raw["exact"] is True and approx.raw["exact"] is False
        assert [n.word for n in approx][:3] == [n.word for n in exact][:3]
        assert emb.analogy("srv", "w1", "w2", "w3", topn=3, exact=True).raw["exact"] is True


def _flaky_app(failures: list):
    """A real ASGI app that answers each request with the next of ``failures`` (a status, or
    ``"problem-500"``) and then 200: what a restarting replica behind a proxy looks like."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    seen = []

    async def endpoint(request):
        seen.append(request.method)
        if failures:
            what = failures.pop(0)
            if what == "problem-500":
                return JSONResponse(
                    {"status": 500, "title": "boom"}, 500, media_type="application/problem+json"
                )
            return PlainTextResponse("upstream gone", what, headers={"Retry-After": "0"})
        return JSONResponse({"results": [], "exact": True, "outputs": []})

    app = Starlette(routes=[Route("/v1/models/m/{op}", endpoint, methods=["GET", "POST"])])
    return app, seen


@pytest.mark.parametrize(
    ("failures", "tries", "ok"),
    [([503, 502], 3, True), ([503, 503, 503], 3, False), ([500], 2, True), (["problem-500"], 1, False)],
)
def test_queries_are_retried_after_a_proxy_error_and_writes_never(failures, tries, ok):
    from fastapi.testclient import TestClient

    app, seen = _flaky_app(list(failures))
    with EmbeddingsClient(client=TestClient(app), retries=2) as c:
        if ok:
            c.similar("m", "king")
        else:
            with pytest.raises(ProblemError):
                c.similar("m", "king")
    assert len(seen) == tries
    # a write is sent once, whatever the answer
    app, seen = _flaky_app([503])
    with EmbeddingsClient(client=TestClient(app), retries=2) as c:
        with pytest.raises(ProblemError):
            c._http.request("POST", "/v1/models/m/continue", json={})
    assert seen == ["POST"]
    # retries=0 sends a query once
    app, seen = _flaky_app([503])
    with EmbeddingsClient(client=TestClient(app), retries=0) as c, pytest.raises(ProblemError):
        c.similar("m", "king")
    assert len(seen) == 1
