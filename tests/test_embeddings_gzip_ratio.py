"""Gzip bombs are refused by ratio, at once: a gzip corpus may inflate to at most
``EMBEDDINGS_MAX_DECOMPRESSION_RATIO`` (100) times the compressed bytes read, past its first MiB.

The bomb is the finding's: ~300 MB of one repeated sentence in a ~1.4 MB gzip, which the size limit
alone (4 GiB) let through to a scan that kept a core busy for about 100 s. The ratio stops it after
about a MiB of output; an ordinary gzip corpus passes, and so does a small very compressible one
(under the first MiB).
"""

from __future__ import annotations

import gzip
import random
import time

import pytest

from models.embeddings.corpus import RATIO_GRACE_BYTES, scan_corpus
from models.embeddings.errors import CorpusRatioError, CorpusTooLargeError
from tests.helpers import assert_problem

LINE = b"the same sentence again and again " * 8 + b"\n"  # 273 bytes
OCTET = {"Content-Type": "application/octet-stream"}


def bomb(inflated: int) -> bytes:
    """A gzip of ``inflated`` bytes of one repeated line: identical members of 1 MiB each (a
    multi-member gzip is one gzip file; building it takes milliseconds)."""
    member = gzip.compress(LINE * ((1 << 20) // len(LINE)), compresslevel=9)
    return member * (inflated // (len(LINE) * ((1 << 20) // len(LINE))))


def ordinary(size: int, seed: int = 0) -> bytes:
    """``size`` bytes of text over a vocabulary of 5000 random words (gzip: about 2-3:1)."""
    rng = random.Random(seed)
    vocab = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
        for _ in range(5000)
    ]
    out, total = [], 0
    while total < size:
        line = " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 25))) + "\n"
        out.append(line)
        total += len(line)
    return "".join(out).encode()


@pytest.fixture(scope="module")
def the_bomb() -> bytes:
    data = bomb(300 << 20)
    assert len(data) < 2 << 20 and len(data) * 100 < 300 << 20  # ~1.4 MB, ~220:1
    return data


def test_a_gzip_bomb_is_refused_by_ratio_within_a_second(tmp_path, the_bomb):
    p = tmp_path / "bomb.txt.gz"
    p.write_bytes(the_bomb)
    started = time.perf_counter()
    with pytest.raises(CorpusRatioError) as e:
        scan_corpus(p, max_decompressed_bytes=4 << 30, max_ratio=100)
    elapsed = time.perf_counter() - started
    print(f"\nscan of a {len(the_bomb)} B gzip of {300 << 20} B refused by ratio in {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0
    assert isinstance(e.value, CorpusTooLargeError)  # callers that know the size error know this one
    assert e.value.ratio == 100 and e.value.grace == RATIO_GRACE_BYTES
    assert e.value.line * len(LINE) < 2 * RATIO_GRACE_BYTES  # stopped right past the first MiB
    assert "100:1" in str(e.value)
    # the same bomb under a generous ratio: only the size limit stops it (here a small one)
    with pytest.raises(CorpusTooLargeError) as size:
        scan_corpus(p, max_decompressed_bytes=4 << 20, max_ratio=1000)
    assert not isinstance(size.value, CorpusRatioError)


def test_ordinary_and_small_gzip_corpora_pass(tmp_path):
    text = ordinary(3 << 20)
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress(text))
    assert len(text) / gz.stat().st_size < 5
    plain = tmp_path / "c.txt"
    plain.write_bytes(text)
    bounded, unbounded = scan_corpus(gz, max_ratio=100), scan_corpus(plain)
    assert (bounded.lines, bounded.tokens, bounded.distinct) == (
        unbounded.lines,
        unbounded.tokens,
        unbounded.distinct,
    )
    # under the first MiB any ratio passes (a small file says little about its ratio)
    small = tmp_path / "small.gz"
    small.write_bytes(gzip.compress(LINE * ((RATIO_GRACE_BYTES - 1) // len(LINE))))
    assert (RATIO_GRACE_BYTES - 1) / small.stat().st_size > 100
    assert scan_corpus(small, max_ratio=100).sentences == (RATIO_GRACE_BYTES - 1) // len(LINE)
    # the ratio bounds gzip only: a plain file is bounded by the upload size
    repetitive = tmp_path / "rep.txt"
    repetitive.write_bytes(LINE * 10_000)
    assert scan_corpus(repetitive, max_ratio=1).sentences == 10_000


def test_the_api_answers_a_413_naming_the_ratio_and_the_setting_at_once(embeddings_api, the_bomb):
    started = time.perf_counter()
    r = embeddings_api.post("/v1/corpora?name=bomb", content=the_bomb, headers=OCTET)
    elapsed = time.perf_counter() - started
    print(f"\nPOST /v1/corpora of the bomb: {r.status_code} in {elapsed * 1000:.0f} ms")
    problem = assert_problem(r, 413, "corpus-compression-ratio")
    assert "EMBEDDINGS_MAX_DECOMPRESSION_RATIO" in problem["detail"] and "100 times" in problem["detail"]
    assert problem["ratio"] == 100
    assert elapsed < 1.5  # the upload itself included
    assert_problem(embeddings_api.get("/v1/corpora/bomb"), 404)
    root = embeddings_api.app.state.runtime.uploads.root
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp")]
    ok = embeddings_api.post("/v1/corpora?name=fine", content=gzip.compress(ordinary(2 << 20)), headers=OCTET)
    assert ok.status_code == 201 and ok.json()["gzip"] is True, ok.text


def test_the_ratio_is_a_setting(make_embeddings_client, the_bomb):
    with make_embeddings_client(max_decompression_ratio=1000, max_decompressed_bytes=8 << 20) as client:
        r = client.post("/v1/corpora?name=bomb", content=the_bomb, headers=OCTET)
        problem = assert_problem(r, 413, "corpus-too-large")  # past 1000:1 it is the size limit that stops it
        assert "EMBEDDINGS_MAX_DECOMPRESSED_BYTES" in problem["detail"]
