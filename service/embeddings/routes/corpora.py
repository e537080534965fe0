"""``/v1/corpora``: upload (streamed to disk, validated by one scan), list, show, delete."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from models.embeddings.corpus import ScanCancelled, Tokenizer
from models.embeddings.errors import CorpusFormatError, CorpusRatioError, CorpusTooLargeError
from service.embeddings import corpora
from service.embeddings.errors import corpus_error
from service.embeddings.runtime import Runtime
from service.embeddings.schemas.corpora import CorpusInfo, CorpusList
from service.kit.auth import check_upload_type, require_token
from service.kit.errors import ConflictError, InvalidInputError, TooLargeError
from service.kit.names import NAME_DESCRIPTION, NAME_PATTERN
from service.kit.storage import run_while_connected, stream_request_to_file
from service.kit.uploads_routes import uploads_router

log = logging.getLogger("service.embeddings.corpora")

router = APIRouter(prefix="/v1/corpora", tags=["corpora"])

#: The content type an upload names (415 for a CORS-simple one while no token is set).
UPLOAD_TYPES = ("application/octet-stream",)

CorpusId = Annotated[
    str, Path(pattern=NAME_PATTERN, max_length=64, description=NAME_DESCRIPTION, examples=["news-2024"])
]

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The raw corpus file: UTF-8 text (one sentence per line) or JSON lines (one "
        "array of tokens per line); either may be gzip-compressed (detected from the bytes). Send it as "
        "`application/octet-stream`: while no API token is set, a body a web page could send cross-site "
        "(`text/plain`, a form, no type from a browser, curl's default `--data-binary` type) is a 415.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=CorpusInfo,
    summary="Upload a training corpus",
    description="The body is the file itself, streamed to disk (never held in memory) up to "
    "`EMBEDDINGS_MAX_UPLOAD_BYTES`, then validated in one pass. A line that is not UTF-8 or not a JSON "
    "array of strings is a 422 naming the line, and nothing is kept. A gzip corpus inflating past "
    "`EMBEDDINGS_MAX_DECOMPRESSED_BYTES`, or more than `EMBEDDINGS_MAX_DECOMPRESSION_RATIO` times its "
    "compressed size past its first MiB, is a 413 as soon as it does.",
    dependencies=[Depends(require_token)],
    openapi_extra=UPLOAD_BODY,
    responses={
        409: {"description": "A corpus with this name exists"},
        413: {"description": "Too large"},
        415: {"description": "Sent as a type a web page could send cross-site (no token set)"},
    },
)
async def upload_corpus(
    request: Request,
    runtime: Runtime,
    format: Literal["text", "jsonl"] = Query("text", description="`text` (also gzip) or `jsonl`."),  # noqa: A002
    tokenizer: Literal["simple", "whitespace"] = Query("simple", description="How text lines are split."),
    lowercase: bool = Query(True, description="Lowercase tokens."),
    name: str | None = Query(None, pattern=NAME_PATTERN, max_length=64, description="Id to give the corpus."),
) -> JSONResponse:
    check_upload_type(request, UPLOAD_TYPES)
    store = runtime.uploads
    corpus_id = name or store.new_id()
    if store.exists(corpus_id):
        raise ConflictError(f"a corpus named {corpus_id!r} exists", code="corpus-exists")
    tmp = store.incoming()
    try:
        await stream_request_to_file(request, tmp, runtime.settings.max_upload_bytes)
        limit = runtime.settings.max_decompressed_bytes
        ratio = runtime.settings.max_decompression_ratio
        tok = Tokenizer(kind=tokenizer, keep_case=not lowercase)
        try:
            stats = await run_while_connected(
                request,
                lambda should_stop: corpora.scan(
                    tmp, format, tok, max_decompressed_bytes=limit, max_ratio=ratio, should_stop=should_stop
                ),
            )
        except ScanCancelled:
            log.info("corpus upload abandoned by the client", extra={"corpus": corpus_id})
            raise InvalidInputError("the client disconnected", code="client-disconnected") from None
        except CorpusRatioError as exc:
            raise TooLargeError(
                f"the gzip corpus inflates more than {exc.ratio:g} times its compressed size past its first "
                f"{exc.grace} bytes (EMBEDDINGS_MAX_DECOMPRESSION_RATIO; crossed at line {exc.line}): "
                "a decompression bomb is refused",
                code="corpus-compression-ratio",
                ratio=exc.ratio,
            ) from None
        except CorpusTooLargeError as exc:
            raise TooLargeError(
                f"the corpus decompresses to more than {exc.limit} bytes (EMBEDDINGS_MAX_DECOMPRESSED_BYTES)",
                code="corpus-too-large",
                limit=exc.limit,
            ) from None
        except CorpusFormatError as exc:
            raise corpus_error(exc) from None
        except OSError as exc:  # e.g. a corrupt gzip stream (its reason, not the server's path)
            raise InvalidInputError(
                f"cannot read the corpus: {exc.strerror or type(exc).__name__}",
                code="invalid-corpus",
                title="Invalid corpus",
            ) from None
        if stats["sentences"] == 0:
            raise InvalidInputError(
                "the corpus has no sentence with a token", code="invalid-corpus", title="Invalid corpus"
            )
        meta = corpora.corpus_meta(fmt=format, tokenizer=tokenizer, lowercase=lowercase, stats=stats)
        meta = await run_in_threadpool(store.commit, corpus_id, tmp, corpora.DATA_FILE, meta)
    finally:
        tmp.unlink(missing_ok=True)
    info = CorpusInfo.model_validate(meta)
    return JSONResponse(
        info.model_dump(mode="json"), status_code=201, headers={"Location": f"/v1/corpora/{corpus_id}"}
    )


#: ``GET /v1/corpora``, ``GET`` and ``DELETE /v1/corpora/{name}``: the kit's, as for every upload collection.
shared = uploads_router(
    "/v1/corpora", item=CorpusInfo, listing=CorpusList, one="corpus", show_summary="Show a corpus"
)
