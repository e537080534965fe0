"""Bounds that depend on the settings or on the model: batch size, input length, beam size, max_len.

Every violation is a 422 problem whose ``errors`` name the offending field (and item index), the
same shape as a pydantic validation failure. Body size is the kit's business (413).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from models.seq2seq.alignment import check_links
from models.seq2seq.data import Example
from models.seq2seq.model import Seq2Seq
from service.attention.settings import Settings
from service.kit.problems import ProblemError


def _fail(loc: list[Any], msg: str, type_: str, title: str = "Request validation failed") -> ProblemError:
    return fail_all([(loc, msg, type_)], title=title)


def fail_all(
    found: Sequence[tuple[list[Any], str, str]],
    *,
    title: str = "Request validation failed",
    problem_type: str = "validation-error",
    **extensions: Any,
) -> ProblemError:
    """One 422 listing every ``(loc, msg, type)`` found (the detail names the first five)."""
    listed = "; ".join(f"{'.'.join(str(p) for p in loc)}: {msg}" for loc, msg, _ in found[:5])
    more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
    return ProblemError(
        422,
        title,
        listed + more,
        type=problem_type,
        errors=[{"loc": loc, "msg": msg, "type": t} for loc, msg, t in found],
        **extensions,
    )


def check_batch(n: int, settings: Settings, field: str = "inputs") -> None:
    if n > settings.max_batch:
        raise _fail(["body", field], f"{n} items > the limit of {settings.max_batch} per request", "too_long")


def max_source_tokens(model: Seq2Seq, settings: Settings) -> int:
    return min(settings.max_input_tokens, model.config.max_src_len)


def check_sources(
    texts: Sequence[str], model: Seq2Seq, settings: Settings, loc: Sequence[Any], indexed: bool = True
) -> None:
    """Each source must be non-blank with 1..limit tokens (the limit: settings and the model's ``max_src_len``).

    Errors name ``[*loc, i]``, or ``loc`` itself when ``indexed`` is false (a single query parameter).
    """
    limit = max_source_tokens(model, settings)
    found = []
    for i, text in enumerate(texts):
        where = [*loc, i] if indexed else list(loc)
        n = len(model.src_tokenizer.tokenize(text))
        if n == 0 or not text.strip():
            found.append((where, "empty input (blank or no tokens)", "empty_input"))
        elif n > limit:
            found.append((where, f"{n} tokens > the limit of {limit}", "input_too_long"))
    if found:
        raise fail_all(found)


def beam_width(
    decode: str, beam_size: int, settings: Settings, loc: Sequence[Any] = ("body", "beam_size")
) -> int:
    """1 for greedy; ``beam_size`` for beam (422 above ``max_beam_size``)."""
    if decode == "greedy":
        return 1
    if beam_size > settings.max_beam_size:
        raise _fail(list(loc), f"{beam_size} > the limit of {settings.max_beam_size}", "less_than_equal")
    return beam_size


def check_max_len(max_len: int | None, settings: Settings, loc: Sequence[Any] = ("body", "max_len")) -> None:
    if max_len is not None and max_len > settings.max_output_len:
        raise _fail(list(loc), f"{max_len} > the limit of {settings.max_output_len}", "less_than_equal")


def check_example_links(
    examples: Sequence[Example],
    tokenize: Callable[[str], list[str]],
    label: Callable[[int, str], str],
    tokenize_target: Callable[[str], list[str]] | None = None,
) -> None:
    """422 ``invalid-links`` listing every inline pair whose gold links fall outside its tokens.

    ``tokenize`` splits sources, ``tokenize_target`` targets (default ``tokenize``).
    ``label(i, reason)`` words each error; their ``loc`` is ``["body", "pairs", i, 2]``.
    """
    tokenize_target = tokenize_target or tokenize
    found = []
    for i, e in enumerate(examples):
        if e.links:
            try:
                check_links(e.links, len(tokenize(e.source)), len(tokenize_target(e.target)))
            except ValueError as exc:
                found.append((["body", "pairs", i, 2], label(i, str(exc)), "invalid-links"))
    if found:
        raise fail_all(found, title="Unprocessable request", problem_type="invalid-links")
