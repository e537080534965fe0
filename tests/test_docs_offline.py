"""The API manuals work offline: /docs (Swagger UI 5) and /redoc load only the service's own assets."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from service.kit.docs import CSP, assets_dir

BASE = "http://testserver"


class _Refs(HTMLParser):
    """Every src/href (and ReDoc's spec-url) of a page, and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("src", "href", "spec-url") and value:
                self.refs.append(value)
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.scripts.append(data)


def _refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    refs = list(parser.refs)
    for script in parser.scripts:  # Swagger UI's boot script: url: 'openapi.json'
        refs += re.findall(r"\burl:\s*['\"]([^'\"]+)['\"]", script)
    return refs


def _local(ref: str) -> bool:
    parts = urlsplit(ref)
    return not parts.scheme and not parts.netloc and not ref.startswith("//")


EXPECTED_TYPES = {
    ".js": "javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


@pytest.fixture(params=["embeddings", "attention"])
def api(request):
    return request.getfixturevalue(f"{request.param}_api")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_manual_loads_only_local_assets(api, page):
    r = api.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    assert "default-src 'self'" in CSP and "connect-src 'self'" in CSP
    refs = _refs(r.text)
    assert refs, r.text
    wanted = {"swagger-ui-bundle.js", "swagger-ui.css"} if page == "/docs" else {"redoc.standalone.js"}
    assert wanted | {"openapi.json"} <= {ref.rsplit("/", 1)[-1] for ref in refs}
    assert not re.search(r"cdn\.|jsdelivr|unpkg|googleapis", r.text)
    for ref in refs:
        assert _local(ref), f"{page} references another host: {ref}"
        url = urljoin(BASE + page, ref)
        assert urlsplit(url).netloc == "testserver"
        asset = api.get(url)
        assert asset.status_code == 200, url
        suffix = "." + url.rsplit(".", 1)[-1]
        assert EXPECTED_TYPES[suffix] in asset.headers["content-type"], (url, asset.headers["content-type"])
        if suffix == ".js":  # no bundle fetches anything from a CDN by itself
            assert not re.search(r"https://(cdn\.|fonts\.googleapis|unpkg)", asset.text), url
        if suffix == ".css":  # every url(...) of a stylesheet is inline data or local
            for inner in re.findall(r"url\(\s*['\"]?([^'\")]+)", asset.text):
                assert inner.startswith("data:") or _local(inner), inner


def test_relative_urls_work_behind_a_path_prefix(api):
    # A proxy serving the service under /emb/ sees the same page: nothing in it is root-absolute.
    for page in ("/docs", "/redoc"):
        for ref in _refs(api.get(page).text):
            assert not ref.startswith("/"), ref
            assert urljoin("http://proxy/emb" + page, ref).startswith("http://proxy/emb/")


def test_swagger_ui_is_version_5_or_later():
    bundle = (assets_dir() / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    m = re.search(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"', bundle)
    assert m, "no PACKAGE_VERSION in swagger-ui-bundle.js"
    assert int(m.group(1)) >= 5  # OpenAPI 3.1 (what FastAPI emits) needs Swagger UI 5


def test_swagger_validator_badge_is_off(api):
    # The badge would send the document's URL to validator.swagger.io.
    assert '"validatorUrl": null' in api.get("/docs").text


def test_openapi_is_3_1_and_manuals_not_in_it(api):
    doc = api.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert "/docs" not in doc["paths"] and "/redoc" not in doc["paths"] and "/ui" not in doc["paths"]


# --------------------------------------------------------------------------- under a path prefix

PREFIX = "/embeddings"


@pytest.fixture
def prefixed(api):
    """The started app mounted at ``/embeddings`` of a Starlette app: the scope an app gets under
    Ray Serve's ``route_prefix`` or uvicorn's ``--root-path`` (the path keeps the prefix and
    ``root_path`` names it). (Starlette's ``TestClient(root_path=...)`` sends the path without the
    prefix, which no server does.)"""
    from fastapi.testclient import TestClient
    from starlette.applications import Starlette
    from starlette.routing import Mount

    with TestClient(Starlette(routes=[Mount(PREFIX, app=api.app)])) as client:
        yield client


def test_manuals_under_a_path_prefix_load_the_document_and_call_the_prefixed_urls(prefixed):
    client, prefix = prefixed, PREFIX
    for page in ("/docs", "/redoc"):
        r = client.get(prefix + page)
        assert r.status_code == 200, page
        refs = _refs(r.text)
        assert "openapi.json" in refs
        for ref in refs:  # each reference, resolved from where the page is, is served under the prefix
            url = urljoin(BASE + prefix + page, ref)
            assert urlsplit(url).path.startswith(prefix), url
            assert client.get(url).status_code == 200, url
    # Swagger UI's OAuth2 redirect page is announced under the prefix as well (a path on the origin)
    redirect = re.search(
        r"oauth2RedirectUrl: window\.location\.origin \+ '([^']+)'", client.get(prefix + "/docs").text
    )
    assert redirect and redirect.group(1) == PREFIX + "/docs/oauth2-redirect"
    assert client.get(prefix + "/docs/oauth2-redirect").status_code == 200
    # the document names the prefix as its server: "Try it out" calls /embeddings/healthz, not /healthz
    doc = client.get(prefix + "/openapi.json").json()
    assert doc["servers"][0] == {"url": PREFIX}
    assert "/healthz" in doc["paths"]
    assert client.get(prefix + "/healthz").status_code == 200


def test_without_a_prefix_the_document_names_no_server(api):
    assert "servers" not in api.get("/openapi.json").json()
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in api.get("/docs").text
