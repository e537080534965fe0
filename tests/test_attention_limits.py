"""The attention service's request bounds (service/attention/limits.py), on real (untrained) tiny models.

Every violation is a 422 :class:`ProblemError` of type ``validation-error`` (``invalid-links`` for
gold links) whose single ``errors`` item names the offending field and item, like pydantic does.
"""

from __future__ import annotations

import pytest
import torch

from models.seq2seq.data import Example
from models.seq2seq.model import Seq2Seq, Seq2SeqConfig
from models.vocab import Vocabulary
from service.attention import limits
from service.attention.settings import Settings
from service.kit.problems import ProblemError


def make_model(tokenization: str = "char", max_src_len: int = 64) -> Seq2Seq:
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(emb_dim=4, hidden=6, tokenization=tokenization, max_src_len=max_src_len)
    return Seq2Seq(cfg, Vocabulary(list("abc")), Vocabulary(list("xyz")))


def settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path, train_default=False, **kw)


def assert_violation(
    exc: ProblemError, loc: list, type_: str, *, problem_type: str = "validation-error"
) -> dict:
    assert exc.status == 422
    assert exc.type == problem_type
    assert exc.errors and len(exc.errors) == 1, exc.errors
    [error] = exc.errors
    assert error["loc"] == loc and error["type"] == type_ and error["msg"]
    return error


# --------------------------------------------------------------------------- batch size


def test_check_batch_allows_up_to_the_limit(tmp_path):
    s = settings(tmp_path, max_batch=3)
    for n in (0, 1, 3):
        limits.check_batch(n, s)


@pytest.mark.parametrize("field", ["inputs", "pairs"])
def test_check_batch_names_the_field(tmp_path, field):
    s = settings(tmp_path, max_batch=3)
    with pytest.raises(ProblemError) as info:
        limits.check_batch(4, s, field)
    error = assert_violation(info.value, ["body", field], "too_long")
    assert "4 items" in error["msg"] and "3" in error["msg"]
    assert f"{field}: " in info.value.detail


# --------------------------------------------------------------------------- sources


def test_max_source_tokens_is_the_smaller_of_settings_and_model(tmp_path):
    assert limits.max_source_tokens(make_model(max_src_len=10), settings(tmp_path, max_input_tokens=50)) == 10
    assert limits.max_source_tokens(make_model(max_src_len=64), settings(tmp_path, max_input_tokens=5)) == 5


def test_check_sources_accepts_inputs_within_the_limit(tmp_path):
    s = settings(tmp_path, max_input_tokens=5)
    limits.check_sources(["a", "abcab", " ab "], make_model("char"), s, ("body", "inputs"))
    limits.check_sources(["one", "one two three four five"], make_model("word"), s, ("body", "inputs"))
    limits.check_sources([], make_model("char"), s, ("body", "inputs"))


@pytest.mark.parametrize(
    ("tokenization", "text"),
    [("char", ""), ("char", "   "), ("char", "\t\n"), ("word", ""), ("word", "  \t "), ("char", "\u00a0")],
)
def test_blank_inputs_are_empty_input(tmp_path, tokenization, text):
    with pytest.raises(ProblemError) as info:
        limits.check_sources(["ok", text], make_model(tokenization), settings(tmp_path), ("body", "inputs"))
    assert_violation(info.value, ["body", "inputs", 1], "empty_input")


@pytest.mark.parametrize(("max_input_tokens", "max_src_len"), [(4, 64), (64, 4)])
def test_too_long_inputs_name_the_item_and_the_effective_limit(tmp_path, max_input_tokens, max_src_len):
    model = make_model("char", max_src_len=max_src_len)
    s = settings(tmp_path, max_input_tokens=max_input_tokens)
    with pytest.raises(ProblemError) as info:
        limits.check_sources(["abcd", "ab", "abcde"], model, s, ("body", "inputs"))
    error = assert_violation(info.value, ["body", "inputs", 2], "input_too_long")
    assert error["msg"] == "5 tokens > the limit of 4"


def test_word_models_count_words_not_characters(tmp_path):
    s = settings(tmp_path, max_input_tokens=2)
    limits.check_sources(["averyveryverylongword another"], make_model("word"), s, ("body", "inputs"))
    with pytest.raises(ProblemError) as info:
        limits.check_sources(["a b c"], make_model("word"), s, ("body", "inputs"))
    assert_violation(info.value, ["body", "inputs", 0], "input_too_long")


def test_every_bad_source_is_reported_in_one_problem(tmp_path):
    s = settings(tmp_path, max_input_tokens=3)
    with pytest.raises(ProblemError) as info:
        limits.check_sources(["ab", "abcdef", "", "abc"], make_model(), s, ("body", "pairs"))
    exc = info.value
    assert exc.status == 422 and exc.type == "validation-error"
    assert [(e["loc"], e["type"]) for e in exc.errors] == [
        (["body", "pairs", 1], "input_too_long"),
        (["body", "pairs", 2], "empty_input"),
    ]
    assert "pairs.1: 6 tokens > the limit of 3" in exc.detail and "pairs.2: empty input" in exc.detail


def test_the_detail_names_the_first_five_and_counts_the_rest(tmp_path):
    with pytest.raises(ProblemError) as info:
        limits.check_sources([""] * 8, make_model(), settings(tmp_path), ("body", "inputs"))
    assert len(info.value.errors) == 8
    assert info.value.detail.count("empty input") == 5 and info.value.detail.endswith("(and 3 more)")


def test_a_single_query_parameter_is_not_indexed(tmp_path):
    s = settings(tmp_path, max_input_tokens=3)
    with pytest.raises(ProblemError) as info:
        limits.check_sources(["abcd"], make_model(), s, ("query", "input"), indexed=False)
    assert_violation(info.value, ["query", "input"], "input_too_long")
    assert "input: 4 tokens" in info.value.detail
    with pytest.raises(ProblemError) as info:
        limits.check_sources([" "], make_model(), s, ("query", "input"), indexed=False)
    assert_violation(info.value, ["query", "input"], "empty_input")


# --------------------------------------------------------------------------- beam and max_len


def test_greedy_ignores_the_beam_size(tmp_path):
    s = settings(tmp_path, max_beam_size=4)
    assert limits.beam_width("greedy", 1000, s) == 1
    assert limits.beam_width("greedy", 1, s) == 1


def test_beam_width_up_to_the_limit(tmp_path):
    s = settings(tmp_path, max_beam_size=4)
    assert [limits.beam_width("beam", k, s) for k in (1, 3, 4)] == [1, 3, 4]


@pytest.mark.parametrize("loc", [("body", "beam_size"), ("query", "beam_size")])
def test_beam_width_over_the_limit(tmp_path, loc):
    s = settings(tmp_path, max_beam_size=4)
    with pytest.raises(ProblemError) as info:
        limits.beam_width("beam", 5, s, loc)
    error = assert_violation(info.value, list(loc), "less_than_equal")
    assert error["msg"] == "5 > the limit of 4"


def test_beam_width_default_loc_is_the_body(tmp_path):
    with pytest.raises(ProblemError) as info:
        limits.beam_width("beam", 99, settings(tmp_path, max_beam_size=4))
    assert_violation(info.value, ["body", "beam_size"], "less_than_equal")


def test_check_max_len(tmp_path):
    s = settings(tmp_path, max_output_len=10)
    for value in (None, 1, 10):
        limits.check_max_len(value, s)
    with pytest.raises(ProblemError) as info:
        limits.check_max_len(11, s)
    error = assert_violation(info.value, ["body", "max_len"], "less_than_equal")
    assert error["msg"] == "11 > the limit of 10"
    with pytest.raises(ProblemError) as info:
        limits.check_max_len(11, s, ("query", "max_len"))
    assert_violation(info.value, ["query", "max_len"], "less_than_equal")


# --------------------------------------------------------------------------- gold links


def label(i: int, reason: str) -> str:
    return f"pair {i}: {reason}"


def test_links_inside_the_tokens_pass():
    examples = [
        Example("ab", "xy", ((0, 0), (1, 1))),
        Example("abc", "x", None),  # no gold links: nothing to check
        Example("abc", "x", ()),
        Example("a", "x", ((0, 0),)),
    ]
    limits.check_example_links(examples, list, label)


@pytest.mark.parametrize("link", [(2, 0), (0, 2), (-1, 0), (0, -1)])
def test_every_pair_with_a_link_outside_its_tokens(link):
    examples = [
        Example("ab", "xy", ((0, 0),)),
        Example("ab", "xy", ((1, 1), link)),
        Example("a", "x", ((5, 5),)),
    ]
    with pytest.raises(ProblemError) as info:
        limits.check_example_links(examples, list, label)
    exc = info.value
    assert exc.status == 422 and exc.type == "invalid-links"
    assert "pair 1: link " in exc.detail and "2 source x 2 target tokens" in exc.detail
    assert [e["loc"] for e in exc.errors] == [["body", "pairs", 1, 2], ["body", "pairs", 2, 2]]
    assert [e["type"] for e in exc.errors] == ["invalid-links"] * 2
    assert exc.errors[1]["msg"].startswith("pair 2: link 5-5")


def test_links_are_counted_in_the_models_tokens():
    """Word tokens: link 2-0 is outside "ab cd" (2 words) though inside its 5 characters."""
    examples = [Example("ab cd", "x y", ((2, 0),))]
    limits.check_example_links(examples, list, label)  # characters: fine
    with pytest.raises(ProblemError) as info:
        limits.check_example_links(examples, str.split, label)
    assert "2 source x 2 target tokens" in info.value.detail
