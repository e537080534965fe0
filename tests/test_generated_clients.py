"""Clients generated from the services' own OpenAPI documents, used as a new user would use them.

Two generators, pinned: ``openapi-python-client`` 0.29.1 (PyPI, the ``dev`` extra) and
``openapi-typescript`` 7.13.0 with ``openapi-fetch`` 0.17.0 (npm, ``tests/node/package.json``;
``make install`` runs ``npm ci --prefix tests/node``). Each generates a client from the
``/openapi.json`` of real servers (``python -m service``, one per service for the module, on tiny
data), and every operation of both documents is called through it with only its required members
set (a few sizes aside, so that training stays tiny): uploads, training of Word2Vec, FastText and an
attention model, every query, translate greedy and beam, align, the PNG heatmap, evaluate, versions,
jobs (one cancelled). The test fails on an operation left uncalled, an answer its client cannot
parse, a 404 or 422 whose problem does not parse (Python: ``parsed`` is the ``Problem`` model; the
TypeScript script: ``error`` has ``type``, ``title`` and ``status``), and a generator warning other
than the known ones (:data:`KNOWN_PYTHON_WARNINGS`).

The TypeScript side: ``openapi-typescript`` writes each document's types (``.d.ts``), ``tsc`` type-checks
``tests/node/client_flow.mjs`` (plain JavaScript with JSDoc types, ``// @ts-check``) against them, and
Node runs it against the servers. The types are generated with ``--default-non-nullable false``:
openapi-typescript 7 otherwise makes every request member that has a default required (its
issues #1741, #2012), and a body with only the required members would not type-check.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import io
import json
import random
import re
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import PROBLEM_TYPE, Server

NODE_DIR = Path(__file__).parent / "node"
SERVICES = ("embeddings", "attention")
PACKAGES = {"embeddings": "embeddings_client", "attention": "attention_client"}

#: What openapi-python-client 0.29.1 cannot render of the documents, knowingly: the dataset upload's
#: TSV and JSON-lines types (the same bytes go as ``application/octet-stream``, which it keeps) and the
#: heatmap's image types (it knows no ``image/*``: the PNG is the response's ``content``).
KNOWN_PYTHON_WARNINGS = {
    ("POST /v1/datasets", "Unsupported content type application/jsonl"),
    ("POST /v1/datasets", "Unsupported content type text/tab-separated-values"),
    ("GET /v1/models/{name}/attention.{fmt}", "Unsupported content_type image/png, image/svg+xml"),
}

WORDS = "king queen man woman prince princess boy girl royal palace crown throne city town river sea".split()


def corpus_text(n: int = 300, seed: int = 0) -> str:
    """Sentences of :data:`WORDS` (each word many times: gensim's default ``min_count`` 5 keeps them)."""
    rng = random.Random(seed)
    return "".join(" ".join(rng.choice(WORDS) for _ in range(8)) + "\n" for _ in range(n))


def reversal_tsv(n: int = 60, seed: int = 1) -> str:
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdef") for _ in range(rng.randint(3, 6))) for _ in range(n)]
    return "".join(f"{w}\t{w[::-1]}\n" for w in words)


# --------------------------------------------------------------------------- servers, documents


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """One real server per service (``python -m service``), on tiny data directories of their own."""
    with ExitStack() as stack:
        out = {}
        for service in SERVICES:
            prefix = service.upper() + "_"
            env = {prefix + "LOG_LEVEL": "warning", prefix + "MAX_CONCURRENT_JOBS": "1"}
            out[service] = stack.enter_context(Server(service, tmp_path_factory.mktemp(service), env=env)).url
        yield out


@pytest.fixture(scope="module")
def documents(servers, tmp_path_factory) -> dict[str, Path]:
    """Each service's ``/openapi.json``, as served, in a file."""
    where = tmp_path_factory.mktemp("openapi")
    out = {}
    for service, url in servers.items():
        r = httpx.get(url + "/openapi.json", timeout=30)
        assert r.status_code == 200
        out[service] = where / f"{service}.json"
        out[service].write_text(r.text)
    return out


def operation_ids(document: Path) -> dict[tuple[str, str], str]:
    """``(METHOD, path) -> operationId`` of a document."""
    doc = json.loads(document.read_text())
    return {(m.upper(), p): op["operationId"] for p, ops in doc["paths"].items() for m, op in ops.items()}


def test_operation_ids_are_method_names(documents):
    for service, document in documents.items():
        ids = list(operation_ids(document).values())
        assert len(ids) == len(set(ids)), f"{service}: duplicate operationIds"
        for op in ids:
            assert re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*", op) and len(op) <= 30, (service, op)
    emb, att = (set(operation_ids(documents[s]).values()) for s in SERVICES)
    assert {"similar", "similar_batch", "train_model", "list_jobs", "get_job", "cancel_job", "upload_corpus",
            "import_vectors", "export_vectors", "list_corpora", "get_corpus"} <= emb  # fmt: skip
    assert {"translate", "align", "heatmap", "evaluate", "train_model", "upload_dataset", "list_datasets",
            "set_current_version"} <= att  # fmt: skip


# --------------------------------------------------------------------------- openapi-python-client


def _python_warnings(output: str) -> set[tuple[str, str]]:
    """``(METHOD path, first line of the detail)`` of each warning openapi-python-client printed."""
    found = set()
    for m in re.finditer(r"WARNING parsing (\S+ \S+) within \S+\.\s*\n\s*\n([^\n]+)", output):
        detail = m.group(2).strip()
        if detail.startswith("Cannot parse response for status code"):
            detail = detail[detail.index("(") + 1 : detail.rindex(")")]
        found.add((m.group(1), detail))
    return found


@pytest.fixture(scope="module")
def python_clients(documents, tmp_path_factory):
    """The generated packages, imported: ``{"embeddings": <module>, "attention": <module>}``."""
    assert importlib.metadata.version("openapi-python-client") == "0.29.1"  # the dev extra's pin
    where = tmp_path_factory.mktemp("python-clients")
    config = where / "config.yml"
    config.write_text("post_hooks: []\n")  # no ruff run on the output (formatting only)
    procs = {}
    for service, document in documents.items():
        cmd = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document),
               "--meta", "none", "--output-path", str(where / PACKAGES[service]), "--config", str(config)]  # fmt: skip
        procs[service] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    warnings = set()
    for service, proc in procs.items():
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output
        assert "Error(s) encountered" not in output, output
        warnings |= _python_warnings(output)
        assert (where / PACKAGES[service] / "client.py").exists(), output
    assert warnings <= KNOWN_PYTHON_WARNINGS, sorted(warnings - KNOWN_PYTHON_WARNINGS)
    sys.path.insert(0, str(where))
    try:
        yield {service: importlib.import_module(PACKAGES[service]) for service in SERVICES}
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES.values()]:
            del sys.modules[name]


class Calls:
    """Calls the operations of one generated Python package and records their operationIds."""

    def __init__(self, package: Any, base_url: str) -> None:
        self.package = package
        self.client = package.Client(base_url=base_url, timeout=httpx.Timeout(60.0))
        self.called: set[str] = set()
        self.models = importlib.import_module(package.__name__ + ".models")
        self.types = importlib.import_module(package.__name__ + ".types")

    def __call__(self, operation: str, status: int, **kwargs: Any) -> Any:
        """Call ``operation`` (its module, found under ``api/<tag>/``); assert the status; the response."""
        module = self._module(operation)
        response = module.sync_detailed(client=self.client, **kwargs)
        assert response.status_code == status, (operation, response.status_code, response.content[:500])
        self.called.add(operation)
        return response

    def ok(self, operation: str, status: int = 200, **kwargs: Any) -> Any:
        """The parsed body of a successful call (which must be a model of the package, not a problem)."""
        parsed = self(operation, status, **kwargs).parsed
        assert parsed is not None and not isinstance(parsed, self.models.Problem), (operation, parsed)
        return parsed

    def problem(self, operation: str, status: int, slug: str, **kwargs: Any) -> Any:
        """A call that fails with a problem the client parses into its ``Problem`` model."""
        parsed = self(operation, status, **kwargs).parsed
        assert isinstance(parsed, self.models.Problem), (operation, parsed)
        assert parsed.status == status and parsed.title and PROBLEM_TYPE.fullmatch(parsed.type_), parsed
        assert parsed.type_.endswith("/problems/" + slug), parsed.type_
        return parsed

    def _module(self, operation: str) -> Any:
        api = Path(self.package.__file__).parent / "api"
        [found] = list(api.glob(f"*/{operation}.py"))
        return importlib.import_module(f"{self.package.__name__}.api.{found.parent.name}.{operation}")

    def file(self, data: bytes) -> Any:
        return self.types.File(payload=io.BytesIO(data))

    def wait(self, job_id: str, timeout: float = 120) -> Any:
        """``get_job`` until the job has ended; its last record (it must have succeeded)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.ok("get_job", job_id=job_id)
            if job.status.value not in ("queued", "running"):
                assert job.status.value == "succeeded", job
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job.status.value}"
            time.sleep(0.1)


def test_python_client_embeddings(servers, documents, python_clients):
    call = Calls(python_clients["embeddings"], servers["embeddings"])
    m = call.models
    call.ok("healthz")
    call.ok("readyz")
    assert "embattn_http_requests_total" in call("metrics", 200).content.decode()

    corpus = call.ok("upload_corpus", 201, body=call.file(corpus_text().encode()))
    assert corpus.sentences == 300 and [c.id for c in call.ok("list_corpora").corpora] == [corpus.id]
    assert call.ok("get_corpus", name=corpus.id).tokens == 2400

    # Training: a request with its required members only (gensim's defaults), and a FastText one whose
    # params object sets one member (a generated model sends only what is set: no fasttext-only default).
    w2v = call.ok("train_model", 202, body=m.TrainRequest(name="py-w2v", corpus_id=corpus.id))
    call.wait(w2v.job_id)
    ft = m.TrainRequest(name="py-ft", corpus_id=corpus.id, algorithm=m.TrainRequestAlgorithm.FASTTEXT,
                        params=m.TrainParamsIn(bucket=2000))  # fmt: skip
    call.wait(call.ok("train_model", 202, body=ft).job_id)
    assert call.ok("get_model", name="py-w2v").vocab_size == len(WORDS)
    assert {x.name for x in call.ok("list_models").models} == {"py-w2v", "py-ft"}
    more = m.ContinueRequest(sentences=["king queen royal palace crown throne"] * 5)
    call.wait(call.ok("continue_training", 202, name="py-w2v", body=more).job_id)

    # Every query and its batch form, on the Word2Vec and the FastText model.
    for name in ("py-w2v", "py-ft"):
        found = call.ok("similar", name=name, body=m.SimilarRequest(positive=["king"]))
        assert len(found.results) == 10 and "king" not in [n.word for n in found.results]
        assert call.ok("analogy", name=name, body=m.AnalogyRequest(a="man", b="king", c="woman")).results
    batch = m.SimilarBatchRequest(
        queries=[m.SimilarRequest(positive=["king"]), m.SimilarRequest(positive=["qwzx"])]
    )
    answered = call.ok("similar_batch", name="py-w2v", body=batch)
    assert answered.results[1] is None and answered.errors[0].index == 1
    assert answered.errors[0].type_.endswith("/problems/unknown-words")
    analogies = m.AnalogyBatchRequest(queries=[m.AnalogyRequest(a="man", b="king", c="woman")])
    assert call.ok("analogy_batch", name="py-w2v", body=analogies).results[0].results
    pair = m.SimilarityRequest(pairs=[["king", "queen"]])
    assert len(call.ok("similarity", name="py-w2v", body=pair).similarities) == 1
    pairs = m.SimilarityBatchRequest(queries=[pair])
    assert call.ok("similarity_batch", name="py-w2v", body=pairs).results[0].similarities
    n_sim = m.NSimilarityRequest(words1=["king"], words2=["queen", "prince"])
    assert -1 <= call.ok("n_similarity", name="py-w2v", body=n_sim).similarity <= 1
    assert call.ok(
        "n_similarity_batch", name="py-w2v", body=m.NSimilarityBatchRequest(queries=[n_sim])
    ).results
    odd = m.DoesntMatchRequest(words=["king", "queen", "river"])
    assert call.ok("doesnt_match", name="py-w2v", body=odd).word in odd.words
    assert call.ok("doesnt_match_batch", name="py-w2v", body=m.DoesntMatchBatchRequest(queries=[odd])).results
    vectors = call.ok("vectors", name="py-ft", body=m.VectorsRequest(words=["king", "kingly"]))
    assert len(vectors.vectors[0].vector) == 100 and vectors.vectors[1].oov  # FastText: n-grams
    assert call.ok(
        "vectors_batch", name="py-w2v", body=m.VectorsBatchRequest(queries=[m.VectorsRequest(words=["king"])])
    ).results
    sentences = m.SentenceVectorsRequest(sentences=["The king and the queen."])
    assert call.ok("sentence_vectors", name="py-w2v", body=sentences).vectors[0].known_tokens == 2
    assert call.ok(
        "sentence_vectors_batch", name="py-w2v", body=m.SentenceVectorsBatchRequest(queries=[sentences])
    ).results
    # OpenAI's embeddings route: the model and the input, nothing else; the sentence route's vector.
    embedded = call.ok(
        "create_embeddings", body=m.EmbeddingsRequest(model="py-w2v", input_="The king and the queen.")
    )
    assert embedded.data[0].embedding == pytest.approx(
        call.ok("sentence_vectors", name="py-w2v", body=sentences).vectors[0].vector, abs=1e-6
    )
    scores = m.EvaluateRequest(
        pairs=m.PairsSpec(items=[["king", "queen", 9.0], ["king", "river", 1.0], ["man", "woman", 8.0]])
    )
    assert call.ok("evaluate", name="py-w2v", body=scores).pairs is not None
    assert call.ok("list_words", name="py-w2v").total == len(WORDS)
    placed = call.ok("projection", name="py-w2v", body=m.ProjectionRequest(words=["king", "queen"]))
    assert len(placed.points) == 2

    # An index, export and import, versions, a cancelled job.
    call.wait(call.ok("build_index", 202, name="py-w2v").job_id)
    assert call.ok("get_model", name="py-w2v").index
    call("delete_index", 204, name="py-w2v")
    exported = call.ok("export_vectors", name="py-w2v").payload.read()
    imported = call.ok("import_vectors", 201, name="py-imported", body=call.file(exported))
    assert imported.vocab_size == len(WORDS) and imported.source == "imported"
    call("delete_model", 204, name="py-imported")
    versions = call.ok("list_versions", name="py-w2v")
    assert [v.version for v in versions.versions] == [1, 2] and versions.current == 2
    assert call.ok("set_current_version", name="py-w2v", body=m.CurrentVersionIn(version=1)).current == 1
    call("delete_version", 204, name="py-w2v", version=2)
    slow = m.TrainRequest(name="py-slow", corpus_id=corpus.id, params=m.TrainParamsIn(epochs=100))
    accepted = call.ok("train_model", 202, body=slow)
    assert call.ok("cancel_job", job_id=accepted.job_id).status.value in ("queued", "running", "cancelled")
    assert any(j.id == accepted.job_id for j in call.ok("list_jobs").jobs)
    call("delete_corpus", 204, name=corpus.id)

    # Problems parse: a 404 (declared on the operation) and a 422, each the Problem model.
    missing = call.problem(
        "similar", 404, "model-not-found", name="nope", body=m.SimilarRequest(positive=["king"])
    )
    assert missing.instance == "/v1/models/nope/similar"
    unknown = call.problem(
        "similar", 404, "unknown-words", name="py-w2v", body=m.SimilarRequest(positive=["qwzx"])
    )
    assert unknown.additional_properties["unknown_words"] == ["qwzx"]
    invalid = call.problem(
        "similar", 422, "validation-error", name="py-w2v", body=m.SimilarRequest(positive=["king"], topn=0)
    )
    assert invalid.errors[0].loc == ["body", "topn"]

    assert call.called == set(operation_ids(documents["embeddings"]).values())


def test_python_client_attention(servers, documents, python_clients):
    call = Calls(python_clients["attention"], servers["attention"])
    m = call.models
    call.ok("healthz")
    call.ok("readyz")
    assert "embattn_http_requests_total" in call("metrics", 200).content.decode()

    dataset = call.ok("upload_dataset", 201, body=call.file(reversal_tsv().encode()))
    assert dataset.pairs == 60 and [d.id for d in call.ok("list_datasets").datasets] == [dataset.id]
    assert call.ok("get_dataset", name=dataset.id).sample

    # Training with a few sizes set on the task, config and params objects: each generated model sends
    # the members it was given and the defaults it publishes, none of them refused (no keep_stress for
    # a reversal task, no step_size for the constant schedule, no emb_dim or freeze_embeddings).
    task = m.TaskSpec(name=m.TaskSpecName.REVERSAL, n_train=300, n_dev=20, n_test=20, max_len=6)
    tiny = {"config": m.ModelConfigIn(hidden=16), "params": m.TrainParamsIn(epochs=3)}
    call.wait(call.ok("train_model", 202, body=m.TrainRequest(name="py-rev", task=task, **tiny)).job_id)
    again = m.TrainRequest(name="py-rev", dataset_id=dataset.id, overwrite=True, **tiny)
    call.wait(call.ok("train_model", 202, body=again).job_id)
    assert call.ok("set_current_version", name="py-rev", body=m.CurrentVersionIn(version=1)).current == 1
    assert [v.version for v in call.ok("list_versions", name="py-rev").versions] == [1, 2]
    call("delete_version", 204, name="py-rev", version=2)
    assert call.ok("get_model", name="py-rev").version == 1
    assert [x.name for x in call.ok("list_models").models] == ["py-rev"]

    # A plain greedy translate: nothing but the inputs (the client sends no beam option).
    greedy = call.ok("translate", name="py-rev", body=m.TranslateRequest(inputs=["5/3/2026", "abc"]))
    assert greedy.decode.value == "greedy" and greedy.beam_size == 1 and len(greedy.outputs) == 2
    beam = call.ok(
        "translate",
        name="py-rev",
        body=m.TranslateRequest(inputs=["abc"], decode=m.TranslateRequestDecode.BEAM),
    )
    assert beam.beam_size == 4  # the documented default
    aligned = call.ok("align", name="py-rev", body=m.AlignRequest(pairs=[["abcd", "dcba"]]))
    assert len(aligned.alignments[0].attention) == 4
    # (of a given target: what a model trained for seconds decodes may be empty, and has no heatmap)
    png = call("heatmap", 200, name="py-rev", fmt=m.HeatmapFmt.PNG, input_="abcd", target="dcba")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    scores = call.ok(
        "evaluate", name="py-rev", body=m.EvaluateRequest(split=m.EvaluateRequestSplitType0.TEST)
    )
    assert scores.n == 20 and scores.decode.value == "greedy"

    slow = m.TrainRequest(
        name="py-slow", task=m.TaskSpec(name=m.TaskSpecName.DATES), params=m.TrainParamsIn(epochs=50)
    )
    accepted = call.ok("train_model", 202, body=slow)
    assert call.ok("cancel_job", job_id=accepted.job_id).status.value in ("queued", "running", "cancelled")
    assert any(j.id == accepted.job_id for j in call.ok("list_jobs").jobs)
    call("delete_dataset", 204, name=dataset.id)

    missing = call.problem(
        "translate", 404, "model-not-found", name="nope", body=m.TranslateRequest(inputs=["abc"])
    )
    assert missing.detail == "no model named 'nope'"
    ignored = m.TranslateRequest(inputs=["abc"], beam_size=3)  # greedy: a beam size would be ignored
    invalid = call.problem("translate", 422, "validation-error", name="py-rev", body=ignored)
    assert "beam_size applies to decode 'beam' only" in invalid.detail and invalid.errors
    call("delete_model", 204, name="py-rev")
    call.problem("get_model", 404, "model-not-found", name="py-rev")

    assert call.called == set(operation_ids(documents["attention"]).values())


# --------------------------------------------------------------------------- openapi-typescript + openapi-fetch


@pytest.fixture(scope="module")
def node_tools():
    if shutil.which("node") is None:
        pytest.skip("no node on PATH (Node 20: see README, Development)")
    bins = NODE_DIR / "node_modules" / ".bin"
    missing = [t for t in ("openapi-typescript", "tsc") if not (bins / t).exists()]
    assert not missing, f"{missing} missing: run `make install` (npm ci --prefix tests/node)"
    return bins


@pytest.fixture(scope="module")
def typescript_flow(documents, node_tools, tmp_path_factory) -> Path:
    """``client_flow.mjs`` beside the generated ``embeddings.d.ts`` and ``attention.d.ts``, type-checked."""
    where = tmp_path_factory.mktemp("typescript")
    (where / "node_modules").symlink_to(NODE_DIR / "node_modules")
    (where / "package.json").write_text('{"type": "module"}\n')
    for service, document in documents.items():
        cmd = [str(node_tools / "openapi-typescript"), str(document), "--output", str(where / f"{service}.d.ts"),
               "--default-non-nullable", "false"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "⚠" not in done.stdout + done.stderr, done.stdout + done.stderr
    shutil.copy(NODE_DIR / "client_flow.mjs", where / "client_flow.mjs")
    check = [str(node_tools / "tsc"), "--noEmit", "--allowJs", "--checkJs", "--strict", "--target", "es2022",
             "--module", "esnext", "--moduleResolution", "bundler", "--skipLibCheck", "client_flow.mjs"]  # fmt: skip
    done = subprocess.run(check, cwd=where, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return where / "client_flow.mjs"


@pytest.mark.parametrize("service", SERVICES)
def test_typescript_client(servers, documents, typescript_flow, service):
    done = subprocess.run(
        ["node", str(typescript_flow), service, servers[service]],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    ids = operation_ids(documents[service])
    called = {ids[(method, path)] for method, path in report["called"]}
    assert called == set(ids.values()), sorted(set(ids.values()) - called)
    for problem in report["problems"]:
        assert PROBLEM_TYPE.fullmatch(problem["type"]) and problem["title"], problem
    assert {(p["status"], p["type"].rsplit("/", 1)[-1]) for p in report["problems"]} >= {
        (404, "model-not-found"),
        (422, "validation-error"),
    }
