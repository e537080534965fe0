import io
import os
import pickle
import zipfile

import numpy as np
import pytest
from gensim.models import KeyedVectors, Word2Vec
from gensim.models.fasttext import FastTextKeyedVectors, load_facebook_vectors
from gensim.test.utils import datapath

from models.embeddings.corpus import LineCorpus
from models.embeddings.errors import InvalidModelFileError, NotAPickleSafeFileError
from models.embeddings.io import (
    export_vectors,
    import_vectors,
    iter_export,
    load_full_model,
    load_vectors,
    read_meta,
    save_model,
    sniff_format,
)
from models.embeddings.training import TrainParams, train_model

LEE = LineCorpus(datapath("lee_background.cor"))
FORMATS = ["auto", "word2vec-text", "word2vec-binary", "fasttext-bin"]


@pytest.fixture(scope="module")
def w2v():
    model, _ = train_model("word2vec", LEE, TrainParams(vector_size=8, min_count=3, epochs=1, seed=5))
    return model


@pytest.fixture(scope="module")
def ft():
    model, _ = train_model("fasttext", LEE, TrainParams(vector_size=8, min_count=3, epochs=1, bucket=3000))
    return model


def test_save_load_mmap_round_trip(w2v, tmp_path):
    d = tmp_path / "m"
    meta = save_model(w2v, d)
    assert meta["kind"] == "word2vec" and meta["has_full_model"] and meta["vocab_size"] == len(w2v.wv)
    assert read_meta(d) == meta
    kv = load_vectors(d)
    assert isinstance(kv.vectors, np.memmap) and not kv.vectors.flags.writeable
    assert kv.index_to_key == w2v.wv.index_to_key
    np.testing.assert_array_equal(kv.vectors, w2v.wv.vectors)
    assert kv.most_similar("president", topn=5) == w2v.wv.most_similar("president", topn=5)
    assert not isinstance(load_vectors(d, mmap=False).vectors, np.memmap)
    full = load_full_model(d)
    assert isinstance(full, Word2Vec)
    _, summary = train_model("word2vec", [["brandnewword", "president"]] * 5, base_model=full)
    assert "brandnewword" in full.wv.key_to_index and summary.new_words == 1


def test_save_fasttext_and_bare_vectors(ft, tmp_path):
    save_model(ft, tmp_path / "ft")
    kv = load_vectors(tmp_path / "ft")
    assert isinstance(kv, FastTextKeyedVectors)
    assert isinstance(kv.vectors_ngrams, np.memmap)  # the big array; kv.vectors is recomputed by gensim
    np.testing.assert_allclose(kv["unseenwordxyz"], ft.wv["unseenwordxyz"], rtol=1e-6)
    save_model(ft.wv, tmp_path / "bare")
    assert read_meta(tmp_path / "bare")["has_full_model"] is False
    with pytest.raises(ValueError):
        load_full_model(tmp_path / "bare")
    with pytest.raises(TypeError):
        save_model(object(), tmp_path / "x")


@pytest.mark.parametrize(
    "name, fmt, cls",
    [
        ("euclidean_vectors.bin", "word2vec-binary", KeyedVectors),
        ("lee_fasttext.vec", "word2vec-text", KeyedVectors),
        ("lee_fasttext.bin", "fasttext-bin", FastTextKeyedVectors),
        ("lee_fasttext_new.bin", "fasttext-bin", FastTextKeyedVectors),
    ],
)
def test_import_user_files(name, fmt, cls):
    path = datapath(name)
    assert sniff_format(path) == fmt
    for f in ("auto", fmt):
        kv = import_vectors(path, f)
        assert type(kv) is cls
    if fmt == "fasttext-bin":
        ref = load_facebook_vectors(path)
        np.testing.assert_array_equal(kv.vectors, ref.vectors)
        assert kv["notawordqq"].shape == (ref.vector_size,)
    else:
        ref = KeyedVectors.load_word2vec_format(path, binary=fmt == "word2vec-binary")
        np.testing.assert_array_equal(kv.vectors, ref.vectors)
    assert kv.index_to_key == ref.index_to_key


def test_import_limit():
    assert len(import_vectors(datapath("euclidean_vectors.bin"), limit=10)) == 10


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_pickle_is_never_loaded(tmp_path, protocol):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(str(marker)), protocol=protocol)
    # the payload is real: unpickling it (here, deliberately) creates a file
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Evil(str(control)), protocol=protocol)).close()
    assert control.exists()
    evil = tmp_path / "model.bin"
    evil.write_bytes(payload)
    for fmt in FORMATS:
        with pytest.raises(InvalidModelFileError) as e:
            import_vectors(evil, fmt)
        if protocol >= 2:
            assert isinstance(e.value, NotAPickleSafeFileError) and "pickle" in str(e.value)
        assert not marker.exists()
    assert not marker.exists()


def test_zip_and_torch_archives_refused(tmp_path):
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # torch.save layout: archive/data.pkl
        z.writestr("archive/data.pkl", pickle.dumps(_Evil(str(marker)), protocol=2))
    p = tmp_path / "model.pt"
    p.write_bytes(buf.getvalue())
    for fmt in FORMATS:
        with pytest.raises(NotAPickleSafeFileError, match="zip"):
            import_vectors(p, fmt)
    assert not marker.exists()


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
    with pytest.raises(ValueError):
        import_vectors(datapath("euclidean_vectors.bin"), "glove")


@pytest.mark.parametrize("fmt", ["word2vec-text", "word2vec-binary"])
def test_export_round_trip(w2v, tmp_path, fmt):
    kv = w2v.wv
    p = tmp_path / f"out.{fmt}"
    n = export_vectors(kv, fmt, p)
    assert n == os.path.getsize(p)
    back = KeyedVectors.load_word2vec_format(p, binary=fmt == "word2vec-binary")
    assert back.index_to_key == kv.index_to_key
    np.testing.assert_array_equal(back.vectors, kv.vectors)  # float32-exact in both formats
    assert import_vectors(p, "auto").index_to_key == kv.index_to_key
    buf = io.BytesIO()
    export_vectors(kv, fmt, buf)
    assert buf.getvalue() == b"".join(iter_export(kv, fmt, chunk_rows=7)) == p.read_bytes()


def test_export_fasttext_vocab_and_bad_keys(ft, tmp_path):
    data = b"".join(iter_export(ft.wv, "word2vec-binary"))
    p = tmp_path / "ft.bin"
    p.write_bytes(data)
    back = KeyedVectors.load_word2vec_format(p, binary=True)
    np.testing.assert_array_equal(back.vectors, ft.wv.vectors)
    kv = KeyedVectors(2)
    kv.add_vectors(["ok", "two words"], np.ones((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="whitespace"):
        iter_export(kv, "word2vec-text")
    with pytest.raises(ValueError):
        iter_export(kv, "fasttext-bin")
