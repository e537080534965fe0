"""The shared API contract (service.kit.schemas) through real pydantic and a real FastAPI app."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import datetime
from typing import Any, Literal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError

from models.seq2seq.limits import MAX_BEAM_SIZE
from service.attention import schemas as att
from service.attention.schemas import inference as att_inference
from service.attention.schemas import models as att_models
from service.attention.settings import Settings as AttentionSettings
from service.embeddings import schemas as emb
from service.embeddings.schemas import corpora as emb_corpora
from service.embeddings.schemas import models as emb_models
from service.embeddings.schemas import queries as emb_queries
from service.embeddings.settings import Settings as EmbeddingsSettings
from service.kit.problems import install_problem_handlers
from service.kit.schemas import (
    PROBLEM_RESPONSES,
    Bool,
    Float,
    Int,
    JobAccepted,
    Problem,
    RequestModel,
    is_option,
    job_location,
    option,
)


class Part(RequestModel):
    k: Int = 1


class Body(RequestModel):
    inputs: list[str] = []
    topn: Int = 10
    lowercase: Bool = True
    alpha: Float = 0.5
    pairs: list[tuple[str, str]] = []
    triples: list[tuple[str, str, Float]] = []
    when: datetime | None = None
    mode: Literal["a", "b"] = "a"
    part: Part | None = None
    parts: list[Part] = []
    sentence: str | list[str] | None = None
    extra: dict[str, Any] = {}


@pytest.fixture
def client():
    app = FastAPI(responses=PROBLEM_RESPONSES)
    install_problem_handlers(app)

    @app.post("/echo")
    def echo(body: Body) -> dict[str, Any]:
        return body.model_dump(mode="json", exclude_defaults=True)

    @app.post("/jobs", status_code=202, response_model=JobAccepted)
    def start() -> JobAccepted:
        return JobAccepted(job_id="ab" * 16, model="m", status="queued", location=job_location("ab" * 16))

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def post_raw(client, text: str):
    """Send the JSON text as is (``\\ud800`` stays an escape, as a client would send it)."""
    return client.post("/echo", content=text.encode(), headers={"Content-Type": "application/json"})


def locs(resp) -> list[list[Any]]:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return [e["loc"] for e in resp.json()["errors"]]


@pytest.mark.parametrize(
    "body,loc",
    [
        ({"topn": "5"}, ["body", "topn"]),
        ({"topn": 4.0}, ["body", "topn"]),
        ({"topn": True}, ["body", "topn"]),
        ({"lowercase": 0}, ["body", "lowercase"]),
        ({"lowercase": "true"}, ["body", "lowercase"]),
        ({"alpha": "0.5"}, ["body", "alpha"]),
        ({"alpha": False}, ["body", "alpha"]),
        ({"triples": [["a", "b", "3"]]}, ["body", "triples", 0, 2]),
        ({"part": {"k": "2"}}, ["body", "part", "k"]),
        ({"parts": [{"k": 1}, {"k": 1.0}]}, ["body", "parts", 1, "k"]),
        ({"unknown": 1}, ["body", "unknown"]),
        ({"part": {"k": 1, "unknown": 1}}, ["body", "part", "unknown"]),
    ],
)
def test_json_scalars_are_strict_and_unknown_members_refused(client, body, loc):
    assert locs(client.post("/echo", json=body)) == [loc]


def test_nan_and_infinity_are_not_numbers(client):
    assert locs(post_raw(client, '{"alpha": NaN}')) == [["body", "alpha"]]
    assert locs(post_raw(client, '{"alpha": Infinity}')) == [["body", "alpha"]]


def test_lax_where_json_has_no_type_of_its_own(client):
    """Arrays as tuples, ISO strings as datetimes, Literals, unions, nested models: all accepted."""
    body = {
        "alpha": 1,  # a JSON integer is a valid float
        "pairs": [["a", "b"]],
        "triples": [["a", "b", 3]],
        "when": "2026-11-26T14:50:00Z",
        "mode": "b",
        "part": {"k": 2},
        "parts": [{"k": 3}],
        "sentence": ["a", "b"],
        "extra": {"x": [1, "y"]},
    }
    resp = client.post("/echo", json=body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["alpha"] == 1.0 and out["pairs"] == [["a", "b"]] and out["triples"] == [["a", "b", 3.0]]
    assert out["when"].startswith("2026-11-26T14:50:00") and out["part"] == {"k": 2}
    assert client.post("/echo", json={"sentence": "plain text"}).json() == {"sentence": "plain text"}


def test_every_lone_surrogate_is_reported_at_its_own_loc(client):
    resp = post_raw(client, '{"inputs": ["a", "\\ud800", "b", "\\udfff"], "topn": "5"}')
    assert locs(resp) == [["body", "inputs", 1], ["body", "inputs", 3], ["body", "topn"]]
    errors = resp.json()["errors"]
    assert {e["type"] for e in errors[:2]} == {"string_surrogate"} and "surrogate" in errors[0]["msg"]
    # nested parts, unions, tuples, dict keys and values, Any
    resp = post_raw(
        client,
        '{"pairs": [["ok", "ok"], ["x", "\\udc00y"]], "sentence": ["a", "\\ud83d"], '
        '"extra": {"k\\ud800": 1, "v": ["\\udfff"]}}',
    )
    assert locs(resp) == [
        ["body", "pairs", 1, 1],
        ["body", "sentence", 1],
        ["body", "extra", "k\\ud800", "[key]"],  # the key, escaped, so the problem stays valid UTF-8
        ["body", "extra", "v", 0],
    ]
    assert post_raw(client, '{"inputs": ["\\ud83d\\ude00"]}').json() == {"inputs": ["\U0001f600"]}  # a pair


def test_surrogates_are_refused_in_nested_request_models():
    class Inner(RequestModel):
        name: str

    class Outer(RequestModel):
        items: list[Inner]

    with pytest.raises(ValidationError) as e:
        Outer.model_validate({"items": [{"name": "ok"}, {"name": "\ud800"}, {"name": "\udbff"}]})
    assert [err["loc"] for err in e.value.errors()] == [("items", 1, "name"), ("items", 2, "name")]


def test_a_lax_field_cannot_be_declared_on_a_request_model():
    with pytest.raises(TypeError, match=r"topn: int.*alpha: float.*flag: bool"):

        class Lax(RequestModel):
            topn: int = 1
            alpha: list[float] = []
            flag: dict[str, bool | None] = {}

    class Plain(BaseModel):
        x: Int = 1

    with pytest.raises(TypeError, match="plain BaseModel"):

        class Nested(RequestModel):
            part: Plain | None = None

    class Explicit(RequestModel):  # Field(strict=True) is strict too
        n: int = Field(1, strict=True)

    with pytest.raises(ValidationError):
        Explicit.model_validate({"n": "1"})


def _schema_modules(package) -> list[Any]:
    """A service's schema modules: the package and each module in it."""
    names = [info.name for info in pkgutil.iter_modules(package.__path__, package.__name__ + ".")]
    return [package, *(importlib.import_module(name) for name in names)]


def _request_classes(package) -> list[type[BaseModel]]:
    """The request bodies of a service: models a route takes as input (their names say so)."""
    suffixes = ("Request", "Query", "Spec", "In", "Options", "Batch", "Section", "Source")
    return [
        obj
        for module in _schema_modules(package)
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseModel)
        and obj.__module__ == module.__name__
        and name.lstrip("_").endswith(suffixes)
    ]


@pytest.mark.parametrize("package", [emb, att], ids=["embeddings", "attention"])
def test_every_request_body_of_both_services_is_a_request_model(package):
    classes = _request_classes(package)
    assert len(classes) >= 8
    assert [c.__name__ for c in classes if not issubclass(c, RequestModel)] == []
    # and responses stay plain (lax) models
    responses = [c for m in _schema_modules(package) for n, c in vars(m).items() if n.endswith("Response")]
    assert responses and not any(issubclass(c, RequestModel) for c in responses)
    assert not issubclass(JobAccepted, RequestModel)


def test_service_requests_refuse_strings_for_numbers_and_surrogates():
    with pytest.raises(ValidationError):
        emb_queries.SimilarRequest.model_validate({"positive": ["a"], "topn": "5"})
    with pytest.raises(ValidationError):
        emb_models.TrainRequest.model_validate({"name": "m", "sentences": ["a b"], "overwrite": 1})
    with pytest.raises(ValidationError):
        emb_queries.SimilarBatchRequest.model_validate({"queries": [{"positive": ["a"], "unknown": 1}]})
    with pytest.raises(ValidationError) as e:
        att_inference.TranslateRequest.model_validate({"inputs": ["ok", "\ud800"], "return_attention": 0})
    assert {err["loc"] for err in e.value.errors()} == {("inputs", 1), ("return_attention",)}
    with pytest.raises(ValidationError):
        att_models.TrainRequest.model_validate({"name": "m", "pairs": [["a", "b", [["0", 0]]]]})


# --------------------------------------------------------------------------- ignored options are 422


@pytest.mark.parametrize("model", [att_inference.TranslateRequest, att_inference.EvaluateRequest])
def test_beam_options_need_decode_beam(model):
    base = {"inputs": ["abc"]} if model is att_inference.TranslateRequest else {"split": "dev"}
    with pytest.raises(ValidationError, match="beam_size applies to decode 'beam' only"):
        model.model_validate({**base, "beam_size": 3})
    with pytest.raises(ValidationError, match="decode 'beam' only"):
        model.model_validate({**base, "decode": "greedy", "beam_size": 4})
    assert model.model_validate({**base, "decode": "beam", "beam_size": 3}).beam_size == 3
    assert model.model_validate(base).beam_size == 4  # the default does not count as sent
    assert model.model_validate({**base, "decode": "beam"}).beam_size == 4


# --------------------------------------------------------------------------- options publish no default

#: The members that apply in some cases only (a validator refuses them when they would be ignored):
#: declared with ``option()``, so that the OpenAPI documents publish no default for them.
OPTIONS = {
    "TranslateRequest": {"beam_size", "n_best", "coverage_penalty"},
    "EvaluateRequest": {"beam_size"},
    "TaskSpec": {"n_train", "n_dev", "n_test", "min_len", "max_len", "keep_stress"},
    "ModelConfigIn": {"tokenization", "emb_dim"},
    "TrainParamsIn": {"step_size", "rate", "decay_steps", "min_lr"},
    "TrainRequest": {"freeze_embeddings"},
}


def test_option_keeps_its_default_but_does_not_publish_it():
    class Decode(RequestModel):
        beam: Bool = False
        width: Int = option(4, ge=1, le=16, description="With `beam` only (default 4).")

    prop = Decode.model_json_schema()["properties"]["width"]
    assert prop == {"description": "With `beam` only (default 4).", "maximum": 16, "minimum": 1,
                    "title": "Width", "type": "integer"}  # fmt: skip
    assert Decode().width == 4 and "width" not in Decode().model_fields_set
    assert Decode(width=2).model_fields_set == {"width"}
    with pytest.raises(ValidationError):  # null is not a width (as before: the member is an Int)
        Decode.model_validate({"width": None})
    assert is_option(Decode.model_fields["width"]) and not is_option(Decode.model_fields["beam"])


@pytest.mark.parametrize("package", [emb, att], ids=["embeddings", "attention"])
def test_options_publish_no_default_and_say_theirs(package):
    found = {}
    for cls in _request_classes(package):
        props = cls.model_json_schema()["properties"]
        for name, field in cls.model_fields.items():
            if is_option(field):
                found.setdefault(cls.__name__, set()).add(name)
                assert "default" not in props[name], (cls.__name__, name)
                assert "default" in (field.description or "").lower(), (cls.__name__, name, field.description)
    assert found == ({} if package is emb else OPTIONS)


def _deref(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema ``schema`` stands for: its ``$ref`` followed, an optional one (``anyOf [X, null]``) read as X."""
    while True:
        others = [a for a in schema.get("anyOf", []) if a.get("type") != "null"]
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif len(others) == 1:
            schema = others[0]
        else:
            return schema


def _with_published_defaults(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> Any:
    """``value`` with every default the schema publishes filled in, in every object it holds: what a
    generated client sends for a body built with those members."""
    schema = _deref(doc, schema)
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        out = {k: _with_published_defaults(doc, props[k], v) if k in props else v for k, v in value.items()}
        return {**{k: p["default"] for k, p in props.items() if "default" in p and k not in out}, **out}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_with_published_defaults(doc, schema["items"], v) for v in value]
    return value


@pytest.mark.parametrize("service", ["embeddings", "attention"])
def test_every_example_with_every_published_default_is_accepted(service, tmp_path):
    # A generated client sends every default the document publishes for the objects it builds: the
    # examples of each request body, with those added at every level, must still be valid bodies.
    from tests.helpers import attention_app, embeddings_app

    doc = (embeddings_app if service == "embeddings" else attention_app)(tmp_path).openapi()
    package = emb if service == "embeddings" else att
    checked = 0
    for cls in _request_classes(package):
        component = doc["components"]["schemas"].get(cls.__name__)
        for example in (component or {}).get("examples", []):
            body = _with_published_defaults(doc, component, example)
            cls.model_validate(body)  # a ValidationError names what a generated client would be refused
            checked += 1
    assert checked >= (8 if service == "embeddings" else 5)


def test_beam_size_is_bounded_by_the_cores_limit():
    assert att_inference.TranslateRequest.model_fields["beam_size"].metadata[1].le == MAX_BEAM_SIZE
    att_inference.TranslateRequest.model_validate(
        {"inputs": ["a"], "decode": "beam", "beam_size": MAX_BEAM_SIZE}
    )
    with pytest.raises(ValidationError):
        att_inference.TranslateRequest.model_validate(
            {"inputs": ["a"], "decode": "beam", "beam_size": MAX_BEAM_SIZE + 1}
        )
    assert AttentionSettings().max_beam_size == MAX_BEAM_SIZE
    assert AttentionSettings(max_beam_size=4).max_beam_size == 4
    with pytest.raises(ValidationError):  # a setting the decoder would refuse (a 500 on every beam)
        AttentionSettings(max_beam_size=MAX_BEAM_SIZE + 1)


def test_options_of_another_schedule_are_refused():
    with pytest.raises(ValidationError, match="step_size applies to schedule 'step' only"):
        att_models.TrainParamsIn.model_validate({"step_size": 10})
    with pytest.raises(ValidationError, match=r"rate applies to schedule 'step' or 'exponential'"):
        att_models.TrainParamsIn.model_validate({"schedule": "linear", "rate": 0.5})
    with pytest.raises(ValidationError, match="min_lr applies to schedule 'linear' only"):
        att_models.TrainParamsIn.model_validate({"schedule": "step", "min_lr": 0.0})
    with pytest.raises(ValidationError, match="decay_steps"):
        att_models.TrainParamsIn.model_validate({"schedule": "step", "decay_steps": 10, "step_size": 5})
    assert (
        att_models.TrainParamsIn.model_validate({"schedule": "step", "step_size": 5, "rate": 0.1}).rate == 0.1
    )
    assert att_models.TrainParamsIn.model_validate({"schedule": "exponential", "decay_steps": 5, "rate": 0.9})
    assert att_models.TrainParamsIn.model_validate({"schedule": "linear", "min_lr": 1e-4, "warmup_steps": 3})
    assert att_models.TrainParamsIn.model_validate({}).step_size == 1000  # defaults are not "sent"


def test_length_options_of_the_dates_task_are_refused():
    with pytest.raises(ValidationError, match="max_len applies to the reversal and copy tasks only"):
        att_models.TaskSpec.model_validate({"name": "dates", "max_len": 8})
    assert att_models.TaskSpec.model_validate({"name": "dates"}).name == "dates"
    assert att_models.TaskSpec.model_validate({"name": "copy", "min_len": 2, "max_len": 8}).max_len == 8


def test_vector_options_without_vectors_and_emb_dim_with_them_are_refused():
    pairs = {"name": "w", "pairs": [["a b", "b a"]], "config": {"tokenization": "word"}}
    with pytest.raises(ValidationError, match="freeze_embeddings applies to pretrained vectors only"):
        att_models.TrainRequest.model_validate({**pairs, "freeze_embeddings": True})
    with pytest.raises(ValidationError, match="emb_dim is taken from the pretrained vectors"):
        att_models.TrainRequest.model_validate(
            {**pairs, "config": {"tokenization": "word", "emb_dim": 8}, "embeddings": {"model": "default"}}
        )
    ok = att_models.TrainRequest.model_validate(
        {**pairs, "embeddings_file": "vecs", "freeze_embeddings": True, "config": {"tokenization": "word"}}
    )
    assert ok.freeze_embeddings and ok.config.emb_dim == 32


def test_embeddings_tokenizer_only_where_it_applies():
    with pytest.raises(ValidationError, match="an uploaded corpus is tokenized as it was uploaded"):
        emb_models.TrainRequest.model_validate(
            {"name": "m", "corpus_id": "c", "tokenizer": {"kind": "whitespace"}}
        )
    with pytest.raises(ValidationError, match="every sentence is a token list"):
        emb_models.TrainRequest.model_validate({"name": "m", "sentences": [["a", "b"]], "tokenizer": {}})
    with pytest.raises(ValidationError, match="every sentence is a token list"):
        emb_queries.SentenceVectorsRequest.model_validate(
            {"sentences": [["a"]], "tokenizer": {"lowercase": False}}
        )
    assert emb_models.TrainRequest.model_validate({"name": "m", "corpus_id": "c"}).tokenizer.kind == "simple"
    mixed = {"sentences": ["A b", ["c"]], "tokenizer": {"lowercase": False}}
    assert not emb_queries.SentenceVectorsRequest.model_validate(mixed).tokenizer.lowercase
    assert emb_models.ContinueRequest.model_validate(
        {"sentences": ["x y"], "tokenizer": {"kind": "whitespace"}}
    )


# --------------------------------------------------------------------------- problem and job bodies


def test_problem_schema_on_every_operation(client):
    spec = client.get("/openapi.json").json()
    assert {"Problem", "ProblemFieldError"} <= set(spec["components"]["schemas"])
    for op in (spec["paths"]["/echo"]["post"], spec["paths"]["/jobs"]["post"]):
        for code in ("4XX", "5XX"):
            content = op["responses"][code]["content"]
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    problem = Problem.model_validate(client.post("/echo", json={"topn": "5"}).json())
    assert problem.status == 422 and problem.errors[0].loc == ["body", "topn"]
    assert Problem.model_validate({"title": "t", "status": 409, "job_id": "x"}).model_extra == {"job_id": "x"}


def test_one_job_accepted_body_for_both_services(client):
    from service.attention.routes import models as att_routes
    from service.embeddings.routes import models as emb_routes

    assert emb_routes.JobAccepted is att_routes.JobAccepted is JobAccepted
    body = client.post("/jobs").json()
    assert body == {
        "job_id": "ab" * 16,
        "model": "m",
        "status": "queued",
        "location": f"/v1/jobs/{'ab' * 16}",
    }


def test_corpus_info_and_decompression_setting(monkeypatch):
    assert "max_token_count" in emb_corpora.CorpusInfo.model_fields
    assert EmbeddingsSettings().max_decompressed_bytes == 4 << 30
    monkeypatch.setenv("EMBEDDINGS_MAX_DECOMPRESSED_BYTES", "1048576")
    assert EmbeddingsSettings().max_decompressed_bytes == 1 << 20
    field = EmbeddingsSettings.model_fields["max_decompressed_bytes"]
    assert field.description == "Largest decompressed size of a gzip corpus, in bytes (413)."
