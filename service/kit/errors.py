"""Domain errors: what stores, registries and the job runner raise, with no HTTP in them.

Each says what went wrong in the service's own terms (a model is missing, a name is taken, a job is
active, an input is invalid); :mod:`service.kit.problems` maps them to problem+json responses in one
place (``NotFoundError`` -> 404, ``ConflictError`` -> 409, ``InvalidInputError`` -> 422,
``TooLargeError`` -> 413, ``UnsupportedInputError`` -> 415, ``UnavailableError`` -> 503).

>>> str(NotFoundError("model", "m1"))
"no model named 'm1'"
>>> ConflictError("a job is active", code="job-active").code
'job-active'
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of the domain errors.

    ``code`` is a short slug that becomes the problem's ``type`` (``model-not-found``); ``loc`` names
    the offending field (``["body", "pairs", 3]``); ``extensions`` become extra problem members.
    """

    default_code = "error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        loc: list[str | int] | None = None,
        title: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.loc = loc
        self.title = title
        self.extensions = extensions


class NotFoundError(ServiceError):
    """A named resource does not exist: ``NotFoundError("model", "m1")`` -> ``model-not-found``."""

    def __init__(self, kind: str, name: str | int, *, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(
            detail or f"no {kind} named {name!r}",
            code=f"{kind}-not-found",
            title=f"{kind.capitalize()} not found",
            **extensions,
        )
        self.kind = kind
        self.name = name


class ConflictError(ServiceError):
    """The request clashes with the current state (a name is taken, a job is active or ended)."""

    default_code = "conflict"


class InvalidInputError(ServiceError):
    """Well-formed, but it cannot be processed (an empty vocabulary, a bad line of an upload)."""

    default_code = "invalid-request"


class TooLargeError(ServiceError):
    """An input exceeds a size limit (the setting that bounds it is named in the detail)."""

    default_code = "body-too-large"


class UnsupportedInputError(ServiceError):
    """An input of a kind the service refuses to read (a pickle, an archive)."""

    default_code = "unsupported-input"


class UnavailableError(ServiceError):
    """A dependency the service needs is down (not the client's fault); ``retry_after`` in seconds."""

    default_code = "unavailable"

    def __init__(self, detail: str, *, retry_after: int = 10, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after
