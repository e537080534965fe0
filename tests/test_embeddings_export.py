"""Exports (``models/embeddings/export.py``): word2vec text and binary files that gensim (and our import)
read back float32-exact."""

import io
import os

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from models.embeddings.corpus import LineCorpus
from models.embeddings.export import export_vectors, iter_export
from models.embeddings.vector_import import import_vectors

LEE = LineCorpus(datapath("lee_background.cor"))


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
