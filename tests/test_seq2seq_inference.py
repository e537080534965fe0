import numpy as np
import pytest
import torch

from models.seq2seq.evaluation import evaluate
from models.seq2seq.inference import InvalidInputs, align, translate
from models.seq2seq.model import Seq2Seq, Seq2SeqConfig
from models.seq2seq.tasks import reversal_task
from models.vocab import Vocabulary


def _model():
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(emb_dim=8, hidden=10, attention="bahdanau", max_src_len=12, max_tgt_len=8)
    return Seq2Seq(cfg, Vocabulary(list("abcdef")), Vocabulary(list("abcdef"))).eval()


TEXTS = ["abc", "f", "abcdefabcd", "cab", "zz"]


@pytest.mark.parametrize("beam_size", [1, 4])
def test_translate_is_batching_invariant(beam_size):
    model = _model()
    together = translate(model, TEXTS, beam_size=beam_size)
    apart = [translate(model, [t], beam_size=beam_size)[0] for t in TEXTS]
    small = translate(model, TEXTS, beam_size=beam_size, batch_size=2)
    for a, b, c in zip(together, apart, small, strict=True):
        assert a.ids == b.ids == c.ids
        np.testing.assert_allclose(a.attention, b.attention, atol=1e-5)
        assert a.attention.shape == (len(a.tokens), len(a.src_tokens))
        assert a.links == [(int(row.argmax()), t) for t, row in enumerate(a.attention)]
        assert a.text == "".join(a.tokens)
    assert together[4].unknown == ["z"]


def test_translate_rejects_bad_sources():
    model = _model()
    with pytest.raises(InvalidInputs) as err:
        translate(model, ["ab", ""])
    assert [p.index for p in err.value.problems] == [1]
    with pytest.raises(InvalidInputs):
        translate(model, ["a" * 13])


def test_align_teacher_forced():
    model = _model()
    out = align(model, [("abc", "cba"), ("f", "")])
    assert out[0].attention.shape == (3, 3) and out[1].attention.shape == (0, 1)
    np.testing.assert_allclose(out[0].attention.sum(1), 1.0, atol=1e-5)
    assert len(out[0].links) == 3 and out[0].log_prob < 0


def test_evaluate_keys():
    task = reversal_task(20, 5, 5, seed=0, max_len=5)
    m = evaluate(_model(), task.test)
    assert set(m) == {
        "n", "loss", "exact_match", "token_accuracy", "bleu", "token_error_rate", "sequence_error_rate",
        "alignment_accuracy", "alignment_error_rate",
    }  # fmt: skip
    assert m["n"] == 5 and 0 <= m["alignment_accuracy"] <= 1
    assert m["sequence_error_rate"] == pytest.approx(1 - m["exact_match"]) and m["token_error_rate"] >= 0


def test_translate_n_best():
    model = _model()
    [one] = translate(model, ["abc"], beam_size=3)
    assert one.hypotheses is None
    [out] = translate(model, ["abc"], beam_size=3, n_best=3, length_penalty=0.6, coverage_penalty=0.1)
    assert len(out.hypotheses) == 3 and out.hypotheses[0].tokens == out.tokens
    for h in out.hypotheses:
        assert h.text == model.tgt_tokenizer.detokenize(h.tokens) and h.attention.shape == (len(h.tokens), 3)
