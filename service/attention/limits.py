"""Bounds that depend on the settings: batch size, beam width, ``max_len``.

Every violation is a 422 whose ``errors`` name the offending field, the same shape as a pydantic
validation failure. Static bounds live in the schemas (:mod:`service.attention.schemas`); bounds that
depend on the model (input length, the vocabulary) in the core
(:func:`models.seq2seq.inference.prepare_sources`), which the service calls with the settings'
``max_input_tokens`` / ``max_output_len``. Body size is the kit's business (413).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.attention.settings import Settings
from service.kit.errors import InvalidInputError


def check_batch(n: int, settings: Settings, field: str = "inputs") -> None:
    """422 when a request carries more than ``ATTENTION_MAX_BATCH`` inputs (or pairs)."""
    if n > settings.max_batch:
        raise _over(["body", field], f"{n} items > the limit of {settings.max_batch} per request", "too_long")


def beam_width(
    decode: str, beam_size: int, settings: Settings, loc: Sequence[Any] = ("body", "beam_size")
) -> int:
    """The beam width of a decode: 1 for greedy; ``beam_size`` for beam (422 above ``max_beam_size``)."""
    if decode == "greedy":
        return 1
    if beam_size > settings.max_beam_size:
        raise _over(list(loc), f"{beam_size} > the limit of {settings.max_beam_size}", "less_than_equal")
    return beam_size


def check_max_len(max_len: int | None, settings: Settings, loc: Sequence[Any] = ("body", "max_len")) -> None:
    """422 when ``max_len`` is above ``ATTENTION_MAX_OUTPUT_LEN``."""
    if max_len is not None and max_len > settings.max_output_len:
        raise _over(list(loc), f"{max_len} > the limit of {settings.max_output_len}", "less_than_equal")


def _over(loc: list[Any], msg: str, type_: str) -> InvalidInputError:
    return InvalidInputError.many([(loc, msg, type_)])
