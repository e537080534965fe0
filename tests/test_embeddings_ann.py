"""models.embeddings.ann: a faiss HNSW index answering cosadd queries with gensim's semantics."""

from __future__ import annotations

import os

import numpy as np
import pytest
from gensim.models import KeyedVectors, Word2Vec
from gensim.test.utils import datapath

from models.embeddings.ann import (
    INDEX_FILE,
    HnswParams,
    build_index,
    load_index,
    recall_at_10,
    save_index,
    search,
)
from models.embeddings.batch import most_similar_cosadd
from models.embeddings.corpus import LineCorpus, Tokenizer
from models.embeddings.neighbours import NeighbourQuery


@pytest.fixture(scope="module")
def clustered() -> KeyedVectors:
    """20,000 x 32 vectors around 400 centres: a vocabulary with real neighbourhoods."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((400, 32)).astype(np.float32)  # (C, D)
    x = centres[rng.integers(0, 400, 20_000)] + 0.5 * rng.standard_normal((20_000, 32)).astype(np.float32)
    kv = KeyedVectors(32)
    kv.add_vectors([f"w{i}" for i in range(len(x))], x)  # (V, D)
    return kv


@pytest.fixture(scope="module")
def lee() -> KeyedVectors:
    corpus = LineCorpus(datapath("lee_background.cor"), "text", Tokenizer(kind="simple"))
    # 20 epochs: with 5 the vectors are nearly parallel (mean cosine 0.92, 10th neighbour at 0.9993)
    # and HNSW recall@10 drops to 0.64 (M=16, efSearch=64)
    model = Word2Vec(list(corpus), vector_size=32, min_count=2, epochs=20, workers=1, seed=1)
    return model.wv


@pytest.fixture(scope="module")
def clustered_index(clustered):
    return build_index(clustered, HnswParams(m=16, ef_construction=100, ef_search=64))


def test_recall_at_10_on_clustered_vectors(clustered, clustered_index):
    recall = recall_at_10(clustered, clustered_index, sample=1000, ef_search=64)
    assert recall >= 0.95, recall


def test_recall_at_10_on_word2vec_trained_on_lee(lee):
    index = build_index(lee, HnswParams(m=16, ef_construction=100, ef_search=64))
    assert index.ntotal == len(lee.index_to_key)
    recall = recall_at_10(lee, index, sample=1000, ef_search=64)
    assert recall >= 0.95, recall


def test_answers_keep_gensim_semantics(lee):
    index = build_index(lee, HnswParams(m=16, ef_construction=100, ef_search=64))
    words = lee.index_to_key
    queries = [
        NeighbourQuery(positive=[words[5]], topn=10),
        NeighbourQuery(positive=[words[10], words[20]], negative=[words[30]], topn=7),
        NeighbourQuery(vector=np.asarray(lee[words[3]]), topn=5),  # a raw vector: nothing excluded
        NeighbourQuery(positive=[words[1]], topn=len(words) - 1),  # everything but the query word
    ]
    answers = search(lee, index, queries, ef_search=64)
    lee.fill_norms()
    for q, ans in zip(queries, answers, strict=True):
        got = [w for w, _ in ans]
        assert len(ans) == q.topn  # topn honoured after the query words are dropped
        assert not set(got) & set(q.positive + q.negative)
        assert len(set(got)) == len(got)
        keys = q.positive + q.negative if q.vector is None else [q.vector]
        weights = [1.0] * len(q.positive) + [-1.0] * len(q.negative) if q.vector is None else [1.0]
        mean = lee.get_mean_vector(keys, weights, pre_normalize=True, post_normalize=True)  # (D,)
        for w, score in ans:  # each score is the exact cosine gensim gives that word
            exact = float(np.dot(lee[w], mean) / lee.norms[lee.get_index(w)])
            assert score == pytest.approx(exact, abs=1e-6)
        scores = [sc for _, sc in ans]
        assert scores == sorted(scores, reverse=True)
    assert answers[2][0][0] == words[3]  # the vector's own word comes first
    exact = lee.most_similar(positive=[words[5]], topn=10)
    assert len({w for w, _ in exact} & {w for w, _ in answers[0]}) >= 9


def test_restrict_vocab_and_a_foreign_index_are_refused(lee, clustered_index):
    index = build_index(lee, HnswParams(m=8, ef_construction=40, ef_search=32))
    with pytest.raises(ValueError, match="restrict_vocab"):
        search(lee, index, [NeighbourQuery(positive=[lee.index_to_key[0]], restrict_vocab=100)])
    with pytest.raises(ValueError, match="holds"):
        search(lee, clustered_index, [NeighbourQuery(positive=[lee.index_to_key[0]])])


def test_save_and_memory_mapped_load(tmp_path, clustered, clustered_index):
    path = tmp_path / INDEX_FILE
    size = save_index(clustered_index, path)
    assert size == path.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == [INDEX_FILE]  # no temporary left
    mapped = load_index(path)
    if os.path.exists("/proc/self/maps"):  # its pages are the file's (shared between processes)
        with open("/proc/self/maps") as fh:
            assert str(path) in fh.read()
    copy = load_index(path, mmap=False)
    queries = [NeighbourQuery(positive=[f"w{i}"], topn=10) for i in range(0, 2000, 97)]
    a = search(clustered, mapped, queries, ef_search=64)
    assert (
        a
        == search(clustered, copy, queries, ef_search=64)
        == search(clustered, clustered_index, queries, ef_search=64)
    )
    exact = most_similar_cosadd(clustered, queries)
    hits = sum(len({w for w, _ in e} & {w for w, _ in x}) for e, x in zip(exact, a, strict=True))
    assert hits / (10 * len(queries)) >= 0.95


def test_a_failed_save_leaves_nothing_and_keeps_the_old_file(tmp_path, clustered_index, monkeypatch):
    path = tmp_path / INDEX_FILE
    path.write_bytes(b"old")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_index(clustered_index, path)
    assert [p.name for p in tmp_path.iterdir()] == [INDEX_FILE]
    assert path.read_bytes() == b"old"


def test_an_empty_vocabulary_cannot_be_indexed():
    with pytest.raises(ValueError, match="empty"):
        build_index(KeyedVectors(4))
