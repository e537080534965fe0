"""Imports (``models/embeddings/vector_import.py``): in memory, the user files gensim reads and nothing
corrupt; streamed, the stored vectors equal gensim's ``load_word2vec_format``, faults are named by line
and byte offset, and memory stays far below the matrix."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.models.fasttext import FastTextKeyedVectors, load_facebook_vectors
from gensim.test.utils import datapath

from models.embeddings.errors import InvalidModelFileError
from models.embeddings.formats import check_file
from models.embeddings.storage import META_FILE, NPY_VECTORS_FILE, load_vectors
from models.embeddings.vector_import import BLOCK_ROWS, import_into, import_vectors, matrix_bytes

FORMATS = ["auto", "word2vec-text", "word2vec-binary", "glove", "fasttext-bin"]


def write_w2v(path, words, vectors, binary: bool, newline_after: bool = True) -> list[int]:
    """Write a word2vec file as gensim writes it; returns the byte offset of each record."""
    offsets = []
    with open(path, "wb") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        for w, v in zip(words, vectors, strict=True):
            offsets.append(f.tell())
            if binary:
                f.write(w.encode() + b" " + v.astype("<f4").tobytes() + (b"\n" if newline_after else b""))
            else:
                f.write((w + " " + " ".join(f"{x:.6f}" for x in v) + "\n").encode())
    return offsets


def imported(tmp_path, src, **kw) -> KeyedVectors:
    d = tmp_path / "out"
    meta = import_into(src, d, **kw)
    (d / META_FILE).write_text(json.dumps(meta))
    return load_vectors(d)


def same_as_gensim(kv: KeyedVectors, ref: KeyedVectors) -> None:
    ref.fill_norms()
    assert kv.index_to_key == ref.index_to_key
    assert kv.key_to_index == ref.key_to_index
    assert np.array_equal(np.asarray(kv.vectors), ref.vectors)
    assert np.array_equal(np.asarray(kv.norms), ref.norms)
    word = ref.index_to_key[min(3, len(ref) - 1)]
    assert kv.most_similar(word, topn=5) == ref.most_similar(word, topn=5)


# --------------------------------------------------------------------------------------------------------
# import_vectors: a small file, whole into memory
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fmt, cls",
    [
        ("euclidean_vectors.bin", "word2vec-binary", KeyedVectors),
        ("lee_fasttext.vec", "word2vec-text", KeyedVectors),
        ("test_glove.txt", "glove", KeyedVectors),
        ("lee_fasttext.bin", "fasttext-bin", FastTextKeyedVectors),
        ("lee_fasttext_new.bin", "fasttext-bin", FastTextKeyedVectors),
    ],
)
def test_import_user_files(name, fmt, cls):
    path = datapath(name)
    for f in ("auto", fmt):
        kv = import_vectors(path, f)
        assert type(kv) is cls
    if fmt == "fasttext-bin":
        ref = load_facebook_vectors(path)
        np.testing.assert_array_equal(kv.vectors, ref.vectors)
        assert kv["notawordqq"].shape == (ref.vector_size,)
    else:
        ref = KeyedVectors.load_word2vec_format(
            path, binary=fmt == "word2vec-binary", no_header=fmt == "glove"
        )
        np.testing.assert_array_equal(kv.vectors, ref.vectors)
    assert kv.index_to_key == ref.index_to_key


def test_import_limit():
    assert len(import_vectors(datapath("euclidean_vectors.bin"), limit=10)) == 10


def _variants(tmp_path):
    bin_data = open(datapath("euclidean_vectors.bin"), "rb").read()
    ft_data = open(datapath("lee_fasttext_new.bin"), "rb").read()
    txt_data = open(datapath("lee_fasttext.vec"), "rb").read()
    cases = {
        "bin_half": bin_data[: len(bin_data) // 2],
        "bin_minus_3": bin_data[:-3],
        "ft_30pct": ft_data[: int(len(ft_data) * 0.3)],
        "ft_header_only": ft_data[:40],
        "txt_half": txt_data[: len(txt_data) // 2],
        "txt_counts_wrong": b"3 2\na 1.0 2.0\nb 1.0 2.0\n" + b" " * 20,
        "txt_bad_columns": b"2 3\na 1.0 2.0\nb 1.0 2.0 3.0\n",
        "txt_not_numbers": b"2 2\na x y\nb 1.0 2.0\n",
        "txt_huge_header": b"999999999999 300\na 1 2\n",
        "txt_nan": b"1 2\na nan 1.0\n",
        "no_header": b"hello world this is text\n",
        "garbage": bytes(range(256)) * 4,
        "empty": b"",
        "gzip": b"\x1f\x8b\x08\x00" + b"\x00" * 40,
    }
    out = {}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        out[name] = p
    return out


def test_corrupt_files_raise_invalid_model_file(tmp_path):
    for name, path in _variants(tmp_path).items():
        for fmt in FORMATS:
            with pytest.raises(InvalidModelFileError):
                import_vectors(path, fmt)
                pytest.fail(f"{name} imported as {fmt}")


def test_unknown_import_format():
    with pytest.raises(ValueError, match="unknown import format"):
        import_vectors(datapath("euclidean_vectors.bin"), "glove-binary")


# --------------------------------------------------------------------------------------------------------
# import_into: streamed into a version directory
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(7)
    n, dim = 2 * BLOCK_ROWS + 123, 24  # more than one block, a partial last one
    return [f"w{i}" for i in range(n)], rng.standard_normal((n, dim)).astype(np.float32)


@pytest.mark.parametrize(("name", "binary"), [("word2vec_pre_kv_c", False), ("euclidean_vectors.bin", True)])
@pytest.mark.parametrize("limit", [None, 7])
def test_gensim_test_files_equal_load_word2vec_format(tmp_path, name, binary, limit):
    kv = imported(tmp_path, datapath(name), limit=limit)
    same_as_gensim(kv, KeyedVectors.load_word2vec_format(datapath(name), binary=binary, limit=limit))
    assert isinstance(kv.vectors, np.memmap) and isinstance(kv.norms, np.memmap)


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("limit", [None, BLOCK_ROWS, BLOCK_ROWS + 1])
def test_several_blocks_equal_gensim(tmp_path, synthetic, binary, limit):
    words, vectors = synthetic
    src = tmp_path / "v.bin"
    write_w2v(src, words, vectors, binary, newline_after=limit is None)
    meta = import_into(src, tmp_path / "m", limit=limit)
    assert meta["storage"] == "npy" and meta["import_format"] == (
        "word2vec-binary" if binary else "word2vec-text"
    )
    assert meta["vocab_size"] == (limit or len(words)) and meta["limit"] == limit
    ref = KeyedVectors.load_word2vec_format(src, binary=binary, limit=limit)
    same_as_gensim(imported(tmp_path, src, limit=limit), ref)


def test_duplicates_keep_the_first_vector(tmp_path):
    # gensim 4.4 leaves None keys in index_to_key for duplicates; the first occurrence is what it keeps
    words = ["a", "b", "a", "c", "b"]
    vectors = np.arange(10, dtype=np.float32).reshape(5, 2) + 1
    src = tmp_path / "d.bin"
    write_w2v(src, words, vectors, binary=True)
    d = tmp_path / "m"
    meta = import_into(src, d)
    assert (meta["vocab_size"], meta["duplicates"], meta["import_records"]) == (3, 2, 5)
    (d / META_FILE).write_text(json.dumps(meta))
    kv = load_vectors(d)
    assert kv.index_to_key == ["a", "b", "c"]
    assert np.array_equal(np.asarray(kv.vectors), vectors[[0, 1, 3]])
    assert np.load(d / NPY_VECTORS_FILE).shape == (3, 2)  # the header was rewritten with the final count


def test_a_binary_file_cut_mid_record_names_the_record_offset(tmp_path, synthetic):
    words, vectors = synthetic
    src = tmp_path / "v.bin"
    offsets = write_w2v(src, words, vectors, binary=True)
    cut = offsets[5000] + 40  # inside record 5001
    with open(src, "r+b") as f:
        f.truncate(cut)
    with pytest.raises(InvalidModelFileError) as err:
        # the size check is a lower bound; lie about the count so that it passes and the stream finds it
        data = src.read_bytes().replace(f"{len(words)} 24".encode(), b"5100 24", 1)
        src.write_bytes(data)
        import_into(src, tmp_path / "m")
    shift = len(f"{len(words)} 24") - len("5100 24")
    assert err.value.offset == offsets[5000] - shift
    assert f"byte offset {offsets[5000] - shift}" in str(err.value) and "5000 of 5100" in str(err.value)


def test_a_text_file_ending_early_names_its_last_line(tmp_path, synthetic):
    words, vectors = synthetic
    src = tmp_path / "v.txt"
    write_w2v(src, words[:100], vectors[:100], binary=False)
    data = src.read_bytes().replace(b"100 24", b"101 24", 1)  # one line missing
    src.write_bytes(data)
    with pytest.raises(InvalidModelFileError) as err:
        import_into(src, tmp_path / "m", format="word2vec-text")
    assert err.value.line == 102 and err.value.offset == len(data)


@pytest.mark.parametrize(
    ("bad", "expect"),
    [(b"w3 1.0 x 2.0\n", "is not a number"), (b"w3 1.0 2.0\n", "2 numbers, the header says vectors have 3")],
)
def test_a_bad_text_line_is_named(tmp_path, bad, expect):
    lines = [b"5 3\n"] + [f"w{i} 0.1 0.2 0.3\n".encode() for i in range(5)]
    lines[4] = bad  # line 5 holds record 4
    src = tmp_path / "v.txt"
    src.write_bytes(b"".join(lines))
    with pytest.raises(InvalidModelFileError) as err:
        import_into(src, tmp_path / "m", format="word2vec-text")
    assert err.value.line == 5 and err.value.offset == sum(len(x) for x in lines[:4])
    assert expect in str(err.value) and "line 5" in str(err.value)


def test_nan_and_bad_utf8_are_named(tmp_path):
    vectors = np.ones((4, 2), dtype=np.float32)
    vectors[2, 1] = np.nan
    src = tmp_path / "n.bin"
    offsets = write_w2v(src, ["a", "b", "c", "d"], vectors, binary=True)
    with pytest.raises(InvalidModelFileError, match=r"'c' \(byte offset \d+\) contains NaN") as err:
        import_into(src, tmp_path / "m")
    assert err.value.offset == offsets[2]
    src2 = tmp_path / "u.bin"
    offsets = write_w2v(src2, ["a", "b", "c", "d"], np.ones((4, 2), np.float32), binary=True)
    data = bytearray(src2.read_bytes())
    data[offsets[1]] = 0xFF  # word "b" is no longer UTF-8
    src2.write_bytes(bytes(data))
    with pytest.raises(InvalidModelFileError, match="not valid UTF-8") as err:
        import_into(src2, tmp_path / "m2")
    assert err.value.offset == offsets[1]


def test_matrix_bytes_from_the_header():
    dim = KeyedVectors.load_word2vec_format(datapath("euclidean_vectors.bin"), binary=True).vector_size
    assert matrix_bytes(datapath("euclidean_vectors.bin"), "word2vec-binary", limit=10) == 10 * dim * 4


def test_a_full_disk_is_an_os_error(tmp_path, synthetic):
    words, vectors = synthetic
    src = tmp_path / "v.bin"
    write_w2v(src, words, vectors, binary=True)
    d = tmp_path / "m"
    d.mkdir()
    os.symlink("/dev/full", d / NPY_VECTORS_FILE)  # every write: ENOSPC
    with pytest.raises(OSError) as err:
        import_into(src, d)
    assert err.value.errno == errno.ENOSPC


MEMORY_PROBE = """
import json, resource, sys
from models.embeddings.vector_import import import_into
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
meta = import_into(sys.argv[1], sys.argv[2])
print(json.dumps({"delta": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024,
                  "n": meta["vocab_size"], "dim": meta["vector_size"]}))
"""


def test_memory_of_an_import_stays_far_below_the_matrix(tmp_path):
    n, dim = 200_000, 300  # a 240 MB matrix
    src = tmp_path / "big.bin"
    rng = np.random.default_rng(0)
    with open(src, "wb") as f:
        f.write(f"{n} {dim}\n".encode())
        for start in range(0, n, 20_000):
            rows = rng.standard_normal((20_000, dim)).astype("<f4")
            f.write(b"".join(f"word{start + i} ".encode() + r.tobytes() for i, r in enumerate(rows)))
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(src), str(tmp_path / "m")],
        capture_output=True, text=True, check=True, cwd=os.getcwd(),
    )  # fmt: skip
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    matrix = n * dim * 4
    assert probe["n"] == n
    assert probe["delta"] < 0.4 * matrix, f"import grew the process by {probe['delta'] / 2**20:.0f} MiB"


# --------------------------------------------------------------------------------------------------------
# GloVe: word2vec text without the header line
# --------------------------------------------------------------------------------------------------------


def write_glove(path, words, vectors, tail: bytes = b"") -> list[int]:
    """A GloVe file (``word v1 ... vD`` per line, no header) as Stanford's are written; returns each
    line's byte offset."""
    offsets = []
    with open(path, "wb") as f:
        for w, v in zip(words, vectors, strict=True):
            offsets.append(f.tell())
            f.write((w + " " + " ".join(f"{x:.5f}" for x in v) + "\n").encode())
        f.write(tail)
    return offsets


def glove_ref(path, limit=None) -> KeyedVectors:
    return KeyedVectors.load_word2vec_format(path, binary=False, no_header=True, limit=limit)


@pytest.mark.parametrize("limit", [None, 7, 100])
def test_gensims_glove_file_equals_load_word2vec_format_no_header(tmp_path, limit):
    kv = imported(tmp_path, datapath("test_glove.txt"), limit=limit)
    same_as_gensim(kv, glove_ref(datapath("test_glove.txt"), limit))
    meta = json.loads((tmp_path / "out" / META_FILE).read_text())
    assert meta["import_format"] == "glove" and meta["vocab_size"] == min(76, limit or 76)


@pytest.mark.parametrize("limit", [None, BLOCK_ROWS, BLOCK_ROWS + 1])
def test_glove_of_several_blocks_equals_gensim(tmp_path, synthetic, limit):
    words, vectors = synthetic
    src = tmp_path / "glove.6B.24d.txt"
    write_glove(src, words, vectors, tail=b"\n\n")  # blank lines may end the file (gensim fails on them)
    for fmt in ("auto", "glove"):
        kv = imported(tmp_path, src, format=fmt, limit=limit)
        (src.with_suffix(".clean")).write_bytes(src.read_bytes().rstrip(b"\n") + b"\n")
        same_as_gensim(kv, glove_ref(src.with_suffix(".clean"), limit))
        assert isinstance(kv.vectors, np.memmap)
        assert np.load(tmp_path / "out" / NPY_VECTORS_FILE).shape == (
            limit or len(words),
            24,
        )  # header rewritten


def test_glove_840b_words_with_spaces_are_kept(tmp_path):
    # glove.840B.300d.txt has a few lines like these; gensim's split(" ") takes "at" for the word and
    # fails on "name@domain.com"; the word is everything before the last D numbers
    words = ["the", "at name@domain.com", ". . .", "1 x", "to"]
    vectors = np.arange(20, dtype=np.float32).reshape(5, 4) / 7
    src = tmp_path / "g.txt"
    offsets = write_glove(src, words, vectors)
    with pytest.raises(ValueError, match="could not convert string to float"):
        glove_ref(src)
    kv = imported(tmp_path, src)
    assert kv.index_to_key == words
    np.testing.assert_allclose(np.asarray(kv.vectors), vectors, atol=1e-5)
    assert kv.most_similar("at name@domain.com", topn=1)[0][0] in words
    # a line with more NUMBERS than D is a vector of the wrong size, not a word with spaces
    src.write_bytes(src.read_bytes().replace(b"to ", b"to 0.5 ", 1))
    with pytest.raises(InvalidModelFileError, match="5 numbers, the first line has 4") as err:
        import_into(src, tmp_path / "m2")
    assert (err.value.line, err.value.offset) == (5, offsets[4])


@pytest.mark.parametrize(
    ("data", "expect", "line"),
    [
        (b"a 1 2\nb 3 4 5\n", "line 2, byte offset 6: 3 numbers, the first line has 2", 2),
        (b"a 1 2\nb 3\n", "1 numbers, the first line has 2", 2),
        (b"a 1 2\n\nb 3 4\n", "line 2, byte offset 6: a blank line, with 1 line after it", 2),
        (b"a 1 2\nb 3 x\n", "'x' is not a number", 2),
        (b"a 1 2\nb\n", "no vector after the word", 2),
        (b"a 1 2\n\xff 3 4\n", "not valid UTF-8", 2),
        (b"a 1 2\nb nan 4\n", "contains NaN", 2),
    ],
)
def test_glove_faults_are_named_by_line(tmp_path, data, expect, line):
    src = tmp_path / "g.txt"
    src.write_bytes(data)
    with pytest.raises(InvalidModelFileError, match=expect.replace("(", r"\(")) as err:
        import_into(src, tmp_path / "m")
    assert err.value.line == line and err.value.format == "glove"


def test_glove_and_word2vec_headers_are_told_apart(tmp_path):
    w2v = tmp_path / "w.txt"
    w2v.write_bytes(b"2 2\na 1 2\nb 3 4\n")
    with pytest.raises(InvalidModelFileError, match="is a word2vec header, not a vector"):
        import_into(w2v, tmp_path / "m", format="glove")
    glove = tmp_path / "g.txt"
    glove.write_bytes(b"a 1 2\nb 3 4\n")
    with pytest.raises(InvalidModelFileError, match="missing word2vec header.*GloVe file"):
        import_into(glove, tmp_path / "m", format="word2vec-text")
    assert import_into(glove, tmp_path / "m")["import_format"] == "glove"


def test_matrix_bytes_of_a_glove_file_is_estimated_from_its_size(tmp_path, synthetic):
    words, vectors = synthetic
    src = tmp_path / "g.txt"
    write_glove(src, words, vectors)
    estimate = matrix_bytes(src, "glove")
    assert 0.8 * len(words) * 24 * 4 <= estimate <= 1.25 * len(words) * 24 * 4
    assert matrix_bytes(src, "glove", limit=10) == 10 * 24 * 4


# --------------------------------------------------------------------------------------------------------
# a header whose counts disagree with the rows: never a silent truncation
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True])
def test_a_header_count_too_small_fails_naming_both_counts_and_the_offset(tmp_path, synthetic, binary):
    words, vectors = synthetic
    src = tmp_path / "v"
    offsets = write_w2v(src, words[:2000], vectors[:2000], binary)
    data = src.read_bytes().replace(b"2000 24", b"1900 24", 1)  # as long: the offsets hold
    src.write_bytes(data)
    with pytest.raises(InvalidModelFileError) as err:
        import_into(src, tmp_path / "m")
    msg = str(err.value)
    assert "the header says 1900 vectors" in msg and "2000" in msg, msg
    assert err.value.offset == offsets[1900] and f"byte offset {offsets[1900]}" in msg
    if binary:
        assert "100 more records of size 24 (2000 in all)" in msg
    else:
        assert "holds 2000: 100 more lines" in msg and err.value.line == 1902
    # gensim reads 1900 and stops; so does a limit up to the header's count (the rest is not read)
    assert len(KeyedVectors.load_word2vec_format(src, binary=binary)) == 1900
    assert imported(tmp_path, src, limit=1900).index_to_key == words[:1900]
    with pytest.raises(InvalidModelFileError, match="the header says 1900 vectors"):
        import_into(src, tmp_path / "m", limit=1901)


@pytest.mark.parametrize("binary", [False, True])
def test_a_header_count_too_large_fails_naming_both_counts_and_the_offset(tmp_path, synthetic, binary):
    words, vectors = synthetic
    src = tmp_path / "v"
    write_w2v(src, words[:2000], vectors[:2000], binary)
    data = src.read_bytes().replace(b"2000 24", b"2010 24", 1) + (b"\n" * 400 if not binary else b"")
    src.write_bytes(data)
    with pytest.raises(InvalidModelFileError, match="after 2000 of 2010 vectors") as err:
        import_into(src, tmp_path / "m")
    assert f"byte offset {err.value.offset}" in str(err.value)
    assert err.value.offset == len(data) - (400 if not binary else 0)


def test_trailing_newlines_after_the_last_record_are_fine(tmp_path, synthetic):
    words, vectors = synthetic
    for binary in (False, True):
        src = tmp_path / "v"
        write_w2v(src, words[:50], vectors[:50], binary)
        src.write_bytes(src.read_bytes() + b"\n\n")
        assert imported(tmp_path, src).index_to_key == words[:50]


@pytest.mark.parametrize(("header_dim", "real_dim"), [(24, 25), (25, 24), (12, 24)])
def test_a_binary_header_whose_vector_size_is_wrong_is_refused_at_once(
    tmp_path, synthetic, header_dim, real_dim
):
    words, _ = synthetic
    vectors = np.random.default_rng(1).standard_normal((300, real_dim)).astype(np.float32)
    src = tmp_path / "v.bin"
    write_w2v(src, words[:300], vectors, binary=True, newline_after=False)  # as gensim writes it
    src.write_bytes(src.read_bytes().replace(f"300 {real_dim}".encode(), f"300 {header_dim}".encode(), 1))
    with pytest.raises(InvalidModelFileError, match="vector size|header says") as err:
        check_file(src)
    assert "record" in str(err.value) or "file is only" in str(err.value)


def test_a_text_header_whose_vector_size_is_wrong_is_refused_at_once(tmp_path, synthetic):
    words, vectors = synthetic
    src = tmp_path / "v.txt"
    write_w2v(src, words[:30], vectors[:30], binary=False)
    src.write_bytes(src.read_bytes().replace(b"30 24", b"30 23", 1))
    with pytest.raises(
        InvalidModelFileError, match="line 2, byte offset 6: 24 numbers, the header says vectors have 23"
    ):
        check_file(src)


def test_a_word2vec_text_word_with_spaces(tmp_path):
    # glove.840B converted with gensim's glove2word2vec: the same lines, a header before them
    src = tmp_path / "v.txt"
    src.write_bytes(b"3 2\nthe 0.1 0.2\nat name@domain.com 0.3 0.4\nto 0.5 0.6\n")
    kv = imported(tmp_path, src)
    assert kv.index_to_key == ["the", "at name@domain.com", "to"]
