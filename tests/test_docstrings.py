"""The docstring examples of ``models/`` and ``service/kit/`` are documentation that runs: none is
skipped, every ``>>>`` line is an example doctest executes, they do not dwindle, and ``make test``
runs them (collected by the root ``conftest.py``, which also gives them ``kv``, ``q`` and
``tmp_path``)."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ("models", "service/kit")
#: 238 examples when this was written (97 ran before, 50 were skipped): fewer than this is rot.
MIN_EXAMPLES = 200

PROMPT = re.compile(r"^\s*>>>", re.MULTILINE)
SKIP = re.compile(r"doctest:.*SKIP")


def _files() -> list[Path]:
    return sorted(p for tree in TREES for p in (ROOT / tree).rglob("*.py"))


def _module(path: Path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return importlib.import_module(".".join(parts))


@pytest.fixture(scope="module")
def examples() -> dict[Path, list[doctest.Example]]:
    """Each file's examples, as doctest finds them (the docstrings of the module and of what it defines)."""
    finder = doctest.DocTestFinder()
    return {path: [ex for t in finder.find(_module(path)) for ex in t.examples] for path in _files()}


def test_no_example_is_skipped(examples):
    marked = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _files()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SKIP.search(line)
    ]
    assert not marked, f"'# doctest: +SKIP' is back: {marked}"
    skipped = [path for path, found in examples.items() if any(ex.options.get(doctest.SKIP) for ex in found)]
    assert not skipped


def test_every_prompt_is_an_example_that_runs(examples):
    """A ``>>>`` where doctest never looks (a comment, a docstring it does not find) would be a
    session nobody runs."""
    unrun = {}
    for path, found in examples.items():
        prompts = len(PROMPT.findall(path.read_text(encoding="utf-8")))
        if prompts != len(found):
            unrun[str(path.relative_to(ROOT))] = (prompts, len(found))
    assert not unrun, f"file: (>>> lines, examples doctest finds): {unrun}"


def test_the_examples_do_not_dwindle(examples):
    total = sum(len(found) for found in examples.values())
    assert total >= MIN_EXAMPLES, f"only {total} docstring examples left in {TREES}"


def test_make_test_runs_them():
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert recipe is not None
    pytest_line = next(line for line in recipe.group(1).splitlines() if "bin/pytest" in line)
    assert all(f" {tree}" in pytest_line for tree in TREES), pytest_line
