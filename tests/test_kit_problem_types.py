"""Problem types: every ``type`` the services can answer is in the registry and answers a page.

The source is read, not run: every slug ``service/kit``, ``service/embeddings`` and
``service/attention`` can put in a problem (``code=``/``type=`` arguments, ``default_code``,
``problem_type("...")``, ``InvalidInputError.at_line(title, code, ...)``, ``NotFoundError(kind, ...)``
-> ``<kind>-not-found``, f-strings over the upload kinds, :data:`HTTP_STATUS_TYPES`) must be in
:data:`~service.kit.problem_types.PROBLEM_TYPES`, and the registry holds nothing else. Each one's
page answers (HTML, or JSON with ``Accept: application/json``), under a path prefix too, where a
problem's ``type`` resolves against the request's URL to the page of the service that answered.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient

from service.kit.errors import NotFoundError
from service.kit.problem_types import PROBLEM_TYPES
from service.kit.problems import HTTP_STATUS_TYPES, problem_members, root_path_var
from tests.helpers import PROBLEM_BASE, assert_problem, attention_app, embeddings_app

SERVICE = Path(__file__).resolve().parents[1] / "service"
SCANNED = ("kit", "embeddings", "attention")  # the services (not the client, the CLI or the page)
SLUG = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def raised_slugs() -> dict[str, str]:
    """slug -> where (``path:line``) of every problem type the services' source can produce."""
    trees = {p: ast.parse(p.read_text()) for d in SCANNED for p in sorted((SERVICE / d).rglob("*.py"))}
    # the upload kinds, what a dynamic kind (``f"{self.kind}-exists"``, ``NotFoundError(self.kind, ...)``) is
    kinds = {
        _str(node.value)
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "upload_kind" for t in node.targets)
        and _str(node.value)
    }
    assert kinds == {"corpus", "dataset"}, kinds
    found: dict[str, str] = {}

    def add(node: ast.AST, where: str, suffix: str = "") -> None:
        if _str(node) is not None:
            found.setdefault(_str(node) + suffix, where)
        elif isinstance(node, ast.JoinedStr):  # constant parts around one kind
            for kind in kinds:
                text = "".join(_str(v) if _str(v) is not None else kind for v in node.values)
                found.setdefault(text + suffix, where)
        else:  # a name: one of the upload kinds (the only variables passed as a kind or a code)
            for kind in kinds:
                found.setdefault(kind + suffix, where)

    for path, tree in trees.items():
        for node in ast.walk(tree):
            where = f"{path.relative_to(SERVICE.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "default_code" for t in targets):
                    add(node.value, where)
            elif isinstance(node, ast.FunctionDef):  # a helper's default code (``many(..., code="...")``)
                args = node.args.args[len(node.args.args) - len(node.args.defaults) :] + node.args.kwonlyargs
                defaults = [*node.args.defaults, *node.args.kw_defaults]
                for arg, default in zip(args, defaults, strict=True):
                    if arg.arg in ("code", "type") and _str(default) and SLUG.fullmatch(_str(default)):
                        add(default, where)
            elif isinstance(node, ast.Call):
                keywords = {k.arg: k.value for k in node.keywords}
                for key in ("code", "type"):
                    value = keywords.get(key)
                    if isinstance(value, ast.JoinedStr) or (_str(value) and SLUG.fullmatch(_str(value))):
                        add(value, where)
                name = _callee(node)
                if name == "at_line" and len(node.args) > 1:
                    add(node.args[1], where)
                if name == "problem_type" and node.args and _str(node.args[0]):
                    add(node.args[0], where)
                if name == "NotFoundError" and "code" not in keywords and node.args:
                    add(node.args[0], where, "-not-found")
    for slug in HTTP_STATUS_TYPES.values():
        found.setdefault(slug, "service/kit/problems.py: HTTP_STATUS_TYPES")
    return found


def test_every_problem_type_raised_is_registered_and_nothing_else():
    raised = raised_slugs()
    assert len(raised) > 50  # the scan finds them (a broken scan would find few)
    for slug in ("validation-error", "model-not-found", "corpus-exists", "dataset-in-use", "job-not-found",
                 "unknown-words", "request-header-fields-too-large", "overloaded", "not-found"):  # fmt: skip
        assert slug in raised, slug
    missing = {slug: where for slug, where in raised.items() if slug not in PROBLEM_TYPES}
    assert not missing, f"raised but not in service/kit/problem_types.py PROBLEM_TYPES: {missing}"
    stale = set(PROBLEM_TYPES) - set(raised)
    assert not stale, f"in PROBLEM_TYPES but raised nowhere: {sorted(stale)}"
    for slug, kind in PROBLEM_TYPES.items():
        assert SLUG.fullmatch(slug) and kind.title and kind.explanation.endswith("."), slug
        assert 400 <= kind.status <= 599, slug


@pytest.fixture(scope="module", params=["embeddings", "attention"])
def client(request, tmp_path_factory):
    make = embeddings_app if request.param == "embeddings" else attention_app
    with TestClient(make(tmp_path_factory.mktemp(request.param))) as c:
        yield c


def test_every_problem_type_answers_a_page(client):
    for slug, kind in PROBLEM_TYPES.items():
        r = client.get(PROBLEM_BASE + slug)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), slug
        assert f"<h1>{kind.title}</h1>" in r.text and f"HTTP {kind.status}" in r.text, slug
        assert "default-src 'none'" in r.headers["content-security-policy"]
        r = client.get(PROBLEM_BASE + slug, headers={"Accept": "application/json"})
        assert r.json() == {
            "type": PROBLEM_BASE + slug,
            "slug": slug,
            "title": kind.title,
            "status": kind.status,
            "explanation": kind.explanation,
        }
    listing = client.get("/problems", headers={"Accept": "application/json"}).json()
    assert [p["slug"] for p in listing] == list(PROBLEM_TYPES)
    page = client.get("/problems").text
    assert all(f'href="problems/{slug}"' in page for slug in PROBLEM_TYPES)
    problem = assert_problem(client.get(PROBLEM_BASE + "no-such-thing"), 404, "problem-type-not-found")
    assert "no-such-thing" in problem["detail"]
    # documentation, like /docs: not an operation of the API
    assert not [p for p in client.get("/openapi.json").json()["paths"] if p.startswith("/problems")]


def test_a_problem_type_answers_the_service_that_raised_it(client):
    if client.app.state.settings.service_name == "embeddings":
        r = client.post("/v1/models/nope/similar", json={"positive": ["a"]})
    else:
        r = client.post("/v1/models/nope/translate", json={"inputs": ["a"]})
    problem = assert_problem(r, 404, "model-not-found")
    assert problem["type"] == "/problems/model-not-found"
    page = client.get(urljoin(str(r.url), problem["type"]))
    assert page.status_code == 200 and "Model not found" in page.text


@pytest.mark.parametrize("prefix", ["/embeddings", "/a/b"])  # Ray Serve's route_prefix, a proxy's
def test_under_a_path_prefix_the_type_resolves_to_the_prefixed_page(tmp_path, prefix):
    with TestClient(embeddings_app(tmp_path, max_body_bytes=1024), root_path=prefix) as c:
        cases = [
            (c.post(prefix + "/v1/models/nope/similar", json={"positive": ["a"]}), 404, "model-not-found"),
            (c.post(prefix + "/v1/models/nope/similar", json={"positive": "a"}), 422, "validation-error"),
            (c.get(prefix + "/v1/nothing"), 404, "not-found"),
            (c.post(prefix + "/v1/models", content=b"x" * 4000), 413, "body-too-large"),
            (c.get(prefix + PROBLEM_BASE + "nope"), 404, "problem-type-not-found"),
        ]
        for response, status, slug in cases:
            problem = assert_problem(response, status, slug)
            assert problem["type"] == f"{prefix}/problems/{slug}", problem
            assert problem["instance"].startswith(prefix + "/"), problem
            url = urljoin(str(response.url), problem["type"])  # RFC 3986 resolution, as a client does
            assert url == f"http://testserver{prefix}/problems/{slug}"
            page = c.get(url)
            assert page.status_code == 200 and PROBLEM_TYPES[slug].title in page.text, url


def test_a_problem_built_without_the_request_takes_the_requests_prefix():
    # what one failed item of a batch carries (service.embeddings.routes.queries._batch): the request
    # context middleware sets root_path_var while the request is answered
    error = NotFoundError("model", "m")
    assert problem_members(error)["type"] == "/problems/model-not-found"
    token = root_path_var.set("/embeddings")
    try:
        assert problem_members(error)["type"] == "/embeddings/problems/model-not-found"
        assert problem_members(error, "")["type"] == "/problems/model-not-found"
    finally:
        root_path_var.reset(token)
