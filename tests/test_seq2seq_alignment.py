import numpy as np
import pytest

from models.seq2seq.alignment import (
    alignment_accuracy,
    alignment_scores,
    corpus_alignment_scores,
    from_pharaoh,
    hard_links,
    to_pharaoh,
)


def test_hard_links_and_pharaoh_round_trip():
    att = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.0, 0.0, 0.0]])
    links = hard_links(att)
    assert links == [(1, 0), (0, 1)]
    text = to_pharaoh(links)
    assert text == "0-1 1-0"
    assert sorted(from_pharaoh(text)) == sorted(links)
    with pytest.raises(ValueError):
        from_pharaoh("0-1 2x3")


def test_aer_hand_worked():
    # A = {0-0, 1-1, 2-1}; S = {0-0, 1-1}; P = S + {2-2}
    a = [(0, 0), (1, 1), (2, 1)]
    s = [(0, 0), (1, 1)]
    p = [(2, 2)]
    # |A∩S| = 2, |A∩P| = 2 (P ⊇ S), |A| = 3, |S| = 2 -> AER = 1 - 4/5 = 0.2
    scores = alignment_scores(a, s, p)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(1.0)
    assert scores.aer == pytest.approx(0.2)
    # with P containing 2-1: |A∩P| = 3 -> AER = 1 - 5/5 = 0
    assert alignment_scores(a, s, [(2, 1)]).aer == pytest.approx(0.0)
    # only one gold set: sure = possible = gold
    only = alignment_scores([(0, 0), (1, 0)], [(0, 0), (1, 1)])
    assert only.aer == pytest.approx(1 - 2 / 4)
    assert (only.precision, only.recall) == (0.5, 0.5)


def test_corpus_scores_keep_sentences_apart():
    pred = [[(0, 0)], [(0, 0)]]
    gold = [[(0, 0)], [(1, 0)]]
    assert corpus_alignment_scores(pred, gold).aer == pytest.approx(0.5)


def test_alignment_accuracy():
    att = [np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.5, 0.5]])]
    assert alignment_accuracy(att, [[(0, 0), (0, 1)], None]) == pytest.approx(0.5)
    assert alignment_accuracy(att, [None, None]) is None


def test_check_links_names_the_link_outside_the_pair():
    from models.seq2seq.alignment import check_links

    check_links([(0, 0), (2, 1)], 3, 2)
    for bad in ([(3, 0)], [(0, 2)], [(-1, 0)]):
        with pytest.raises(ValueError, match="outside the pair's 3 source x 2 target tokens"):
            check_links(bad, 3, 2)
