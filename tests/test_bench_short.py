"""Every benchmark of ``make bench`` (``bench/run_all.py``'s :data:`BENCHES`) in its ``--short`` form:
``python bench/<name>.py --short`` as a subprocess (real servers, as ``make bench`` runs it) must exit
0 and print its table. No figure is asserted: the short forms catch a benchmark whose assumptions
about the services went stale (a 201 that became a 202...) before ``make bench`` does.

A benchmark added to :data:`BENCHES` is run here at once. Those whose short form another module
already runs, with checks of its own, are not run twice (:data:`ELSEWHERE`). The others start
together when the first of them is needed, so the module takes about as long as the slowest
(serve_bench's Ray cluster), not the sum.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from bench.run_all import BENCHES, ROOT, Bench

#: Benchmarks whose ``--short`` form another test module runs (as a subprocess, or ``main`` in-process
#: with more checks of its output): that module's path.
ELSEWHERE = {
    "load_test": "tests/test_load.py",
    "soak": "tests/test_soak.py",
    "fasttext_bench": "tests/test_fasttext_bench.py",
    "g2p_bench": "tests/test_g2p_bench.py",
}
#: Seconds a short form may take (they run side by side on a shared machine: generous).
TIMEOUT = 300


def has_short(bench: Bench) -> bool:
    return re.search(r"""add_argument\(\s*["']--short["']""", bench.path.read_text()) is not None


def here(bench: Bench) -> bool:
    """Run by this module (not elsewhere, and the script has ``--short``)."""
    return bench.name not in ELSEWHERE and has_short(bench)


@pytest.fixture(scope="module")
def started(request, tmp_path_factory):
    """The short forms this session will check here, started together: ``{name: (process, log)}``."""
    wanted = {
        item.callspec.params["bench"].name
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and getattr(item, "originalname", None) == "test_short_form"
    }
    logs = tmp_path_factory.mktemp("bench-short")
    procs = {}
    for bench in BENCHES:
        if bench.name in wanted and here(bench):
            log = logs / f"{bench.name}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    bench.command(short=True), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
                )
            procs[bench.name] = (proc, log, time.monotonic())
    yield procs
    for proc, _, _ in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


@pytest.mark.parametrize("bench", BENCHES, ids=[b.name for b in BENCHES])
def test_short_form(bench: Bench, started):
    if bench.name in ELSEWHERE:
        pytest.skip(f"its --short form runs in {ELSEWHERE[bench.name]}")
    if not has_short(bench):
        pytest.fail(f"bench/{bench.name}.py has no --short flag (every script of make bench needs one)")
    proc, log, t0 = started[bench.name]
    try:
        rc = proc.wait(max(1.0, TIMEOUT - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
        pytest.fail(f"{bench.name} --short still running after {TIMEOUT} s:\n{log.read_text()[-4000:]}")
    out = log.read_text(errors="replace")
    print(f"{bench.name} --short: {time.monotonic() - t0:.1f} s")
    assert rc == 0, f"{bench.name} --short exited {rc}:\n{out[-4000:]}"
    missing = [mark for mark in bench.marks if mark not in out]
    assert not missing, f"{bench.name} --short printed no {missing}:\n{out[-4000:]}"


@pytest.mark.parametrize("name", sorted(ELSEWHERE))
def test_the_other_module_runs_the_short_form(name):
    """What :data:`ELSEWHERE` says holds: the module exists and runs ``bench/<name>.py --short``."""
    assert name in {b.name for b in BENCHES}
    text = (ROOT / ELSEWHERE[name]).read_text()
    assert "--short" in text and name in text, ELSEWHERE[name]


def test_every_bench_has_marks_and_a_script():
    for bench in BENCHES:
        assert bench.path.is_file() and bench.marks, bench
    assert len({b.name for b in BENCHES}) == len(BENCHES)


def test_run_all_is_what_make_bench_runs():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nbench: ", 1)[1].split("\n\n", 1)[0]
    assert "bench/run_all.py" in recipe and not re.search(r"bench/(?!run_all)\w+\.py", recipe)
    assert Path(ROOT / "bench" / "run_all.py").is_file()
