"""Map the ML core's exceptions (``models.embeddings.errors``) to problem+json errors.

``UnknownWordsError`` -> 404 ``unknown-words`` (extension ``unknown_words``: ALL of them);
``NotAPickleSafeFileError`` -> 415 ``unsafe-model-file``; ``InvalidModelFileError`` -> 422
``invalid-model-file``; ``CorpusFormatError`` -> 422 ``invalid-corpus`` (extension ``line``);
any other ``ValueError``/``TypeError`` from a query -> 422 ``invalid-query``.
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
from service.kit.problems import ProblemError, line_problem


def unknown_words(model: str, words: list[str]) -> ProblemError:
    """404 naming every unknown word."""
    listed = ", ".join(repr(w) for w in words)
    return ProblemError(
        404,
        "Unknown words",
        f"not in the vocabulary of model {model!r}: {listed}",
        type="unknown-words",
        unknown_words=list(words),
    )


def corpus_error(exc: CorpusFormatError) -> ProblemError:
    """422 naming the offending line of a corpus."""
    return line_problem("Invalid corpus", "invalid-corpus", exc.line, exc.reason, "invalid-corpus")


def model_file_error(exc: InvalidModelFileError) -> ProblemError:
    """415 for pickles/archives (never loaded), 422 for files that do not parse."""
    if isinstance(exc, NotAPickleSafeFileError):
        return ProblemError(
            415, "Unsupported model file", str(exc), type="unsafe-model-file", detected=exc.kind
        )
    where = {k: v for k, v in (("line", exc.line), ("offset", exc.offset)) if v is not None}
    return ProblemError(
        422, "Invalid model file", str(exc), type="invalid-model-file", format=exc.format, **where
    )


@contextmanager
def query_errors(model: str) -> Iterator[None]:
    """Turn the exceptions of a query on ``model`` into problems."""
    try:
        yield
    except UnknownWordsError as exc:
        raise unknown_words(model, exc.words) from None
    except DatasetFormatError as exc:
        raise ProblemError(
            422, "Invalid dataset", f"line {exc.line}: {exc.reason}", type="invalid-dataset", line=exc.line
        ) from None
    except (ValueError, TypeError) as exc:
        raise ProblemError(422, "Invalid query", str(exc), type="invalid-query") from None
