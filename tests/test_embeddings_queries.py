import threading

import numpy as np
import pytest
from gensim.test.utils import datapath

from models.embeddings.corpus import LineCorpus, Tokenizer
from models.embeddings.errors import UnknownWordsError
from models.embeddings.queries import VectorQueries
from models.embeddings.training import TrainParams, train_model
from models.embeddings.vector_import import import_vectors

# gensim's own most_similar_cosmul calls its deprecated init_sims()
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated `init_sims`:DeprecationWarning")

LEE = LineCorpus(datapath("lee_background.cor"))
W2V_WORDS = ["president", "government", "police", "fire", "australia", "people", "minister", "the"]


@pytest.fixture(scope="module")
def w2v_kv():
    model, _ = train_model("word2vec", LEE, TrainParams(vector_size=24, min_count=2, epochs=3, seed=11))
    return model.wv


@pytest.fixture(scope="module")
def ft_kv():
    return import_vectors(datapath("lee_fasttext.bin"), "fasttext-bin")


def same(ours, theirs):
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-6, rtol=0)


def test_most_similar_parity_w2v(w2v_kv):
    q = VectorQueries(w2v_kv)
    q.warm()
    for w in W2V_WORDS:
        same(q.most_similar([w], topn=7), w2v_kv.most_similar(positive=[w], topn=7))
        same(q.most_similar([w], topn=7, method="cosmul"), w2v_kv.most_similar_cosmul(positive=[w], topn=7))
        same(
            q.most_similar([w], topn=5, restrict_vocab=200),
            w2v_kv.most_similar(w, topn=5, restrict_vocab=200),
        )
    pos, neg = ["president", "australia"], ["government"]
    same(q.most_similar(pos, neg, topn=10), w2v_kv.most_similar(positive=pos, negative=neg, topn=10))
    same(
        q.most_similar(pos, neg, topn=10, method="cosmul"),
        w2v_kv.most_similar_cosmul(positive=pos, negative=neg, topn=10),
    )
    same(q.analogy("government", "president", "australia", topn=4), w2v_kv.most_similar(pos, neg, topn=4))
    same(
        q.analogy("government", "president", "australia", topn=4, method="cosmul"),
        w2v_kv.most_similar_cosmul(pos, neg, topn=4),
    )
    assert all(isinstance(s, float) for _, s in q.most_similar(["fire"]))


def test_similar_by_vector(w2v_kv):
    q = VectorQueries(w2v_kv)
    v = w2v_kv["fire"] + w2v_kv["police"]
    same(q.similar_by_vector(v.tolist(), topn=6), w2v_kv.similar_by_vector(v, topn=6))
    same(
        q.similar_by_vector(v, topn=3, restrict_vocab=100),
        w2v_kv.similar_by_vector(v, topn=3, restrict_vocab=100),
    )
    with pytest.raises(ValueError, match="shape"):
        q.similar_by_vector(np.ones(5))
    with pytest.raises(ValueError):
        q.similar_by_vector(np.zeros(24))


def test_pairwise_parity(w2v_kv):
    q = VectorQueries(w2v_kv)
    pairs = [("fire", "police"), ("president", "minister"), ("the", "the")]
    np.testing.assert_allclose(q.similarity(pairs), [w2v_kv.similarity(a, b) for a, b in pairs], atol=1e-6)
    assert q.n_similarity(["fire", "police"], ["president"]) == pytest.approx(
        w2v_kv.n_similarity(["fire", "police"], ["president"]), abs=1e-6
    )
    words = ["president", "minister", "government", "fire"]
    assert q.doesnt_match(words) == w2v_kv.doesnt_match(words)


def test_unknown_words_listed_all(w2v_kv):
    q = VectorQueries(w2v_kv)
    calls = [
        lambda: q.most_similar(["fire", "qqzz1"], ["qqzz2"]),
        lambda: q.most_similar(["qqzz1", "qqzz2"], method="cosmul"),
        lambda: q.analogy("qqzz1", "fire", "qqzz2"),
        lambda: q.similarity([("fire", "qqzz1"), ("qqzz2", "police")]),
        lambda: q.n_similarity(["qqzz1"], ["fire", "qqzz2"]),
        lambda: q.doesnt_match(["fire", "qqzz1", "police", "qqzz2"]),
        lambda: q.vectors(["qqzz1", "qqzz2"]),
    ]
    for call in calls:
        with pytest.raises(UnknownWordsError) as e:
            call()
        assert e.value.words == ["qqzz1", "qqzz2"]
        assert isinstance(e.value, KeyError)


def test_bad_arguments(w2v_kv):
    q = VectorQueries(w2v_kv)
    with pytest.raises(ValueError):
        q.most_similar([], ["fire"])
    with pytest.raises(ValueError):
        q.most_similar(["fire"], topn=0)
    with pytest.raises(ValueError):
        q.most_similar(["fire"], method="cos3")
    with pytest.raises(ValueError, match="cosmul"):
        q.most_similar(["fire"], method="cosmul", restrict_vocab=100)
    with pytest.raises(ValueError):
        q.doesnt_match(["fire"])


def test_vectors_w2v(w2v_kv):
    out = VectorQueries(w2v_kv).vectors(["fire", "qqzz1", "police"])
    assert [(v.word, v.known, v.in_vocab, v.oov) for v in out] == [
        ("fire", True, True, False),
        ("qqzz1", False, False, False),
        ("police", True, True, False),
    ]
    np.testing.assert_array_equal(out[0].vector, w2v_kv["fire"])
    assert out[1].vector is None


def test_fasttext_oov_parity_and_flags(ft_kv):
    q = VectorQueries(ft_kv)
    q.warm()
    oov = "nightzzq"
    assert oov not in ft_kv.key_to_index
    out = q.vectors(["night", oov, ""])
    assert [(v.known, v.in_vocab, v.oov) for v in out] == [
        (True, True, False),
        (True, False, True),
        (False,) * 3,
    ]
    np.testing.assert_array_equal(out[1].vector, ft_kv[oov])
    same(q.most_similar([oov], topn=5), ft_kv.most_similar(positive=[oov], topn=5))
    same(
        q.most_similar([oov, "night"], topn=5, method="cosmul"),
        ft_kv.most_similar_cosmul([oov, "night"], topn=5),
    )
    assert q.similarity([(oov, "night")]) == pytest.approx([float(ft_kv.similarity(oov, "night"))], abs=1e-6)
    assert q.doesnt_match(["night", "day", oov, "government"]) == ft_kv.doesnt_match(
        ["night", "day", oov, "government"]
    )
    with pytest.raises(UnknownWordsError) as e:
        q.most_similar([""])
    assert e.value.words == [""]


def test_sentence_vectors_w2v_manual(w2v_kv):
    q = VectorQueries(w2v_kv)
    sents = ["The president met the police, qqzz!", ["fire", "fire", "qqzz2"], "qqzz1 qqzz3", ""]
    out = q.sentence_vectors(sents)
    assert out[0].tokens == ["the", "president", "met", "the", "police", "qqzz"]
    assert out[0].unknown_tokens == ["qqzz"] + ([] if "met" in w2v_kv.key_to_index else ["met"])
    for res in out[:2]:
        manual = np.mean(np.stack([w2v_kv[t] for t in res.used_tokens]), axis=0)
        np.testing.assert_allclose(res.vector, manual, atol=1e-6)
        assert res.known_tokens == len(res.used_tokens) > 0
    assert out[1].used_tokens == ["fire", "fire"] and out[1].unknown_tokens == ["qqzz2"]
    for res in out[2:]:
        assert res.known_tokens == 0 and res.vector.shape == (24,) and not res.vector.any()
    mx = q.sentence_vectors(sents, mode="max")
    np.testing.assert_array_equal(
        mx[0].vector, np.max(np.stack([w2v_kv[t] for t in out[0].used_tokens]), axis=0)
    )
    assert not mx[2].vector.any()
    ws = q.sentence_vectors(["Fire FIRE"], tokenizer=Tokenizer(kind="whitespace", keep_case=True))
    assert ws[0].unknown_tokens == ["Fire", "FIRE"] and ws[0].known_tokens == 0
    with pytest.raises(ValueError):
        q.sentence_vectors(["a"], mode="median")


def test_sentence_vectors_fasttext_oov(ft_kv):
    res = VectorQueries(ft_kv).sentence_vectors([["night", "nightzzq"]])[0]
    assert (
        res.used_tokens == ["night", "nightzzq"] and res.oov_tokens == ["nightzzq"] and not res.unknown_tokens
    )
    np.testing.assert_allclose(res.vector, (ft_kv["night"] + ft_kv["nightzzq"]) / 2, atol=1e-6)


def test_concurrent_queries_after_warm(w2v_kv):
    q = VectorQueries(w2v_kv)
    q.warm()
    expected = {w: w2v_kv.most_similar(w, topn=5) for w in W2V_WORDS}
    errors = []

    def worker():
        for w in W2V_WORDS * 3:
            if q.most_similar([w], topn=5) != [(a, float(b)) for a, b in expected[w]]:
                errors.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_fasttext_word_without_ngrams_is_unknown(ft_kv):
    q = VectorQueries(ft_kv)
    assert q.is_known("a") and q.is_known("nightzzq") and not q.is_known("")
    ft_kv_big_n = import_vectors(datapath("lee_fasttext.bin"))
    ft_kv_big_n.min_n = 6  # "<ab>" has no 6-gram
    q2 = VectorQueries(ft_kv_big_n)
    assert not q2.is_known("ab") and q2.is_known("abcdef")
    out = q2.vectors(["ab", "night"])
    assert out[0].vector is None and out[1].known
