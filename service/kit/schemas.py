"""The API contract both services share: strict request bodies, the problem schema, the 202 body.

* :class:`RequestModel` -- the base of every request body (and of every nested request part):
  unknown members are a 422 (``extra="forbid"``), numbers and booleans are taken from JSON as they
  are (``"topn": "5"``, ``"topn": 4.0`` and ``"lowercase": 0`` are 422; a JSON integer is a valid
  float), and a lone UTF-16 surrogate (``"\\ud800"`` in the JSON text) in any string -- nested
  list items and dict keys included -- is a 422 whose ``loc`` names that very item.
* :class:`Problem` and :data:`PROBLEM_RESPONSES` -- the RFC 9457 body of every error, for OpenAPI.
* :class:`JobAccepted` -- the ``202 Accepted`` body of every route that starts a job.
* :func:`option` -- a member that applies in some cases only (``beam_size`` with ``decode: beam``):
  its default is used when it applies, but the OpenAPI document publishes none, so that a generated
  client, which sends every default a schema publishes, sends nothing it was not given.

Why annotated types and not ``ConfigDict(strict=True)``: FastAPI parses the body with ``json.loads``
and validates the resulting Python objects, so model-level strict mode applies *Python* strictness,
which refuses a JSON array for a ``tuple`` field (``tuple_type``) and an ISO string for a
``datetime`` (``datetime_type``). Strictness is only wanted for the scalars that lax mode coerces
(``int``, ``float``, ``bool``), so request models use :data:`Int`, :data:`Float` and :data:`Bool`;
:class:`RequestModel` refuses, when the class is defined, any field that uses a bare ``int``,
``float`` or ``bool`` (or a nested plain ``BaseModel``), so a lax field cannot slip in.

Example::

    class Query(RequestModel):
        topn: Int = 10

    Query.model_validate({"topn": "5"})  # ValidationError: topn, int_type
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Union

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from models.unicode import escape_surrogates, has_surrogate

#: A JSON integer (never a string, a float such as ``4.0`` or a boolean).
Int = Annotated[int, Strict()]
#: A finite JSON number (an integer is accepted; a string, a boolean, NaN or Infinity is not).
Float = Annotated[float, Strict(), AllowInfNan(False)]
#: A JSON ``true`` / ``false`` (never ``0``, ``1`` or ``"true"``).
Bool = Annotated[bool, Strict()]

_LAX_SCALARS = (int, float, bool)


def _surrogate_locs(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        if has_surrogate(value):
            yield loc, value
    elif isinstance(value, BaseModel):
        return  # validated by its own RequestModel validator (loc relative to it)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _surrogate_locs(item, (*loc, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and has_surrogate(key):
                yield (*loc, escape_surrogates(key), "[key]"), key
                key = escape_surrogates(key)
            yield from _surrogate_locs(item, (*loc, key))


def _lax_fields(annotation: Any) -> Iterator[str]:
    """Names of what makes ``annotation`` lax: bare int/float/bool, or a plain (non-request) model."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *meta = typing.get_args(annotation)
        if base in _LAX_SCALARS and any(isinstance(m, Strict) and m.strict for m in meta):
            return
        yield from _lax_fields(base)
        return
    if annotation in _LAX_SCALARS:
        yield annotation.__name__
        return
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not issubclass(annotation, RequestModel):
            yield f"{annotation.__name__} (a plain BaseModel)"
        return
    if origin is typing.Literal:
        return
    if origin in (Union, types.UnionType) or origin is not None:
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis:
                yield from _lax_fields(arg)


def _unpublished_default(schema: dict[str, Any]) -> None:
    """The ``json_schema_extra`` of an :func:`option`: the schema says nothing of its default."""
    schema.pop("default", None)


def option(default: Any, *, description: str, **constraints: Any) -> Any:
    """A request member that applies in some cases only: ``Field(default, ...)`` whose default the
    JSON schema does not publish.

    A model validator refuses the member when it would be ignored (it checks ``model_fields_set``:
    what the client sent), so a client that sends every published default (what a generated client
    does) would be refused for options it never chose. Absent means "not given": the field holds
    ``default`` (the behaviour when it applies), and ``description`` must say what that default is.

    >>> class Decode(RequestModel):
    ...     beam: Bool = False
    ...     width: Int = option(4, ge=1, description="With `beam: true` only (default 4).")
    >>> Decode.model_json_schema()["properties"]["width"]
    {'description': 'With `beam: true` only (default 4).', 'minimum': 1, 'title': 'Width', 'type': 'integer'}
    >>> Decode().width, "width" in Decode().model_fields_set
    (4, False)
    """
    return Field(default, description=description, json_schema_extra=_unpublished_default, **constraints)


def is_option(field: Any) -> bool:
    """Whether a model field (``Model.model_fields[name]``) was declared with :func:`option`."""
    return getattr(field, "json_schema_extra", None) is _unpublished_default


class RequestModel(BaseModel):
    """Base of every request body: no unknown members, strict JSON scalars, no lone surrogates.

    Declare numbers and booleans as :data:`Int`, :data:`Float`, :data:`Bool` (a bare ``int`` is a
    ``TypeError`` when the class is defined) and nested parts as ``RequestModel`` subclasses.
    """

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        bad = []
        for name, field in cls.model_fields.items():
            if field.annotation in _LAX_SCALARS and any(
                isinstance(m, Strict) and m.strict for m in field.metadata
            ):
                continue
            bad += [f"{name}: {what}" for what in _lax_fields(field.annotation)]
        if bad:
            raise TypeError(
                f"{cls.__qualname__} is a RequestModel, so its fields must be strict: "
                f"{'; '.join(bad)}; use Int/Float/Bool from service.kit.schemas and RequestModel parts"
            )

    @field_validator("*", mode="after")
    @classmethod
    def _no_lone_surrogates(cls, value: Any) -> Any:
        if isinstance(value, str | list | tuple | dict):
            errors = [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "string_surrogate",
                        "String should not contain a lone UTF-16 surrogate (the JSON text has an "
                        "unpaired \\ud800-\\udfff escape)",
                    ),
                    loc=loc,
                    input=escape_surrogates(text),
                )
                for loc, text in _surrogate_locs(value, ())
            ]
            if errors:
                # raised inside a validator, its errors are reported at the field's loc + their own
                raise ValidationError.from_exception_data(cls.__name__, errors)
        return value


# --------------------------------------------------------------------------- problems

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemFieldError(BaseModel):
    """One invalid member of a request: where it is and why."""

    loc: list[str | int] = Field(
        description='Path to the member: `["body", "inputs", 2]`, `["query", "topn"]`, `["body", "line", 7]`.'
    )
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="A machine-readable error type (`int_type`, `string_surrogate`…).")
    ctx: dict[str, Any] | None = Field(None, description="The constraint that failed (`{'le': 100}`).")


class Problem(BaseModel):
    """An RFC 9457 problem: the body of every error of both services (``application/problem+json``)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/model-not-found",
                    "title": "Model not found",
                    "status": 404,
                    "detail": "no model named 'news'",
                    "instance": "/v1/models/news/similar",
                    "request_id": "3f2b9c0d8e7a4b5c",
                }
            ]
        },
    )

    type: str = Field(
        "about:blank",
        description="A URI reference naming the kind of problem: `/problems/<slug>`, relative to the "
        "service (under a path prefix, `<prefix>/problems/<slug>`; resolve it against the request's URL). "
        "`GET` it for a page explaining the problem (JSON with `Accept: application/json`).",
    )
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(None, description="What went wrong this time, for a human.")
    instance: str | None = Field(None, description="The request path.")
    request_id: str | None = Field(None, description="The request id (also the `X-Request-ID` header).")
    errors: list[ProblemFieldError] | None = Field(
        None, description="Validation failures, one per invalid member (all of them at once)."
    )


#: App- or route-level OpenAPI ``responses``: every 4xx and 5xx is a :class:`Problem`
#: (``FastAPI(responses=PROBLEM_RESPONSES)``). FastAPI also lists the model under the route's own
#: media type; the ``application/problem+json`` entry is the one the services actually send.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "model": Problem,
        "description": "A client error, as an RFC 9457 problem",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
    "5XX": {
        "model": Problem,
        "description": "A server error (or a dependency that is down), as an RFC 9457 problem",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
}


# --------------------------------------------------------------------------- jobs


def job_location(job_id: str) -> str:
    """Where a job is watched: ``/v1/jobs/<id>`` (the body's ``location`` and the ``Location`` header)."""
    return f"/v1/jobs/{job_id}"


class JobAccepted(BaseModel):
    """The ``202 Accepted`` answer of every route that starts a job (also sent as ``Location``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "5f0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e",
                    "model": "news",
                    "status": "queued",
                    "location": "/v1/jobs/5f0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e",
                }
            ]
        }
    )

    job_id: str = Field(
        description="Job id (32 hex characters).", examples=["5f0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e"]
    )
    model: str | None = Field(description="The model the job produces.", examples=["news"])
    status: str = Field(description="`queued` or `running`.", examples=["queued"])
    location: str = Field(
        description="Where to watch the job: `/v1/jobs/<job_id>` (also the `Location` header).",
        examples=["/v1/jobs/5f0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e"],
    )


__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_RESPONSES",
    "Bool",
    "Float",
    "Int",
    "JobAccepted",
    "Problem",
    "ProblemFieldError",
    "RequestModel",
    "escape_surrogates",
    "has_surrogate",
    "job_location",
]
