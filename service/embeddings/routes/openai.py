"""OpenAI-compatible embeddings: ``POST /v1/embeddings`` (operation ``create_embeddings``).

The request and answer are OpenAI's (:mod:`service.embeddings.schemas.openai`), so the OpenAI SDKs,
LangChain, LlamaIndex and other clients of OpenAI's embeddings API use the service with
``base_url=<service>/v1``. The vectors are the service's sentence vectors: exactly what
``POST /v1/models/{name}/sentence-vectors`` answers with its defaults (the ``simple`` tokenizer,
masked ``mean`` pooling of the raw word vectors; unknown tokens masked out, FastText out-of-vocabulary
tokens built from character n-grams, an all-zero vector for an input without a known token; not
normalised, as that route's). ``model`` is ``name`` or ``name@N`` (version N).

Only this route speaks OpenAI's error envelope ``{"error": {"message", "type", "param", "code"}}``
(:class:`OpenAIRoute` renders the service's errors, validation failures and auth failures in it,
with the service's status codes, so the SDKs raise their own exceptions: ``NotFoundError``,
``UnprocessableEntityError``, ``AuthenticationError``); a wrong token is a 401 here (OpenAI's
``invalid_api_key``), not the 403 of the other routes. What the service's outer layers answer before
the route runs (413 body too large, 408, 405, 503 overloaded) stays problem+json, as everywhere.

Bounds, all before any work: at most ``EMBEDDINGS_MAX_BATCH`` inputs (2048 by default, OpenAI's own
limit), each at most 100,000 characters, the whole body within ``EMBEDDINGS_MAX_BODY_BYTES``, and
the answer (inputs x dimensions) within the output budget (:func:`service.kit.budget.check_answer`).
Concurrent requests go through the process's micro-batcher ``openai_embeddings``
(``runtime.batching.answer``): their inputs are pooled in one call.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from models.embeddings.corpus import Tokenizer
from service.embeddings import limits
from service.embeddings.runtime import EmbeddingsRuntime, LoadedVectors, Runtime
from service.embeddings.schemas import TokenizerOptions
from service.embeddings.schemas.openai import EmbeddingsRequest, EmbeddingsResponse, ErrorResponse
from service.kit.auth import require_query_token
from service.kit.batching import Outcome
from service.kit.budget import check_answer
from service.kit.errors import (
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    ServiceError,
    UnauthenticatedError,
    UnavailableError,
)
from service.kit.names import NAME_DESCRIPTION, is_valid_name
from service.kit.problems import ProblemJSONResponse, problem_status, validation_errors
from service.kit.schemas import PROBLEM_MEDIA_TYPE

log = logging.getLogger("service.errors")

#: The tokenizer ``/sentence-vectors`` uses by default (``simple``, lowercased).
TOKENIZER: Tokenizer = TokenizerOptions().tokenizer()

#: Largest version number a ``name@N`` may name (as ``?version=N``).
MAX_VERSION = 2**31 - 1

_MODEL = re.compile(r"^(?P<name>.*?)(?:@(?P<version>[0-9]+))?$", re.DOTALL)


# --------------------------------------------------------------------------- OpenAI's error envelope


class ErrorJSONResponse(ProblemJSONResponse):
    """``application/json``, written as the problems are: a lone surrogate echoed from the request is
    its JSON escape, never a failed response."""

    media_type = "application/json"


def openai_error(
    status: int,
    message: str,
    *,
    code: str | None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """``{"error": {"message", "type", "param", "code"}}`` with ``status`` (``type``
    ``invalid_request_error`` for a 4xx, ``server_error`` for a 5xx, as OpenAI)."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return ErrorJSONResponse(body, status_code=status, headers=headers)


def _param(loc: Sequence[Any] | None) -> str | None:
    """A request member's loc (``["body", "input", 3]``) as OpenAI names it (``input[3]``)."""
    parts = list(loc or ())
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    if not parts or not isinstance(parts[0], str):
        return None
    out = parts[0]
    for p in parts[1:]:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


#: The service's error codes as OpenAI's (where it has one) and the member they are about.
_CODES: dict[str, tuple[str, str | None]] = {
    "model-not-found": ("model_not_found", "model"),
    "version-not-found": ("model_not_found", "model"),
    "answer-too-large": ("answer_too_large", "input"),
}


def service_error(exc: ServiceError) -> JSONResponse:
    """One of the service's errors in OpenAI's envelope, with its status (a wrong token: 401)."""
    status, _ = problem_status(exc)
    headers = None
    if isinstance(exc, UnauthenticatedError | ForbiddenError):
        status, headers = 401, {"WWW-Authenticate": 'Bearer realm="embattn"'}
        code = "missing_api_key" if isinstance(exc, UnauthenticatedError) else "invalid_api_key"
        return openai_error(status, exc.detail, code=code, headers=headers)
    if isinstance(exc, UnavailableError):
        headers = {"Retry-After": str(exc.retry_after)}
    code, param = _CODES.get(exc.code, (exc.code.replace("-", "_"), None))
    loc = exc.loc or (exc.errors[0]["loc"] if exc.errors else None)
    return openai_error(status, exc.detail, code=code, param=_param(loc) or param, headers=headers)


def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A request that does not validate: 422, naming every invalid member (the first one's error type
    is the ``code``, its name the ``param``)."""
    errors = validation_errors(exc)
    named = [(_param(e["loc"]) if e["type"] != "json_invalid" else None, e) for e in errors]
    message = "; ".join(f"{p}: {e['msg']}" if p else e["msg"] for p, e in named[:5])
    if len(errors) > 5:
        message += f" (and {len(errors) - 5} more)"
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type:
        message += f"; the body was sent as {content_type or 'no content type'!r}: send JSON"
    first_param, first = named[0] if named else (None, {"type": "validation_error"})
    return openai_error(422, message, code=first["type"], param=first_param)


def http_error(exc: StarletteHTTPException) -> JSONResponse:
    """An HTTP error raised while the route runs (FastAPI's 400 for a body that is not UTF-8 text)."""
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    code = (
        "invalid_body"
        if exc.status_code == 400
        else HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    )
    return openai_error(exc.status_code, message, code=code, headers=dict(exc.headers or {}) or None)


class OpenAIRoute(APIRoute):
    """A route whose errors are OpenAI's envelope: the service's errors (auth included: the token
    check is one of the route's dependencies), validation failures, HTTP errors raised within the
    route and anything unexpected (a 500, logged with its traceback)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as exc:
                return service_error(exc)
            except RequestValidationError as exc:
                return validation_error(request, exc)
            except StarletteHTTPException as exc:  # a body that is not UTF-8 (400), ...
                return http_error(exc)
            except Exception:
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return openai_error(
                    500, "an unexpected error occurred; see the server log", code="internal_error"
                )

        return route_handler


_ENVELOPE = 'OpenAI\'s error envelope `{"error": {"message", "type", "param", "code"}}`'
_PROBLEM = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
OPENAI_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorResponse,
        "description": "A missing (`missing_api_key`) or wrong (`invalid_api_key`) bearer token, when "
        f"queries are protected: {_ENVELOPE}",
    },
    404: {
        "model": ErrorResponse,
        "description": f"No such model or version (`model_not_found`): {_ENVELOPE}",
    },
    422: {
        "model": ErrorResponse,
        "description": "Token ids (`token_ids_unsupported`), `dimensions` other than the model's "
        "(`dimensions_mismatch`), too many inputs (`too_many_items`), an answer over the output budget "
        f"(`answer_too_large`), an invalid body (the validation error's type): {_ENVELOPE}",
    },
    "4XX": {
        "model": ErrorResponse,
        "description": f"The route's client errors are {_ENVELOPE}; what the service answers before the route "
        "runs (413 body too large, 408 body too slow, 405) is an RFC 9457 problem",
        "content": _PROBLEM,
    },
    "5XX": {
        "model": ErrorResponse,
        "description": f"The route's server errors are {_ENVELOPE}; the service's own (503 overloaded) are "
        "RFC 9457 problems",
        "content": _PROBLEM,
    },
}


# --------------------------------------------------------------------------- the answer


@dataclass(frozen=True)
class EmbeddingsQuery:
    """One request's inputs (a micro-batch item): ``values`` is what its answer holds (its cost)."""

    inputs: list[str]
    base64: bool
    values: int


def answer_openai_embeddings(
    runtime: EmbeddingsRuntime, model: LoadedVectors, queries: list[EmbeddingsQuery]
) -> list[Outcome]:
    """Requests answered on one model version: every input of every request pooled in one call of the
    core (as ``/sentence-vectors`` with its defaults), each request's answer its JSON bytes."""
    found = model.model.sentence_vectors(
        [s for q in queries for s in q.inputs], mode="mean", tokenizer=TOKENIZER
    )
    label = f"{model.name}@{model.version}"
    out: list[Outcome] = []
    start = 0
    for q in queries:
        rows = found[start : start + len(q.inputs)]
        start += len(q.inputs)
        if q.base64:
            vectors: list[Any] = [
                base64.b64encode(r.vector.astype("<f4", copy=False).tobytes()).decode("ascii") for r in rows
            ]
        else:
            vectors = [r.vector.tolist() for r in rows]
        tokens = sum(len(r.tokens) for r in rows)
        out.append(
            to_json(
                {
                    "object": "list",
                    "data": [
                        {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
                    ],
                    "model": label,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                },
                inf_nan_mode="null",  # as the sentence route's pydantic answer
            )
        )
    return out


def _rows(query: EmbeddingsQuery) -> int:
    return len(query.inputs)


def _cost(query: EmbeddingsQuery) -> int:
    return query.values


def parse_model(model: str) -> tuple[str, int | None]:
    """``name`` or ``name@N`` -> ``(name, N or None)``; 404 ``model-not-found`` for a name that cannot be a
    model here, ``version-not-found`` for version 0 or one past any version number."""
    m = _MODEL.fullmatch(model)
    name, version = (m.group("name"), m.group("version")) if m else (model, None)
    if not is_valid_name(name):
        raise NotFoundError(
            "model",
            name,
            detail=f"no model named {model!r} (model names: {NAME_DESCRIPTION[:1].lower()}"
            f"{NAME_DESCRIPTION[1:]} `name@N` is version N; GET /v1/models lists the models)",
        )
    if version is None:
        return name, None
    number = int(version)
    if not 1 <= number <= MAX_VERSION:
        raise NotFoundError("version", number, detail=f"model {name!r} has no version {number}", model=name)
    return name, number


# --------------------------------------------------------------------------- the route

router = APIRouter(
    prefix="/v1", tags=["openai"], dependencies=[Depends(require_query_token)], route_class=OpenAIRoute
)


@router.post(
    "/embeddings",
    operation_id="create_embeddings",
    response_model=EmbeddingsResponse,
    summary="Sentence vectors in OpenAI's embeddings API (the OpenAI SDKs, LangChain, LlamaIndex)",
    description="OpenAI's `POST /v1/embeddings`: point an OpenAI client at `<service>/v1`. `model` is a "
    "model name or `name@N` (version N); `input` a string or an array of strings (at most "
    "`EMBEDDINGS_MAX_BATCH`, default 2048; token ids are a 422); `encoding_format` `float` (default) or "
    "`base64` (little-endian float32, what the SDKs ask for); `dimensions` only the model's vector size; "
    "`user` is ignored.\n\n"
    "Each vector is exactly what `POST /v1/models/{name}/sentence-vectors` answers with its defaults: "
    "the input is split by the `simple` tokenizer (gensim simple_preprocess), unknown tokens are masked out "
    "(FastText builds vectors for out-of-vocabulary words from character n-grams) and the known tokens' "
    "raw vectors are averaged. An input with no known token gets an all-zero vector. Vectors are **not "
    "normalised** (OpenAI's are unit-length): they are the service's sentence vectors, and an all-zero "
    "vector has no direction; cosine similarity is unaffected, normalise before a dot-product index. "
    "`usage` counts the `simple` tokenizer's tokens, known or not.\n\n"
    'Errors are OpenAI\'s envelope `{"error": {"message", "type", "param", "code"}}` (the SDKs '
    "raise `NotFoundError`, `UnprocessableEntityError`, `AuthenticationError`); a wrong token is a 401. "
    "Concurrent requests are micro-batched (batcher `openai_embeddings`).",
    responses=OPENAI_RESPONSES,
)
async def create_embeddings(body: EmbeddingsRequest, runtime: Runtime, request: Request) -> Response:
    name, version = parse_model(body.model)
    n = len(body.input)
    limits.check_items(n, runtime.settings, "inputs", ["body", "input"])
    model = await run_in_threadpool(runtime.registry.get, name, version)  # may load it: off the event loop
    size = model.model.vector_size
    if body.dimensions is not None and body.dimensions != size:
        raise InvalidInputError(
            f"dimensions {body.dimensions} is not the vector size of model '{model.name}@{model.version}' "
            f"({size}); vectors are never truncated: omit dimensions or send {size}",
            code="dimensions-mismatch",
            loc=["body", "dimensions"],
        )
    values = n * size
    check_answer(values, runtime.settings, f"{n} inputs x {size} dimensions")
    query = EmbeddingsQuery(body.input, body.encoding_format == "base64", values)
    content = await runtime.batching.answer(
        answer_openai_embeddings, name, model.version, query, request=request, rows=_rows, cost=_cost
    )
    return Response(content, media_type="application/json")
