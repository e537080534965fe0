"""OpenAPI fuzzing of both services' real apps, in-process (ASGI), with schemathesis 4.x.

Each service runs on a fresh tmp data dir, holding real small models trained before the run (the
embeddings ``default`` Word2Vec plus a tiny FastText ``ft``; an attention ``rev`` reversal model), so
query routes run real code: path parameters ``name`` are drawn from the model names, word and input
fields from dictionaries of known words and inputs, with a high probability (and ``pairs``, which
schemathesis cannot bind, from a ``flatmap_body`` hook). The schemathesis engine then runs its phases
on every operation -- examples, coverage (boundary values, negative values, undocumented methods),
fuzzing (positive and negative data) and stateful sequences (transitions schemathesis derives from
the schema and from ``Location`` headers; the services document no OpenAPI links) -- bounded by ``FUZZ_SECONDS`` per service. Then a deterministic sweep sends what
schemathesis cannot generate: every string of every documented JSON example set to a lone surrogate
(``"\\ud800"``) or NUL, and every string query parameter set to raw bytes (WTF-8 surrogate, NUL,
invalid UTF-8); its responses are validated against the schema by schemathesis too.

The test fails on any 5xx and on any response that breaks the service's own OpenAPI document
(checks ``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance``,
``response_schema_conformance``, ``response_headers_conformance``), listing every distinct failure
with a curl reproduction (``http://testserver`` is the in-process app: point it at a running
service, ``http://127.0.0.1:8001`` or ``:8002``); the server's traceback for it is in the captured
stderr, with the same ``request_id``. It prints the number of cases per service. Run it alone::

    .venv/bin/pytest -q tests/test_fuzz.py -p no:cacheprovider       # ~1 min 50 s on 2 cores
    FUZZ_SECONDS=15 FUZZ_MIN_CASES=300 .venv/bin/pytest -q tests/test_fuzz.py   # a quick look
    FUZZ_SEED=99 ...           # another seed (the default is fixed, so a rerun sends much the same)
    FUZZ_REPORT=/tmp/fuzz ...  # also write /tmp/fuzz/<service>.md (failures, status codes per operation)
    FUZZ_CHECKS=all ...        # every schemathesis check (negative_data_rejection, ignored_auth, ...)

Guard rails, so the run stays bounded: training jobs the fuzzer gets accepted (202) are cancelled
at once (they would compete for the 2 cores), the seeded models are never deleted (a fuzzed
``DELETE /v1/models/<seeded>`` is sent for a missing name instead), and the services' limits are small.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import strategies as st

schemathesis = pytest.importorskip("schemathesis", minversion="4.0")

from schemathesis.engine import events  # noqa: E402
from schemathesis.python import asgi  # noqa: E402

from tests.helpers import attention_app, embeddings_app, wait_job, wait_ready  # noqa: E402

pytestmark = pytest.mark.fuzz

FUZZ_SECONDS = int(os.environ.get("FUZZ_SECONDS", "45"))
FUZZ_MIN_CASES = int(os.environ.get("FUZZ_MIN_CASES", "1000"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20260126"))
FUZZ_REPORT = os.environ.get("FUZZ_REPORT")

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
]
# FUZZ_CHECKS=all (every schemathesis check: negative_data_rejection, use_after_free, ...) or a comma list.
FUZZ_CHECKS = os.environ.get("FUZZ_CHECKS", "")

SMALL_LIMITS = {
    "max_body_bytes": 64 << 10,
    "max_upload_bytes": 64 << 10,
    "max_concurrent_jobs": 1,
    "log_level": "warning",  # no access line per case in the failure output
}

EMBEDDINGS_LIMITS = {
    **SMALL_LIMITS,
    "max_topn": 50,
    "max_batch": 10,
    "max_inline_sentences": 50,
    "max_ngram_bytes": 1 << 20,
    "max_evaluation_items": 50,
}
ATTENTION_LIMITS = {
    **SMALL_LIMITS,
    "max_batch": 8,
    "max_input_tokens": 40,
    "max_output_len": 40,
    "max_beam_size": 4,
    "max_train_pairs": 200,
    "max_inline_pairs": 20,
    "max_eval_examples": 16,
}

FT_SENTENCES = [
    "the president said the government would act",
    "police said the fire was under control",
    "the minister met the president in the capital",
] * 5
REV_MODEL = {
    "name": "rev",
    "task": {"name": "reversal", "n_train": 120, "n_dev": 20, "n_test": 20, "min_len": 2, "max_len": 6},
    "config": {"emb_dim": 8, "hidden": 16, "attention": "luong-general"},
    "params": {"epochs": 2, "batch_size": 32, "lr": 0.01},
}
ATTENTION_STRINGS = ["q9!", "hello world", "2024-01-31", "ab cd", "Thursday, March 5 2026"]
REVERSAL_STRINGS = [
    "abc",
    "cba",
    "abc12",
    "21cba",
    "zyxw",
    "a",
    "x9",
    "9x",
    "hello",
    "olleh",
]  # in rev's vocabulary
GOLD_LINKS = ["0-2 1-1 2-0", "0-0", "0-0 1-1", "", "0-9", "a-b", "0-0 0-0"]
# Word fields of the embeddings queries (single and batch forms), bound to the default model's words.
EMBEDDINGS_WORD_FIELDS = [
    *(f"body.{f}[*]" for f in ("positive", "negative", "words", "words1", "words2")),
    *(f"body.queries[*].{f}[*]" for f in ("positive", "negative", "words", "words1", "words2")),
    *(f"body.{f}" for f in ("a", "b", "c")),
    *(f"body.queries[*].{f}" for f in ("a", "b", "c")),
]
# Mixed into every string dictionary: what generated strings rarely hit on their own.
# (no lone surrogates: schemathesis validates dictionaries as UTF-8; the sweep below sends those)
NASTY_STRINGS = ["\x00", "nul\x00byte", "\u202eevil", "🙂", "", " ", "\t\n", "é" * 300]


# --------------------------------------------------------------------------- the run


@dataclass
class Finding:
    operation: str
    check: str
    title: str
    message: str
    status: int | None
    curl: str
    body: str
    count: int = 1


@dataclass
class FuzzResult:
    service: str
    cases: int = 0
    seconds: float = 0.0
    stop_reason: str = ""
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    phases: Counter = field(default_factory=Counter)
    stateful: str = "not run"
    findings: dict[tuple, Finding] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    sweep_cases: int = 0
    cancelled_jobs: int = 0
    protected_deletes: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for counts in self.statuses.values() for code, n in counts.items() if code >= 500)

    def headline(self) -> str:
        return (
            f"[fuzz {self.service}] {self.cases} cases in {self.seconds:.0f}s (seed {FUZZ_SEED}, "
            f"stop: {self.stop_reason}); by phase: {dict(self.phases)}; stateful links: {self.stateful}; "
            f"+ {self.sweep_cases} nasty-string sweep requests; "
            f"{self.server_errors} responses 5xx; {len(self.findings)} distinct failures; "
            f"{self.cancelled_jobs} accepted jobs cancelled, {self.protected_deletes} deletes of seeded models diverted"
        )

    def summary(self) -> str:
        """The headline and the status codes seen per operation."""
        lines = [self.headline()]
        for op in sorted(self.statuses):
            codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses[op].items()))
            lines.append(f"    {op:55} {codes}")
        return "\n".join(lines)

    def report(self) -> str:
        """The headline, every distinct failure with its reproduction, then the status table."""
        out = [self.headline(), ""]
        for i, f in enumerate(sorted(self.findings.values(), key=lambda f: (f.operation, f.check)), 1):
            out += [
                f"--- {i}. {f.operation}: {f.check} ({f.title}), status {f.status}, seen {f.count}x",
                f.message.strip(),
                "Reproduce with:",
                "    " + f.curl.replace("\n", "\n    "),
                f"Response body: {f.body}",
                "",
            ]
        out += [f"engine error: {e}" for e in self.errors]
        out += ["", "Status codes per operation:", *self.summary().splitlines()[1:]]
        return "\n".join(out)


def bind(dictionary: str, probability: float, *keys: str) -> dict[str, dict]:
    """Parameter bindings: each key (``path.name``, ``body.inputs[*]``…) draws from ``dictionary``."""
    return {key: {"dictionary": dictionary, "probability": probability} for key in keys}


def fuzz_config(*, dictionaries: dict[str, list], parameters: dict[str, dict], strings: list[str]) -> Any:
    """The engine's configuration; every generated string is one of ``strings`` (or a nasty one) 30% of the time."""
    if FUZZ_CHECKS == "all":
        checks: dict[str, Any] = {"enabled": True}
    else:
        checks = {"enabled": False}
        names = [c.strip() for c in FUZZ_CHECKS.split(",") if c.strip()] or CHECKS
        checks.update({name: {"enabled": True} for name in names})
    return schemathesis.Config.from_dict(
        {
            "seed": FUZZ_SEED,
            "max-time": FUZZ_SECONDS,
            "suppress-health-check": ["all"],
            "cache": {"enabled": False},
            "workers": 1,
            "request-timeout": 30,
            "generation": {
                "mode": "all",  # positive and negative data
                "max-examples": 60,
                "database": "none",
                "unique-inputs": True,
                "dictionaries": {"string": {"dictionary": "any-string", "probability": 0.3}},
            },
            "checks": checks,
            "phases": {
                "examples": {"enabled": True, "fill-missing": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": 8},
            },
            "dictionaries": {
                "any-string": {"values": strings + NASTY_STRINGS},
                **{name: {"values": values} for name, values in dictionaries.items()},
            },
            "parameters": parameters,
        }
    )


def _curl(case, failure_info) -> str:
    sample = getattr(failure_info, "code_sample", None)
    if sample:
        return str(sample)
    try:
        return case.as_curl_command()
    except Exception as exc:  # a case that cannot be rendered still gets reported
        return f"<no curl: {exc}> {case.method} {case.formatted_path}"


def _record(result: FuzzResult, recorder) -> None:
    for case_id, node in recorder.cases.items():
        case = node.value
        label = f"{case.method.upper()} {case.operation.path}"
        interaction = recorder.interactions.get(case_id)
        response = interaction.response if interaction is not None else None
        if response is not None:
            documented = case.method.upper() == case.operation.method.upper()
            row = label if documented else "(undocumented methods on documented paths)"
            result.statuses[row][response.status_code] += 1
        for check in recorder.checks.get(case_id, []):
            info = check.failure_info
            if info is None:
                continue
            failure = info.failure
            status = response.status_code if response is not None else None
            key = (label, check.name, failure.title, status)
            curl = _curl(case, info)
            body = ""
            if response is not None:
                body = response.content[:400].decode("utf-8", "replace") if response.content else ""
            found = result.findings.get(key)
            if found is None:
                result.findings[key] = Finding(
                    label, check.name, failure.title, failure.message, status, curl, body
                )
            else:
                found.count += 1
                if len(curl) < len(found.curl):  # keep the smallest reproduction
                    found.curl, found.body, found.message = curl, body, failure.message


def run_engine(schema, result: FuzzResult) -> FuzzResult:
    start = time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            result.cases += len(event.recorder.cases)
            result.phases[event.phase.value] += len(event.recorder.cases)
            _record(result, event.recorder)
        elif isinstance(event, events.PhaseStarted) and isinstance(
            event.payload, events.StatefulPhasePayload
        ):
            p = event.payload
            result.stateful = (
                f"{p.transitions_selected} of {p.transitions_total} ({p.inferred_transitions} inferred)"
            )
        elif isinstance(event, events.NonFatalError):
            result.errors.append(f"{event.label}: {event.info.format() if event.info else event.value!r}")
        elif isinstance(event, events.FatalError):
            result.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            result.stop_reason = str(event.stop_reason)
    result.seconds = time.monotonic() - start
    return result


# --------------------------------------------------------------------------- the nasty-strings sweep

# Strings schemathesis cannot generate (it draws UTF-8-encodable text only): lone surrogates, which JSON
# can carry as escapes (`"\ud800"`), and NUL. Sent in every string of every documented JSON example.
SWEEP_STRINGS = ["\ud800", "a\udfffb", "\x00"]
# Raw query-string bytes: a surrogate in WTF-8, NUL, invalid UTF-8.
SWEEP_QUERY = ["%ED%A0%80", "%00", "%FF", "%C0%AF"]


def _string_leaves(value, path=()):
    if isinstance(value, str):
        yield path
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _string_leaves(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, (*path, key))


def _replaced(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        return [_replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]
    return {k: _replaced(v, rest, new) if k == head else v for k, v in value.items()}


def _json_examples(openapi: dict, media: dict) -> list:
    schema = media.get("schema", {})
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    examples = list(schema.get("examples") or [])
    if "example" in media:
        examples.append(media["example"])
    examples += [e.get("value") for e in (media.get("examples") or {}).values() if isinstance(e, dict)]
    return [e for e in examples if isinstance(e, dict)]


def _fill_path(path: str, op: dict, model: str) -> str | None:
    """``path`` with ``{name}`` set to ``model`` and other parameters to their first enum value or example."""
    for param in op.get("parameters", []):
        if param.get("in") != "path" or param["name"] == "name":
            continue
        schema = param.get("schema") or {}
        values = schema.get("enum") or schema.get("examples") or param.get("examples") or []
        if isinstance(values, dict):
            values = [v.get("value") for v in values.values()]
        if not values:
            return None
        path = path.replace("{" + param["name"] + "}", str(values[0]))
    path = path.replace("{name}", model)
    return None if "{" in path else path


def _is_string(schema: dict) -> bool:
    return schema.get("type") == "string" or any(_is_string(s) for s in schema.get("anyOf", []))


def _example(param: dict):
    schema = param.get("schema") or {}
    for values in (schema.get("examples"), param.get("examples"), schema.get("enum")):
        if isinstance(values, list) and values:
            return values[0]
    return schema.get("default", "abc")


def run_sweep(schema, client, result: FuzzResult, model: str) -> None:
    """Every string leaf of every JSON example, and every string query parameter, set to nasty values."""
    openapi = schema.raw_schema
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            url = _fill_path(path, op, model)
            if method.upper() == "DELETE" or url is None:
                continue  # a path parameter with no known value (a job id, a version...)
            operation = schema[path][method.upper()]
            requests_ = []
            media = (op.get("requestBody") or {}).get("content", {}).get("application/json")
            if media is not None:
                for example in _json_examples(openapi, media):
                    for leaf in _string_leaves(example):
                        for nasty in SWEEP_STRINGS:
                            body = json.dumps(_replaced(example, leaf, nasty))  # ASCII: surrogates escaped
                            requests_.append((url, body, "/".join(map(str, leaf))))
            query = [p for p in op.get("parameters", []) if p.get("in") == "query"]
            base = {p["name"]: quote(str(_example(p))) for p in query if p.get("required")}
            for param in query:
                if _is_string(param.get("schema") or {}):
                    for raw in SWEEP_QUERY:
                        qs = "&".join(f"{k}={v}" for k, v in {**base, param["name"]: raw}.items())
                        requests_.append((f"{url}?{qs}", None, f"query {param['name']}"))
            for target, body, where in requests_:
                headers = {"content-type": "application/json"} if body is not None else {}
                resp = client.request(method.upper(), target, data=body, headers=headers)
                result.sweep_cases += 1
                label = f"{method.upper()} {path}"
                result.statuses[label + " [sweep]"][resp.status_code] += 1
                if resp.status_code == 202:
                    _cancel(client, resp, result)
                curl = f"curl -X {method.upper()} 'http://testserver{target}'"
                if body is not None:
                    curl += f" -H 'content-type: application/json' -d '{body}'"
                failures = []
                if resp.status_code >= 500:
                    failures.append(("not_a_server_error", "Server error", f"{resp.status_code} for {where}"))
                try:
                    operation.validate_response(resp)
                except AssertionError as exc:  # FailureGroup, or one Failure
                    for failure in getattr(exc, "exceptions", None) or [exc]:
                        title = getattr(failure, "title", type(failure).__name__)
                        failures.append(
                            ("response conformance", title, getattr(failure, "message", str(failure)))
                        )
                for check, title, message in failures:
                    key = (label, check + " [sweep]", title, resp.status_code)
                    found = result.findings.get(key)
                    if found is None:
                        text = resp.text[:400]
                        result.findings[key] = Finding(
                            label, check + " [sweep]", title, message, resp.status_code, curl, text
                        )
                    else:
                        found.count += 1


# --------------------------------------------------------------------------- guard rails


JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def valid_pairs_hook(schema, pairs) -> None:
    """Half the generated bodies with ``pairs`` get pairs drawn from ``pairs`` (a strategy of 2-lists).

    schemathesis cannot bind dictionaries to tuple items (``prefixItems``), so without this almost
    no generated pair is in a model's vocabulary and the success paths (200) are never reached.
    """

    def flatmap_body(context, body):
        if not (isinstance(body, dict) and isinstance(body.get("pairs"), list) and body["pairs"]):
            return st.just(body)
        n = min(len(body["pairs"]), 4)
        fixed = st.lists(pairs, min_size=1, max_size=n).map(lambda new: {**body, "pairs": new})
        return st.one_of(st.just(body), fixed)

    schema.hook("flatmap_body")(flatmap_body)


def _cancel(client, response, result: FuzzResult) -> None:
    try:
        job_id = response.json().get("job_id")
    except Exception:
        return
    if isinstance(job_id, str) and JOB_ID.fullmatch(job_id):
        client.delete(f"/v1/jobs/{job_id}")
        result.cancelled_jobs += 1


@contextmanager
def guard_rails(client, result: FuzzResult, protected: set[str]):
    """Cancel every job the fuzzer gets accepted; never let it delete a seeded model."""

    def after_call(context, case, response):
        if response.status_code == 202:
            _cancel(client, response, result)

    def before_call(context, case, kwargs):
        if case.method.upper() == "DELETE" and case.operation.path == "/v1/models/{name}":
            if (case.path_parameters or {}).get("name") in protected:
                case.path_parameters = {**case.path_parameters, "name": "fuzz-protected-model"}
                result.protected_deletes += 1

    schemathesis.hook("after_call")(after_call)
    schemathesis.hook("before_call")(before_call)
    try:
        yield
    finally:
        schemathesis.hooks.unregister(after_call)
        schemathesis.hooks.unregister(before_call)


@contextmanager
def started(app):
    """Start the app's lifespan in schemathesis's own event loop (the one its ASGI transport uses)."""
    client = asgi.get_client(app)
    client.__enter__()
    try:
        yield client
    finally:
        client.__exit__(None, None, None)
        asgi.shutdown_lifespans()


def finish(result: FuzzResult, capsys) -> None:
    text = result.report()
    with capsys.disabled():
        print("\n" + result.summary())
    if FUZZ_REPORT:
        out = Path(FUZZ_REPORT)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{result.service}.md").write_text(text + "\n", encoding="utf-8")
    if result.errors:
        pytest.fail(f"the schemathesis engine reported errors\n{text}", pytrace=False)
    if result.cases < FUZZ_MIN_CASES:
        pytest.fail(f"only {result.cases} cases (< FUZZ_MIN_CASES={FUZZ_MIN_CASES})\n{text}", pytrace=False)
    if result.server_errors or result.findings:
        pytest.fail(text, pytrace=False)


# --------------------------------------------------------------------------- the services


def fuzz_service(app, client, result, config, pairs, *, protected: set[str]) -> None:
    """Run the engine, then the nasty-string sweep, over ``app``'s own OpenAPI document.

    ``pairs`` draws valid ``[source, target]`` items for tuple-typed pairs; the ``protected`` models
    are never deleted (the first of them, in sorted order, is the sweep's target).
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    valid_pairs_hook(schema, pairs)
    with guard_rails(client, result, protected=protected):
        run_engine(schema, result)
        run_sweep(schema, client, result, sorted(protected)[0])


def test_fuzz_embeddings(tmp_path, capsys):
    app = embeddings_app(tmp_path, train_default=True, **EMBEDDINGS_LIMITS)
    with started(app) as client:
        wait_ready(client, timeout=120)
        r = client.post(
            "/v1/models",
            json={
                "name": "ft",
                "algorithm": "fasttext",
                "sentences": FT_SENTENCES,
                "params": {"vector_size": 8, "min_count": 1, "epochs": 1, "bucket": 2000, "workers": 1},
            },
        )
        assert r.status_code == 202, r.text
        assert wait_job(client, r.json()["job_id"], 120)["status"] == "succeeded"
        r = client.post("/v1/models/default/similar", json={"positive": ["president"], "topn": 40})
        assert r.status_code == 200, r.text
        words = ["president", "government", "police", "the"] + [n["word"] for n in r.json()["results"]]
        result = FuzzResult("embeddings")
        sentences = [" ".join(words[i : i + 5]) for i in range(0, 40, 5)]
        config = fuzz_config(
            dictionaries={
                "models": ["default", "ft"],
                "words": words,
                "sentences": sentences,
                "versions": [1, 2],
                # POST /v1/embeddings (OpenAI's body): `model` is a name or name@version
                "model-ids": ["default", "ft", "default@1", "ft@1"],
            },
            parameters={
                **bind("models", 0.85, "path.name"),
                **bind("models", 0.3, "query.name", "query.model"),
                **bind("model-ids", 0.8, "body.model"),
                **bind("words", 0.8, *EMBEDDINGS_WORD_FIELDS),
                **bind(
                    "sentences", 0.5, "body.sentences[*]", "body.queries[*].sentences[*]", "body.input[*]"
                ),
                **bind("versions", 0.7, "query.version", "path.version"),
            },
            strings=words + sentences,
        )
        pairs = st.lists(st.sampled_from(words), min_size=2, max_size=2)
        fuzz_service(app, client, result, config, pairs, protected={"default", "ft"})
    finish(result, capsys)


def test_fuzz_attention(tmp_path, capsys):
    app = attention_app(tmp_path, **ATTENTION_LIMITS)
    with started(app) as client:
        wait_ready(client, timeout=60)
        r = client.post("/v1/models", json=REV_MODEL)
        assert r.status_code == 202, r.text
        assert wait_job(client, r.json()["job_id"], 120)["status"] == "succeeded"
        result = FuzzResult("attention")
        config = fuzz_config(
            dictionaries={
                "models": ["rev"],
                "inputs": REVERSAL_STRINGS,
                "gold": GOLD_LINKS,
                "versions": [1, 2],
            },
            parameters={
                **bind("models", 0.85, "path.name"),
                **bind("models", 0.3, "query.model"),
                **bind("inputs", 0.8, "body.inputs[*]", "query.input", "query.target"),
                **bind("gold", 0.5, "body.gold[*]"),
                **bind("versions", 0.7, "query.version", "path.version"),
            },
            strings=ATTENTION_STRINGS + REVERSAL_STRINGS,
        )
        pairs = st.sampled_from(REVERSAL_STRINGS).map(lambda x: [x, x[::-1]])
        fuzz_service(app, client, result, config, pairs, protected={"rev"})
    finish(result, capsys)
