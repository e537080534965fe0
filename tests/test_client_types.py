"""The Python client's types, as a type checker sees them: mypy (pinned in the ``dev`` extra) runs
strict over ``service/client``, then over a small program that uses both clients and states, with
``typing.assert_type``, what each call gives: a result on the sync clients, a coroutine of that
result on the async ones. A second program holds the mistakes the types must catch (an async result
used without ``await``, an async call never awaited, a sync result awaited, a wrong argument): mypy must report each of them, on
its line, so the first check cannot pass by seeing ``Any`` everywhere."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from service.client import AsyncAttentionClient, AsyncEmbeddingsClient, AttentionClient, EmbeddingsClient
from service.client.base import operation

ROOT = Path(__file__).resolve().parents[1]

#: ``--strict`` (which includes --disallow-untyped-defs, --disallow-incomplete-defs,
#: --warn-return-any, --disallow-any-generics, --warn-unused-ignores...) plus the flags the issue
#: names, spelled out; imports outside the checked files are followed for their types, silently.
MYPY_FLAGS = [
    "--strict",
    "--disallow-untyped-defs",
    "--disallow-incomplete-defs",
    "--warn-return-any",
    "--no-implicit-optional",
    "--follow-imports=silent",
    "--python-version=3.11",
    "--no-error-summary",
    "--show-error-codes",
    "--hide-error-context",
]

USAGE = """
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, assert_type

from service.client import (
    Accepted, Alignment, AsyncAttentionClient, AsyncEmbeddingsClient, AttentionClient, EmbeddingsClient,
    Job, ModelInfo, Neighbour, ResultList, Translation, Versions, WordVector,
)


def sync_usage(emb: EmbeddingsClient, att: AttentionClient) -> None:
    hits = emb.similar("m", ["king"], topn=3)
    assert_type(hits, ResultList[Neighbour])
    assert_type(hits[0].word, str)
    assert_type(hits.raw, dict[str, Any])
    assert_type(emb.analogy("m", "man", "king", "woman"), ResultList[Neighbour])
    assert_type(emb.similarity("m", [("king", "queen")]), list[float])
    assert_type(emb.n_similarity("m", ["king"], ["queen"]), float)
    assert_type(emb.doesnt_match("m", ["king", "queen", "park"]), str)
    assert_type(emb.vectors("m", ["king"]), ResultList[WordVector])
    assert_type(emb.sentence_vectors("m", ["the king"]), ResultList[dict[str, Any]])
    assert_type(emb.batch("m", "similar", [{"positive": ["king"]}]), dict[str, Any])
    assert_type(emb.evaluate("m", pairs={"dataset": "wordsim353"}), dict[str, Any])
    assert_type(emb.upload_corpus("c.txt"), dict[str, Any])
    assert_type(emb.corpora(), ResultList[dict[str, Any]])
    assert_type(emb.train("m", corpus_id="c"), Accepted)
    assert_type(emb.continue_training("m", corpus_id="c"), Accepted)
    assert_type(emb.import_vectors("m", "v.bin"), ModelInfo | Accepted)
    assert_type(emb.export_vectors("m", "v.bin"), Path)
    assert_type(emb.models(), ResultList[ModelInfo])
    assert_type(emb.model("m"), ModelInfo)
    assert_type(emb.versions("m"), Versions)
    assert_type(emb.rollback("m", 1), Versions)
    assert_type(emb.jobs(), ResultList[Job])
    assert_type(emb.wait_job("j"), Job)
    for job in emb.watch_job("j"):
        assert_type(job, Job)
    assert_type(emb.health(), dict[str, Any])
    assert_type(emb.base_url, str)
    assert_type(att.translate("m", ["5/3/2026"]), ResultList[Translation])
    assert_type(att.align("m", [("abc", "cba")]), ResultList[Alignment])
    assert_type(att.heatmap("m", "abc"), bytes)
    assert_type(att.evaluate("m", split="test"), dict[str, Any])
    assert_type(att.datasets(), ResultList[dict[str, Any]])
    with EmbeddingsClient("http://127.0.0.1:8001") as client:
        assert_type(client, EmbeddingsClient)


async def async_usage(emb: AsyncEmbeddingsClient, att: AsyncAttentionClient) -> None:
    pending = assert_type(emb.similar("m", ["king"], topn=3), Coroutine[object, None, ResultList[Neighbour]])
    hits = await pending
    assert_type(hits, ResultList[Neighbour])
    assert_type(await emb.n_similarity("m", ["king"], ["queen"]), float)
    assert_type(await emb.doesnt_match("m", ["king", "queen", "park"]), str)
    assert_type(await emb.import_vectors("m", "v.bin"), ModelInfo | Accepted)
    assert_type(await emb.export_vectors("m", "v.bin"), Path)
    assert_type(await emb.model("m"), ModelInfo)
    assert_type(await emb.rollback("m", 1), Versions)
    assert_type(await emb.wait_job("j"), Job)
    async for job in emb.watch_job("j"):
        assert_type(job, Job)
    assert_type(await emb.health(), dict[str, Any])
    outputs = assert_type(att.translate("m", ["5/3/2026"]), Coroutine[object, None, ResultList[Translation]])
    assert_type(await outputs, ResultList[Translation])
    task = asyncio.create_task(emb.model("m"))
    assert_type(await task, ModelInfo)
    annotated: Coroutine[Any, Any, float] = emb.n_similarity("m", ["king"], ["queen"])
    assert_type(await annotated, float)
    assert_type(await att.heatmap("m", "abc"), bytes)
    both = await asyncio.gather(emb.similar("m", ["war"]), att.translate("m", ["nov 26, 2026"]))
    assert_type(both, tuple[ResultList[Neighbour], ResultList[Translation]])
    async with AsyncEmbeddingsClient("http://127.0.0.1:8001") as client:
        assert_type(client, AsyncEmbeddingsClient)
    await emb.aclose()
"""

#: Each line marked ``# E: code`` must get that error, and no other line any.
MISTAKES = """
from __future__ import annotations

from service.client import AsyncEmbeddingsClient, EmbeddingsClient, ModelInfo, Neighbour, ResultList


def forgot_await(emb: AsyncEmbeddingsClient) -> None:
    hits: ResultList[Neighbour] = emb.similar("m", ["king"])  # E: assignment
    info: ModelInfo = emb.model("m")  # E: assignment
    cos: float = emb.n_similarity("m", ["king"], ["queen"])  # E: assignment


async def awaited_a_plain_value(emb: EmbeddingsClient) -> None:
    await emb.similar("m", ["king"])  # E: misc


def wrong_arguments(emb: EmbeddingsClient) -> None:
    emb.similar("m", ["king"], topn="3")  # E: arg-type
    emb.heatmap("m", "abc")  # E: attr-defined


async def async_mistakes(aemb: AsyncEmbeddingsClient) -> None:
    await aemb.doesnt_match("m", ["a", "b"], version=1.5)  # E: arg-type
    aemb.delete_model("m")  # E: unused-coroutine
"""


def mypy(*paths: Path | str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *MYPY_FLAGS, f"--cache-dir={cache}", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def test_mypy_is_pinned_in_the_dev_extra():
    import importlib.metadata

    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pinned = re.search(r'"mypy==([^"]+)"', pyproject)
    assert pinned, "mypy is not pinned (==) in pyproject.toml"
    assert importlib.metadata.version("mypy") == pinned.group(1)


def test_the_client_and_a_program_using_it_type_check(tmp_path, cache):
    program = tmp_path / "uses_the_client.py"
    program.write_text(textwrap.dedent(USAGE), encoding="utf-8")
    result = mypy("service/client", program, cache=cache)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_mistakes_are_caught(tmp_path, cache):
    program = tmp_path / "mistakes.py"
    program.write_text(MISTAKES, encoding="utf-8")
    result = mypy(program, cache=cache)
    expected = {
        (n, m.group(1))
        for n, line in enumerate(MISTAKES.splitlines(), 1)
        if (m := re.search(r"# E: ([\w-]+)", line))
    }
    found = {
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r"^\S*mistakes\.py:(\d+): error: .*\[([\w-]+)\]$", result.stdout, re.MULTILINE)
    }
    assert result.returncode == 1 and found == expected, result.stdout + result.stderr


# ------------------------------------------------------------------ the same, at run time


CLIENTS = [(EmbeddingsClient, AsyncEmbeddingsClient), (AttentionClient, AsyncAttentionClient)]


def _public_methods(cls: type) -> set[str]:
    return {
        name
        for name in dir(cls)
        if not name.startswith("_")
        and (callable(getattr(cls, name)) or isinstance(getattr(cls, name), operation))
    }


@pytest.mark.parametrize(("sync_cls", "async_cls"), CLIENTS)
def test_async_methods_are_coroutine_functions(sync_cls, async_cls):
    sync, aclient = sync_cls("http://127.0.0.1:1"), async_cls("http://127.0.0.1:1")
    try:
        names = _public_methods(async_cls)
        assert names - {"aclose"} == _public_methods(sync_cls) - {"close"}
        for name in names - {"watch_job"}:  # an async iterator
            assert inspect.iscoroutinefunction(getattr(aclient, name)), name
        for name in _public_methods(sync_cls):
            assert not inspect.iscoroutinefunction(getattr(sync, name)), name
        # a bound operation shows its own arguments, result and docstring
        signature = inspect.signature(aclient.similar if "similar" in names else aclient.translate)
        assert next(iter(signature.parameters)) == "name"
        assert "Call[" not in str(signature.return_annotation)
        assert aclient.models.__doc__ == sync.models.__doc__ and "Every model" in sync.models.__doc__
    finally:
        sync.close()
