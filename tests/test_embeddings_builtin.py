from gensim.models import Word2Vec

from models.embeddings.builtin import DEFAULT_PARAMS, default_corpus_path, train_default_model
from models.embeddings.corpus import scan_corpus


def test_default_model_trains_fast_with_sensible_neighbours():
    stats = scan_corpus(default_corpus_path())
    assert stats.sentences == 300
    reports = []
    model, summary = train_default_model(report=reports.append)
    assert isinstance(model, Word2Vec) and len(reports) == DEFAULT_PARAMS.epochs
    assert summary.training_time_s < 30  # ~1-2 s on 2 cores
    assert summary.vocab_size > 3000 and model.wv.vector_size == 100
    assert "bush" in [w for w, _ in model.wv.most_similar("president", topn=5)]
