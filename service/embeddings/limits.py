"""Bounds that depend on the settings: the largest ``topn`` and the most items in one request.

Static bounds live in the schemas (:mod:`service.embeddings.schemas`) and the core; each check here
raises the 422 that names the offending field.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.embeddings.schemas.queries import EvaluateRequest
from service.embeddings.settings import Settings
from service.kit.errors import InvalidInputError


def check_topn(topn: int, settings: Settings, loc: Sequence[str | int] = ("body", "topn")) -> None:
    """422 ``topn-too-large`` above ``EMBEDDINGS_MAX_TOPN``."""
    if topn > settings.max_topn:
        raise InvalidInputError(
            f"topn {topn} exceeds the limit of {settings.max_topn}", loc=list(loc), code="topn-too-large"
        )


def check_items(n: int, settings: Settings, what: str, loc: Sequence[str | int]) -> None:
    """422 ``too-many-items`` when a request carries more than ``EMBEDDINGS_MAX_BATCH`` items."""
    _check_count(n, settings.max_batch, what, loc)


def check_evaluation(body: EvaluateRequest, settings: Settings) -> None:
    """422 ``too-many-items`` when an ``/evaluate`` body carries more inline pairs or analogy questions
    than ``EMBEDDINGS_MAX_EVALUATION_ITEMS``."""
    limit = settings.max_evaluation_items
    if body.pairs is not None and body.pairs.items is not None:
        _check_count(len(body.pairs.items), limit, "pairs", ["body", "pairs", "items"])
    if body.analogies is not None and body.analogies.sections is not None:
        total = sum(len(section.questions) for section in body.analogies.sections)
        _check_count(total, limit, "analogy questions", ["body", "analogies", "sections"])


def _check_count(n: int, limit: int, what: str, loc: Sequence[str | int]) -> None:
    if n > limit:
        raise InvalidInputError(
            f"{n} {what} exceed the limit of {limit}", loc=list(loc), code="too-many-items"
        )
