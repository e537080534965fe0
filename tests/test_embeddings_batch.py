"""The batched cosadd kernel (models/embeddings/batch.py) answers exactly what gensim's ``most_similar`` does.

Real small gensim models, trained once per module on gensim's Lee corpus: a Word2Vec model with a
vocabulary of ~10k words (so the block top-k path, several ``TILE``s and a partial last ``BLOCK``
are all exercised) and a FastText model (whose out-of-vocabulary words get n-gram vectors).
Every query's answer is compared with ``kv.most_similar`` on the same vectors: the same words in
the same order, scores to 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
from gensim.models import FastText, KeyedVectors, Word2Vec
from gensim.test.utils import datapath

from models.embeddings import batch
from models.embeddings.batch import most_similar_cosadd
from models.embeddings.neighbours import NeighbourQuery


def lee_sentences() -> list[list[str]]:
    with open(datapath("lee_background.cor"), encoding="utf-8") as f:
        return [line.lower().split() for line in f]


@pytest.fixture(scope="module")
def kv() -> KeyedVectors:
    model = Word2Vec(lee_sentences(), vector_size=16, min_count=1, epochs=2, workers=1, seed=3)
    assert len(model.wv) > batch.TILE + batch.BLOCK // 2  # more than one tile, a partial block
    return model.wv


@pytest.fixture(scope="module")
def ft_kv():
    sentences = lee_sentences()[:60]
    model = FastText(sentences, vector_size=12, min_count=1, epochs=2, workers=1, seed=5, bucket=4000)
    return model.wv


def expected(kv, q: NeighbourQuery) -> list[tuple[str, float]]:
    positive = [q.vector] if q.vector is not None else list(q.positive)
    return kv.most_similar(
        positive=positive, negative=list(q.negative), topn=q.topn, restrict_vocab=q.restrict_vocab
    )


def assert_same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [w for w, _ in got] == [w for w, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-6, rtol=0)
    assert all(isinstance(s, float) for _, s in got)


def assert_matches_gensim(kv, queries: list[NeighbourQuery]) -> list[list[tuple[str, float]]]:
    answers = most_similar_cosadd(kv, queries)
    assert len(answers) == len(queries)
    for q, got in zip(queries, answers, strict=True):
        assert_same(got, expected(kv, q))
    return answers


def frequent(kv, n: int, start: int = 0) -> list[str]:
    return [w for w in kv.index_to_key[start : start + 4 * n] if w.isalpha()][:n]


# --------------------------------------------------------------------------- single queries


@pytest.mark.parametrize("topn", [1, 3, 10, 40])
def test_one_positive_word(kv, topn):
    for word in frequent(kv, 5, start=20):
        assert_matches_gensim(kv, [NeighbourQuery(positive=[word], topn=topn)])


def test_positive_and_negative_words(kv):
    a, b, c, d, e = frequent(kv, 5, start=30)
    queries = [
        NeighbourQuery(positive=[b, c], negative=[a], topn=10),  # an analogy a : b :: c : ?
        NeighbourQuery(positive=[a, b, c], negative=[d, e], topn=7),
        NeighbourQuery(positive=[a], negative=[b], topn=5),
        NeighbourQuery(positive=[], negative=[a], topn=4),  # negative only
        NeighbourQuery(positive=[a, a], topn=6),  # a repeated word counts twice, excluded once
    ]
    answers = assert_matches_gensim(kv, queries)
    for q, got in zip(queries, answers, strict=True):
        assert not {w for w, _ in got} & set(q.positive + q.negative)  # query words excluded
        assert len(got) == q.topn


def test_raw_vectors(kv):
    rng = np.random.default_rng(11)
    queries = [
        NeighbourQuery(vector=rng.standard_normal(kv.vector_size).astype(np.float32), topn=8)
        for _ in range(4)
    ]
    # a word's own vector: gensim does not exclude it (it is not a key), nor does the kernel
    word = frequent(kv, 1, start=50)[0]
    queries.append(NeighbourQuery(vector=kv[word].copy(), topn=3))
    queries.append(NeighbourQuery(vector=np.asarray(kv[word], dtype=np.float64) * 7.5, topn=3))  # scale-free
    answers = assert_matches_gensim(kv, queries)
    assert answers[-2][0][0] == word and answers[-2][0][1] == pytest.approx(1.0, abs=1e-6)
    assert [w for w, _ in answers[-1]] == [w for w, _ in answers[-2]]


@pytest.mark.parametrize("restrict_vocab", [1, 2, 50, 127, 128, 129, 1000, batch.TILE + 3])
def test_restrict_vocab(kv, restrict_vocab):
    word = kv.index_to_key[0]  # inside every restriction
    other = frequent(kv, 1, start=200)[0]  # outside the small ones: still a valid query word
    queries = [
        NeighbourQuery(positive=[word], topn=5, restrict_vocab=restrict_vocab),
        NeighbourQuery(positive=[other], negative=[word], topn=10, restrict_vocab=restrict_vocab),
    ]
    answers = assert_matches_gensim(kv, queries)
    for got in answers:
        assert all(kv.get_index(w) < restrict_vocab for w, _ in got)


def test_restrict_vocab_beyond_the_vocabulary_is_the_whole_vocabulary(kv):
    word = frequent(kv, 1, start=10)[0]
    whole = most_similar_cosadd(kv, [NeighbourQuery(positive=[word], topn=12)])
    beyond = assert_matches_gensim(
        kv, [NeighbourQuery(positive=[word], topn=12, restrict_vocab=len(kv) * 10)]
    )
    assert_same(beyond[0], whole[0])


def test_topn_at_and_beyond_the_vocabulary(kv):
    """``k >= n`` sorts the whole (restricted) row: every other word, best first."""
    word = kv.index_to_key[3]
    for restrict, topn in [(40, 39), (40, 40), (40, 1000), (5, 4)]:
        [got] = assert_matches_gensim(
            kv, [NeighbourQuery(positive=[word], topn=topn, restrict_vocab=restrict)]
        )
        assert len(got) == min(topn, restrict - 1)


def test_large_topn_on_the_full_vocabulary(kv):
    """More than a quarter of the blocks: the plain argpartition path, and the block path just below it."""
    nb = -(-len(kv) // batch.BLOCK)
    word = frequent(kv, 1, start=5)[0]
    for topn in (nb // 4 - 2, nb // 4 + 1, nb, 3 * batch.BLOCK + 1):
        assert_matches_gensim(kv, [NeighbourQuery(positive=[word], topn=topn)])


# --------------------------------------------------------------------------- batches


def test_a_mixed_batch_over_several_chunks_keeps_each_querys_answer_and_order(kv):
    rng = np.random.default_rng(2)
    words = frequent(kv, 40, start=15)
    queries = []
    for i in range(batch.CHUNK * 2 + 9):  # three chunks in the largest group
        kind = i % 4
        if kind == 0:
            q = NeighbourQuery(positive=[words[i % 40]], topn=1 + i % 13)
        elif kind == 1:
            q = NeighbourQuery(
                positive=[words[i % 40], words[(i + 7) % 40]], negative=[words[(i + 3) % 40]], topn=5
            )
        elif kind == 2:
            q = NeighbourQuery(vector=rng.standard_normal(kv.vector_size).astype(np.float32), topn=9)
        else:
            q = NeighbourQuery(
                positive=[kv.index_to_key[i % 30]], topn=4, restrict_vocab=[30, 300, None][i % 3]
            )
        queries.append(q)
    answers = assert_matches_gensim(kv, queries)
    # each answer is the one the query gets alone (up to float32 rounding): batching never mixes rows
    for i in (0, 1, 2, 3, batch.CHUNK, len(queries) - 1):
        [alone] = most_similar_cosadd(kv, [queries[i]])
        assert_same(alone, answers[i])


def test_an_empty_batch(kv):
    assert most_similar_cosadd(kv, []) == []


def test_the_kernel_does_not_change_the_vectors(kv):
    before = kv.vectors.copy()
    most_similar_cosadd(kv, [NeighbourQuery(positive=[kv.index_to_key[1]], topn=5)])
    np.testing.assert_array_equal(kv.vectors, before)
    assert kv.norms is not None and kv.norms.shape == (len(kv),)


# --------------------------------------------------------------------------- FastText


def test_fasttext_known_and_out_of_vocabulary_words(ft_kv):
    known = frequent(ft_kv, 3, start=5)
    oov = "zzqueenlike"
    assert not ft_kv.has_index_for(oov)
    queries = [
        NeighbourQuery(positive=[known[0]], topn=6),
        NeighbourQuery(positive=[known[1], oov], negative=[known[2]], topn=5),  # the n-gram vector is used
        NeighbourQuery(positive=[oov], topn=4, restrict_vocab=100),
    ]
    answers = assert_matches_gensim(ft_kv, queries)
    assert all(oov not in {w for w, _ in got} for got in answers)


# --------------------------------------------------------------------------- a hand-made model


def test_a_tiny_hand_made_model():
    """Exact, checkable geometry: scores are the cosines, the query word is excluded."""
    kv = KeyedVectors(vector_size=2)
    kv.add_vectors(
        ["east", "north", "northeast", "west", "south"],
        np.array([[1, 0], [0, 1], [1, 1], [-1, 0], [0.2, -1]], dtype=np.float32),
    )
    [got] = assert_matches_gensim(kv, [NeighbourQuery(positive=["east"], topn=4)])
    assert [w for w, _ in got] == ["northeast", "south", "north", "west"]
    np.testing.assert_allclose([s for _, s in got], [np.sqrt(0.5), 0.2 / np.sqrt(1.04), 0.0, -1.0], atol=1e-6)
    [got] = assert_matches_gensim(
        kv, [NeighbourQuery(positive=["north", "east"], negative=["south"], topn=2)]
    )
    assert got[0][0] == "northeast"
