"""The million-word benchmark (``bench/million_bench.py``, issue 9), bounded: 20,000 x 300 vectors and
30 queries of each kind, into a temporary cache. Real servers on 127.0.0.1 (import job, index job,
Lee training, four serving processes and a baseline one); no timing is asserted, only that every
figure is there and that the ANN answers are real answers.
"""

from __future__ import annotations

import json
import math

import pytest
from gensim.models import KeyedVectors

from bench import million_bench as mb
from service.embeddings.settings import Settings

WORDS, DIM, QUERIES = 20_000, 300, 30


def run(tmp_path, *extra: str) -> dict:
    out = tmp_path / "million.json"
    argv = ["--words", str(WORDS), "--dim", str(DIM), "--queries", str(QUERIES), "--lee-epochs", "5"]
    argv += ["--cache", str(tmp_path / "cache"), "--out", str(out), *extra]
    assert mb.main(argv) == 0
    return json.loads(out.read_text())


def test_words_are_unique_ascii():
    words = mb.words(WORDS)
    assert len(set(words)) == WORDS
    assert all(w.isascii() and w.isalpha() for w in words)


def test_disk_is_checked_before_anything_is_written(tmp_path):
    with pytest.raises(SystemExit, match="not enough disk for 10,000 x 1000000000: .* GB needed"):
        mb.check_disk(tmp_path, 10_000, 10**9, fresh=False)  # 100 TB of vectors
    assert list(tmp_path.iterdir()) == []
    mb.check_disk(tmp_path, 1000, 32, fresh=False)  # a small run fits


def test_million_bench_bounded(tmp_path):
    res = run(tmp_path)

    for key in mb.REQUIRED:  # every figure of the table is there
        assert mb.get(res, key) is not None, key
    for key in ("synthetic.recall_at_10", "synthetic.index.recall_at_10", "lee.recall_at_10"):
        value = mb.get(res, key)
        assert isinstance(value, float) and 0.0 <= value <= 1.0, (key, value)
    syn = res["synthetic"]
    for key in ("ann_p50_ms", "exact_p50_ms", "speedup"):
        assert isinstance(syn[key], float) and math.isfinite(syn[key]) and syn[key] > 0, key
    assert syn["queries"] == QUERIES and len(syn["answers"]) == QUERIES

    # the ANN answers are real answers: vocabulary words, the query left out, mostly the exact ones
    vocab = set(mb.words(WORDS))
    overlaps = []
    for a in syn["answers"]:
        assert len(a["ann"]) == len(a["exact"]) == mb.TOPN
        assert set(a["ann"]) <= vocab and a["query"] not in a["ann"]
        overlaps.append(len(set(a["ann"]) & set(a["exact"])) / mb.TOPN)
    assert min(overlaps) >= 0.5, overlaps
    assert abs(sum(overlaps) / len(overlaps) - syn["recall_at_10"]) < 1e-9

    # the exact answers are gensim's on the file the bench wrote
    kv = KeyedVectors.load_word2vec_format(res["vectors_file"], binary=True)
    assert len(kv) == WORDS and kv.vector_size == DIM
    for a in syn["answers"][:5]:
        assert [w for w, _ in kv.most_similar(a["query"], topn=mb.TOPN)] == a["exact"]

    imp = res["import"]
    assert imp["mode"] in ("json", "upload") and imp["cached"] is False
    assert imp["matrix_bytes"] == WORDS * DIM * 4
    assert imp["file_bytes"] == mb.file_size(WORDS, DIM) > imp["matrix_bytes"]
    assert imp["peak_rss_bytes"] > 0 and imp["mb_per_s"] > 0
    assert syn["index"]["kind"] == Settings.model_fields["index_kind"].default  # the service's default
    assert syn["index"]["build_s"] >= 0 and syn["index"]["recall_target"] == 0.95
    assert res["lee"]["vocab_size"] > 1000

    proc = res["processes"]
    assert len(proc["servers"]) == 2 and len(proc["extra_uss_mb"]) == 1  # --processes defaults to 2
    assert len({s["pid"] for s in proc["servers"]}) == 2
    for s in [*proc["servers"], proc["baseline"]]:
        assert 0 < s["uss"] <= s["pss"] <= s["rss"], s
    assert proc["pss_sum_bytes"] == sum(s["pss"] for s in proc["servers"])
    assert len(res["startup"]["all_s"]) == 2 and all(t > 0 for t in res["startup"]["all_s"])
    e2e = res["end_to_end"]
    assert e2e["seconds"] == e2e["import_s"] + e2e["index_s"] + e2e["first_answer_s"] > 0
    assert "| end to end" in res["table"] and "index file / the vectors' bytes" in res["table"]
    assert "| ANN speed-up" in res["table"] and "| server 2 |" in res["table"]

    # a second run takes the model and its index from the cache
    again = run(tmp_path)
    assert again["import"]["cached"] is True
    assert "end_to_end" not in again  # nothing was imported or indexed: no end-to-end figure
    assert again["synthetic"]["index"] == syn["index"]
    assert [a["query"] for a in again["synthetic"]["answers"]] == [a["query"] for a in syn["answers"]]
