"""The one error vocabulary of both services: what stores, registries, jobs and routes raise.

Each error says what went wrong in the service's own terms (a model is missing, a name is taken, a
job is active, an input is invalid) and carries no HTTP; :mod:`service.kit.problems` renders every
one of them as an RFC 9457 problem in one place (``NotFoundError`` -> 404, ``ConflictError`` ->
409, ``InvalidInputError`` -> 422, ``TooLargeError`` -> 413, ``UnsupportedInputError`` -> 415,
``UnauthenticatedError`` -> 401, ``ForbiddenError`` -> 403, ``UpstreamError`` -> 502,
``UnavailableError`` -> 503).

>>> str(NotFoundError("model", "m1"))
"no model named 'm1'"
>>> ConflictError("a job is active", code="job-active").code
'job-active'
>>> exc = InvalidInputError.many([(["body", "inputs", 0], "empty input", "empty_input")])
>>> exc.detail, exc.errors[0]["loc"]
('body.inputs.0: empty input', ['body', 'inputs', 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: One invalid member of a request: ``(loc, msg, type)``, e.g. ``(["body", "inputs", 2], "empty input",
#: "empty_input")``.
FieldError = tuple[list[Any], str, str]


class ServiceError(Exception):
    """Base of the errors.

    ``code`` is a short slug that becomes the problem's ``type`` (``model-not-found``); ``title`` a
    summary of the kind of problem (the class's default when None); ``loc`` names the offending
    field (``["body", "pairs", 3]``); ``errors`` lists several offending fields at once
    (``[{"loc", "msg", "type"}]``, instead of ``loc``); ``extensions`` become extra problem members.
    """

    default_code = "error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        loc: list[str | int] | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.title = title
        self.loc = loc
        self.extensions = extensions
        if errors is None and loc:
            errors = [{"loc": list(loc), "msg": detail, "type": self.code}]
        self.errors = errors


class NotFoundError(ServiceError):
    """A named resource does not exist: ``NotFoundError("model", "m1")`` -> ``model-not-found``."""

    def __init__(
        self,
        kind: str,
        name: Any,
        *,
        detail: str | None = None,
        code: str | None = None,
        title: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(
            detail or f"no {kind} named {name!r}",
            code=code or f"{kind}-not-found",
            title=title or f"{kind.capitalize()} not found",
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

    @classmethod
    def many(
        cls,
        found: Sequence[FieldError],
        *,
        title: str = "Request validation failed",
        code: str = "validation-error",
        **extensions: Any,
    ) -> InvalidInputError:
        """One error listing every ``(loc, msg, type)`` found, the shape of a pydantic validation
        failure (the detail names the first five)."""
        listed = "; ".join(f"{'.'.join(str(p) for p in loc)}: {msg}" for loc, msg, _ in found[:5])
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        errors = [{"loc": list(loc), "msg": msg, "type": t} for loc, msg, t in found]
        return cls(listed + more, code=code, title=title, errors=errors, **extensions)

    @classmethod
    def at_line(cls, title: str, code: str, line: int, reason: str, error_type: str) -> InvalidInputError:
        """An error naming the offending line of an upload (``errors[0].loc == ["body", "line", line]``)."""
        errors = [{"loc": ["body", "line", line], "msg": reason, "type": error_type}]
        return cls(f"line {line}: {reason}", code=code, title=title, errors=errors, line=line)


class TooLargeError(ServiceError):
    """An input exceeds a size limit (the setting that bounds it is named in the detail)."""

    default_code = "body-too-large"


class UnsupportedInputError(ServiceError):
    """An input of a kind the service refuses to read (a pickle, an archive)."""

    default_code = "unsupported-input"


class UnauthenticatedError(ServiceError):
    """The route needs credentials and the request has none."""

    default_code = "unauthenticated"


class ForbiddenError(ServiceError):
    """The request's credentials are not valid."""

    default_code = "forbidden"


class UpstreamError(ServiceError):
    """A service this one depends on answered something it should not have (not the client's fault)."""

    default_code = "upstream-error"


class UnavailableError(ServiceError):
    """A dependency the service needs is down (not the client's fault); ``retry_after`` in seconds."""

    default_code = "unavailable"

    def __init__(self, detail: str, *, retry_after: int = 10, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after
