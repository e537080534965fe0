import os

import numpy as np
import pytest
import torch

from models.seq2seq.checkpoint import (
    CheckpointError,
    init_embedding_from_vectors,
    load_checkpoint,
    load_state_dict,
    load_word_vectors,
    save_checkpoint,
)
from models.seq2seq.inference import translate
from models.seq2seq.model import Seq2Seq, Seq2SeqConfig
from models.vocab import Vocabulary


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _model(seed=0):
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig(emb_dim=8, hidden=10, attention="luong-concat", max_tgt_len=6)
    return Seq2Seq(cfg, Vocabulary(list("abc")), Vocabulary(list("xyz"))).eval()


def test_round_trip(tmp_path):
    model = _model()
    target = save_checkpoint(tmp_path / "m1", model, {"exact_match": 0.5})
    assert sorted(os.listdir(target)) == sorted(
        ["config.json", "src_vocab.json", "tgt_vocab.json", "weights.pt", "metrics.json"]
    )
    loaded, metrics = load_checkpoint(target)
    assert metrics == {"exact_match": 0.5}
    assert loaded.config == model.config and loaded.src_vocab == model.src_vocab
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    a, b = translate(model, ["abc", "ca"]), translate(loaded, ["abc", "ca"])
    assert [t.ids for t in a] == [t.ids for t in b]
    # overwrite keeps a single loadable version and no temp dirs
    save_checkpoint(tmp_path / "m1", _model(seed=1), {"exact_match": 0.9})
    assert load_checkpoint(tmp_path / "m1")[1] == {"exact_match": 0.9}
    assert sorted(os.listdir(tmp_path)) == ["m1"]


def test_interrupted_swap_falls_back_to_previous(tmp_path):
    save_checkpoint(tmp_path / "m", _model(), {"v": 1})
    os.replace(tmp_path / "m", tmp_path / ".m.previous")  # crash between the two renames
    assert load_checkpoint(tmp_path / "m")[1] == {"v": 1}


def test_refuses_non_tensor_payloads(tmp_path):
    save_checkpoint(tmp_path / "m", _model())
    weights = tmp_path / "m" / "weights.pt"
    torch.save({"x": Evil()}, weights)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "m")
    torch.save({"x": 3}, weights)  # allowed by weights_only, but not a state dict
    with pytest.raises(CheckpointError):
        load_state_dict(weights)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "missing")


def test_word_vectors_init(tmp_path):
    path = tmp_path / "vec.txt"
    path.write_text("2 3\ncat 1 2 3\ndog 4 5 6\n")
    kv = load_word_vectors(path)
    emb = torch.nn.Embedding(7, 3)
    vocab = Vocabulary(["cat", "bird", "dog"])
    assert init_embedding_from_vectors(emb, vocab, kv) == pytest.approx(2 / 3)
    np.testing.assert_allclose(emb.weight[4].detach().numpy(), [1, 2, 3])
    np.testing.assert_allclose(emb.weight[6].detach().numpy(), [4, 5, 6])
    with pytest.raises(ValueError):
        init_embedding_from_vectors(torch.nn.Embedding(7, 4), vocab, kv)


def test_a_checkpoint_written_before_input_feeding_loads_with_it(tmp_path):
    import json

    torch.manual_seed(0)
    cfg = Seq2SeqConfig(emb_dim=8, hidden=10, max_tgt_len=6, input_feeding=True)  # every model before it
    model = Seq2Seq(cfg, Vocabulary(list("abc")), Vocabulary(list("xyz"))).eval()
    target = save_checkpoint(tmp_path / "old", model)
    config = json.loads((target / "config.json").read_text())
    del config["input_feeding"]  # what an earlier release wrote
    (target / "config.json").write_text(json.dumps(config))
    loaded, _ = load_checkpoint(target)  # the GRU's input size follows the flag: a mismatch would raise
    assert loaded.config.input_feeding is True
    a, b = translate(model, ["abc", "ca"]), translate(loaded, ["abc", "ca"])
    assert [t.ids for t in a] == [t.ids for t in b]
