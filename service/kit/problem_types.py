"""Every problem type the services can answer, and the pages their ``type`` URIs point to.

A problem's ``type`` is ``/problems/<slug>`` relative to the service (:func:`service.kit.problems.problem_type`;
under a path prefix ``<prefix>/problems/<slug>``), and each service answers it:

* ``GET /problems/{slug}`` -- a short HTML page: the title, the status it comes with and what it
  means (``Accept: application/json``: the same as JSON); an unknown slug is a 404 problem;
* ``GET /problems`` -- every problem type, linked (JSON: a list).

:data:`PROBLEM_TYPES` is the one registry: a slug raised anywhere in ``service/`` that it does not
hold fails ``tests/test_kit_problem_types.py`` (which reads the source). The pages are documentation,
like ``/docs``: they are not operations of the OpenAPI document.

>>> PROBLEM_TYPES["model-not-found"].status
404
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from service.kit.errors import NotFoundError
from service.kit.problems import PROBLEM_BASE, problem_type


@dataclass(frozen=True)
class ProblemType:
    """What a problem type is: its usual title, the status it comes with, one line on what it means."""

    title: str
    status: int
    explanation: str


#: slug -> :class:`ProblemType`, for every ``type`` either service can answer (``about:blank`` aside:
#: an HTTP error with no type of its own).
PROBLEM_TYPES: dict[str, ProblemType] = {
    # -- the request itself
    "validation-error": ProblemType(
        "Request validation failed", 422,
        "A member of the request is missing, of the wrong type, out of bounds or would be ignored; "
        "`errors` lists every one (`loc`, `msg`, `type`).",
    ),
    "invalid-request": ProblemType(
        "Unprocessable request", 422, "The request is well-formed but cannot be processed as it is."
    ),
    "invalid-name": ProblemType(
        "Invalid name", 422,
        "A model, corpus or dataset name in the URL is not a valid name (lowercase letters, digits, "
        "`.`, `_`, `-`, at most 64), e.g. an encoded slash or a dot-dot segment.",
    ),
    "ignored-option": ProblemType(
        "Unprocessable request", 422,
        "A query parameter that would be ignored was sent (e.g. `beam_size` without `decode=beam`).",
    ),
    "not-found": ProblemType("Not Found", 404, "No route answers this path."),
    "method-not-allowed": ProblemType(
        "Method Not Allowed", 405, "The path exists, but not with this method; `Allow` lists the methods it takes."
    ),
    "body-too-large": ProblemType(
        "Content Too Large", 413,
        "The request body is over the service's limit (`<PREFIX>_MAX_BODY_BYTES`, uploads "
        "`<PREFIX>_MAX_UPLOAD_BYTES`); it was refused while it streamed in.",
    ),
    "request-timeout": ProblemType(
        "Request Timeout", 408,
        "The request's headers or body kept the service waiting too long (a stalled or dripping client).",
    ),
    "request-header-fields-too-large": ProblemType(
        "Request Header Fields Too Large", 431, "The request's URL and header fields are over 64 KiB."
    ),
    "unsupported-input": ProblemType(
        "Unsupported Media Type", 415, "The input is of a kind the service refuses to read."
    ),
    "unsupported-upload-type": ProblemType(
        "Unsupported Media Type", 415,
        "While no API token is set, an upload sent as a type a web page could send cross-site "
        "(`text/plain`, a form, none) is refused; send it as `application/octet-stream` (`accepted` "
        "lists the types the route takes).",
    ),
    "empty-upload": ProblemType("Unprocessable request", 422, "The upload's body is empty."),
    "client-disconnected": ProblemType(
        "Unprocessable request", 422, "The client went away before its upload was validated; nothing was kept."
    ),
    "too-many-items": ProblemType(
        "Unprocessable request", 422,
        "A list of the request is longer than the service's limit for it (the detail names the setting).",
    ),
    "answer-too-large": ProblemType(
        "Unprocessable request", 422,
        "The answer would hold more values than the service's output budget; ask for fewer at once.",
    ),
    # -- credentials and the service's state
    "unauthenticated": ProblemType(
        "Authentication required", 401, "The route needs an `Authorization: Bearer <token>` header."
    ),
    "forbidden": ProblemType("Forbidden", 403, "The bearer token is not valid."),
    "not-ready": ProblemType(
        "Service Unavailable", 503, "The service is still loading its models (`checks` says what); retry shortly."
    ),
    "overloaded": ProblemType(
        "Service Unavailable", 503,
        "The process holds as many connections or requests as it may (`<PREFIX>_MAX_CONCURRENT_REQUESTS`); "
        "retry after `Retry-After` seconds.",
    ),
    "writes-elsewhere": ProblemType(
        "Service Unavailable", 503,
        "This process serves queries only; the request changes something and must go to the writer.",
    ),
    "writer-unavailable": ProblemType(
        "Service Unavailable", 503, "The writer this query process hands writes to did not answer."
    ),
    "unavailable": ProblemType("Service Unavailable", 503, "A dependency the service needs is down; retry later."),
    "upstream-error": ProblemType(
        "Bad Gateway", 502, "A service this one depends on answered something it should not have."
    ),
    "internal-error": ProblemType(
        "Internal Server Error", 500,
        "An unexpected error; the server log has it under the problem's `request_id`.",
    ),
    "error": ProblemType("Bad Request", 400, "An error with no more specific type."),
    "conflict": ProblemType("Conflict", 409, "The request clashes with the current state of the service."),
    "problem-type-not-found": ProblemType(
        "Problem type not found", 404, "No problem type has this slug (`GET /problems` lists them)."
    ),
    # -- models, versions, jobs, uploads
    "model-not-found": ProblemType("Model not found", 404, "No model has this name."),
    "version-not-found": ProblemType("Version not found", 404, "The model has no version with this number."),
    "index-not-found": ProblemType("Index not found", 404, "The model version has no ANN index to remove."),
    "job-not-found": ProblemType("Job not found", 404, "No job has this id."),
    "corpus-not-found": ProblemType("Corpus not found", 404, "No uploaded corpus has this name."),
    "dataset-not-found": ProblemType("Dataset not found", 404, "No uploaded dataset has this name."),
    "model-exists": ProblemType(
        "Conflict", 409, "A model of this name exists; send `overwrite: true` to store a new version."
    ),
    "corpus-exists": ProblemType("Conflict", 409, "A corpus of this name exists; choose another name."),
    "dataset-exists": ProblemType("Conflict", 409, "A dataset of this name exists; choose another name."),
    "corpus-in-use": ProblemType(
        "Conflict", 409, "A queued or running job reads this corpus; it can be deleted once the job has ended."
    ),
    "dataset-in-use": ProblemType(
        "Conflict", 409, "A queued or running job reads this dataset; it can be deleted once the job has ended."
    ),
    "job-active": ProblemType(
        "Conflict", 409,
        "A job for this model is queued or running (`job_id` names it); wait for it or cancel it.",
    ),
    "job-ended": ProblemType("Conflict", 409, "The job has already ended; there is nothing to cancel."),
    "keep-unsupported": ProblemType(
        "Conflict", 409,
        "`keep=best`: this kind of job cannot stop early and keep its best checkpoint (only attention "
        "training jobs can); cancel it without `keep`.",
    ),
    "version-current": ProblemType(
        "Conflict", 409, "The current version cannot be deleted; make another one current first, or delete the model."
    ),
    # -- embeddings
    "unknown-words": ProblemType(
        "Unknown words", 404, "Words of the query are not in the model's vocabulary; `unknown_words` lists all of them."
    ),
    "dimensions-mismatch": ProblemType(
        "Unprocessable request", 422,
        "`dimensions` of `POST /v1/embeddings` is not the model's vector size; vectors are never truncated "
        "(omit it or send the size).",
    ),
    "invalid-query": ProblemType("Invalid query", 422, "The query cannot be answered on this model (gensim refused it)."),
    "topn-too-large": ProblemType(
        "Unprocessable request", 422, "`topn` is over the service's limit (`EMBEDDINGS_MAX_TOPN`)."
    ),
    "invalid-corpus": ProblemType(
        "Invalid corpus", 422,
        "A line of the corpus is not UTF-8 text or not a JSON array of strings (`line` names it), or no "
        "sentence has a token; nothing was kept.",
    ),
    "corpus-too-large": ProblemType(
        "Content Too Large", 413,
        "The gzip corpus decompresses to more than `EMBEDDINGS_MAX_DECOMPRESSED_BYTES`.",
    ),
    "corpus-compression-ratio": ProblemType(
        "Content Too Large", 413,
        "The gzip corpus inflates more than `EMBEDDINGS_MAX_DECOMPRESSION_RATIO` times its size: a "
        "decompression bomb is refused.",
    ),
    "invalid-dataset": ProblemType(
        "Invalid dataset", 422, "A line of the dataset or benchmark cannot be read (`line` names it); nothing was kept."
    ),
    "empty-vocabulary": ProblemType(
        "Unprocessable request", 422,
        "With this `min_count` no word of the corpus would be kept: the vocabulary would be empty.",
    ),
    "model-too-large": ProblemType(
        "Unprocessable request", 422,
        "The model's n-gram buckets would take more memory than `EMBEDDINGS_MAX_NGRAM_BYTES`.",
    ),
    "model-not-trainable": ProblemType(
        "Unprocessable request", 422, "The model holds vectors only (imported): it cannot continue training."
    ),
    "cannot-export": ProblemType("Cannot export", 422, "The model's vectors cannot be written in this format."),
    "invalid-model-file": ProblemType(
        "Invalid model file", 422, "The vectors file does not parse as its format (`line`/`offset` say where)."
    ),
    "unsafe-model-file": ProblemType(
        "Unsupported model file", 415, "A pickle, zip or torch archive is never loaded (`detected` says which)."
    ),
    "import-dir-unset": ProblemType(
        "Unprocessable request", 422, "Server-side imports need `EMBEDDINGS_IMPORT_DIR`, which is not set."
    ),
    "import-file-not-found": ProblemType(
        "Unprocessable request", 422, "The import directory has no file of this name."
    ),
    "import-file-too-large": ProblemType(
        "Unprocessable request", 422, "The file in the import directory is over the service's import limit."
    ),
    "invalid-import-path": ProblemType(
        "Unprocessable request", 422, "The path cannot name a file of the import directory (too long, unreadable…)."
    ),
    "path-outside-import-dir": ProblemType(
        "Unprocessable request", 422,
        "The path leaves the import directory (`..`, an absolute path, a link pointing outside).",
    ),
    # -- attention
    "unencodable-target": ProblemType(
        "Target cannot be encoded", 422, "Target tokens are outside the model's vocabulary (`tokens` lists them)."
    ),
    "invalid-links": ProblemType(
        "Unprocessable request", 422, "Gold links fall outside their pair's tokens (`errors` names each pair)."
    ),
    "needs-links": ProblemType(
        "Unprocessable request", 422,
        "Guided alignment (`guided_alignment_weight` > 0) needs training pairs with gold links.",
    ),
    "invalid-config": ProblemType(
        "Unprocessable request", 422, "The model configuration is one the encoder-decoder refuses."
    ),
    "invalid-vectors": ProblemType(
        "Unprocessable request", 422, "The uploaded word2vec file cannot be read as vectors."
    ),
    "unknown-dataset": ProblemType(
        "Unprocessable request", 422,
        "The training request names a dataset that does not exist, or one of the wrong kind.",
    ),
    "no-such-split": ProblemType(
        "Unprocessable request", 422, "The model has no such split (`test` exists for built-in tasks only)."
    ),
    "empty-output": ProblemType("Unprocessable request", 422, "The output is empty: there is no heatmap to draw."),
    "heatmap-too-large": ProblemType(
        "Unprocessable request", 422, "The heatmap would have more tokens than `ATTENTION_MAX_HEATMAP_TOKENS`."
    ),
    "unknown-embeddings-model": ProblemType(
        "Unprocessable request", 422, "The embeddings service has no model of this name."
    ),
    "embeddings-model-unavailable": ProblemType(
        "Unprocessable request", 422, "The embeddings model cannot be used to initialise the source embeddings."
    ),
    "embeddings-unavailable": ProblemType(
        "Service Unavailable", 503, "The embeddings service could not be reached; retry later."
    ),
    "embeddings-error": ProblemType(
        "Bad Gateway", 502, "The embeddings service answered something unexpected."
    ),
}  # fmt: skip

_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = "body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}code{font-size:90%}"


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "json" in accept and "text/html" not in accept


def _info(slug: str, kind: ProblemType, root_path: str) -> dict[str, object]:
    return {
        "type": problem_type(slug, root_path),
        "slug": slug,
        "title": kind.title,
        "status": kind.status,
        "explanation": kind.explanation,
    }


def _text(markdown: str) -> str:
    """An explanation as HTML: escaped, its `code` spans as ``<code>``."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(markdown, quote=False))


def _page(title: str, body: str) -> HTMLResponse:
    text = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>{body}</body></html>\n"
    )
    return HTMLResponse(text, headers=_PAGE_HEADERS)


def problem_types_router() -> APIRouter:
    """``GET /problems`` and ``GET /problems/{slug}`` (left out of the OpenAPI document)."""
    router = APIRouter(prefix=PROBLEM_BASE.rstrip("/"), include_in_schema=False)

    @router.get("")
    def problem_types(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        if _wants_json(request):
            return JSONResponse([_info(slug, kind, root) for slug, kind in PROBLEM_TYPES.items()])
        items = "".join(
            f'<li><a href="problems/{slug}"><code>{slug}</code></a> ({kind.status}): {html.escape(kind.title)}</li>'
            for slug, kind in sorted(PROBLEM_TYPES.items())
        )
        return _page(
            "Problem types",
            "<h1>Problem types</h1><p>Every error of this service is an RFC 9457 problem "
            "(<code>application/problem+json</code>) whose <code>type</code> is one of these pages.</p>"
            f"<ul>{items}</ul>",
        )

    @router.get("/{slug}")
    def problem_type_page(request: Request, slug: str = Path(max_length=100)) -> Response:
        kind = PROBLEM_TYPES.get(slug)
        if kind is None:
            raise NotFoundError(
                "problem type", slug, code="problem-type-not-found", title="Problem type not found"
            )
        info = _info(slug, kind, request.scope.get("root_path", ""))
        if _wants_json(request):
            return JSONResponse(info)
        return _page(
            f"{kind.title} ({slug})",
            f"<h1>{html.escape(kind.title)}</h1>"
            f"<p><code>{html.escape(str(info['type']))}</code> &middot; HTTP {kind.status}</p>"
            f"<p>{_text(kind.explanation)}</p>"
            "<p>An error of this type is an RFC 9457 problem (<code>application/problem+json</code>): "
            "<code>detail</code> says what went wrong this time, <code>instance</code> is the request's "
            "path, <code>request_id</code> finds it in the service's log. "
            '<a href="../problems">Every problem type</a> &middot; <a href="../docs">API docs</a></p>',
        )

    return router
