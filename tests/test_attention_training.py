"""Gold links of inline pairs must fall inside their tokens (service/attention/training.py)."""

from __future__ import annotations

import pytest

from models.seq2seq.data import Example
from service.attention.training import check_example_links
from service.kit.errors import InvalidInputError
from service.kit.problems import problem_status


def label(i: int, reason: str) -> str:
    return f"pair {i}: {reason}"


def test_links_inside_the_tokens_pass():
    examples = [
        Example("ab", "xy", ((0, 0), (1, 1))),
        Example("abc", "x", None),  # no gold links: nothing to check
        Example("abc", "x", ()),
        Example("a", "x", ((0, 0),)),
    ]
    check_example_links(examples, list, label)


@pytest.mark.parametrize("link", [(2, 0), (0, 2), (-1, 0), (0, -1)])
def test_every_pair_with_a_link_outside_its_tokens(link):
    examples = [
        Example("ab", "xy", ((0, 0),)),
        Example("ab", "xy", ((1, 1), link)),
        Example("a", "x", ((5, 5),)),
    ]
    with pytest.raises(InvalidInputError) as info:
        check_example_links(examples, list, label)
    exc = info.value
    assert problem_status(exc)[0] == 422 and exc.code == "invalid-links"
    assert "pair 1: link " in exc.detail and "2 source x 2 target tokens" in exc.detail
    assert [e["loc"] for e in exc.errors] == [["body", "pairs", 1, 2], ["body", "pairs", 2, 2]]
    assert [e["type"] for e in exc.errors] == ["invalid-links"] * 2
    assert exc.errors[1]["msg"].startswith("pair 2: link 5-5")


def test_links_are_counted_in_the_models_tokens():
    """Word tokens: link 2-0 is outside "ab cd" (2 words) though inside its 5 characters."""
    examples = [Example("ab cd", "x y", ((2, 0),))]
    check_example_links(examples, list, label)  # characters: fine
    with pytest.raises(InvalidInputError) as info:
        check_example_links(examples, str.split, label)
    assert "2 source x 2 target tokens" in info.value.detail
