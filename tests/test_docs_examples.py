"""Every shell block of the README and of docs/ runs, in the order written, twice, against real services.

What a newcomer does, done by the suite: both services start (``python -m service``, their default
models trained at first start) on a fresh data directory, then each page's ```` ```bash ```` blocks
(and the ``$`` commands of its ```` ```console ```` transcripts) run one after the other in one bash session per page (``set -euo pipefail``), in a scratch copy of
the working directory, with the pages' ``127.0.0.1:8001`` / ``:8002`` pointed at the test's servers.
The whole sequence runs twice: every example must be re-runnable (``overwrite``, no name taken
twice, no orphan upload after a refused request); what the pages leave in the working directory
must be ignored by git.

Errors the text does not predict fail the test: a block must exit 0, and every HTTP answer of 400 or
more that the servers log while it runs must be predicted by the page, with an HTML comment before
the block: ``<!-- expect: 409 -->`` (several: ``<!-- expect: 404 409 -->``). A block the suite cannot
run (it starts the services itself, builds an image, needs a cluster) says so before it:
``<!-- not run: why -->``.

``make docs-test`` runs this module (it trains the tours' models: a few minutes); ``make test`` leaves
it out (marker ``docs``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers import Server

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
DIRECTIVE = re.compile(r"<!--\s*(expect|not run)\s*:?\s*(.*?)\s*-->")


@dataclass
class Block:
    page: str
    line: int
    code: str
    expect: set[int] = field(default_factory=set)
    skip: str | None = None


def blocks(page: Path) -> list[Block]:
    """The page's ```` ```bash ```` blocks with the directives in the lines just before each."""
    out: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        i += 1
        body: list[str] = []
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        i += 1
        if lang == "console":  # a terminal transcript: its "$ " lines are the commands
            body = _commands(body)
        elif lang not in ("bash", "sh", "shell"):
            continue
        block = Block(page.name, start + 1, "\n".join(body))
        for before in lines[max(0, start - 3) : start]:
            for kind, arg in DIRECTIVE.findall(before):
                if kind == "expect":
                    block.expect |= {int(x) for x in arg.split()}
                else:
                    block.skip = arg or "not run"
        out.append(block)
    return out


def _commands(transcript: list[str]) -> list[str]:
    """The commands of a console transcript: its ``$ `` lines (with their ``\\`` continuations)."""
    out: list[str] = []
    continued = False
    for line in transcript:
        if continued or line.startswith("$ "):
            out.append(line if continued else line[2:])
            continued = line.rstrip().endswith("\\")
    return out


def test_the_pages_parse_into_blocks():
    found = {page.name: blocks(page) for page in PAGES}
    assert sum(len(b) for b in found.values()) >= 10
    for page, page_blocks in found.items():
        for b in page_blocks:
            assert b.skip is None or b.skip.strip(), (page, b.line)


def _answers(log: Path) -> list[tuple[float, int, str]]:
    """``(time, status, "METHOD path")`` of every request the server logged."""
    out = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("logger") == "service.access" and isinstance(record.get("status"), int):
            when = datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
            out.append((when, record["status"], record.get("msg", "")))
    return out


def run_page(
    page: Path, cwd: Path, env: dict[str, str], urls: dict[str, str], marks: Path
) -> tuple[int, str]:
    """Run the page's blocks in one bash session (their variables carry over, as in a terminal);
    before each, ``<index> <epoch seconds>`` goes to ``marks``. Returns (exit status, output tail)."""
    script = ["set -euo pipefail"]
    for i, block in enumerate(blocks(page)):
        if block.skip is not None:
            continue
        code = block.code
        for old, new in urls.items():
            code = code.replace(old, new)
        script += [f'echo "{i} $(date +%s.%N)" >> {marks}', code]
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )
    return proc.returncode, (proc.stdout[-3000:] + "\n" + proc.stderr[-3000:])


@pytest.mark.docs
def test_every_block_runs_in_order_twice(tmp_path):
    scratch = tmp_path / "work"
    scratch.mkdir()
    (scratch / ".venv").symlink_to(ROOT / ".venv")
    data = tmp_path / "data"
    logs = {"embeddings": tmp_path / "embeddings.log", "attention": tmp_path / "attention.log"}
    env_on = {"EMBEDDINGS_TRAIN_DEFAULT": "true", "ATTENTION_TRAIN_DEFAULT": "true"}
    with (
        Server("embeddings", data, env=env_on, log=logs["embeddings"]) as emb,
        Server(
            "attention", data, env={**env_on, "ATTENTION_EMBEDDINGS_URL": emb.url}, log=logs["attention"]
        ) as att,
    ):
        hosts = {
            "127.0.0.1:8001": emb.url.removeprefix("http://"),
            "127.0.0.1:8002": att.url.removeprefix("http://"),
        }
        env = {
            **os.environ,
            "EMBATTN_EMBEDDINGS_URL": emb.url,
            "EMBATTN_ATTENTION_URL": att.url,
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        }
        failures: list[str] = []
        for round_ in (1, 2):
            for page in PAGES:
                page_blocks = blocks(page)
                marks = tmp_path / f"marks-{round_}-{page.stem}.txt"
                marks.touch()
                status, tail = run_page(page, scratch, env, hosts, marks)
                finished = time.time() + 0.5  # the servers log an answer just after sending it
                timeline = [
                    (float(t), int(i)) for i, t in (line.split() for line in marks.read_text().splitlines())
                ]
                if status != 0:
                    last = page_blocks[timeline[-1][1]] if timeline else None
                    where = f"{page.name}:{last.line}" if last else page.name
                    failures.append(f"round {round_}, {where}: exit {status}\n{tail}")
                if not timeline:
                    continue
                ends = [t for t, _ in timeline[1:]] + [finished]
                for service, log in logs.items():
                    for when, code, request in _answers(log):
                        for (start, i), end in zip(timeline, ends, strict=True):
                            block = page_blocks[i]
                            if start <= when < end and code >= 400 and code not in block.expect:
                                failures.append(
                                    f"round {round_}, {page.name}:{block.line}: {service} answered {code} "
                                    f"to {request}, which the page does not predict"
                                )
        # what the pages leave in the working directory is ignored by git (a reader runs them in the clone)
        for made in sorted(p.name for p in scratch.iterdir() if p.name != ".venv"):
            ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", made])
            if ignored.returncode != 0:
                failures.append(
                    f"the pages leave {made!r} in the working directory, and .gitignore misses it"
                )
        assert not failures, "\n\n".join(failures)
