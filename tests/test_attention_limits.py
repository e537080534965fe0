"""The attention service's settings-dependent bounds (service/attention/limits.py).

Every violation is a 422 :class:`InvalidInputError` of type ``validation-error`` whose single
``errors`` item names the offending field, like pydantic does.
"""

from __future__ import annotations

import pytest

from service.attention import limits
from service.attention.settings import Settings
from service.kit.errors import InvalidInputError
from tests.helpers import assert_violation


def settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path, train_default=False, **kw)


# --------------------------------------------------------------------------- batch size


def test_check_batch_allows_up_to_the_limit(tmp_path):
    s = settings(tmp_path, max_batch=3)
    for n in (0, 1, 3):
        limits.check_batch(n, s)


@pytest.mark.parametrize("field", ["inputs", "pairs"])
def test_check_batch_names_the_field(tmp_path, field):
    s = settings(tmp_path, max_batch=3)
    with pytest.raises(InvalidInputError) as info:
        limits.check_batch(4, s, field)
    error = assert_violation(info.value, ["body", field], "too_long")
    assert "4 items" in error["msg"] and "3" in error["msg"]
    assert f"{field}: " in info.value.detail


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
    with pytest.raises(InvalidInputError) as info:
        limits.beam_width("beam", 5, s, loc)
    error = assert_violation(info.value, list(loc), "less_than_equal")
    assert error["msg"] == "5 > the limit of 4"


def test_beam_width_default_loc_is_the_body(tmp_path):
    with pytest.raises(InvalidInputError) as info:
        limits.beam_width("beam", 99, settings(tmp_path, max_beam_size=4))
    assert_violation(info.value, ["body", "beam_size"], "less_than_equal")


def test_check_max_len(tmp_path):
    s = settings(tmp_path, max_output_len=10)
    for value in (None, 1, 10):
        limits.check_max_len(value, s)
    with pytest.raises(InvalidInputError) as info:
        limits.check_max_len(11, s)
    error = assert_violation(info.value, ["body", "max_len"], "less_than_equal")
    assert error["msg"] == "11 > the limit of 10"
    with pytest.raises(InvalidInputError) as info:
        limits.check_max_len(11, s, ("query", "max_len"))
    assert_violation(info.value, ["query", "max_len"], "less_than_equal")
