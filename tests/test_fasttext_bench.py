"""The fastText benchmark (``bench/fasttext_bench.py``, issue 20) in its short form (``--short``): tiny
sizes, a few seconds of work plus four server starts (tests/test_bench_short.py leaves it to this module). It runs as ``make bench`` runs it (a subprocess), must exit 0
and print its table; no timing is asserted, equality with gensim is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_fasttext_bench_short_form(tmp_path):
    out = tmp_path / "fasttext.json"
    cmd = [sys.executable, "bench/fasttext_bench.py", "--short"]
    cmd += ["--cache", str(tmp_path / "cache"), "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| figure | measured | target | |" in done.stdout
    assert "import peak RSS / largest matrix" in done.stdout and "server 2: USS" in done.stdout
    res = json.loads(out.read_text())
    assert res["equality"]["oov_max_abs_diff"] <= 1e-6
    assert res["equality"]["known_equal"] and res["equality"]["similar_equal"]
    assert res["serving"]["big_oov_vs_file_max_abs_diff"] <= 1e-6
    assert res["import"]["vocab_size"] == 3000 and res["import"]["import_format"] == "fasttext-bin"
    assert len(res["serving"]["servers"]) == 2 and all(s["uss"] > 0 for s in res["serving"]["servers"])
    assert all(s["first_answer_s"] > 0 for s in res["serving"]["servers"])
    # the synthetic files and the data directory are removed (no --keep)
    assert (
        not list((tmp_path / "cache" / "imports").glob("*.bin"))
        and not (tmp_path / "cache" / "data").exists()
    )
