"""Fixtures shared by the test modules; the plain helper functions live in :mod:`tests.helpers`.

* ``embeddings_api`` / ``attention_api``: a started TestClient on the service's real app over a
  fresh tmp data dir (``train_default`` off), for a test that needs a service of its own;
* ``make_embeddings_client`` / ``make_attention_client``: factories of such (unstarted) clients on
  a tmp data dir, with settings overrides (``with make_embeddings_client(max_topn=5) as c: ...``);
* ``w2v`` / ``ft``: a tiny Word2Vec / FastText model trained once on gensim's Lee corpus (a module
  may define its own fixture of that name);
* ``one_torch_thread``: torch limited to one thread for the test (modules training tiny models use
  it for every test: ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``).

Module-scoped clients are built in their modules with :func:`tests.helpers.embeddings_client`
(or ``attention_client``) on a ``tmp_path_factory`` directory.
"""

from __future__ import annotations

import pytest

from tests import helpers


@pytest.fixture
def make_embeddings_client(tmp_path):
    def make(data_dir=None, **overrides):
        return helpers.embeddings_client(data_dir or tmp_path / "data", **overrides)

    return make


@pytest.fixture
def make_attention_client(tmp_path):
    def make(data_dir=None, **overrides):
        return helpers.attention_client(data_dir or tmp_path / "data", **overrides)

    return make


@pytest.fixture
def embeddings_api(make_embeddings_client):
    with make_embeddings_client() as client:
        yield client


@pytest.fixture
def attention_api(make_attention_client):
    with make_attention_client() as client:
        yield client


@pytest.fixture
def one_torch_thread():
    """Tiny models gain nothing from a 2nd thread, and OpenMP spin-waits explode under CPU contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def w2v():
    from gensim.test.utils import datapath

    from models.embeddings.corpus import LineCorpus
    from models.embeddings.training import TrainParams, train_model

    lee = LineCorpus(datapath("lee_background.cor"))
    model, _ = train_model("word2vec", lee, TrainParams(vector_size=8, min_count=3, epochs=1, seed=5))
    return model


@pytest.fixture(scope="session")
def ft():
    from gensim.test.utils import datapath

    from models.embeddings.corpus import LineCorpus
    from models.embeddings.training import TrainParams, train_model

    lee = LineCorpus(datapath("lee_background.cor"))
    model, _ = train_model("fasttext", lee, TrainParams(vector_size=8, min_count=3, epochs=1, bucket=3000))
    return model
