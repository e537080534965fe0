"""The seq2seq core's exceptions (:mod:`models.seq2seq`) as the kit's errors, in one place.

``InvalidInputs`` -> 422 naming every bad input: ``validation-error`` for sources (empty, too long)
and targets (empty, too long), ``unencodable-target`` (extension ``tokens``) when target tokens are
outside the model's vocabulary; ``DataError`` (a bad inline pair) -> 422 naming the pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.seq2seq.data import DataError
from models.seq2seq.inference import InvalidInputs
from service.kit.errors import InvalidInputError


def input_error(exc: InvalidInputs, loc: Sequence[Any], *, indexed: bool = True) -> InvalidInputError:
    """The 422 of inputs the core refused. Each problem is named at ``[*loc, index]`` (``loc`` itself
    when not ``indexed``: a single query parameter); a target side's ``loc`` names the pairs, and
    each target is ``[*loc, index, 1]``."""

    def where(index: int) -> list[Any]:
        if not indexed:
            return list(loc)
        return [*loc, index, 1] if exc.side == "target" else [*loc, index]

    found = [(where(p.index), p.message, p.kind) for p in exc.problems]
    if exc.unknown:
        return InvalidInputError.many(
            found, title="Target cannot be encoded", code="unencodable-target", tokens=exc.unknown
        )
    return InvalidInputError.many(found)


def pair_error(exc: DataError, field: str = "pairs", label: str = "pairs.") -> InvalidInputError:
    """The 422 of an inline pair the core's parser refused (``exc.line`` counts from 1)."""
    index = exc.line - 1
    return InvalidInputError(f"{label}{index}: {exc.reason}", loc=["body", field, index])
