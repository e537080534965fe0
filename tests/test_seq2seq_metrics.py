import pytest

from models.seq2seq.metrics import bleu, exact_match, token_accuracy


def test_exact_match_and_token_accuracy():
    hyps = [list("abc"), list("abd"), list("ab")]
    refs = [list("abc"), list("abc"), list("abcd")]
    assert exact_match(hyps, refs) == pytest.approx(1 / 3)
    assert token_accuracy(hyps, refs) == pytest.approx((3 + 2 + 2) / (3 + 3 + 4))
    with pytest.raises(ValueError):
        exact_match(hyps, refs[:2])


def test_bleu():
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert bleu(["a b c d"], ["w x y z"]) == pytest.approx(0.0)
