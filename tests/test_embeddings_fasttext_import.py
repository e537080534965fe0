"""fastText ``.bin`` imports streamed into a memory-mapped layout (``models/embeddings/fasttext_import.py``):
equal to gensim's ``load_facebook_vectors`` (words, composed vectors, norms, the word and bucket
matrices, out-of-vocabulary vectors, ``most_similar``) on gensim's own test files and on synthetic
files written in Facebook's format (``bench/fasttext_bench.py``), served from memory maps; refusals
(quantized, supervised, corrupt) named; the import's memory bounded by its largest matrix."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from gensim.models.fasttext import load_facebook_vectors
from gensim.test.utils import datapath

from bench.fasttext_bench import write_fasttext_bin
from models.embeddings import fasttext_import
from models.embeddings.errors import InvalidModelFileError
from models.embeddings.fasttext_import import import_fasttext
from models.embeddings.formats import check_file, read_fasttext_layout
from models.embeddings.queries import VectorQueries
from models.embeddings.storage import load_vectors
from models.embeddings.vector_import import import_into

GENSIM_FILES = [
    "lee_fasttext.bin",  # the pre-2017 format (no magic number)
    "lee_fasttext_new.bin",  # version 11
    "crime-and-punishment.bin",  # version 12
    "non_ascii_fasttext.bin",
    "cp852_fasttext.bin",  # words that are not UTF-8: gensim's backslashreplace
    "toy-model.bin",
]
OOV = ["kingg", "qwzxyy", "xy", "x", "éléphantesque", "日本語", "a b", "", "\\xff"]


def assert_same_as_gensim(kv, ref, oov=OOV) -> None:
    """Bit-equal matrices, words and norms; OOV vectors within 1e-6 (they are equal); same neighbours."""
    ref.fill_norms()
    assert type(kv).__name__ == "FastTextKeyedVectors"
    assert (kv.min_n, kv.max_n, kv.bucket, kv.vector_size) == (
        ref.min_n,
        ref.max_n,
        ref.bucket,
        ref.vector_size,
    )
    assert kv.index_to_key == ref.index_to_key
    assert all(kv.key_to_index[w] == i for i, w in enumerate(ref.index_to_key))
    for name in ("vectors", "vectors_vocab", "vectors_ngrams", "norms"):
        mine, theirs = getattr(kv, name), getattr(ref, name)
        assert isinstance(mine, np.memmap), name
        assert np.array_equal(np.asarray(mine), theirs), name
    for w in oov:
        assert w not in kv.key_to_index
        np.testing.assert_allclose(kv[w], ref[w], atol=1e-6, rtol=0)
        assert np.array_equal(kv[w], ref[w])  # in fact, the same arithmetic on the same rows
    for w in [ref.index_to_key[3], ref.index_to_key[-1], "kingg"]:
        assert kv.most_similar(w, topn=5) == ref.most_similar(w, topn=5)


@pytest.mark.parametrize("name", GENSIM_FILES)
def test_gensim_test_files_equal_load_facebook_vectors(tmp_path, name):
    meta = import_fasttext(datapath(name), tmp_path)
    ref = load_facebook_vectors(datapath(name))
    assert meta["kind"] == "fasttext-vectors" and meta["storage"] == "npy"
    assert (meta["vocab_size"], meta["bucket"], meta["min_n"], meta["max_n"]) == (
        len(ref),
        ref.bucket,
        ref.min_n,
        ref.max_n,
    )
    assert_same_as_gensim(load_vectors(tmp_path), ref)


def test_import_into_streams_a_bin_and_queries_answer_as_gensim(tmp_path):
    meta = import_into(datapath("lee_fasttext_new.bin"), tmp_path / "v")
    assert meta["import_format"] == "fasttext-bin" and meta["kind"] == "fasttext-vectors"
    (tmp_path / "v" / "meta.json").write_text(json.dumps(meta))
    kv = load_vectors(tmp_path / "v")
    ref = load_facebook_vectors(datapath("lee_fasttext_new.bin"))
    q = VectorQueries(kv)
    q.warm()
    assert q.is_fasttext and q.is_known("qwzxyy") and not q.is_known("")
    got = q.vectors(["night", "nightt"])
    assert [g.in_vocab for g in got] == [True, False] and [g.oov for g in got] == [False, True]
    assert np.array_equal(got[1].vector, ref["nightt"])
    mine = q.most_similar(["nightt"], topn=5)
    assert [n.word for n in mine] == [w for w, _ in ref.most_similar("nightt", topn=5)]


@pytest.mark.parametrize("bound", ["words", "buckets"])
def test_a_synthetic_file_in_facebooks_format_loads_with_gensim_and_imports_equal(
    tmp_path, monkeypatch, bound
):
    path = tmp_path / "synthetic.bin"
    write_fasttext_bin(path, 3000, 7000, 12)
    ref = load_facebook_vectors(str(path))  # the bench's writer writes what gensim reads
    assert len(ref) == 3000 and ref.bucket == 7000 and ref.vectors_ngrams.shape == (7000, 12)
    # small blocks: many blocks of words (ended by their number of words, or by the buckets they
    # need), each gathering its buckets in several windows
    monkeypatch.setattr(fasttext_import, "HASH_BATCH", 100)
    monkeypatch.setattr(fasttext_import, "CHUNK_BYTES", 64 * 12 * 4)
    if bound == "words":
        monkeypatch.setattr(fasttext_import, "BLOCK_BYTES", 100 * 12 * 4)
        monkeypatch.setattr(fasttext_import, "BLOCK_SHARE", 0.0)
    else:
        monkeypatch.setattr(fasttext_import, "GATHER_MIN_ROWS", 1500)
        monkeypatch.setattr(fasttext_import, "COMPOSE_SHARE", 0.0)
    import_fasttext(path, tmp_path / "m")
    assert_same_as_gensim(load_vectors(tmp_path / "m"), ref)


def test_a_synthetic_file_without_ngrams(tmp_path):
    path = tmp_path / "nobucket.bin"
    write_fasttext_bin(path, 50, 0, 4)
    meta = import_fasttext(path, tmp_path / "m")
    kv = load_vectors(tmp_path / "m")
    assert meta["bucket"] == 0 and kv.vectors_ngrams.shape == (0, 4)
    assert np.array_equal(np.asarray(kv.vectors), np.asarray(kv.vectors_vocab))  # nothing to compose
    assert not VectorQueries(kv).is_known("unseen")


# --------------------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------------------


def test_quantized_and_supervised_models_are_refused(tmp_path):
    ftz = tmp_path / "model.ftz"
    write_fasttext_bin(ftz, 20, 30, 4, quantized=True)
    with pytest.raises(InvalidModelFileError, match="quantized fastText model"):
        check_file(ftz)
    with pytest.raises(InvalidModelFileError, match="supervised fastText model"):
        check_file(datapath("pang_lee_polarity_fasttext.bin"))
    sup = tmp_path / "sup.bin"
    write_fasttext_bin(sup, 20, 30, 4, labels=3)
    with pytest.raises(
        InvalidModelFileError, match=r"^invalid model file \(fasttext-bin\): a supervised fastText model \(3"
    ):
        check_file(sup)
    # fastText quantizes supervised models: a real .ftz is both, and says so
    write_fasttext_bin(sup, 20, 30, 4, labels=3, quantized=True)
    with pytest.raises(
        InvalidModelFileError, match=r"quantized fastText model \(.ftz\).*also a supervised model, 3 labels"
    ):
        check_file(sup)


def _entries_end(path) -> int:
    layout = read_fasttext_layout(path)
    return layout.matrix_offset - 17  # the quantization flag, then the shape (2 x int64)


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        ("matrix-rows", "the input matrix is 51 x 4 but the header says 20 words + 30 buckets = 50 rows"),
        ("matrix-cols", "the input matrix is 50 x 5"),
        ("entry-type", "dictionary entry 1 is of type 1, not a word"),
        ("duplicate", "dictionary word 2 ('baba') is word 1 again"),
        ("newline", "contains a newline"),
        ("nan", "the input matrix's row 22 (n-gram bucket 2) contains NaN"),
        ("truncated", "inside the input matrix"),
        ("flag", "quantization flag is b'\\x07'"),
    ],
)
def test_corrupt_files_are_named(tmp_path, edit, expect):
    path = tmp_path / "m.bin"
    write_fasttext_bin(path, 20, 30, 4)
    data = bytearray(path.read_bytes())
    end = _entries_end(path)
    first = data.index(b"\0", 92)  # the end of the first word (entries start at byte 92)
    if edit == "matrix-rows":
        data[end + 1 : end + 9] = struct.pack("<q", 51)
    elif edit == "matrix-cols":
        data[end + 9 : end + 17] = struct.pack("<q", 5)
    elif edit == "entry-type":
        data[first + 9] = 1
    elif edit == "duplicate":  # the 2nd word ("babe") made the 1st ("baba")
        data[first + 10 : first + 14] = data[92:96]
    elif edit == "newline":
        data[93] = 0x0A
    elif edit == "nan":
        data[end + 17 + 22 * 16 : end + 17 + 22 * 16 + 4] = struct.pack("<f", float("nan"))
    elif edit == "truncated":
        data = data[: end + 17 + 40 * 16]
    elif edit == "flag":
        data[end] = 7
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidModelFileError) as err:
        import_into(path, tmp_path / "out")
    assert expect in str(err.value), str(err.value)


# --------------------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------------------

# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a child of a big pytest process
# would start with its parent's peak
MEMORY_PROBE = """
import json, sys
from models.embeddings.fasttext_import import import_fasttext
meta = import_fasttext(sys.argv[1], sys.argv[2])
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"peak": hwm * 1024, "n": meta["vocab_size"]}))
"""


def test_the_import_peak_rss_stays_below_1_3_times_its_largest_matrix(tmp_path):
    words, buckets, dim = 60_000, 1_000_000, 64  # a 256 MB bucket matrix
    src = tmp_path / "big.bin"
    write_fasttext_bin(src, words, buckets, dim)
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(src), str(tmp_path / "m")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    largest = max(words, buckets) * dim * 4
    assert probe["n"] == words
    # the whole process (interpreter, numpy, gensim: ~120 MB) against the matrix: the target of issue 20
    assert probe["peak"] <= 1.3 * largest, f"peak RSS {probe['peak'] / 2**20:.0f} MiB"
