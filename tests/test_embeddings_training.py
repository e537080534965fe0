import numpy as np
import pytest
from gensim.models import FastText, Word2Vec
from gensim.test.utils import datapath

from models.embeddings.builtin import DEFAULT_PARAMS, default_corpus_path
from models.embeddings.corpus import LineCorpus
from models.embeddings.training import FASTTEXT_LOSS_NOTE, TrainParams, train_model

LEE = LineCorpus(datapath("lee_background.cor"))
SMALL = TrainParams(vector_size=16, min_count=3, epochs=3, workers=2, seed=3)


@pytest.fixture(scope="module")
def w2v_run():
    reports = []
    model, summary = train_model("word2vec", LEE, SMALL, report=reports.append)
    return model, summary, reports


@pytest.fixture(scope="module")
def ft_run():
    reports = []
    params = TrainParams(vector_size=12, min_count=3, epochs=2, bucket=5000, seed=3)
    model, summary = train_model("fasttext", LEE, params, report=reports.append)
    return model, summary, reports


def test_word2vec_reports_and_loss(w2v_run):
    model, summary, reports = w2v_run
    assert isinstance(model, Word2Vec)
    assert [r["epoch"] for r in reports] == [1, 2, 3]
    assert all(r["epochs"] == 3 for r in reports)
    assert [r["progress"] for r in reports] == pytest.approx([1 / 3, 2 / 3, 1.0])
    losses = [r["loss"] for r in reports]
    assert all(v > 0 for v in losses)
    # per-epoch values are differences of gensim's cumulative counter (reset at each train() call)
    assert sum(losses) == pytest.approx(model.get_latest_training_loss(), rel=1e-9)
    assert summary.loss_history == losses
    assert summary.vocab_size == len(model.wv) and summary.new_words == len(model.wv)
    assert summary.corpus_sentences == 300 and summary.corpus_words == model.corpus_total_words
    assert all(r["words_per_second"] > 0 and r["elapsed_s"] > 0 for r in reports)
    elapsed = [r["elapsed_s"] for r in reports]
    assert elapsed == sorted(elapsed)


def test_learning_rate_linear_per_gensim(w2v_run):
    model, _, reports = w2v_run
    a, m = SMALL.alpha, SMALL.min_alpha
    expected = [a - (a - m) * e / 3 for e in (1, 2, 3)]
    assert [r["learning_rate"] for r in reports] == pytest.approx(expected, rel=1e-12)
    # gensim's own counter (alpha of the last job dispatched) sits just above the end-of-epoch value
    for r, exp, prev in zip(reports, expected, [a] + expected):
        assert exp <= r["last_alpha"] <= prev
    assert model.min_alpha_yet_reached == pytest.approx(reports[-1]["last_alpha"])


def test_fasttext_loss_none_with_note(ft_run):
    model, summary, reports = ft_run
    assert isinstance(model, FastText)
    assert len(reports) == 2
    assert all(r["loss"] is None and r["loss_note"] == FASTTEXT_LOSS_NOTE for r in reports)
    assert summary.loss_history == [] and summary.loss_note == FASTTEXT_LOSS_NOTE
    assert model.wv.bucket == 5000 and model.wv.vector_size == 12


def test_continue_training_adds_words():
    base, _ = train_model("word2vec", LEE, SMALL)
    old = len(base.wv)
    before = base.wv["government"].copy()
    base.sample = 0  # no down-sampling of the new corpus, so "government" is certainly trained on
    new = [["zorbleflax", "quintessor", "the", "government"]] * 10 + [["quintessor", "zorbleflax"]] * 5
    reports = []
    model, summary = train_model(
        "word2vec", new, TrainParams(epochs=2), base_model=base, report=reports.append
    )
    assert model is base and summary.continued
    assert "zorbleflax" in model.wv.key_to_index and "quintessor" in model.wv.key_to_index
    assert summary.new_words == 2 and summary.vocab_size == old + 2
    assert model.wv.index_to_key[-2:] == ["zorbleflax", "quintessor"]  # appended, not re-sorted
    assert not np.array_equal(before, model.wv["government"])
    assert len(reports) == 2 and sum(summary.loss_history) == pytest.approx(model.get_latest_training_loss())
    with pytest.raises(ValueError):
        train_model("fasttext", new, base_model=base)


def test_invalid_inputs():
    with pytest.raises(ValueError):
        train_model("glove", LEE)
    with pytest.raises(TypeError):
        train_model("word2vec", (s for s in [["a"]]))
    with pytest.raises(ValueError):
        TrainParams(hs=0, negative=0)
    with pytest.raises(ValueError, match="unknown training parameters"):
        TrainParams.from_dict({"size": 3})
    with pytest.raises(ValueError, match="empty vocabulary"):
        train_model("word2vec", [["a", "b"]], TrainParams(min_count=5))


def test_default_params_sensible():
    assert default_corpus_path() == datapath("lee_background.cor")
    assert (
        DEFAULT_PARAMS.vector_size,
        DEFAULT_PARAMS.min_count,
        DEFAULT_PARAMS.epochs,
        DEFAULT_PARAMS.workers,
    ) == (100, 2, 20, 1)


def test_loss_single_worker_exact_and_note_with_threads(w2v_run):
    _, summary, reports = w2v_run  # workers=2
    assert "workers > 1" in summary.loss_note and all("loss_note" in r for r in reports)
    params = TrainParams(vector_size=16, min_count=3, epochs=3, workers=1, seed=3)
    runs = [train_model("word2vec", LEE, params)[1] for _ in range(2)]
    assert runs[0].loss_history == runs[1].loss_history  # one worker: deterministic within a process
    assert runs[0].loss_note is None
    assert runs[0].loss_history[0] > runs[0].loss_history[-1]
