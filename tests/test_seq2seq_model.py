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


def _unrolled(model, src, lengths, tgt_in):
    """The step-by-step teacher-forced pass (what search runs): (logits (B, T, V), attention (B, T, S))."""
    enc, final, proj, mask = model.encode(src, lengths)
    state = model.decoder.init_state(final)
    logits, att = [], []
    for t in range(tgt_in.size(1)):
        lo, state, w = model.decoder.step(tgt_in[:, t], state, enc, proj, mask)
        logits.append(lo)
        att.append(w)
    return torch.stack(logits, 1), torch.stack(att, 1)


SRC = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0], [5, 0, 0, 0]])
LENGTHS = torch.tensor([4, 2, 1])
TGT_IN = torch.tensor([[2, 4, 5, 6, 7], [2, 6, 7, 0, 0], [2, 0, 0, 0, 0]])


@pytest.mark.parametrize("attention", ["bahdanau", "luong-dot", "luong-general", "luong-concat"])
@pytest.mark.parametrize("layer_norm", [False, True])
def test_fused_teacher_forcing_equals_the_step_loop(attention, layer_norm):
    model = _model(
        attention=attention,
        bidirectional=attention != "luong-dot",
        layer_norm=layer_norm,
        layers=2,
        input_feeding=False,
    ).eval()
    assert model.decoder.rnn.input_size == 8  # the embedding alone
    logits, att = model(SRC, LENGTHS, TGT_IN)
    step_logits, step_att = _unrolled(model, SRC, LENGTHS, TGT_IN)
    torch.testing.assert_close(logits, step_logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(att, step_att, rtol=0, atol=1e-5)


def test_input_feeding_sizes_the_gru_input_and_forbids_the_fused_pass():
    assert Seq2SeqConfig().input_feeding is False  # the default, from bench/attention_bench.py
    fed = _model(input_feeding=True)
    assert fed.config.input_feeding and fed.decoder.rnn.input_size == 8 + 10
    enc, final, proj, mask = fed.encode(SRC, LENGTHS)
    with pytest.raises(ValueError):
        fed.decoder.teacher_forced(TGT_IN, fed.decoder.init_state(final), enc, proj, mask)
    # the step function ignores att_vector without input feeding
    plain = _model(input_feeding=False).eval()
    enc, final, proj, mask = plain.encode(SRC, LENGTHS)
    state = plain.decoder.init_state(final)
    noisy = type(state)(state.hidden, torch.randn_like(state.att_vector))
    a = plain.decoder.step(TGT_IN[:, 0], state, enc, proj, mask)[0]
    b = plain.decoder.step(TGT_IN[:, 0], noisy, enc, proj, mask)[0]
    assert torch.equal(a, b)


@pytest.mark.parametrize("attention", ["bahdanau", "luong-concat"])
def test_fused_pass_is_batch_invariant_and_blind_to_pad_contents(attention):
    model = _model(attention=attention, layer_norm=True, input_feeding=False).eval()
    logits, att = model(SRC, LENGTHS, TGT_IN)
    for i in range(SRC.size(0)):
        n_src, n_tgt = int(LENGTHS[i]), int((TGT_IN[i] != 0).sum())
        alone_logits, alone_att = model(SRC[i : i + 1, :n_src], LENGTHS[i : i + 1], TGT_IN[i : i + 1, :n_tgt])
        torch.testing.assert_close(logits[i : i + 1, :n_tgt], alone_logits, rtol=0, atol=1e-5)
        torch.testing.assert_close(att[i : i + 1, :n_tgt, :n_src], alone_att, rtol=0, atol=1e-5)
    assert torch.all(att[1, :, 2:] == 0) and torch.all(att[2, :, 1:] == 0)
    src_pads, tgt_pads = SRC == 0, TGT_IN == 0
    tgt_pads[:, 0] = False
    noisy_src, noisy_tgt = SRC.clone(), TGT_IN.clone()
    noisy_src[src_pads] = 9
    noisy_tgt[tgt_pads] = 7
    logits2, att2 = model(noisy_src, LENGTHS, noisy_tgt)
    real = ~tgt_pads  # (B, T): the rows' real decoder steps
    torch.testing.assert_close(logits[real], logits2[real], rtol=0, atol=1e-6)
    torch.testing.assert_close(att[real], att2[real], rtol=0, atol=1e-6)


def test_without_input_feeding_dropout_trains_and_scheduled_sampling_runs():
    model = _model(input_feeding=False, dropout=0.3).train()
    logits, att = model(SRC, LENGTHS, TGT_IN)  # fused, with dropout
    logits.logsumexp(-1).sum().backward()
    assert all(p.grad is not None for p in model.decoder.rnn.parameters())
    logits, _ = model(
        SRC, LENGTHS, TGT_IN, teacher_forcing=0.5, generator=torch.Generator().manual_seed(0)
    )  # step by step
    assert logits.shape == (3, 5, len(model.tgt_vocab))
    model.eval()  # without dropout the fused pass equals the step loop
    fused = model(SRC, LENGTHS, TGT_IN)[0]
    torch.testing.assert_close(fused, _unrolled(model, SRC, LENGTHS, TGT_IN)[0], rtol=0, atol=1e-5)


def test_checkpoints_written_before_input_feeding_load_with_it():
    old = {"emb_dim": 8, "hidden": 10, "attention": "general"}  # an earlier release's config.json
    assert Seq2SeqConfig.from_checkpoint(old).input_feeding is True
    assert Seq2SeqConfig.from_checkpoint({**old, "input_feeding": False}).input_feeding is False
    cfg = Seq2SeqConfig(input_feeding=False)
    assert Seq2SeqConfig.from_dict(cfg.to_dict()) == cfg == Seq2SeqConfig.from_checkpoint(cfg.to_dict())
