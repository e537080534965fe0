"""The web page ``/ui`` each service serves itself, and the CORS its peer's page needs.

The page is static (``service/ui/``: plain HTML, vanilla-JS ES modules from ``main.js``, CSS; no
build step, nothing loaded from another host). Every URL it uses is relative (``../v1/…`` from
``/ui/``, ``./api.js`` between modules), so it works behind a reverse proxy that adds a path
prefix. ``/ui/config.json`` tells it which service it is on and where the other service is
(``*_UI_PEER_URL``), whose jobs the page also shows: those GETs come from another origin, so the
service allows the peer's origin (and ``*_CORS_ORIGINS``) to GET
(:class:`starlette.middleware.cors.CORSMiddleware`, read-only methods only).

Every answer under ``/ui`` carries a Content-Security-Policy (:func:`page_csp`: scripts, styles and
images from the page's own origin only, fetches to its own origin and the peer's, no frames, no
plugins, no ``<base>``), ``frame-ancestors 'none'`` (and ``X-Frame-Options: DENY``, its older
spelling) so no other site can frame it, and ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.kit.settings import ServiceSettings

#: The services a page can point at (the page's views depend on the service).
PEERS = {"embeddings": "attention", "attention": "embeddings"}

#: What a module script must be served as: a browser refuses to run one with any other type.
JS_MEDIA_TYPE = "text/javascript; charset=utf-8"


def ui_dir() -> Path:
    """The page's packaged assets (``index.html``, ``main.js`` and the modules it imports, ``style.css``)."""
    return Path(str(importlib.resources.files("service") / "ui"))


class PageFiles(StaticFiles):
    """The page's files, a ``.js`` one always as JavaScript.

    :class:`StaticFiles` takes the type from :mod:`mimetypes`, i.e. from the host's tables (Windows'
    registry can say ``text/plain``), and a ``<script type="module">`` with a wrong type does not run.
    """

    def file_response(
        self,
        full_path: os.PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if str(full_path).endswith(".js") and isinstance(response, FileResponse):
            response.headers["content-type"] = JS_MEDIA_TYPE
        return response


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def cors_origins(settings: ServiceSettings) -> list[str]:
    """Origins allowed to GET cross-origin: the peer page's (both loopback spellings) and the extra ones."""
    out = peer_origins(settings)
    out += [o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip()]
    return list(dict.fromkeys(out))


def peer_origins(settings: ServiceSettings) -> list[str]:
    """The peer page's origin as ``*_UI_PEER_URL`` names it, with the other loopback spelling."""
    peer = _origin(settings.ui_peer_url or "")
    if not peer:
        return []
    out = [peer]
    for a, b in (("//127.0.0.1", "//localhost"), ("//localhost", "//127.0.0.1")):
        if a in peer:
            out.append(peer.replace(a, b))
    return out


def page_csp(settings: ServiceSettings) -> str:
    """The page's Content-Security-Policy: what it loads (its own modules, stylesheet and data:
    favicon), whom it fetches (its own service, the peer's URL of ``config.json``) and nothing else.

    No ``'unsafe-inline'``: the page has no inline script or style (element styles are set through
    the CSSOM, which a policy does not govern)."""
    connect = " ".join(["'self'", *peer_origins(settings)])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


class PageHeaders:
    """ASGI middleware: the security headers of every answer under ``/ui`` (files, ``config.json``,
    the redirect, a 404)."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, root = scope.get("path", ""), scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if scope["type"] != "http" or not (path == "/ui" or path.startswith("/ui/")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self.headers}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*kept, *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)


def install_ui(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve the page at ``/ui/`` and its configuration at ``/ui/config.json``."""
    service = settings.service_name
    peer_url = (settings.ui_peer_url or "").rstrip("/") or None

    @app.get("/ui", include_in_schema=False)
    async def ui_redirect() -> Response:
        # Relative, so it also works behind a proxy's path prefix.
        return Response(status_code=307, headers={"Location": "ui/"})

    @app.get("/", include_in_schema=False)
    async def root_redirect(request: Request) -> Response:
        # The service's root is its web page (below a proxy's or Serve's path prefix too).
        return Response(status_code=307, headers={"Location": f"{request.scope.get('root_path', '')}/ui/"})

    @app.get("/ui/config.json", include_in_schema=False)
    async def ui_config() -> JSONResponse:
        peer = {"service": PEERS.get(service), "url": peer_url} if peer_url else None
        return JSONResponse(
            {"service": service, "title": app.title, "version": app.version, "peer": peer},
            headers={"Cache-Control": "no-store"},
        )

    app.mount("/ui", PageFiles(directory=ui_dir(), html=True), name="ui")
    app.add_middleware(PageHeaders, csp=page_csp(settings))


def install_cors(app: FastAPI, settings: ServiceSettings) -> None:
    """Let the peer's page (and ``cors_origins``) read this service: GET/HEAD only, no cookies."""
    origins = cors_origins(settings)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD"],
            allow_headers=["Authorization", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )
