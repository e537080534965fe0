"""Inputs the core refuses (models.seq2seq.inference.prepare_sources, bounded by the settings) as the
service's 422s (service/attention/errors.py), on real (untrained) tiny models.

Every bad source is reported at once; each ``errors`` item names the offending field and item.
"""

from __future__ import annotations

import pytest

from models.seq2seq.inference import InvalidInputs, prepare_sources
from service.attention.errors import input_error
from service.attention.settings import Settings
from service.kit.errors import InvalidInputError
from service.kit.problems import problem_status
from tests.helpers import assert_violation, tiny_seq2seq


def settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path, train_default=False, **kw)


def check_sources(texts, model, settings, loc, indexed=True) -> None:
    """The service's source check: the core's, bounded by ``max_input_tokens``, rendered at ``loc``."""
    try:
        prepare_sources(model, texts, settings.max_input_tokens)
    except InvalidInputs as exc:
        raise input_error(exc, loc, indexed=indexed) from None


# --------------------------------------------------------------------------- sources


def test_the_source_limit_is_the_smaller_of_settings_and_model(tmp_path):
    with pytest.raises(InvalidInputError) as info:
        check_sources(
            ["a" * 11],
            tiny_seq2seq(max_src_len=10),
            settings(tmp_path, max_input_tokens=50),
            ("body", "inputs"),
        )
    assert info.value.errors[0]["msg"] == "11 tokens > the limit of 10"
    with pytest.raises(InvalidInputError) as info:
        check_sources(
            ["a" * 6],
            tiny_seq2seq(max_src_len=64),
            settings(tmp_path, max_input_tokens=5),
            ("body", "inputs"),
        )
    assert info.value.errors[0]["msg"] == "6 tokens > the limit of 5"


def test_check_sources_accepts_inputs_within_the_limit(tmp_path):
    s = settings(tmp_path, max_input_tokens=5)
    check_sources(["a", "abcab", " ab "], tiny_seq2seq("char"), s, ("body", "inputs"))
    check_sources(["one", "one two three four five"], tiny_seq2seq("word"), s, ("body", "inputs"))
    check_sources([], tiny_seq2seq("char"), s, ("body", "inputs"))


@pytest.mark.parametrize(
    ("tokenization", "text"),
    [("char", ""), ("char", "   "), ("char", "\t\n"), ("word", ""), ("word", "  \t "), ("char", "\u00a0")],
)
def test_blank_inputs_are_empty_input(tmp_path, tokenization, text):
    with pytest.raises(InvalidInputError) as info:
        check_sources(["ok", text], tiny_seq2seq(tokenization), settings(tmp_path), ("body", "inputs"))
    assert_violation(info.value, ["body", "inputs", 1], "empty_input")


@pytest.mark.parametrize(("max_input_tokens", "max_src_len"), [(4, 64), (64, 4)])
def test_too_long_inputs_name_the_item_and_the_effective_limit(tmp_path, max_input_tokens, max_src_len):
    model = tiny_seq2seq("char", max_src_len=max_src_len)
    s = settings(tmp_path, max_input_tokens=max_input_tokens)
    with pytest.raises(InvalidInputError) as info:
        check_sources(["abcd", "ab", "abcde"], model, s, ("body", "inputs"))
    error = assert_violation(info.value, ["body", "inputs", 2], "input_too_long")
    assert error["msg"] == "5 tokens > the limit of 4"


def test_word_models_count_words_not_characters(tmp_path):
    s = settings(tmp_path, max_input_tokens=2)
    check_sources(["averyveryverylongword another"], tiny_seq2seq("word"), s, ("body", "inputs"))
    with pytest.raises(InvalidInputError) as info:
        check_sources(["a b c"], tiny_seq2seq("word"), s, ("body", "inputs"))
    assert_violation(info.value, ["body", "inputs", 0], "input_too_long")


def test_every_bad_source_is_reported_in_one_problem(tmp_path):
    s = settings(tmp_path, max_input_tokens=3)
    with pytest.raises(InvalidInputError) as info:
        check_sources(["ab", "abcdef", "", "abc"], tiny_seq2seq(), s, ("body", "pairs"))
    exc = info.value
    assert problem_status(exc)[0] == 422 and exc.code == "validation-error"
    assert [(e["loc"], e["type"]) for e in exc.errors] == [
        (["body", "pairs", 1], "input_too_long"),
        (["body", "pairs", 2], "empty_input"),
    ]
    assert "pairs.1: 6 tokens > the limit of 3" in exc.detail and "pairs.2: empty input" in exc.detail


def test_the_detail_names_the_first_five_and_counts_the_rest(tmp_path):
    with pytest.raises(InvalidInputError) as info:
        check_sources([""] * 8, tiny_seq2seq(), settings(tmp_path), ("body", "inputs"))
    assert len(info.value.errors) == 8
    assert info.value.detail.count("empty input") == 5 and info.value.detail.endswith("(and 3 more)")


def test_a_single_query_parameter_is_not_indexed(tmp_path):
    s = settings(tmp_path, max_input_tokens=3)
    with pytest.raises(InvalidInputError) as info:
        check_sources(["abcd"], tiny_seq2seq(), s, ("query", "input"), indexed=False)
    assert_violation(info.value, ["query", "input"], "input_too_long")
    assert "input: 4 tokens" in info.value.detail
    with pytest.raises(InvalidInputError) as info:
        check_sources([" "], tiny_seq2seq(), s, ("query", "input"), indexed=False)
    assert_violation(info.value, ["query", "input"], "empty_input")
