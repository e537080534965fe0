import pytest
import torch

from models.seq2seq.decoders import AttentionDecoder
from models.seq2seq.model import Seq2Seq, Seq2SeqConfig
from models.vocab import Vocabulary


def _model(**kw):
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(emb_dim=8, hidden=10, **kw)
    return Seq2Seq(cfg, Vocabulary(list("abcdef")), Vocabulary(list("uvwxyz")))


def test_config_round_trip_and_validation():
    cfg = Seq2SeqConfig(attention="luong-concat", layer_norm=True, tokenization="word", layers=2)
    assert Seq2SeqConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        Seq2SeqConfig.from_dict({**cfg.to_dict(), "colour": "red"})
    with pytest.raises(ValueError):
        Seq2SeqConfig(attention="luong-dot", bidirectional=True)
    with pytest.raises(ValueError):
        Seq2SeqConfig(tokenization="bpe")


@pytest.mark.parametrize("layer_norm", [False, True])
def test_forward_shapes_and_pad_invariance(layer_norm):
    model = _model(layer_norm=layer_norm, layers=2).eval()
    assert isinstance(model.decoder.layer_norm, torch.nn.LayerNorm) == layer_norm
    src = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]])
    lengths = torch.tensor([4, 2])
    tgt_in = torch.tensor([[2, 4, 5], [2, 6, 0]])
    logits, att = model(src, lengths, tgt_in)
    assert logits.shape == (2, 3, len(model.tgt_vocab)) and att.shape == (2, 3, 4)
    assert torch.all(att[1, :, 2:] == 0)
    torch.testing.assert_close(att.sum(-1), torch.ones(2, 3))
    noisy = src.clone()
    noisy[1, 2:] = torch.tensor([7, 9])
    logits2, att2 = model(noisy, lengths, tgt_in)
    torch.testing.assert_close(logits, logits2, rtol=0, atol=1e-6)
    torch.testing.assert_close(att, att2, rtol=0, atol=1e-6)


def test_decoder_step_and_bridge():
    torch.manual_seed(0)
    dec = AttentionDecoder(9, emb_dim=4, hidden=6, enc_dim=10, layers=3, attention="bahdanau")
    state = dec.init_state(torch.randn(2, 10))
    assert state.hidden.shape == (3, 2, 6) and state.att_vector.shape == (2, 6)
    keys = torch.randn(2, 5, 10)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    logits, new_state, weights = dec.step(torch.tensor([2, 2]), state, keys, dec.project_keys(keys), mask)
    assert logits.shape == (2, 9) and weights.shape == (2, 5) and new_state.hidden.shape == (3, 2, 6)
    assert torch.all(weights[1, 2:] == 0)


def test_scheduled_sampling_runs_and_empty_source_rejected():
    model = _model().train()
    src = torch.tensor([[4, 5], [6, 0]])
    tgt_in = torch.tensor([[2, 4, 5], [2, 6, 0]])
    logits, _ = model(
        src, torch.tensor([2, 1]), tgt_in, teacher_forcing=0.5, generator=torch.Generator().manual_seed(0)
    )
    assert logits.shape == (2, 3, len(model.tgt_vocab))
    with pytest.raises(ValueError):
        model(src, torch.tensor([2, 0]), tgt_in)
