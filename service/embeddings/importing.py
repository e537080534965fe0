"""Imports of vector files: what a request to ``POST /v1/models/{name}/import`` becomes.

Two ways in. A file in the import directory (``EMBEDDINGS_IMPORT_DIR``), named by a JSON body, is
always imported by a job. An upload is streamed to ``staged/``; one of at least
``EMBEDDINGS_IMPORT_JOB_BYTES`` is imported by a job (the runtime removes the staged file when the
job ends), a smaller one within the request. Either way the cheap checks of the file (first
kilobytes, header, size) answer 415/422 before anything else, and the name's rules (free, or
``overwrite``; no active job) are checked with the submission.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from models.embeddings.ann import IndexParams
from models.embeddings.errors import InvalidModelFileError
from models.embeddings.formats import check_file
from service.embeddings.errors import model_file_error
from service.embeddings.schemas.models import ImportRequest
from service.embeddings.worker import store_import
from service.kit.errors import ConflictError, InvalidInputError
from service.kit.job_record import JobRecord
from service.kit.storage import stream_request_to_file

if TYPE_CHECKING:
    from service.embeddings.runtime import EmbeddingsRuntime

#: Largest JSON body of a server-side import.
MAX_IMPORT_JSON = 64 * 1024


async def import_named_file(runtime: EmbeddingsRuntime, name: str, request: Request) -> JobRecord:
    """Queue the job that imports the file a JSON body names in the import directory."""
    body = await _import_request(request)
    path = import_path(runtime, body.path)
    try:
        fmt = await run_in_threadpool(checked_format, path, body.format)
    except OSError as exc:  # unreadable (permissions), or gone since import_path looked
        raise _path_error(body.path, exc) from None
    return submit_import(runtime, name, path, fmt, body.limit, body.overwrite, staged=False)


async def import_upload(
    runtime: EmbeddingsRuntime, name: str, request: Request, fmt: str, limit: int | None, overwrite: bool
) -> JobRecord | None:
    """Import the uploaded file: returns the job that imports a large one, or None once a small one
    is stored as the model's new version (and its index job queued when its vocabulary is large)."""
    runtime.check_no_active_job(name)
    runtime.check_name_free(name, overwrite)
    staged = runtime.staged_dir / f"{uuid.uuid4().hex}.upload"
    keep = False
    try:
        size = await stream_request_to_file(request, staged, runtime.settings.max_upload_bytes)
        fmt = await run_in_threadpool(checked_format, staged, fmt)
        if size >= runtime.settings.import_job_bytes:
            keep = True
            return submit_import(runtime, name, staged, fmt, limit, overwrite, staged=True)
        await run_in_threadpool(_import_now, runtime, name, staged, fmt, limit, overwrite)
        return None
    finally:
        if not keep:
            staged.unlink(missing_ok=True)


def index_if_large(runtime: EmbeddingsRuntime, name: str, version: int, vocab_size: int) -> JobRecord | None:
    """Queue the ANN index job of a version imported within the request when its vocabulary reaches
    ``EMBEDDINGS_INDEX_MIN_VOCAB`` (the model serves exactly meanwhile); None otherwise."""
    if vocab_size < runtime.settings.index_min_vocab:
        return None
    try:
        return runtime.submit_index(name, version, IndexParams(kind=runtime.settings.index_kind))
    except ConflictError:  # another job for the model started meanwhile
        return None


def import_path(runtime: EmbeddingsRuntime, relative: str) -> Path:
    """The file ``relative`` names inside the import directory (422 when there is none, when the
    path leaves it — ``..``, absolute, a link pointing outside — or names no regular file)."""
    settings = runtime.settings
    root = settings.import_dir
    loc = ["body", "path"]
    if root is None:
        raise InvalidInputError(
            "this service imports no server-side files (EMBEDDINGS_IMPORT_DIR is not set); upload "
            "the file as the request body instead",
            loc=loc,
            code="import-dir-unset",
        )
    base = Path(os.path.realpath(root))
    outside = Path(relative).is_absolute() or "\x00" in relative
    try:
        target = base if outside else Path(os.path.realpath(base / relative))
        if outside or not target.is_relative_to(base):
            raise InvalidInputError(
                f"path {relative!r} leaves the import directory; name a file inside it", loc=loc,
                code="path-outside-import-dir",
            )  # fmt: skip
        if not target.is_file():
            raise InvalidInputError(
                f"there is no file {relative!r} in the import directory",
                loc=loc,
                code="import-file-not-found",
            )
        size = target.stat().st_size
    except OSError as exc:  # a name too long (ENAMETOOLONG), a directory that cannot be searched…
        raise _path_error(relative, exc) from None
    if size > settings.max_import_bytes:
        raise InvalidInputError(
            f"{relative!r} has {size} bytes, over EMBEDDINGS_MAX_IMPORT_BYTES ({settings.max_import_bytes})",
            loc=loc,
            code="import-file-too-large",
        )
    return target


def _path_error(relative: str, exc: OSError) -> InvalidInputError:
    """422 on ``body.path`` for an OS error on a path the client named: the OS's reason, never the
    server's absolute path."""
    reason = exc.strerror or type(exc).__name__
    return InvalidInputError(
        f"cannot use path {relative[:200]!r} of the import directory: {reason}",
        loc=["body", "path"],
        code="invalid-import-path",
    )


def shown_path(runtime: EmbeddingsRuntime, path: Path, *, staged: bool) -> str:
    """How a job shows the file it imports: relative to the import directory, or ``"upload"`` for a
    staged upload -- never the server's absolute path."""
    if staged or runtime.settings.import_dir is None:
        return "upload" if staged else path.name
    try:
        return path.relative_to(os.path.realpath(runtime.settings.import_dir)).as_posix()
    except ValueError:
        return path.name


def checked_format(path: Path, fmt: str) -> str:
    """The cheap checks of a file (first kilobytes, header, size) as errors; returns the format."""
    try:
        return check_file(path, fmt)
    except InvalidModelFileError as exc:
        raise model_file_error(exc) from None


def submit_import(
    runtime: EmbeddingsRuntime,
    name: str,
    path: Path,
    fmt: str,
    limit: int | None,
    overwrite: bool,
    *,
    staged: bool,
) -> JobRecord:
    """Queue the job that imports the checked file ``path`` as the next version of ``name``.

    409 when the name is taken (without ``overwrite``) or a job for it is active.
    """
    spec = {
        "mode": "import",
        "name": name,
        "path": str(path),
        "file": shown_path(runtime, path, staged=staged),
        "format": fmt,
        "limit": limit,
        "staged": staged,
        "store_root": str(runtime.models_dir),
        "index_min_vocab": runtime.settings.index_min_vocab,
        "index_kind": runtime.settings.index_kind,
        "recall_target": runtime.settings.recall_target,
    }
    return runtime.submit_job(
        "import", name, spec, overwrite=overwrite, target="service.embeddings.worker:import_job"
    )


def _import_now(
    runtime: EmbeddingsRuntime, name: str, path: Path, fmt: str, limit: int | None, overwrite: bool
) -> None:
    """Import a small upload within the request, under the rules' lock (the name checked and the
    version written as one step), then load it."""
    with runtime.lock:
        runtime.check_no_active_job(name)
        runtime.check_name_free(name, overwrite)
        try:
            store_import(runtime.store, name, str(path), fmt, limit)
        except InvalidModelFileError as exc:
            raise model_file_error(exc) from None
    runtime.registry.load(name)


async def _import_request(request: Request) -> ImportRequest:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_IMPORT_JSON:
            raise InvalidInputError(
                f"a JSON import request has at most {MAX_IMPORT_JSON} bytes",
                loc=["body"],
                code="body-too-large",
            )
    try:
        return ImportRequest.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
