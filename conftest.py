"""The docstring examples of ``models/`` and ``service/kit/``: how they are collected, and what they
find in their namespace.

Every ``>>>`` example of those two trees runs, none is skipped (``tests/test_docstrings.py`` checks
both). ``pytest models service/kit`` collects them as doctests -- what ``--doctest-modules`` does,
for these two trees only (``tests/`` holds no examples meant to run) -- and ``make test`` passes
both trees; ``pytest --doctest-modules models service/kit`` runs the same examples. Their option
flags (``ELLIPSIS NUMBER NORMALIZE_WHITESPACE``) are in ``pyproject.toml``. Besides its module's
globals, each example is given:

* ``kv``: a gensim ``KeyedVectors`` of the 12 hand-made 6-d vectors of :data:`WORDS` (royalty,
  male, female, young, animal, fruit), so the answers are exact and make sense:
  ``king - man + woman`` is ``queen``;
* ``q``: ``VectorQueries(kv)``, warmed (:mod:`models.embeddings.queries`);
* ``tmp_path``: an empty directory of its own (a ``pathlib.Path``), for the examples that write
  stores, models, jobs or uploads.

``kv`` and ``q`` are shared by all the examples (built once, at the first example that runs):
examples only read them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: The trees whose docstring examples run (relative to the repository root).
DOCTEST_TREES = ("models", "service/kit")

#: word -> its vector: (royalty, male, female, young, animal, fruit).
WORDS: dict[str, list[float]] = {
    "king": [0.9, 0.5, 0.1, 0.0, 0.0, 0.0],
    "queen": [0.9, 0.1, 0.5, 0.0, 0.0, 0.0],
    "man": [0.1, 0.9, 0.1, 0.1, 0.0, 0.0],
    "woman": [0.1, 0.1, 0.9, 0.1, 0.0, 0.0],
    "prince": [0.8, 0.5, 0.1, 0.7, 0.0, 0.0],
    "princess": [0.8, 0.1, 0.5, 0.7, 0.0, 0.0],
    "boy": [0.0, 0.8, 0.1, 0.9, 0.0, 0.0],
    "girl": [0.0, 0.1, 0.8, 0.9, 0.0, 0.0],
    "cat": [0.0, 0.1, 0.1, 0.1, 0.9, 0.1],
    "dog": [0.0, 0.2, 0.1, 0.1, 0.8, 0.1],
    "apple": [0.0, 0.0, 0.0, 0.1, 0.0, 0.9],
    "fruit": [0.0, 0.0, 0.0, 0.0, 0.1, 0.8],
}


@pytest.fixture(scope="session")
def doctest_vectors():
    """``(kv, q)``: the vectors of :data:`WORDS` and their warmed queries."""
    import numpy as np
    from gensim.models import KeyedVectors

    from models.embeddings.queries import VectorQueries

    kv = KeyedVectors(6)
    kv.add_vectors(list(WORDS), np.array(list(WORDS.values()), dtype=np.float32))
    q = VectorQueries(kv)
    q.warm()
    return kv, q


@pytest.fixture(autouse=True)
def _doctest_globals(request):
    """Fill the namespace of a docstring example (nothing for the other tests)."""
    if not isinstance(request.node, pytest.DoctestItem):
        return
    namespace = request.getfixturevalue("doctest_namespace")
    namespace["kv"], namespace["q"] = request.getfixturevalue("doctest_vectors")
    namespace["tmp_path"] = request.getfixturevalue("tmp_path")


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    """A doctest module for each Python file of :data:`DOCTEST_TREES` (``--doctest-modules`` does it
    itself when given, for every tree)."""
    if file_path.suffix != ".py" or parent.config.getoption("doctestmodules", False):
        return None
    root = parent.config.rootpath
    if not any(file_path.is_relative_to(root / tree) for tree in DOCTEST_TREES):
        return None
    from _pytest.doctest import DoctestModule  # not exported by pytest; its own plugin's collector

    return DoctestModule.from_parent(parent, path=file_path)
