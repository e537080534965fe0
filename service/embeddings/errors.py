"""The embeddings core's exceptions (:mod:`models.embeddings.errors`) as the kit's errors, in one place.

``UnknownWordsError`` -> 404 ``unknown-words`` (extension ``unknown_words``: ALL of them);
``NotAPickleSafeFileError`` -> 415 ``unsafe-model-file``; ``InvalidModelFileError`` -> 422
``invalid-model-file``; ``CorpusFormatError`` -> 422 ``invalid-corpus`` (extension ``line``);
``DatasetFormatError`` -> 422 ``invalid-dataset``; any other ``ValueError``/``TypeError`` from a
query -> 422 ``invalid-query``.

>>> query_error(UnknownWordsError(["qwzx"]), "default").detail
"not in the vocabulary of model 'default': 'qwzx'"
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from models.embeddings.errors import (
    CorpusFormatError,
    DatasetFormatError,
    InvalidModelFileError,
    NotAPickleSafeFileError,
    UnknownWordsError,
)
from service.kit.errors import InvalidInputError, NotFoundError, ServiceError, UnsupportedInputError


def unknown_words(model: str, words: list[str]) -> NotFoundError:
    """404 naming every unknown word."""
    listed = ", ".join(repr(w) for w in words)
    return NotFoundError(
        "words",
        words,
        detail=f"not in the vocabulary of model {model!r}: {listed}",
        code="unknown-words",
        title="Unknown words",
        unknown_words=list(words),
    )


def corpus_error(exc: CorpusFormatError) -> InvalidInputError:
    """422 naming the offending line of a corpus."""
    return InvalidInputError.at_line(
        "Invalid corpus", "invalid-corpus", exc.line, exc.reason, "invalid-corpus"
    )


def model_file_error(exc: InvalidModelFileError) -> ServiceError:
    """415 for pickles/archives (never loaded), 422 for files that do not parse."""
    if isinstance(exc, NotAPickleSafeFileError):
        return UnsupportedInputError(
            str(exc), code="unsafe-model-file", title="Unsupported model file", detected=exc.kind
        )
    where = {k: v for k, v in (("line", exc.line), ("offset", exc.offset)) if v is not None}
    return InvalidInputError(
        str(exc), code="invalid-model-file", title="Invalid model file", format=exc.format, **where
    )


def query_error(exc: Exception, model: str) -> ServiceError:
    """The error a query on ``model`` that raised ``exc`` (a core exception) is."""
    if isinstance(exc, UnknownWordsError):
        return unknown_words(model, exc.words)
    if isinstance(exc, DatasetFormatError):
        return InvalidInputError(
            f"line {exc.line}: {exc.reason}", code="invalid-dataset", title="Invalid dataset", line=exc.line
        )
    if isinstance(exc, ValueError | TypeError):
        return InvalidInputError(str(exc), code="invalid-query", title="Invalid query")
    raise exc


@contextmanager
def query_errors(model: str) -> Iterator[None]:
    """Raise the core's exceptions of a query on ``model`` as the errors they are (:func:`query_error`)."""
    try:
        yield
    except (UnknownWordsError, ValueError, TypeError) as exc:
        raise query_error(exc, model) from None
