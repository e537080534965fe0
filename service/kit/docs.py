"""The API manuals, offline: Swagger UI (``/docs``) and ReDoc (``/redoc``) from packaged assets.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (jsdelivr), which fails on a machine
without internet access. The assets here come from the ``fastapi-offline`` wheel (Swagger UI 5.x,
which renders the OpenAPI 3.1 document FastAPI emits, and ReDoc 2), served under
``/static-offline-docs/``. Every URL in the two pages is relative (``openapi.json``,
``static-offline-docs/…``), so the manuals also work behind a reverse proxy that adds a path prefix;
under one that says so (the ASGI ``root_path``: Ray Serve's ``route_prefix``, a ``Mount``, uvicorn's
``--root-path``) the OpenAPI document lists it as its server (``"servers": [{"url": "/embeddings"}]``,
which FastAPI's ``/openapi.json`` route adds), so Swagger UI's "Try it out" calls the prefixed URLs,
and Swagger UI's OAuth2 redirect page is announced under the prefix too. The Swagger validator badge (a call to validator.swagger.io) is switched off, and both pages carry
a Content-Security-Policy that lets them load nothing from another host (ReDoc's bundle would fetch
its logo from cdn.redoc.ly: it is served with that URL taken out, and ReDoc hides the image).
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

#: Where the manuals' assets are served.
STATIC_URL = "/static-offline-docs"

#: Swagger UI's options: FastAPI's defaults, without the external validator badge.
SWAGGER_PARAMETERS = {
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "showExtensions": True,
    "showCommonExtensions": True,
    "validatorUrl": None,
}


#: What the two pages may load: their own origin only (plus inline boot scripts, data: images and
#: the blob: workers ReDoc's search uses).
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
    ]
)


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page


def assets_dir() -> Path:
    """The packaged Swagger UI / ReDoc assets (``swagger-ui-bundle.js``, ``swagger-ui.css``, …)."""
    return Path(str(importlib.resources.files("fastapi_offline") / "static"))


#: The one outside URL ReDoc's bundle loads by itself (its logo, an <img> that hides on error).
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def redoc_bundle() -> bytes:
    """ReDoc's standalone bundle without the outside logo URL."""
    text = (assets_dir() / "redoc.standalone.js").read_text(encoding="utf-8")
    return text.replace(REDOC_LOGO, "").encode("utf-8")


def install_offline_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve ``docs_url`` and ``redoc_url`` from local assets (create the app with ``docs_url=None``)."""
    static = STATIC_URL.lstrip("/")
    title = app.title
    openapi = (app.openapi_url or "/openapi.json").lstrip("/")
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get(f"{STATIC_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_js() -> Response:  # before the mount, which would serve the original
        return Response(redoc_bundle(), media_type="text/javascript; charset=utf-8")

    app.mount(STATIC_URL, StaticFiles(directory=assets_dir()), name="static-offline-docs")

    # The pages sit one level below the root (``/docs``), so ``openapi.json`` and ``static-…/``
    # resolve to the root's, with or without a proxy's path prefix. Swagger UI takes its OAuth2
    # redirect as a path on the page's origin (``window.location.origin + '/docs/oauth2-redirect'``):
    # that one gets the prefix the request came under.
    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root_path = str(request.scope.get("root_path") or "").rstrip("/")
        return _offline(
            get_swagger_ui_html(
                openapi_url=openapi,
                title=f"{title} - Swagger UI",
                oauth2_redirect_url=root_path + redirect,
                swagger_js_url=f"{static}/swagger-ui-bundle.js",
                swagger_css_url=f"{static}/swagger-ui.css",
                swagger_favicon_url=f"{static}/favicon.png",
                swagger_ui_parameters=SWAGGER_PARAMETERS,
            )
        )

    @app.get(redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _offline(
            get_redoc_html(
                openapi_url=openapi,
                title=f"{title} - ReDoc",
                redoc_js_url=f"{static}/redoc.standalone.js",
                redoc_favicon_url=f"{static}/favicon.png",
                with_google_fonts=False,
            )
        )
