"""``/v1/corpora``: upload (streamed to disk, validated by one scan), list, show, delete."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from models.embeddings.errors import CorpusFormatError
from service.embeddings.corpora import tokenizer_for
from service.embeddings.errors import corpus_error
from service.embeddings.schemas import CorpusInfo, CorpusList
from service.embeddings.state import EmbeddingsState, get_state
from service.kit.auth import require_query_token, require_token
from service.kit.names import NAME_DESCRIPTION, NAME_PATTERN
from service.kit.problems import ProblemError
from service.kit.storage import stream_request_to_file

router = APIRouter(prefix="/v1/corpora", tags=["corpora"])

CorpusId = Annotated[
    str, Path(pattern=NAME_PATTERN, max_length=64, description=NAME_DESCRIPTION, examples=["news-2024"])
]

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The raw corpus file: UTF-8 text (one sentence per line) or JSON lines (one "
        "array of tokens per line); either may be gzip-compressed (detected from the bytes).",
        "content": {
            "text/plain": {"schema": {"type": "string"}, "example": "the cat sat on the mat\nthe dog sat\n"},
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
    "array of strings is a 422 naming the line, and nothing is kept.",
    dependencies=[Depends(require_token)],
    openapi_extra=UPLOAD_BODY,
    responses={409: {"description": "A corpus with this name exists"}, 413: {"description": "Too large"}},
)
async def upload_corpus(
    request: Request,
    format: Literal["text", "jsonl"] = Query("text", description="`text` (also gzip) or `jsonl`."),  # noqa: A002
    tokenizer: Literal["simple", "whitespace"] = Query("simple", description="How text lines are split."),
    lowercase: bool = Query(True, description="Lowercase tokens."),
    name: str | None = Query(None, pattern=NAME_PATTERN, max_length=64, description="Id to give the corpus."),
    state: EmbeddingsState = Depends(get_state),
) -> CorpusInfo:
    corpus_id = name or state.corpora.new_id()
    if state.corpora.exists(corpus_id):
        raise ProblemError(409, "Conflict", f"a corpus named {corpus_id!r} exists", type="corpus-exists")
    tmp = state.corpora.temp_path()
    try:
        await stream_request_to_file(request, tmp, state.settings.max_upload_bytes)
        try:
            stats = await run_in_threadpool(
                state.corpora.scan, tmp, format, tokenizer_for(tokenizer, lowercase)
            )
        except CorpusFormatError as exc:
            raise corpus_error(exc) from None
        except OSError as exc:  # e.g. a corrupt gzip stream
            raise ProblemError(
                422, "Invalid corpus", f"cannot read the corpus: {exc}", type="invalid-corpus"
            ) from None
        if stats["sentences"] == 0:
            raise ProblemError(
                422, "Invalid corpus", "the corpus has no sentence with a token", type="invalid-corpus"
            )
        meta = await run_in_threadpool(
            partial(state.corpora.commit, fmt=format, tokenizer=tokenizer, lowercase=lowercase, stats=stats),
            tmp,
            corpus_id,
        )
    finally:
        tmp.unlink(missing_ok=True)
    return CorpusInfo.model_validate(meta)


@router.get(
    "", response_model=CorpusList, summary="List corpora", dependencies=[Depends(require_query_token)]
)
def list_corpora(state: EmbeddingsState = Depends(get_state)) -> CorpusList:
    return CorpusList(corpora=[CorpusInfo.model_validate(m) for m in state.corpora.list()])


@router.get(
    "/{corpus_id}",
    response_model=CorpusInfo,
    summary="Show a corpus",
    dependencies=[Depends(require_query_token)],
)
def get_corpus(corpus_id: CorpusId, state: EmbeddingsState = Depends(get_state)) -> CorpusInfo:
    return CorpusInfo.model_validate(state.corpora.get(corpus_id))


@router.delete(
    "/{corpus_id}",
    status_code=204,
    summary="Delete a corpus",
    description="409 while a queued or running job trains on it.",
    dependencies=[Depends(require_token)],
)
def delete_corpus(corpus_id: CorpusId, state: EmbeddingsState = Depends(get_state)) -> Response:
    with state.lock:
        state.corpora.get(corpus_id)
        for job in state.jobs.list():
            if job.status in ("queued", "running") and (job.spec.get("corpus") or {}).get("id") == corpus_id:
                raise ProblemError(
                    409, "Conflict", f"job {job.id} trains on corpus {corpus_id!r}", type="corpus-in-use"
                )
        state.corpora.delete(corpus_id)
    return Response(status_code=204)
