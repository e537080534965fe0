import math
import threading

import pytest
from gensim.test.utils import datapath

from models.embeddings.corpus import LineCorpus
from models.embeddings.errors import DatasetFormatError
from models.embeddings.evaluation import (
    evaluate_word_analogies,
    evaluate_word_pairs,
    validate_analogies_file,
    validate_pairs_file,
)
from models.embeddings.training import TrainParams, train_model


@pytest.fixture(scope="module")
def kv():
    corpus = LineCorpus(datapath("lee_background.cor"))
    model, _ = train_model("word2vec", corpus, TrainParams(vector_size=24, min_count=2, epochs=3, seed=2))
    return model.wv


@pytest.mark.parametrize("name, file", [("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")])
def test_word_pairs_builtin_matches_gensim(kv, name, file):
    res = evaluate_word_pairs(kv, name)
    pearson, spearman, oov_pct = kv.evaluate_word_pairs(datapath(file))
    assert res.pearson_r == pytest.approx(pearson[0]) and res.pearson_p == pytest.approx(pearson[1])
    assert res.spearman_rho == pytest.approx(spearman[0]) and res.spearman_p == pytest.approx(spearman[1])
    assert res.oov_ratio == pytest.approx(oov_pct / 100)
    assert -1 <= res.pearson_r <= 1 and 0 < res.oov_ratio < 1
    assert res.pairs_total == {"wordsim353": 353, "simlex999": 999}[name]
    assert 2 <= res.pairs_used < res.pairs_total


def test_word_pairs_user_file(kv, tmp_path):
    p = tmp_path / "pairs.tsv"
    p.write_text(
        "# comment\nfire\tpolice\t5.0\npresident\tminister\t8\n\nfire\tgovernment\t1.5\nqqzz\tfire\t2\n"
    )
    res = evaluate_word_pairs(kv, p)
    assert res.pairs_total == 4 and res.pairs_used == 3 and res.oov_ratio == pytest.approx(0.25)
    assert res.pearson_r is not None
    p.write_text("qqzz\tfire\t2\n")
    res = evaluate_word_pairs(kv, p)
    assert res.pearson_r is None and res.pairs_used == 0 and res.oov_ratio == 1.0


@pytest.mark.parametrize(
    "content, line",
    [("a\tb\t1\na\tb\n", 2), ("a\tb\tx\n", 1), ("# c\n\na b 1\n", 3), ("a\t\t1\n", 1), ("a\tb\tnan\n", 1)],
)
def test_bad_pairs_file_names_line(tmp_path, content, line):
    p = tmp_path / "bad.tsv"
    p.write_text(content)
    with pytest.raises(DatasetFormatError) as e:
        validate_pairs_file(p)
    assert e.value.line == line and f"line {line}" in str(e.value)


def test_bad_files(tmp_path, kv):
    p = tmp_path / "bin.tsv"
    p.write_bytes(b"a\tb\t1\ncaf\xe9\tb\t2\n")
    with pytest.raises(ValueError, match="line 2"):
        evaluate_word_pairs(kv, p)
    with pytest.raises(FileNotFoundError):
        evaluate_word_pairs(kv, "nope353")


def test_analogies_builtin(kv):
    res = evaluate_word_analogies(kv, "questions-words")
    score, sections = kv.evaluate_word_analogies(datapath("questions-words.txt"))
    assert res.accuracy == pytest.approx(score) and 0 <= res.accuracy <= 1
    assert res.questions_total == 19544
    assert res.correct == len(sections[-1]["correct"]) and res.incorrect == len(sections[-1]["incorrect"])
    assert res.questions_evaluated == res.correct + res.incorrect > 0
    assert len(res.sections) == 14 and res.sections[0].section == "capital-common-countries"
    for s in res.sections:
        assert (
            s.accuracy is None
            if s.correct + s.incorrect == 0
            else math.isclose(s.accuracy, s.correct / (s.correct + s.incorrect))
        )
    assert res.oov_ratio == pytest.approx(1 - res.questions_evaluated / 19544)
    small = evaluate_word_analogies(kv, "questions-words", restrict_vocab=500)
    assert small.questions_evaluated < res.questions_evaluated
    with pytest.raises(ValueError, match="max_questions"):
        evaluate_word_analogies(kv, "questions-words", max_questions=100)


def test_analogies_user_file(kv, tmp_path):
    p = tmp_path / "q.txt"
    p.write_text(": one\nfire police fire police\n\n: two\npresident minister government people\n")
    assert validate_analogies_file(p) == 2
    res = evaluate_word_analogies(kv, p)
    assert [s.section for s in res.sections] == ["one", "two"] and res.questions_total == 2
    for content, line in [("a b c d\n", 1), (": s\na b c\n", 2), (":nospace\n", 1), (": s\n", 0)]:
        p.write_text(content)
        with pytest.raises(DatasetFormatError) as e:
            evaluate_word_analogies(kv, p)
        assert e.value.line == line


def test_evaluation_does_not_disturb_concurrent_queries(kv):
    expected = kv.most_similar("fire", topn=5)
    bad = []
    done = threading.Event()

    def query():
        while not done.is_set():
            if kv.most_similar("fire", topn=5) != expected or "fire" not in kv.key_to_index:
                bad.append(1)

    t = threading.Thread(target=query)
    t.start()
    try:
        evaluate_word_analogies(kv, "questions-words")
    finally:
        done.set()
        t.join()
    assert not bad and "fire" in kv.key_to_index
