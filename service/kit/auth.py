"""Bearer-token protection for mutating routes.

When ``<PREFIX>_API_TOKEN`` is set, routes that train, import, delete or cancel depend on
:func:`require_token`; query routes depend on :func:`require_query_token`, which only checks when
``<PREFIX>_PROTECT_QUERIES`` is true. A missing token is a 401, a wrong one a 403 (problem+json).
Tokens are compared in constant time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.kit.errors import ForbiddenError, UnauthenticatedError

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
