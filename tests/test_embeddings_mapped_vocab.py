"""The memory-mapped vocabulary (``models/embeddings/mapped_vocab.py``) behaves as gensim's
``index_to_key`` list and ``key_to_index`` dict, and gensim's queries answer the same over it."""

from __future__ import annotations

import bisect
import pickle

import numpy as np
import pytest
from gensim.models import KeyedVectors

from models.embeddings.mapped_vocab import MappedKeyIndex, MappedKeys, write_vocabulary

WORDS = ["the", "Zürich", "a", "", "ab", "b", "日本", "\U0010ffff", "a b", "x\ty", "aa"]


@pytest.fixture
def keys(tmp_path):
    write_vocabulary(tmp_path, WORDS)
    return MappedKeys(tmp_path)


def test_keys_are_the_list(keys):
    assert len(keys) == len(WORDS) and list(keys) == WORDS
    assert [keys[i] for i in range(len(WORDS))] == WORDS and keys[-1] == WORDS[-1]
    assert keys[2:6] == WORDS[2:6] and keys[::3] == WORDS[::3] and keys[5:2] == []
    with pytest.raises(IndexError):
        keys[len(WORDS)]
    assert pickle.loads(pickle.dumps(keys))[:] == WORDS


def test_key_index_is_the_dict(keys):
    index = MappedKeyIndex(keys)
    expected = {w: i for i, w in enumerate(WORDS)}
    assert dict(index.items()) == expected and len(index) == len(expected)
    for w, i in expected.items():
        assert index[w] == i and index.get(w) == i and w in index
    for missing in ["zz", "A", "Zurich", "\ud800", "the ", 3]:
        assert missing not in index and index.get(missing, -1) == -1
        with pytest.raises(KeyError):
            index[missing]


def test_sorted_view_bisects_in_code_point_order(keys):
    view = keys.sorted_view()
    assert list(view) == sorted(WORDS)
    assert bisect.bisect_left(view, "ab") == sorted(WORDS).index("ab")


def test_gensim_queries_over_the_mapped_vocabulary(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(500)]
    vectors = rng.standard_normal((500, 8)).astype(np.float32)
    ref = KeyedVectors(8)
    ref.add_vectors(words, vectors)
    write_vocabulary(tmp_path, words)
    kv = KeyedVectors(8, count=0)
    kv.vectors = vectors
    kv.index_to_key = MappedKeys(tmp_path)
    kv.key_to_index = MappedKeyIndex(kv.index_to_key)
    assert kv.most_similar("w3", topn=5) == ref.most_similar("w3", topn=5)
    assert kv.most_similar_cosmul(["w1", "w2"], ["w9"], topn=5) == ref.most_similar_cosmul(
        ["w1", "w2"], ["w9"], topn=5
    )
    assert kv.doesnt_match(["w1", "w2", "w3"]) == ref.doesnt_match(["w1", "w2", "w3"])
    assert kv.similarity("w1", "w2") == ref.similarity("w1", "w2") and "w7" in kv and "nope" not in kv
    assert np.array_equal(kv["w42"], ref["w42"]) and kv.rank("w1", "w2") == ref.rank("w1", "w2")
