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


def test_edit_distance():
    from models.seq2seq.metrics import edit_distance

    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], ["a", "b"]) == 2
    assert edit_distance(["a", "b"], []) == 2
    assert edit_distance("abc", "abc") == 0
    assert edit_distance("ab", "ba") == 2
    assert edit_distance(["AH", "B"], ["AH", "B", "C"]) == 1


def test_error_rates_take_the_closest_reference():
    from models.seq2seq.metrics import best_reference, sequence_error_rate, token_error_rate

    hyps = [["T", "AH", "M"], ["X"]]
    refs = [[["T", "OW", "M", "EY"], ["T", "AH", "M"]], [["A", "B"]]]
    assert best_reference(hyps[0], refs[0]) == 1
    # item 0: 0 edits vs its 2nd reference (3 tokens); item 1: 2 edits vs 2 tokens
    assert token_error_rate(hyps, refs) == pytest.approx((0 + 2) / (3 + 2))
    assert sequence_error_rate(hyps, refs) == pytest.approx(0.5)
    assert token_error_rate([], []) == 0.0 and sequence_error_rate([], []) == 0.0
    with pytest.raises(ValueError):
        token_error_rate(hyps, refs[:1])
