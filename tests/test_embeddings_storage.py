"""A version's files (``models/embeddings/storage.py``): saved models and vectors load back, memory-mapped,
and a full model can be trained further."""

import numpy as np
import pytest
from gensim.models import Word2Vec
from gensim.models.fasttext import FastTextKeyedVectors
from gensim.test.utils import datapath

from models.embeddings.corpus import LineCorpus
from models.embeddings.storage import load_full_model, load_vectors, read_meta, save_model
from models.embeddings.training import train_model

LEE = LineCorpus(datapath("lee_background.cor"))


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
