"""Local files the command line reads and sends inline: benchmark pairs and analogies, test pairs,
batch queries, sentences. ``-`` is stdin. A line that cannot be read is a :class:`LocalFileError`
naming the file and the line (the command exits 2, as for a usage error).

* word pairs (``embeddings evaluate --pairs FILE``): ``word1 word2 score`` per line, tab- or
  space-separated, ``#`` comments (the format of gensim's ``wordsim353.tsv``);
* analogies (``embeddings evaluate --analogies FILE``): ``: section`` lines, then ``a b c d`` per
  line (the format of ``questions-words.txt``);
* test pairs (``attention evaluate --pairs FILE``): ``source<TAB>target[<TAB>links]`` per line, or
  JSON lines (``{"source": ..., "target": ..., "links": ...}`` or ``["source", "target"]``), as an
  uploaded dataset;
* batch queries (``embeddings batch``): a JSON array of query objects, or one object per line;
* sentences (``embeddings sentence-vectors --file``): one per line, blank lines skipped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


class LocalFileError(ValueError):
    """A local input file that does not say what it should (``path:line: why``)."""


def read_text(path: Path) -> str:
    """The file's text (``-``: stdin)."""
    if str(path) == "-":
        return sys.stdin.read()
    return path.read_text(encoding="utf-8")


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines without their newline, with their 1-based numbers."""
    return [
        (n, line.rstrip("\r\n")) for n, line in enumerate(read_text(path).splitlines(), 1) if line.strip()
    ]


def _fail(path: Path, n: int, why: str) -> LocalFileError:
    return LocalFileError(f"{path}:{n}: {why}")


def word_pairs(path: Path) -> list[list[Any]]:
    """``[[word1, word2, score], ...]`` of a word-similarity file (``king<TAB>queen<TAB>8.5``)."""
    items: list[list[Any]] = []
    for n, line in _lines(path):
        if line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            raise _fail(path, n, f"expected 'word1 word2 score', got {len(parts)} fields")
        try:
            score = float(parts[2])
        except ValueError:
            raise _fail(path, n, f"score {parts[2]!r} is not a number") from None
        items.append([parts[0], parts[1], score])
    if not items:
        raise LocalFileError(f"{path}: no word pairs")
    return items


def analogy_sections(path: Path) -> list[dict[str, Any]]:
    """``[{"name": ..., "questions": [[a, b, c, d], ...]}, ...]`` of a ``questions-words`` file
    (questions before any ``: section`` line go to a section named after the file)."""
    sections: list[dict[str, Any]] = []
    for n, line in _lines(path):
        if line.startswith(":"):
            name = line[1:].strip()
            if not name:
                raise _fail(path, n, "a section line needs a name (': capital-common-countries')")
            sections.append({"name": name, "questions": []})
            continue
        words = line.split()
        if len(words) != 4:
            raise _fail(path, n, f"expected 'a b c d', got {len(words)} words")
        if not sections:
            sections.append({"name": Path(path).stem or "analogies", "questions": []})
        sections[-1]["questions"].append(words)
    sections = [s for s in sections if s["questions"]]
    if not sections:
        raise LocalFileError(f"{path}: no analogy questions")
    return sections


def source_target_pairs(path: Path) -> list[list[str]]:
    """``[[source, target] or [source, target, links], ...]`` of a TSV or JSON-lines file."""
    pairs: list[list[str]] = []
    for n, line in _lines(path):
        if line[:1] in "{[":
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise _fail(path, n, f"not JSON: {exc}") from None
            if isinstance(value, dict):
                value = [value.get("source"), value.get("target")] + (
                    [value["links"]] if value.get("links") is not None else []
                )
            fields = value if isinstance(value, list) else []
        else:
            fields = line.split("\t")
        if len(fields) not in (2, 3) or not all(isinstance(f, str) for f in fields[:2]):
            raise _fail(path, n, "expected 'source<TAB>target[<TAB>links]'")
        pairs.append(list(fields))
    if not pairs:
        raise LocalFileError(f"{path}: no pairs")
    return pairs


def queries(path: Path) -> list[dict[str, Any]]:
    """The query objects of a batch: a JSON array, or one JSON object per line."""
    text = read_text(path)
    if text.lstrip().startswith("["):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise LocalFileError(f"{path}: not JSON: {exc}") from None
        items = list(enumerate(value, 1)) if isinstance(value, list) else []
    else:
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((n, json.loads(line)))
            except ValueError as exc:
                raise _fail(path, n, f"not JSON: {exc}") from None
    for n, item in items:
        if not isinstance(item, dict):
            raise _fail(path, n, "each query is a JSON object")
    if not items:
        raise LocalFileError(f"{path}: no queries")
    return [item for _, item in items]


def sentences(path: Path) -> list[str]:
    """The non-blank lines of a file, one sentence each."""
    found = [line for _, line in _lines(path)]
    if not found:
        raise LocalFileError(f"{path}: no sentences")
    return found
