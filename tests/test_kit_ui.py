"""The web page's serving (service/kit/ui.py): packaged assets, relative URLs, config, CORS for the peer."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
from starlette.testclient import TestClient

from service.kit.ui import cors_origins, ui_dir
from tests.test_docs_offline import _local, _refs

#: A module's static imports and re-exports: ``import {a} from "./a.js"``, ``import "./b.js"``,
#: ``export {c} from "./c.js"`` (at a line's start, so a comment that mentions one is not one).
IMPORT = re.compile(
    r"""^\s*(?:import\s*(?:[^"'`;]*?\bfrom\s*)?|export\s[^"'`;]*?\bfrom\s*)["']([^"']+)["']""", re.M
)


@pytest.fixture(params=["embeddings", "attention"])
def api(request):
    return request.getfixturevalue(f"{request.param}_api")


def test_ui_redirect_is_relative_and_page_loads_local_assets(api):
    r = api.get("/ui", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "ui/"  # works under a proxy's prefix too
    page = api.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refs = _refs(page.text)
    assert {"style.css", "main.js"} <= set(refs), refs
    types = {"style.css": "text/css", "main.js": "text/javascript"}
    for ref in refs:
        if ref.startswith("data:"):  # the empty favicon: no request at all
            continue
        assert _local(ref) and not ref.startswith("/"), ref
        if ref in types:
            asset = api.get(urljoin("http://testserver/ui/", ref))
            assert asset.status_code == 200 and types[ref] in asset.headers["content-type"], ref


def test_script_uses_relative_urls_only():
    js = "\n".join(p.read_text(encoding="utf-8") for p in sorted(ui_dir().glob("*.js")))
    # The only absolute URL is the SVG namespace; the peer's URL comes from config.json.
    assert set(re.findall(r"https?://[^\s\"'`]+", js)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"""["'`]/(v1|ui|docs|openapi)""", js), (
        "a root-absolute URL breaks behind a path prefix"
    )
    css = (ui_dir() / "style.css").read_text(encoding="utf-8")
    assert "url(" not in css and "@import" not in css


def _module_graph(client: TestClient, page_url: str) -> dict[str, str]:
    """Every module the page at ``page_url`` loads, as the browser finds them: its module scripts,
    then each module's imports, resolved against the module's own URL; url -> source."""
    scripts = re.findall(r"<script\b([^>]*)>", client.get(page_url).text)
    assert scripts and all('type="module"' in attrs for attrs in scripts), scripts
    todo = [urljoin(page_url, re.search(r'src="([^"]+)"', attrs).group(1)) for attrs in scripts]
    sources: dict[str, str] = {}
    while todo:
        url = todo.pop()
        if url in sources:
            continue
        r = client.get(url)
        assert r.status_code == 200, url
        # A browser runs a module script only when it is served with a JavaScript type.
        assert r.headers["content-type"].split(";")[0] == "text/javascript", (url, r.headers["content-type"])
        sources[url] = r.text
        assert not re.search(r"\bimport\s*\(", r.text), f"{url}: a dynamic import hides from this graph"
        for spec in IMPORT.findall(r.text):
            assert spec.startswith("./") and spec.endswith(".js"), f"{url} imports {spec!r}: not relative"
            todo.append(urljoin(url, spec))
    return sources


@pytest.mark.parametrize("prefix", ["", "/embeddings"])  # "/embeddings": Serve's route_prefix
def test_every_module_is_javascript_and_reached_from_main(api, prefix):
    client = TestClient(api.app, root_path=prefix) if prefix else api
    base = f"http://testserver{prefix}/ui/"
    sources = _module_graph(client, base)
    assert next(iter(sources)) == base + "main.js"  # the one entry
    assert all(url.startswith(base) for url in sources), list(sources)  # the prefix kept
    files = {p.name for p in ui_dir().glob("*.js")}
    reached = {url.removeprefix(base) for url in sources}
    assert reached == files, f"not imported from main.js: {sorted(files - reached)}"


def test_a_module_is_javascript_whatever_the_host_mime_tables_say(api, monkeypatch):
    # StaticFiles asks mimetypes, i.e. the host (Windows' registry can map .js to text/plain).
    monkeypatch.setattr("starlette.responses.guess_type", lambda *a, **k: ("text/plain", None))
    r = api.get("/ui/main.js")
    assert r.status_code == 200 and r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert api.get("/ui/style.css").headers["content-type"].startswith("text/plain")  # the patch took


def test_config_names_the_service_and_its_peer(make_embeddings_client, make_attention_client):
    with make_embeddings_client() as c:
        cfg = c.get("/ui/config.json").json()
        assert cfg["service"] == "embeddings"
        assert cfg["peer"] == {"service": "attention", "url": "http://127.0.0.1:8002"}
    with make_attention_client(ui_peer_url="http://emb.example:9001/") as c:
        cfg = c.get("/ui/config.json").json()
        assert cfg["peer"] == {"service": "embeddings", "url": "http://emb.example:9001"}
    with make_attention_client(ui_peer_url="") as c:
        assert c.get("/ui/config.json").json()["peer"] is None


def test_cors_lets_the_peer_page_read_but_not_write(embeddings_api):
    for origin in ("http://127.0.0.1:8002", "http://localhost:8002"):
        r = embeddings_api.get("/v1/jobs", headers={"Origin": origin})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin
    r = embeddings_api.get("/v1/jobs", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    pre = {"Origin": "http://127.0.0.1:8002", "Access-Control-Request-Method": "DELETE"}
    assert embeddings_api.options("/v1/jobs/x", headers=pre).status_code == 400
    pre["Access-Control-Request-Method"] = "GET"
    pre["Access-Control-Request-Headers"] = "authorization"
    assert embeddings_api.options("/v1/jobs/x", headers=pre).status_code == 200


def test_cors_origins_setting(make_attention_client):
    from service.attention.settings import Settings

    s = Settings(ui_peer_url="https://emb.example", cors_origins="http://a.example, http://b.example/")
    assert cors_origins(s) == ["https://emb.example", "http://a.example", "http://b.example"]
    assert cors_origins(Settings(ui_peer_url="", cors_origins="")) == []
    with make_attention_client(ui_peer_url="", cors_origins="http://a.example") as c:
        r = c.get("/healthz", headers={"Origin": "http://a.example"})
        assert r.headers["access-control-allow-origin"] == "http://a.example"


def _directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (x.strip() for x in csp.split(";")) if d}


@pytest.mark.parametrize("prefix", ["", "/embeddings"])  # "/embeddings": Serve's route_prefix
def test_every_ui_answer_has_the_security_headers(api, prefix):
    """A CSP that lets the page work and nothing more, ``frame-ancestors 'none'`` and ``nosniff`` on
    every answer under /ui: the page, each module, the stylesheet, config.json, the redirect, a 404."""
    client = TestClient(api.app, root_path=prefix) if prefix else api
    paths = ["/ui", "/ui/", "/ui/index.html", "/ui/style.css", "/ui/config.json", "/ui/missing.js"]
    paths += [f"/ui/{p.name}" for p in sorted(ui_dir().glob("*.js"))]
    peer = api.app.state.settings.ui_peer_url.rstrip("/")
    for path in paths:
        r = client.get(prefix + path, follow_redirects=False)
        assert r.status_code in (200, 307, 404), (path, r.status_code)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        csp = _directives(r.headers["content-security-policy"])
        assert csp["frame-ancestors"] == ["'none'"], path
        assert csp["default-src"] == ["'none'"] and csp["base-uri"] == ["'none'"], csp
        assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"], csp  # no inline code
        assert csp["img-src"] == ["'self'", "data:"], csp  # the empty data: favicon
        assert csp["connect-src"][0] == "'self'" and peer in csp["connect-src"], csp  # the peer's jobs
        assert not any("unsafe" in v for values in csp.values() for v in values), csp
    # elsewhere the page's policy does not apply (the manuals have their own)
    assert "frame-ancestors" not in api.get("/healthz").headers.get("content-security-policy", "")
    assert "connect-src 'self';" in api.get("/docs").headers["content-security-policy"] + ";"


def test_the_page_has_no_inline_code_a_strict_csp_would_block():
    html = (ui_dir() / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    assert "<style" not in html and not re.search(r"\sstyle=", html) and not re.search(r"\son[a-z]+=", html)
    js = "\n".join(p.read_text(encoding="utf-8") for p in sorted(ui_dir().glob("*.js")))
    assert "innerHTML" not in js and 'setAttribute("style"' not in js and "eval(" not in js


def test_csp_connects_to_the_peer_in_both_loopback_spellings(make_attention_client):
    with make_attention_client(ui_peer_url="http://localhost:9001/") as c:
        csp = _directives(c.get("/ui/").headers["content-security-policy"])
        assert csp["connect-src"] == ["'self'", "http://localhost:9001", "http://127.0.0.1:9001"]
    with make_attention_client(ui_peer_url="") as c:
        assert _directives(c.get("/ui/").headers["content-security-policy"])["connect-src"] == ["'self'"]


@pytest.mark.parametrize("root_path", ["", "/embeddings"])
def test_the_root_redirects_to_the_page(tmp_path, root_path):
    from fastapi.testclient import TestClient

    from tests.helpers import embeddings_app

    with TestClient(embeddings_app(tmp_path / "data"), root_path=root_path) as client:
        r = client.get(f"{root_path}/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == f"{root_path}/ui/"
