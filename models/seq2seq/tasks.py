"""Built-in synthetic tasks with gold alignments: ``reversal``, ``copy`` and ``dates``.

Every generator is deterministic for its seed and returns a :class:`TaskData` with disjoint
``train``/``dev``/``test`` splits (no source string occurs in two splits). Gold links are
``(src_idx, tgt_idx)`` character positions; ``None`` when an example has no derivable links.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from .data import Example

ALPHABET = string.ascii_lowercase + string.digits

MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@dataclass
class TaskData:
    """The three splits of a task (lists of :class:`~models.seq2seq.data.Example`)."""

    name: str
    train: list[Example]
    dev: list[Example]
    test: list[Example]


def _unique_split(
    make: Callable[[random.Random], Example], n_train: int, n_dev: int, n_test: int, seed: int, name: str
) -> TaskData:
    """Draw examples with distinct sources until all splits are filled (test, dev, then train)."""
    rng = random.Random(seed)
    total = n_train + n_dev + n_test
    seen: set[str] = set()
    examples: list[Example] = []
    attempts = 0
    while len(examples) < total:
        attempts += 1
        if attempts > 50 * total + 1000:
            raise ValueError(
                f"cannot draw {total} distinct {name} examples; use longer strings or fewer examples"
            )
        ex = make(rng)
        if ex.source in seen:
            continue
        seen.add(ex.source)
        examples.append(ex)
    return TaskData(name, examples[n_dev + n_test :], examples[n_test : n_test + n_dev], examples[:n_test])


def _random_string(rng: random.Random, min_len: int, max_len: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(min_len, max_len)))


def reversal_task(
    n_train: int = 2000,
    n_dev: int = 200,
    n_test: int = 200,
    min_len: int = 3,
    max_len: int = 12,
    seed: int = 0,
) -> TaskData:
    """Random letter/digit strings; target = the reversed string; gold link ``(i, n-1-i)``."""

    def make(rng: random.Random) -> Example:
        s = _random_string(rng, min_len, max_len)
        n = len(s)
        return Example(s, s[::-1], tuple((i, n - 1 - i) for i in range(n)))

    return _unique_split(make, n_train, n_dev, n_test, seed, "reversal")


def copy_task(
    n_train: int = 2000,
    n_dev: int = 200,
    n_test: int = 200,
    min_len: int = 3,
    max_len: int = 12,
    seed: int = 0,
) -> TaskData:
    """Random letter/digit strings; target = the same string; gold link ``(i, i)``."""

    def make(rng: random.Random) -> Example:
        s = _random_string(rng, min_len, max_len)
        return Example(s, s, tuple((i, i) for i in range(len(s))))

    return _unique_split(make, n_train, n_dev, n_test, seed, "copy")


# -- dates -------------------------------------------------------------------------------------------------
# A format renders a date as a list of (text, role) pieces; role "year"/"month"/"day" marks digit
# pieces whose characters map onto the ISO output ("YYYY-MM-DD"), None marks anything else.

Piece = tuple[str, str | None]


CASE_STYLES = 3  # lower, Title, UPPER


def _cap(word: str, style: int) -> str:
    """``word`` in lower case (style 0), Title case (1) or UPPER case (2)."""
    return word if style == 0 else word.capitalize() if style == 1 else word.upper()


def _fmt_day_month_year(d: dt.date, rng: random.Random) -> list[Piece]:  # "26 november 2026"
    style = rng.randrange(CASE_STYLES)
    return [
        (str(d.day), "day"),
        (" ", None),
        (_cap(MONTHS[d.month - 1], style), None),
        (" ", None),
        (str(d.year), "year"),
    ]


def _fmt_abbr_month_day_year(d: dt.date, rng: random.Random) -> list[Piece]:  # "nov 26, 2026"
    style = rng.randrange(CASE_STYLES)
    return [
        (_cap(MONTHS[d.month - 1][:3], style), None),
        (" ", None),
        (str(d.day), "day"),
        (", ", None),
        (str(d.year), "year"),
    ]


def _fmt_slash_dmy(d: dt.date, rng: random.Random) -> list[Piece]:  # "26/11/2026" or "5/3/2026"
    pad = rng.random() < 0.5
    day, month = (f"{d.day:02d}", f"{d.month:02d}") if pad else (str(d.day), str(d.month))
    return [(day, "day"), ("/", None), (month, "month"), ("/", None), (str(d.year), "year")]


def _fmt_weekday(d: dt.date, rng: random.Random) -> list[Piece]:  # "Thursday, November 26 2026"
    style = rng.randrange(CASE_STYLES)
    return [
        (_cap(WEEKDAYS[d.weekday()], style), None), (", ", None), (_cap(MONTHS[d.month - 1], style), None),
        (" ", None), (str(d.day), "day"), (" ", None), (str(d.year), "year"),
    ]  # fmt: skip


def _fmt_dotted_ymd(d: dt.date, rng: random.Random) -> list[Piece]:  # "2026.11.26"
    return [
        (str(d.year), "year"),
        (".", None),
        (f"{d.month:02d}", "month"),
        (".", None),
        (f"{d.day:02d}", "day"),
    ]


def _fmt_dotted_dmy(d: dt.date, rng: random.Random) -> list[Piece]:  # "26.11.2026"
    return [
        (f"{d.day:02d}", "day"),
        (".", None),
        (f"{d.month:02d}", "month"),
        (".", None),
        (str(d.year), "year"),
    ]


def _fmt_month_day_year(d: dt.date, rng: random.Random) -> list[Piece]:  # "november 26, 2026"
    style = rng.randrange(CASE_STYLES)
    return [
        (_cap(MONTHS[d.month - 1], style), None),
        (" ", None),
        (str(d.day), "day"),
        (", ", None),
        (str(d.year), "year"),
    ]


def _fmt_iso(d: dt.date, rng: random.Random) -> list[Piece]:  # "2026-11-26" (already normalised)
    return [
        (str(d.year), "year"),
        ("-", None),
        (f"{d.month:02d}", "month"),
        ("-", None),
        (f"{d.day:02d}", "day"),
    ]


DATE_FORMATS: tuple[Callable[[dt.date, random.Random], list[Piece]], ...] = (
    _fmt_day_month_year,
    _fmt_abbr_month_day_year,
    _fmt_slash_dmy,
    _fmt_weekday,
    _fmt_dotted_ymd,
    _fmt_dotted_dmy,
    _fmt_month_day_year,
    _fmt_iso,
)

_TARGET_START = {"year": 0, "month": 5, "day": 8}  # in "YYYY-MM-DD"
_TARGET_WIDTH = {"year": 4, "month": 2, "day": 2}


def render_date(d: dt.date, pieces: list[Piece]) -> Example:
    """Build the example of ``pieces``: target ``YYYY-MM-DD`` and gold links for the digit pieces.

    A digit piece shorter than its output field (e.g. day "5" -> "05") links to the last positions
    (the zero-padding output char has no link).
    """
    source, links, pos = "", [], 0
    for text, role in pieces:
        if role is not None:
            start = _TARGET_START[role] + _TARGET_WIDTH[role] - len(text)
            links.extend((pos + i, start + i) for i in range(len(text)))
        source += text
        pos += len(text)
    return Example(source, d.isoformat(), tuple(sorted(links, key=lambda link: link[1])) or None)


def dates_task(
    n_train: int = 6000,
    n_dev: int = 300,
    n_test: int = 1000,
    seed: int = 0,
    start: dt.date = dt.date(1950, 1, 1),
    end: dt.date = dt.date(2049, 12, 31),
) -> TaskData:
    """Date normalisation (character-level): several human formats -> ``YYYY-MM-DD``.

    Formats: "26 november 2026", "nov 26, 2026", "26/11/2026" / "5/3/2026" (day first), "Thursday,
    November 26 2026", "2026.11.26", "26.11.2026", "november 26, 2026", "2026-11-26"; month/weekday names in
    lower, Title or UPPER case. Gold links connect the year/day (and numeric month) digits to their
    output digits; month names have no clean character mapping, so month output digits are unlinked there.
    """
    span = (end - start).days

    def make(rng: random.Random) -> Example:
        d = start + dt.timedelta(days=rng.randint(0, span))
        fmt = DATE_FORMATS[rng.randrange(len(DATE_FORMATS))]
        return render_date(d, fmt(d, rng))

    return _unique_split(make, n_train, n_dev, n_test, seed, "dates")


TASKS: dict[str, Callable[..., TaskData]] = {
    "reversal": reversal_task,
    "copy": copy_task,
    "dates": dates_task,
}


def make_task(name: str, **kwargs) -> TaskData:
    """Return the built-in task ``name`` (``reversal``, ``copy`` or ``dates``) with generator kwargs."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name](**kwargs)
