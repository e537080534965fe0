"""Errors of the client: a problem the service answered, or a service that could not be reached.

Both services answer every error as an RFC 9457 problem (``application/problem+json``); the client
raises it as a :class:`ProblemError` carrying the parsed body, of a subclass chosen by status:

>>> try:
...     client.similar("nope", ["king"])
... except NotFoundError as exc:
...     print(exc.status, exc.code, exc.detail)
404 model-not-found no model named 'nope'

A service that cannot be reached at all (refused connection, DNS, timeout) is a
:class:`ServiceUnreachableError` (a :class:`ConnectionError`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import httpx


class ProblemError(Exception):
    """A problem answered by the service.

    Attributes: ``status`` (HTTP status), ``title``, ``detail`` (for a human, may be ``None``),
    ``code`` (the slug of the problem's ``type``: ``model-not-found``, ``validation-error``…),
    ``type`` (the full URI), ``errors`` (validation failures, ``[]`` when none), ``problem`` (the
    whole body as a dict, extension members included, e.g. ``unknown_words`` or ``job_id``).
    """

    def __init__(self, problem: dict[str, Any]):
        self.problem = dict(problem)
        self.status: int = int(problem.get("status") or 0)
        self.title: str = str(problem.get("title") or "")
        self.detail: str | None = problem.get("detail")
        self.type: str = str(problem.get("type") or "about:blank")
        self.code: str = self.type.rstrip("/").rsplit("/", 1)[-1]
        self.errors: list[dict[str, Any]] = list(problem.get("errors") or [])
        super().__init__(
            f"{self.status} {self.title}: {self.detail}" if self.detail else f"{self.status} {self.title}"
        )

    @property
    def message(self) -> str:
        """The line to show a person: the ``detail``, else the ``title``."""
        return self.detail or self.title or f"HTTP {self.status}"

    def __getitem__(self, key: str) -> Any:
        """A member of the problem body: ``exc["unknown_words"]``."""
        return self.problem[key]


class ClientProblemError(ProblemError):
    """A 4xx problem: the request was refused."""


class BadRequestError(ClientProblemError):
    """400."""


class AuthenticationError(ClientProblemError):
    """401 (no token) or 403 (a wrong one)."""


class NotFoundError(ClientProblemError):
    """404: unknown model, version, job, corpus, dataset, or unknown words."""


class ConflictError(ClientProblemError):
    """409: the name is taken, a job is active, the job already ended…"""


class TooLargeError(ClientProblemError):
    """413: a body or an upload over the service's limit."""


class UnsupportedInputError(ClientProblemError):
    """415: a file the service refuses to read (a pickle, say)."""


class ValidationProblemError(ClientProblemError):
    """422: invalid input; ``errors`` lists every invalid member (``loc``, ``msg``, ``type``)."""


class ServerProblemError(ProblemError):
    """A 5xx problem: the service failed or a dependency is down (503 has ``retry_after``)."""

    @property
    def retry_after(self) -> float | None:
        """Seconds the service asked to wait (503 ``Retry-After``), else ``None``."""
        value = self.problem.get("retry_after")
        return float(value) if isinstance(value, int | float) else None


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: TooLargeError,
    415: UnsupportedInputError,
    422: ValidationProblemError,
}


def problem_class(status: int) -> type[ProblemError]:
    """The :class:`ProblemError` subclass raised for an HTTP ``status``."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerProblemError if status >= 500 else ClientProblemError


def problem_from_response(response: httpx.Response) -> ProblemError:
    """The exception for an error response: its problem+json body, or one made up from the status.

    A body that is not a JSON object (a proxy's HTML page, say) still gives a problem: ``title`` is
    the status's phrase and ``detail`` the start of the text.
    """
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "status" not in body:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        text = response.text.strip()[:300] if not isinstance(body, dict) else None
        body = {**(body if isinstance(body, dict) else {}), "status": status, "title": phrase}
        if text:
            body.setdefault("detail", text)
    retry = response.headers.get("retry-after")
    if retry is not None and "retry_after" not in body:
        try:
            body["retry_after"] = float(retry)
        except ValueError:
            pass
    return problem_class(status)(body)


class ServiceUnreachableError(ConnectionError):
    """The service could not be reached (connection refused, DNS, TLS, timeout); ``url`` says where."""

    def __init__(self, url: str, reason: str):
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach {url}: {reason}")


__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ClientProblemError",
    "ConflictError",
    "NotFoundError",
    "ProblemError",
    "ServerProblemError",
    "ServiceUnreachableError",
    "TooLargeError",
    "UnsupportedInputError",
    "ValidationProblemError",
    "problem_class",
    "problem_from_response",
]
