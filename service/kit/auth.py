"""Bearer-token protection for mutating routes.

When ``<PREFIX>_API_TOKEN`` is set, routes that train, import, delete or cancel depend on
:func:`require_token`; query routes depend on :func:`require_query_token`, which only checks when
``<PREFIX>_PROTECT_QUERIES`` is true. A missing token is a 401, a wrong one a 403 (problem+json).
Tokens are compared in constant time (:func:`hmac.compare_digest`).

Without a token, nothing but the browser's same-origin policy keeps another site's page from
writing to a service on ``127.0.0.1``: a page may POST cross-site without asking first when the
request is CORS-"simple" (``text/plain``, ``application/x-www-form-urlencoded`` or
``multipart/form-data``, or no ``Content-Type`` at all). JSON routes are safe (``application/json``
needs a preflight, which the services refuse), the raw upload routes are not: they call
:func:`check_upload_type`, which refuses those bodies (415) while no token is set.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.kit.errors import ForbiddenError, UnauthenticatedError, UnsupportedInputError

#: The request content types a web page may send to another site without a CORS preflight.
CORS_SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})

_bearer = HTTPBearer(
    auto_error=False, description="`Authorization: Bearer <token>` (when a token is configured)"
)


def _check(request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
    token = request.app.state.settings.api_token
    if token is None:
        return
    if credentials is None:
        raise UnauthenticatedError("this route needs an 'Authorization: Bearer <token>' header")
    expected = token.get_secret_value().encode()
    if credentials.scheme.lower() != "bearer" or not hmac.compare_digest(
        credentials.credentials.encode(), expected
    ):
        raise ForbiddenError("the bearer token is not valid")


async def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    """Dependency of mutating routes: enforce the API token when one is configured."""
    _check(request, credentials)


async def require_query_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    """Dependency of query routes: enforce the token only when queries are protected too."""
    if request.app.state.settings.protect_queries:
        _check(request, credentials)


def check_upload_type(request: Request, accepted: Sequence[str]) -> None:
    """Refuse (415) a raw upload a web page of another site could have sent, while no token is set.

    That is a body sent as one of :data:`CORS_SIMPLE_TYPES`, or without a ``Content-Type`` by a
    browser (it sends ``Origin`` with every POST; a script without one is not a page). ``accepted``
    lists the types to send instead (``application/octet-stream`` first); the problem names them.
    With a token configured every type is taken as before: a page cannot send the token.
    """
    if request.app.state.settings.api_token is not None:
        return
    raw = request.headers.get("content-type")
    essence = (raw or "").split(";", 1)[0].strip().lower()
    if essence and essence not in CORS_SIMPLE_TYPES:
        return
    if not essence and "origin" not in request.headers:
        return
    sent = f"as {essence!r}" if essence else "without a Content-Type"
    others = f" (or {', '.join(repr(t) for t in accepted[1:])})" if len(accepted) > 1 else ""
    raise UnsupportedInputError(
        f"an upload sent {sent} is refused while no API token is set (a web page of any site may "
        f"send one); send the file with 'Content-Type: {accepted[0]}'{others}",
        code="unsupported-upload-type",
        title="Unsupported Media Type",
        accepted=list(accepted),
    )
