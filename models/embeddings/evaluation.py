"""Intrinsic evaluation of word vectors (gensim ``evaluate_word_pairs`` / ``evaluate_word_analogies``).

Datasets are a builtin name (gensim's test data), the path of an uploaded file, or the items
themselves (written to a temporary file for gensim, removed afterwards), validated line by line
first (:class:`~models.embeddings.errors.DatasetFormatError`, a ``ValueError`` naming the line).

* word pairs: ``wordsim353``, ``simlex999`` or a TSV ``word1<TAB>word2<TAB>score`` (``#`` comments,
  blank lines skipped);
* analogies: ``questions-words`` or the same format: ``: section name`` lines, then ``a b c d`` lines
  (``a : b :: c : d``).

gensim temporarily REPLACES ``kv.key_to_index`` with a restricted, upper-cased vocabulary while it
evaluates, which would break queries running concurrently on the same object; these functions therefore
evaluate on a shallow copy of ``kv`` (the vectors are shared, not copied).
Both lookups are case-insensitive (gensim default) over the first ``restrict_vocab`` words.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from .errors import DatasetFormatError

BUILTIN_PAIR_DATASETS: dict[str, str] = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
BUILTIN_ANALOGY_DATASETS: dict[str, str] = {"questions-words": "questions-words.txt"}
DEFAULT_RESTRICT_VOCAB = 300_000
DEFAULT_MAX_QUESTIONS = 100_000


def _resolve(dataset: str | os.PathLike, builtin: dict[str, str]) -> str:
    if isinstance(dataset, str) and dataset in builtin:
        return datapath(builtin[dataset])
    path = os.fspath(dataset)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no builtin dataset or file named {path!r} (builtin: {sorted(builtin)})")
    return path


#: Word pairs given inline: ``(word1, word2, human score)``.
PairItems = Sequence[tuple[str, str, float]]
#: Analogy sections given inline: ``(section name, [(a, b, c, d), ...])``.
AnalogySections = Sequence[tuple[str, Sequence[Sequence[str]]]]


@contextmanager
def _inline_file(lines: list[str]) -> Iterator[str]:
    """The path of a temporary file holding ``lines`` (gensim reads datasets from files only)."""
    fd, path = tempfile.mkstemp(prefix=".tmp-eval-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(lines)
        yield path
    finally:
        os.unlink(path)


def _lines(path: str):
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                yield line_no, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DatasetFormatError(line_no, "not valid UTF-8") from None


def _finite_or_none(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class PairsEvaluation:
    """Result of :func:`evaluate_word_pairs`.

    ``pearson_r``/``pearson_p``, ``spearman_rho``/``spearman_p``: correlations between the model's cosines
    and the human scores over the pairs found (``None`` when undefined: fewer than 2 pairs found or constant
    scores); ``oov_ratio``: fraction 0..1 of pairs skipped as out of vocabulary (gensim returns a PERCENT,
    converted here); ``pairs_total`` / ``pairs_used``: valid pairs in the file / pairs evaluated.
    """

    dataset: str
    pearson_r: float | None
    pearson_p: float | None
    spearman_rho: float | None
    spearman_p: float | None
    oov_ratio: float
    pairs_total: int
    pairs_used: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_pairs_file(path: str | os.PathLike) -> int:
    """Check a word-pairs TSV line by line; return the number of pairs.

    Raises :class:`DatasetFormatError` naming the first bad line (not 3 tab-separated fields, empty word,
    score not a finite number, bad UTF-8) or when the file has no pair.
    """
    n = 0
    for line_no, line in _lines(os.fspath(path)):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) != 3:
            raise DatasetFormatError(line_no, f"expected 3 tab-separated fields, got {len(parts)}")
        a, b, score = parts
        if not a.strip() or not b.strip():
            raise DatasetFormatError(line_no, "empty word")
        try:
            value = float(score)
        except ValueError:
            raise DatasetFormatError(line_no, f"score {score.strip()!r} is not a number") from None
        if not math.isfinite(value):
            raise DatasetFormatError(line_no, "score must be finite")
        n += 1
    if n == 0:
        raise DatasetFormatError(0, "no word pairs in file")
    return n


def evaluate_word_pairs(
    kv: KeyedVectors,
    dataset: str | os.PathLike | PairItems,
    *,
    restrict_vocab: int = DEFAULT_RESTRICT_VOCAB,
    case_insensitive: bool = True,
) -> PairsEvaluation:
    """Correlate the model's similarities with human judgements; return a :class:`PairsEvaluation`.

    ``dataset``: ``"wordsim353"``, ``"simlex999"``, a file path (see :func:`validate_pairs_file`) or
    the pairs themselves, ``[(word1, word2, score), ...]`` (the result's ``dataset`` is ``"inline"``).

    >>> pairs = [("king", "queen", 8.6), ("man", "woman", 8.3), ("cat", "dog", 7.4), ("boy", "fruit", 0.9),
    ...          ("king", "apple", 0.5)]
    >>> evaluate_word_pairs(kv, pairs)
    PairsEvaluation(dataset='inline', pearson_r=0.77, pearson_p=0.13, spearman_rho=0.67, spearman_p=0.22,
                    oov_ratio=0.0, pairs_total=5, pairs_used=5)
    >>> found = evaluate_word_pairs(kv, "wordsim353")  # only 2 of its pairs have both words in kv
    >>> found.pairs_used, found.pairs_total, found.oov_ratio
    (2, 353, 0.994)

    Raises ``FileNotFoundError`` (unknown name / missing file), :class:`DatasetFormatError`,
    ``ValueError`` for ``restrict_vocab < 1``.
    """
    if restrict_vocab < 1:
        raise ValueError("restrict_vocab must be >= 1")
    if not isinstance(dataset, str | os.PathLike):
        with _inline_file([f"{a}\t{b}\t{score!r}\n" for a, b, score in dataset]) as path:
            found = evaluate_word_pairs(
                kv, path, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
            )
        found.dataset = "inline"
        return found
    path = _resolve(dataset, BUILTIN_PAIR_DATASETS)
    total = validate_pairs_file(path)
    view = copy.copy(kv)  # gensim swaps key_to_index during evaluation: never on the shared object
    try:
        pearson, spearman, oov_pct = view.evaluate_word_pairs(
            path, delimiter="\t", restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
        )
        pr, pp = _finite_or_none(pearson[0]), _finite_or_none(pearson[1])
        sr, sp = _finite_or_none(spearman[0]), _finite_or_none(spearman[1])
    except ValueError:  # scipy: fewer than 2 pairs in vocabulary
        pr = pp = sr = sp = None
        oov_pct = 100.0 * _count_oov_pairs(view, path, restrict_vocab, case_insensitive) / total
    oov = round(float(oov_pct) / 100.0 * total)
    return PairsEvaluation(
        dataset=str(dataset),
        pearson_r=pr,
        pearson_p=pp,
        spearman_rho=sr,
        spearman_p=sp,
        oov_ratio=oov / total,
        pairs_total=total,
        pairs_used=total - oov,
    )


def _count_oov_pairs(kv: KeyedVectors, path: str, restrict_vocab: int, case_insensitive: bool) -> int:
    vocab = kv.index_to_key[:restrict_vocab]
    ok = {w.upper() for w in vocab} if case_insensitive else set(vocab)
    oov = 0
    for _, line in _lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        a, b, _ = line.rstrip("\r\n").split("\t")
        if case_insensitive:
            a, b = a.upper(), b.upper()
        oov += a not in ok or b not in ok
    return oov


@dataclass
class SectionResult:
    """Per-section analogy result.

    ``accuracy`` = correct / (correct + incorrect), ``None`` if none evaluated.
    """

    section: str
    correct: int
    incorrect: int
    accuracy: float | None


@dataclass
class AnalogyEvaluation:
    """Result of :func:`evaluate_word_analogies`.

    ``accuracy``: overall accuracy over the evaluated questions (gensim's score; 0.0 if none evaluated);
    ``questions_total``: valid questions in the file; ``questions_evaluated``: questions with all 4 words
    in the (restricted) vocabulary; ``oov_ratio``: fraction skipped; ``sections``: per section, file order
    (gensim's final "Total accuracy" entry is not repeated here).
    """

    dataset: str
    accuracy: float
    correct: int
    incorrect: int
    questions_total: int
    questions_evaluated: int
    oov_ratio: float
    sections: list[SectionResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_analogies_file(path: str | os.PathLike) -> int:
    """Check an analogies file line by line; return the number of questions.

    Raises :class:`DatasetFormatError` naming the first bad line: a question before any ``: section``
    line, a line that is not 4 words, an empty section name, bad UTF-8; or when there is no question.
    """
    n = 0
    in_section = False
    for line_no, line in _lines(os.fspath(path)):
        if not line.strip():
            continue
        if line.startswith(":"):
            if not line.startswith(": ") or not line[2:].strip():
                raise DatasetFormatError(line_no, "section lines must look like ': section name'")
            in_section = True
            continue
        if not in_section:
            raise DatasetFormatError(line_no, "question before the first ': section' line")
        if len(line.split()) != 4:
            raise DatasetFormatError(line_no, f"expected 4 words, got {len(line.split())}")
        n += 1
    if n == 0:
        raise DatasetFormatError(0, "no analogy questions in file")
    return n


def evaluate_word_analogies(
    kv: KeyedVectors,
    dataset: str | os.PathLike | AnalogySections = "questions-words",
    *,
    restrict_vocab: int = DEFAULT_RESTRICT_VOCAB,
    max_questions: int = DEFAULT_MAX_QUESTIONS,
    case_insensitive: bool = True,
) -> AnalogyEvaluation:
    """Run gensim's 3CosAdd analogy benchmark; return an :class:`AnalogyEvaluation`.

    Cost: each evaluated question is one ``most_similar`` over the first ``restrict_vocab`` words
    (``O(restrict_vocab * vector_size)``); files with more than ``max_questions`` questions are refused.
    A question counts as correct when the best candidate (excluding a, b, c) is d. ``dataset``:
    ``"questions-words"``, a file path or the sections themselves, ``[(name, [(a, b, c, d), ...]),
    ...]`` (the result's ``dataset`` is ``"inline"``).

    >>> found = evaluate_word_analogies(kv, "questions-words", restrict_vocab=30000)
    >>> found.accuracy, found.questions_evaluated, found.questions_total
    (0.917, 12, 19544)
    >>> [(s.section, s.correct, s.incorrect) for s in found.sections if s.correct + s.incorrect]
    [('family', 11, 1)]
    >>> evaluate_word_analogies(kv, [("royals", [("man", "king", "woman", "queen")])]).accuracy
    1.0

    Raises ``FileNotFoundError``, :class:`DatasetFormatError`, ``ValueError`` (bounds, too many questions).
    """
    if restrict_vocab < 1 or max_questions < 1:
        raise ValueError("restrict_vocab and max_questions must be >= 1")
    if not isinstance(dataset, str | os.PathLike):
        lines = []
        for name, questions in dataset:
            lines.append(f": {name}\n")
            lines.extend(" ".join(question) + "\n" for question in questions)
        with _inline_file(lines) as path:
            found = evaluate_word_analogies(
                kv, path, restrict_vocab=restrict_vocab, max_questions=max_questions,
                case_insensitive=case_insensitive,
            )  # fmt: skip
        found.dataset = "inline"
        return found
    path = _resolve(dataset, BUILTIN_ANALOGY_DATASETS)
    total = validate_analogies_file(path)
    if total > max_questions:
        raise ValueError(f"{total} questions exceed max_questions={max_questions}")
    view = copy.copy(kv)  # gensim swaps key_to_index during evaluation: never on the shared object
    score, sections = view.evaluate_word_analogies(
        path, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
    )
    per_section = []
    for s in sections:
        if s["section"] == "Total accuracy":
            continue
        c, i = len(s["correct"]), len(s["incorrect"])
        per_section.append(SectionResult(s["section"], c, i, c / (c + i) if c + i else None))
    correct = sum(s.correct for s in per_section)
    incorrect = sum(s.incorrect for s in per_section)
    evaluated = correct + incorrect
    return AnalogyEvaluation(
        dataset=str(dataset),
        accuracy=float(score),
        correct=correct,
        incorrect=incorrect,
        questions_total=total,
        questions_evaluated=evaluated,
        oov_ratio=(total - evaluated) / total,
        sections=per_section,
    )
