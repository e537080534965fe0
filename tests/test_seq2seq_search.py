import numpy as np
import pytest
import torch

from models.seq2seq.attention import ATTENTION_TYPES
from models.seq2seq.model import Seq2Seq, Seq2SeqConfig
from models.seq2seq.search import MAX_BEAM_SIZE, beam_search, greedy_search
from models.vocab import Vocabulary

SRC_VOCAB = Vocabulary(list("abcdefghij"))
TGT_VOCAB = Vocabulary(list("klmnopq"))
LENGTHS = [5, 1, 7, 3]


def _model(attention="luong-general", layer_norm=False, layers=1, seed=0, input_feeding=True):
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig(
        emb_dim=8,
        hidden=12,
        layers=layers,
        bidirectional=attention != "luong-dot",
        dropout=0.3,
        attention=attention,
        layer_norm=layer_norm,
        max_tgt_len=9,
        input_feeding=input_feeding,
    )
    return Seq2Seq(cfg, SRC_VOCAB, TGT_VOCAB).eval()


def _batch(seed=0, pad_noise=False):
    g = torch.Generator().manual_seed(seed)
    s = max(LENGTHS)
    src = torch.randint(4, len(SRC_VOCAB), (len(LENGTHS), s), generator=g)
    lengths = torch.tensor(LENGTHS)
    pads = torch.arange(s)[None, :] >= lengths[:, None]
    if pad_noise:
        src[pads] = torch.randint(
            4, len(SRC_VOCAB), (int(pads.sum()),), generator=torch.Generator().manual_seed(99)
        )
    else:
        src[pads] = 0
    return src, lengths


def _alone(model, src, lengths, i, search, **kw):
    n = int(lengths[i])
    return search(model, src[i : i + 1, :n], lengths[i : i + 1], **kw)[0]


def _same(h1, h2):
    assert h1.ids == h2.ids
    assert h1.attention.shape == h2.attention.shape
    np.testing.assert_allclose(h1.attention, h2.attention, rtol=0, atol=1e-5)
    assert h1.score == pytest.approx(h2.score, abs=1e-4)


@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("attention", ATTENTION_TYPES)
@pytest.mark.parametrize("search,kw", [(greedy_search, {}), (beam_search, {"beam_size": 3})])
def test_batch_invariance_and_pad_contents(attention, search, kw, input_feeding):
    model = _model(
        attention,
        layer_norm=attention == "luong-concat",
        layers=2 if attention == "bahdanau" else 1,
        input_feeding=input_feeding,
    )
    src, lengths = _batch()
    batched = search(model, src, lengths, **kw)
    noisy = search(model, *_batch(pad_noise=True), **kw)
    for i in range(len(LENGTHS)):
        alone = _alone(model, src, lengths, i, search, **kw)
        _same(batched[i], alone)
        _same(noisy[i], alone)
        att = batched[i].attention
        assert att.shape == (len(batched[i].ids), LENGTHS[i])
        if len(att):
            np.testing.assert_allclose(att.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("attention", ATTENTION_TYPES)
def test_greedy_equals_beam_of_one(attention):
    model = _model(attention, seed=3)
    src, lengths = _batch(seed=3)
    greedy = greedy_search(model, src, lengths)
    beam = beam_search(model, src, lengths, beam_size=1)
    for g, b in zip(greedy, beam, strict=True):
        assert g.ids == b.ids
        np.testing.assert_allclose(g.attention, b.attention, rtol=0, atol=1e-6)
        assert g.log_prob == pytest.approx(b.log_prob, abs=1e-5)
        n = len(g.ids) + (1 if g.finished else 0)
        assert b.score == pytest.approx(b.log_prob / n, abs=1e-5)


def test_beam_attention_rows_and_no_pad_columns():
    model = _model("bahdanau", seed=5)
    src, lengths = _batch(seed=5)
    for beam_size in (2, 5, 16):
        hyps = beam_search(model, src, lengths, beam_size=beam_size)
        for h, n in zip(hyps, LENGTHS, strict=True):
            assert h.attention.shape == (len(h.ids), n)
            if len(h.ids):
                np.testing.assert_allclose(h.attention.sum(1), 1.0, atol=1e-5)
            assert len(h.ids) + int(h.finished) <= 9
            assert all(i not in (0, 2, 3) for i in h.ids)


def test_beam_finds_at_least_the_greedy_normalised_score():
    model = _model("luong-general", seed=7)
    src, lengths = _batch(seed=7)
    greedy = greedy_search(model, src, lengths)
    beam = beam_search(model, src, lengths, beam_size=8)
    for g, b in zip(greedy, beam, strict=True):
        if g.finished and b.finished:
            n = len(g.ids) + 1
            assert b.score >= g.log_prob / n - 1e-5


def test_beam_size_bounds_and_mode_restored():
    model = _model()
    model.train()
    src, lengths = _batch()
    greedy_search(model, src, lengths)
    assert model.training
    assert len(beam_search(model, src, lengths, beam_size=MAX_BEAM_SIZE)) == len(LENGTHS)
    with pytest.raises(ValueError, match=f"1..{MAX_BEAM_SIZE}"):
        beam_search(model, src, lengths, beam_size=MAX_BEAM_SIZE + 1)
    with pytest.raises(ValueError):
        beam_search(model, src, lengths, beam_size=0)


def test_the_beam_limit_is_one_constant_importable_without_torch():
    """The attention settings bound ``max_beam_size`` by it; reading it must not import torch."""
    import subprocess
    import sys
    from pathlib import Path

    import models.seq2seq as pkg
    from models.seq2seq.limits import MAX_BEAM_SIZE as LIMIT

    assert LIMIT == MAX_BEAM_SIZE == pkg.MAX_BEAM_SIZE == 16
    code = "import sys, models.seq2seq.limits as l; print(l.MAX_BEAM_SIZE, 'torch' in sys.modules)"
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    ).stdout
    assert out.split() == ["16", "False"]
    assert pkg.beam_search is beam_search  # the package's names still resolve (imported on first use)


NBEST_OPTIONS = [
    {"beam_size": 4, "n_best": 3},
    {"beam_size": 4, "n_best": 4, "length_penalty": 0.6, "coverage_penalty": 0.2},
    {"beam_size": 3, "length_penalty": 1.0},
]


@pytest.mark.parametrize("kw", NBEST_OPTIONS)
def test_n_best_and_penalties_are_batch_invariant(kw):
    model = _model("bahdanau", seed=11)
    src, lengths = _batch(seed=11)
    batched = beam_search(model, src, lengths, **kw)
    noisy = beam_search(model, *_batch(seed=11, pad_noise=True), **kw)
    for i in range(len(LENGTHS)):
        alone = _alone(model, src, lengths, i, beam_search, **kw)
        for got in (batched[i], noisy[i]):
            _same(got, alone)
            assert (
                len(got.n_best)
                == len(alone.n_best)
                == (kw.get("n_best", 1) if kw.get("n_best", 1) > 1 else 0)
            )
            for a, b in zip(got.n_best, alone.n_best, strict=True):
                _same(a, b)


def test_n_best_are_ranked_and_each_has_its_own_attention():
    from models.seq2seq.search import coverage_penalty_of, length_penalty_of

    model = _model("luong-general", seed=13)
    src, lengths = _batch(seed=13)
    for h, n in zip(beam_search(model, src, lengths, beam_size=5, n_best=5), LENGTHS, strict=True):
        assert h.n_best[0] is h and len(h.n_best) == 5
        assert len({tuple(x.ids) for x in h.n_best}) == 5  # distinct hypotheses
        keys = [(x.finished, x.score) for x in h.n_best]
        assert keys == sorted(keys, reverse=True)  # finished first, then by score
        for x in h.n_best:
            assert x.attention.shape == (len(x.ids), n)
            length = len(x.ids) + int(x.finished)
            assert x.score == pytest.approx(x.log_prob / length, abs=1e-5)
    # GNMT formulas; alpha=0 ranks by the raw log-probability
    assert length_penalty_of(1, 1.0) == 1.0 and length_penalty_of(7, 0.5) == pytest.approx(2**0.5)
    assert coverage_penalty_of(torch.tensor([[0.5, 0.5], [1.0, 0.0]]), 2.0) == pytest.approx(2 * np.log(0.5))
    assert coverage_penalty_of(torch.tensor([[0.5, 0.5]]), 0.0) == 0.0
    for h in beam_search(model, src, lengths, beam_size=4, n_best=4, length_penalty=0.0):
        assert all(x.score == pytest.approx(x.log_prob, abs=1e-5) for x in h.n_best)


def test_n_best_and_penalty_bounds():
    model = _model()
    src, lengths = _batch()
    with pytest.raises(ValueError, match="n_best"):
        beam_search(model, src, lengths, beam_size=2, n_best=3)
    with pytest.raises(ValueError, match="length_penalty"):
        beam_search(model, src, lengths, beam_size=2, length_penalty=-1.0)
    with pytest.raises(ValueError, match="coverage_penalty"):
        beam_search(model, src, lengths, beam_size=2, coverage_penalty=float("nan"))


def test_greedy_without_input_feeding_follows_the_fused_teacher_forced_pass():
    """Greedy decoding's tokens, fed back as a gold prefix to the fused pass, score the same."""
    model = _model("bahdanau", input_feeding=False, seed=3)
    src, lengths = _batch(seed=3)
    for i, hyp in enumerate(greedy_search(model, src, lengths)):
        n = int(lengths[i])
        tgt_in = torch.tensor([[TGT_VOCAB.bos_id, *hyp.ids]])  # (1, T)
        with torch.no_grad():
            logits, att = model(src[i : i + 1, :n], lengths[i : i + 1], tgt_in)
        logits[..., [TGT_VOCAB.pad_id, TGT_VOCAB.bos_id]] = float("-inf")  # never emitted
        emitted = hyp.ids + ([TGT_VOCAB.eos_id] if hyp.finished else [])
        assert logits[0, : len(emitted)].argmax(-1).tolist() == emitted
        log_probs = torch.log_softmax(logits[0, : len(emitted)], -1)  # (T, V)
        assert float(log_probs[torch.arange(len(emitted)), emitted].sum()) == pytest.approx(
            hyp.log_prob, abs=1e-4
        )
        np.testing.assert_allclose(att[0, : len(hyp.ids)].numpy(), hyp.attention, rtol=0, atol=1e-5)
