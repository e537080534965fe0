"""Tests for models/padding.py: Keras pad_sequences semantics, masks, masked ops, bucketing, packing."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import models.padding
from models.padding import (
    BucketBatchSampler,
    lengths_to_mask,
    masked_pool,
    masked_softmax,
    pack,
    pad_sequences,
    padding_fraction,
    unpack,
)

ROOT = Path(__file__).resolve().parents[1]
PROPS = settings(max_examples=100, deadline=None)

# --------------------------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------------------------

int_seqs = st.lists(st.lists(st.integers(-1000, 1000), max_size=8), max_size=8)
lengths_st = st.lists(st.integers(0, 7), min_size=0, max_size=8)
pos_lengths_st = st.lists(st.integers(1, 7), min_size=1, max_size=8)
finite = st.floats(-30.0, 30.0, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def scores_and_mask(draw):
    """(scores (B, T) float32, mask (B, T) bool) with arbitrary (not necessarily prefix) masks."""
    b = draw(st.integers(1, 5))
    t = draw(st.integers(1, 7))
    scores = np.array(draw(st.lists(finite, min_size=b * t, max_size=b * t)), dtype=np.float32).reshape(b, t)
    mask = np.array(draw(st.lists(st.booleans(), min_size=b * t, max_size=b * t))).reshape(b, t)
    return scores, mask


@st.composite
def batch_and_lengths(draw, min_len=0, feat=3):
    """(padded x (B, T, D) float64 with random pads, lengths (B,))."""
    lengths = draw(st.lists(st.integers(min_len, 6), min_size=1, max_size=6))
    t = max(lengths) + draw(st.integers(0, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).normal(size=(len(lengths), t, feat))
    return x, np.array(lengths, dtype=np.int64)


# --------------------------------------------------------------------------------------------------------
# pad_sequences: Keras semantics, hard-coded by hand
# --------------------------------------------------------------------------------------------------------

SEQS = [[1, 2, 3, 4], [5, 6], [7]]

KERAS_CASES = [
    # (maxlen, padding, truncating, expected)
    (3, "pre", "pre", [[2, 3, 4], [0, 5, 6], [0, 0, 7]]),
    (3, "pre", "post", [[1, 2, 3], [0, 5, 6], [0, 0, 7]]),
    (3, "post", "pre", [[2, 3, 4], [5, 6, 0], [7, 0, 0]]),
    (3, "post", "post", [[1, 2, 3], [5, 6, 0], [7, 0, 0]]),
    (1, "pre", "pre", [[4], [6], [7]]),
    (1, "pre", "post", [[1], [5], [7]]),
    (1, "post", "pre", [[4], [6], [7]]),
    (1, "post", "post", [[1], [5], [7]]),
    (5, "pre", "pre", [[0, 1, 2, 3, 4], [0, 0, 0, 5, 6], [0, 0, 0, 0, 7]]),
    (5, "pre", "post", [[0, 1, 2, 3, 4], [0, 0, 0, 5, 6], [0, 0, 0, 0, 7]]),
    (5, "post", "pre", [[1, 2, 3, 4, 0], [5, 6, 0, 0, 0], [7, 0, 0, 0, 0]]),
    (5, "post", "post", [[1, 2, 3, 4, 0], [5, 6, 0, 0, 0], [7, 0, 0, 0, 0]]),
    (None, "pre", "pre", [[1, 2, 3, 4], [0, 0, 5, 6], [0, 0, 0, 7]]),
    (None, "post", "post", [[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]]),
]


@pytest.mark.parametrize(("maxlen", "padding", "truncating", "expected"), KERAS_CASES)
def test_pad_sequences_keras_cases(maxlen, padding, truncating, expected):
    out = pad_sequences(SEQS, maxlen=maxlen, padding=padding, truncating=truncating)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.array(expected, dtype=np.int32))


@pytest.mark.parametrize(
    ("maxlen", "truncating", "expected"),
    [(3, "pre", [3, 2, 1]), (3, "post", [3, 2, 1]), (1, "pre", [1, 1, 1]), (5, "post", [4, 2, 1])],
)
def test_pad_sequences_return_lengths(maxlen, truncating, expected):
    out, lengths = pad_sequences(SEQS, maxlen=maxlen, truncating=truncating, return_lengths=True)
    assert lengths.dtype == np.int64 and lengths.shape == (3,)
    assert lengths.tolist() == expected
    assert out.shape == (3, maxlen)


def test_pad_sequences_defaults_are_pre_int32_zero():
    out = pad_sequences([[1], [2, 3]])
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [[0, 1], [2, 3]])


def test_pad_sequences_value_and_dtype():
    out = pad_sequences([[1.5, 2.5], [3.5]], dtype="float32", padding="post", value=-1.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[1.5, 2.5], [3.5, -1.0]], dtype=np.float32))
    # int dtype truncates float items like np.asarray(..., dtype="int32") does in Keras
    np.testing.assert_array_equal(pad_sequences([[1.7, 2.2]], maxlen=3, value=9), [[9, 1, 2]])
    nan_out = pad_sequences([[1.0]], maxlen=2, dtype="float64", value=np.nan)
    assert np.isnan(nan_out[0, 0]) and nan_out[0, 1] == 1.0
    assert pad_sequences([[1, 2]], dtype="int64").dtype == np.int64


def test_pad_sequences_strings():
    out = pad_sequences([["a", "bb"], ["c"]], dtype="<U3", value="<p>")
    np.testing.assert_array_equal(out, [["a", "bb"], ["<p>", "c"]])
    obj = pad_sequences([["long word"], []], maxlen=2, dtype=object, value="", padding="post")
    assert obj.dtype == object
    assert obj.tolist() == [["long word", ""], ["", ""]]
    with pytest.raises(ValueError, match="not compatible with `value`"):
        pad_sequences([["a"]], value="x")


def test_pad_sequences_empty_sequences_and_zero_sequences():
    np.testing.assert_array_equal(pad_sequences([[], [1, 2]]), [[0, 0], [1, 2]])
    np.testing.assert_array_equal(pad_sequences([[], []]), np.zeros((2, 0)))
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([], maxlen=4).shape == (0, 4)
    out, lengths = pad_sequences([], return_lengths=True)
    assert out.shape == (0, 0) and lengths.shape == (0,) and lengths.dtype == np.int64
    out, lengths = pad_sequences([[1, 2, 3]], maxlen=0, return_lengths=True)
    assert out.shape == (1, 0) and lengths.tolist() == [0]


def test_pad_sequences_vector_items():
    seqs = [[[1, 2], [3, 4], [5, 6]], [[7, 8]], []]
    out = pad_sequences(seqs, maxlen=2, dtype="float32")
    assert out.shape == (3, 2, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [[[3, 4], [5, 6]], [[0, 0], [7, 8]], [[0, 0], [0, 0]]])
    post = pad_sequences(seqs, padding="post", truncating="post", maxlen=2)
    np.testing.assert_array_equal(post, [[[1, 2], [3, 4]], [[7, 8], [0, 0]], [[0, 0], [0, 0]]])
    # the sample shape comes from the first NON-empty sequence
    assert pad_sequences([[], [[1, 2, 3]]]).shape == (2, 1, 3)


def test_pad_sequences_accepts_arrays_tuples_and_tensors():
    seqs = [np.array([1, 2]), (3,), torch.tensor([4, 5, 6])]
    np.testing.assert_array_equal(pad_sequences(seqs), [[0, 1, 2], [0, 0, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(np.array([[1, 2], [3, 4]]), maxlen=3), [[0, 1, 2], [0, 3, 4]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sequences": [[1]], "maxlen": -1}, "maxlen must be non-negative"),
        ({"sequences": [[1]], "maxlen": 1.5}, "maxlen must be an int"),
        ({"sequences": [[1]], "padding": "middle"}, 'padding type "middle" not understood'),
        ({"sequences": [[1]], "truncating": "both"}, 'truncating type "both" not understood'),
        ({"sequences": [], "padding": "x"}, "padding type"),
        ({"sequences": 5}, "must be a list of iterables"),
        ({"sequences": None}, "must be a list of iterables"),
        ({"sequences": "abc"}, "must be a list of iterables"),
        ({"sequences": [1, 2]}, "Found non-iterable at position 0"),
        ({"sequences": [[1], 2]}, "Found non-iterable at position 1"),
        ({"sequences": [[1, [2]]]}, "wrongly nested input"),
        ({"sequences": [[[1, 2], [3]]]}, "wrongly nested input"),
        ({"sequences": [[[1, 2]], [[1, 2, 3]]]}, "wrongly nested input.*position 1"),
        ({"sequences": [[1, 2], [[3, 4]]]}, "wrongly nested input.*position 1"),
        ({"sequences": [["a"]], "value": "pad"}, "dtype.*not compatible"),
    ],
)
def test_pad_sequences_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pad_sequences(**kwargs)


@PROPS
@given(int_seqs, st.sampled_from(["pre", "post"]), st.one_of(st.none(), st.integers(0, 10)))
def test_pad_sequences_matches_reference_model(seqs, truncating, maxlen):
    """Property: each row is the kept slice placed at the right end (pre) or left end (post)."""
    for padding in ("pre", "post"):
        out, lengths = pad_sequences(
            seqs, maxlen=maxlen, padding=padding, truncating=truncating, value=-7, return_lengths=True
        )
        width = max((len(s) for s in seqs), default=0) if maxlen is None else maxlen
        assert out.shape == (len(seqs), width)
        for row, s, n in zip(out, seqs, lengths, strict=True):
            kept = (s[-width:] if truncating == "pre" else s[:width]) if width else []
            assert n == len(kept) == min(len(s), width)
            real = row[width - n :] if padding == "pre" else row[:n]
            pads = row[: width - n] if padding == "pre" else row[n:]
            assert real.tolist() == kept
            assert (pads == -7).all()


# --------------------------------------------------------------------------------------------------------
# lengths_to_mask
# --------------------------------------------------------------------------------------------------------


def test_lengths_to_mask_basic():
    mask = lengths_to_mask([2, 0, 3])
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, [[1, 1, 0], [0, 0, 0], [1, 1, 1]])
    assert lengths_to_mask([1], maxlen=3).tolist() == [[True, False, False]]
    assert lengths_to_mask([]).shape == (0, 0)
    assert lengths_to_mask([], maxlen=2).shape == (0, 2)
    assert lengths_to_mask([0, 0]).shape == (2, 0)
    assert lengths_to_mask(np.array([2.0, 1.0])).tolist() == [[True, True], [True, False]]


def test_lengths_to_mask_torch_keeps_kind_and_device():
    lengths = torch.tensor([3, 1])
    mask = lengths_to_mask(lengths, maxlen=4)
    assert isinstance(mask, torch.Tensor) and mask.dtype == torch.bool and mask.device == lengths.device
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False]]
    assert lengths_to_mask(torch.zeros(0, dtype=torch.int64)).shape == (0, 0)


@pytest.mark.parametrize(
    ("lengths", "maxlen", "match"),
    [
        ([1, -1], None, "non-negative"),
        ([[1, 2]], None, "must be 1-D"),
        (5, None, "must be 1-D"),
        ([3, 1], 2, "maxlen 2 is smaller than the longest length 3"),
        ([1.5], None, "whole numbers"),
        (["a"], None, "must be integers"),
        (torch.tensor([1, -2]), None, "non-negative"),
        (torch.tensor([[1]]), None, "must be 1-D"),
        (torch.tensor([1.0]), None, "integer tensor"),
        (torch.tensor([3]), 1, "maxlen 1 is smaller"),
    ],
)
def test_lengths_to_mask_errors(lengths, maxlen, match):
    with pytest.raises(ValueError, match=match):
        lengths_to_mask(lengths, maxlen)


@PROPS
@given(lengths_st, st.integers(0, 3))
def test_lengths_to_mask_rows_are_prefixes(lengths, extra):
    maxlen = max(lengths, default=0) + extra
    mask = lengths_to_mask(lengths, maxlen)
    assert mask.shape == (len(lengths), maxlen)
    for row, n in zip(mask, lengths, strict=True):  # n True, then only False
        assert row[:n].all() and not row[n:].any()
    np.testing.assert_array_equal(lengths_to_mask(np.array(lengths, dtype=np.int64), maxlen), mask)
    t_lengths = torch.tensor(lengths, dtype=torch.int64)
    t_mask = lengths_to_mask(t_lengths, maxlen)
    assert torch.equal(t_mask, torch.from_numpy(mask))


@PROPS
@given(int_seqs)
def test_post_padding_mask_matches_pad_sequences(seqs):
    padded, lengths = pad_sequences(seqs, padding="post", value=-1, return_lengths=True)
    mask = lengths_to_mask(lengths, padded.shape[1])
    if padded.size:
        assert (padded[~mask] == -1).all()
    assert mask.sum(axis=1).tolist() == [len(s) for s in seqs]


# --------------------------------------------------------------------------------------------------------
# masked_softmax
# --------------------------------------------------------------------------------------------------------


def _check_softmax(probs: np.ndarray, mask: np.ndarray) -> None:
    assert np.isfinite(probs).all()
    assert (probs[~mask] == 0.0).all()  # exactly zero on pads
    sums = probs.sum(axis=-1)
    has_real = mask.any(axis=-1)
    np.testing.assert_allclose(sums[has_real], 1.0, rtol=1e-5)
    assert (sums[~has_real] == 0.0).all()  # all-masked rows are all zeros
    assert (probs >= 0).all()


@PROPS
@given(scores_and_mask(), st.integers(0, 2**32 - 1))
def test_masked_softmax_properties_numpy_and_torch(data, seed):
    scores, mask = data
    noise = np.random.default_rng(seed).normal(scale=1e3, size=scores.shape).astype(np.float32)
    changed = np.where(mask, scores, noise)  # same real scores, different pad scores
    p_np = masked_softmax(scores, mask)
    assert isinstance(p_np, np.ndarray) and p_np.dtype == np.float32
    _check_softmax(p_np, mask)
    np.testing.assert_array_equal(masked_softmax(changed, mask), p_np)

    s_t = torch.from_numpy(scores).requires_grad_(True)
    p_t = masked_softmax(s_t, torch.from_numpy(mask))
    assert isinstance(p_t, torch.Tensor) and p_t.dtype == torch.float32
    _check_softmax(p_t.detach().numpy(), mask)
    assert torch.equal(p_t.detach(), masked_softmax(torch.from_numpy(changed), torch.from_numpy(mask)))
    np.testing.assert_allclose(p_t.detach().numpy(), p_np, rtol=1e-5, atol=1e-6)

    weights = torch.from_numpy(np.random.default_rng(seed + 1).normal(size=scores.shape).astype(np.float32))
    (p_t * weights).sum().backward()
    assert torch.isfinite(s_t.grad).all()
    assert (s_t.grad[~torch.from_numpy(mask)] == 0).all()


def test_masked_softmax_all_masked_row_is_zero_with_finite_grad():
    scores = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    probs = masked_softmax(scores, mask)
    assert probs[1].tolist() == [0.0, 0.0, 0.0]
    assert probs[0, 2].item() == 0.0
    torch.testing.assert_close(probs[0, :2], torch.softmax(scores[0, :2], dim=0))
    (probs**2).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert scores.grad[1].tolist() == [0.0, 0.0, 0.0]


def test_masked_softmax_broadcast_dim_and_extremes():
    scores = torch.randn(2, 4, 5)  # (B, T_q, T_k)
    key_mask = lengths_to_mask(torch.tensor([5, 2])).unsqueeze(1)  # (B, 1, T_k)
    probs = masked_softmax(scores, key_mask)
    assert probs.shape == (2, 4, 5)
    assert (probs[1, :, 2:] == 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 4))
    # softmax over another dim
    col = masked_softmax(scores, torch.ones(2, 4, 1, dtype=torch.bool), dim=1)
    torch.testing.assert_close(col, torch.softmax(scores, dim=1))
    # huge and -inf real scores at pads do not leak
    s = torch.tensor([[1e30, 0.0, float("-inf")]])
    out = masked_softmax(s, torch.tensor([[False, True, False]]))
    assert out.tolist() == [[0.0, 1.0, 0.0]]
    # half precision and integer scores
    half = masked_softmax(torch.zeros(1, 2, dtype=torch.float16), torch.tensor([[True, False]]))
    assert half.dtype == torch.float16 and half.tolist() == [[1.0, 0.0]]
    assert masked_softmax(np.array([[1, 1]]), np.array([[True, True]])).tolist() == [[0.5, 0.5]]
    # numpy scores with a torch mask stay numpy; a list mask works with tensors
    assert isinstance(masked_softmax(np.zeros((1, 2)), torch.tensor([[True, True]])), np.ndarray)
    assert isinstance(masked_softmax(torch.zeros(1, 2), [[True, True]]), torch.Tensor)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_masked_softmax_shape_errors(kind):
    scores = np.zeros((2, 3))
    mask = np.ones((2, 4), dtype=bool)
    if kind == "torch":
        scores, mask = torch.from_numpy(scores), torch.from_numpy(mask)
    with pytest.raises(
        ValueError, match=r"mask of shape \(2, 4\) is not broadcastable to scores of shape \(2, 3\)"
    ):
        masked_softmax(scores, mask)
    bigger = np.ones((3, 2, 3), dtype=bool)  # broadcastable together, but would enlarge scores
    if kind == "torch":
        bigger = torch.from_numpy(bigger)
    with pytest.raises(ValueError, match=r"mask of shape \(3, 2, 3\)"):
        masked_softmax(scores, bigger)


# --------------------------------------------------------------------------------------------------------
# masked_pool
# --------------------------------------------------------------------------------------------------------

_REF = {"mean": np.mean, "max": np.max, "sum": np.sum}


@PROPS
@given(batch_and_lengths(), st.sampled_from(["mean", "max", "sum"]))
def test_masked_pool_equals_pooling_unpadded(data, mode):
    x, lengths = data
    x = x.copy()
    mask = lengths_to_mask(lengths, x.shape[1])
    x[~mask] = np.nan  # pad contents must never matter, even NaN
    rows = [x[i, :n] for i, n in enumerate(lengths)]  # the real tokens of each row
    expected = np.stack([_REF[mode](row, axis=0) if len(row) else np.zeros(x.shape[2]) for row in rows])
    pooled = masked_pool(x, mask, mode)
    assert isinstance(pooled, np.ndarray) and pooled.shape == (x.shape[0], x.shape[2])
    np.testing.assert_allclose(pooled, expected, rtol=1e-12, atol=1e-12)

    xt = torch.from_numpy(x).requires_grad_(True)
    pooled_t = masked_pool(xt, torch.from_numpy(mask), mode)
    assert isinstance(pooled_t, torch.Tensor) and pooled_t.dtype == torch.float64
    np.testing.assert_allclose(pooled_t.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    pooled_t.sum().backward()
    assert torch.isfinite(xt.grad).all()
    assert (xt.grad[~torch.from_numpy(mask)] == 0).all()


def test_masked_pool_all_pad_rows_and_dtypes():
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    mask = np.array([[True, False, True], [False, False, False]])
    for mode, first in [("mean", [2.0, 3.0]), ("max", [4.0, 5.0]), ("sum", [4.0, 6.0])]:
        out = masked_pool(x, mask, mode)
        assert out.dtype == np.float32
        assert out.tolist() == [first, [0.0, 0.0]]
        out_t = masked_pool(torch.from_numpy(x), torch.from_numpy(mask), mode)
        assert out_t.tolist() == [first, [0.0, 0.0]]
    ints = np.array([[[-5], [-3]], [[1], [2]]])
    int_mask = np.array([[True, True], [False, False]])
    assert masked_pool(ints, int_mask, "max").tolist() == [[-3], [0]]
    assert masked_pool(ints, int_mask, "mean").tolist() == [[-4.0], [0.0]]
    assert masked_pool(torch.from_numpy(ints), torch.from_numpy(int_mask), "max").tolist() == [[-3], [0]]
    assert masked_pool(torch.from_numpy(ints), torch.from_numpy(int_mask), "mean").tolist() == [[-4.0], [0.0]]
    for mode in ("mean", "max", "sum"):  # zero time steps
        assert masked_pool(np.zeros((2, 0, 3)), np.zeros((2, 0), bool), mode).tolist() == [[0.0] * 3] * 2
        empty = torch.zeros(2, 0, 3, requires_grad=True)
        pooled = masked_pool(empty, torch.zeros(2, 0, dtype=torch.bool), mode)
        assert pooled.shape == (2, 3) and (pooled == 0).all()
        pooled.sum().backward()  # still part of the graph
        assert empty.grad.shape == (2, 0, 3)


def test_masked_pool_errors():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="unknown pooling mode 'median'"):
        masked_pool(x, np.ones((2, 3), bool), "median")
    with pytest.raises(ValueError, match=r"got x \(2, 3, 4\) and mask \(2, 4\)"):
        masked_pool(x, np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"got x \(2, 3\) and mask \(2, 3\)"):
        masked_pool(np.zeros((2, 3)), np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"got x \(2, 3, 4\) and mask \(3, 2\)"):
        masked_pool(torch.zeros(2, 3, 4), torch.ones(3, 2, dtype=torch.bool))


# --------------------------------------------------------------------------------------------------------
# BucketBatchSampler / padding_fraction
# --------------------------------------------------------------------------------------------------------


@PROPS
@given(
    st.lists(st.integers(0, 50), max_size=120),
    st.integers(1, 9),
    st.integers(1, 4),
    st.integers(0, 1000),
    st.booleans(),
)
def test_sampler_covers_every_index_once_and_is_deterministic(lengths, batch_size, mult, seed, shuffle):
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed, bucket_size_multiplier=mult)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(isinstance(i, int) for i in flat)
    sizes = sorted(len(b) for b in batches)
    assert all(s == batch_size for s in sizes[1:])  # at most one short batch
    assert all(s >= 1 for s in sizes)
    again = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed, bucket_size_multiplier=mult)
    assert list(again) == batches == list(sampler)  # deterministic, and re-iterable
    sampler.set_epoch(3)
    again.set_epoch(3)
    assert list(sampler) == list(again)
    assert 0.0 <= sampler.padding_fraction() <= 1.0
    assert sampler.padding_fraction() == padding_fraction(lengths, list(sampler))


def test_sampler_buckets_reduce_padding_and_epochs_differ():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=1000).tolist()
    bucketed = BucketBatchSampler(lengths, 16, seed=1)
    random_batches = [list(map(int, b)) for b in np.array_split(rng.permutation(1000), 63)]
    assert bucketed.padding_fraction() < 0.1 < padding_fraction(lengths, random_batches)
    first = list(bucketed)
    bucketed.set_epoch(1)
    assert list(bucketed) != first
    bucketed.set_epoch(0)
    assert list(bucketed) == first
    assert list(BucketBatchSampler(lengths, 16, seed=2)) != first


def test_sampler_without_shuffle_and_small_cases():
    s = BucketBatchSampler([3, 1, 2, 5, 4], batch_size=2, shuffle=False, bucket_size_multiplier=1)
    # chunks of 2 in order, each sorted by length: [1, 0], [2, 3], [4]
    assert list(s) == [[1, 0], [2, 3], [4]]
    assert len(s) == 3
    whole = BucketBatchSampler([3, 1, 2, 5, 4], batch_size=2, shuffle=False)
    assert list(whole) == [[1, 2], [0, 4], [3]]
    assert whole.padding_fraction() == pytest.approx(2 / 17)  # cells 4 + 8 + 5, real 3 + 7 + 5
    empty = BucketBatchSampler([], batch_size=4)
    assert list(empty) == [] and len(empty) == 0 and empty.padding_fraction() == 0.0
    assert padding_fraction([0, 0], [[0, 1]]) == 0.0
    assert padding_fraction([2, 4], [[0, 1]]) == 0.25
    assert padding_fraction([2], [[], [0]]) == 0.0


def test_sampler_works_as_dataloader_batch_sampler():
    data = [torch.full((n,), i) for i, n in enumerate([4, 1, 3, 2, 2, 5, 1])]
    lengths = [len(d) for d in data]
    sampler = BucketBatchSampler(lengths, batch_size=3, seed=7)

    def collate(items):
        padded, lens = pad_sequences([t.tolist() for t in items], padding="post", return_lengths=True)
        return torch.from_numpy(padded), torch.from_numpy(lens)

    loader = torch.utils.data.DataLoader(data, batch_sampler=sampler, collate_fn=collate)
    seen = []
    for padded, lens in loader:
        seen.extend(int(row[0]) for row in padded)
        assert padded.shape[1] == int(lens.max())
    assert sorted(seen) == list(range(len(data)))
    assert len(loader) == len(sampler) == 3


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1, 2], 0), {}, "batch_size must be a positive int"),
        (([1, 2], 2.0), {}, "batch_size must be a positive int"),
        (([1, 2], 2), {"bucket_size_multiplier": 0}, "bucket_size_multiplier must be a positive int"),
        (([1, 2], 2), {"seed": -1}, "seed must be a non-negative int"),
        (([1, -2], 2), {}, "lengths must be non-negative"),
        (([[1, 2]], 2), {}, "lengths must be 1-D"),
    ],
)
def test_sampler_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        BucketBatchSampler(*args, **kwargs)


def test_sampler_set_epoch_error():
    with pytest.raises(ValueError, match="epoch must be a non-negative int"):
        BucketBatchSampler([1], 1).set_epoch(-1)


# --------------------------------------------------------------------------------------------------------
# pack / unpack
# --------------------------------------------------------------------------------------------------------


@PROPS
@given(batch_and_lengths(min_len=1), st.sampled_from(["list", "numpy", "tensor"]))
def test_pack_unpack_round_trip_unsorted(data, lengths_kind):
    x_np, lengths_np = data
    x = torch.from_numpy(x_np)
    mask = torch.from_numpy(lengths_to_mask(lengths_np, x.shape[1]))
    lengths = {"list": lengths_np.tolist(), "numpy": lengths_np, "tensor": torch.from_numpy(lengths_np)}[
        lengths_kind
    ]
    packed = pack(x, lengths)
    assert isinstance(packed, torch.nn.utils.rnn.PackedSequence)
    padded, out_lengths = unpack(packed)
    assert out_lengths.tolist() == lengths_np.tolist()  # original order
    assert padded.shape == (x.shape[0], int(lengths_np.max()), x.shape[2])
    width = padded.shape[1]
    assert torch.equal(padded[mask[:, :width]], x[mask])
    assert (padded[~mask[:, :width]] == 0).all()
    full, _ = unpack(packed, total_length=x.shape[1])
    assert torch.equal(full, x.masked_fill(~mask.unsqueeze(-1), 0.0))


@PROPS
@given(batch_and_lengths(min_len=1, feat=3), st.integers(0, 2**32 - 1))
def test_gru_over_pack_ignores_pad_contents(data, seed):
    x_np, lengths = data
    torch.manual_seed(0)
    gru = torch.nn.GRU(input_size=3, hidden_size=4, batch_first=True).double()
    mask = torch.from_numpy(lengths_to_mask(lengths, x_np.shape[1]))  # (B, T)
    x = torch.from_numpy(x_np)
    zero_pads = x.masked_fill(~mask.unsqueeze(-1), 0.0)
    noise = torch.from_numpy(np.random.default_rng(seed).normal(size=x_np.shape))
    random_pads = torch.where(mask.unsqueeze(-1), x, noise)
    with torch.no_grad():
        out_a, h_a = gru(pack(zero_pads, lengths))
        out_b, h_b = gru(pack(random_pads, lengths))
        pad_a, _ = unpack(out_a)
        pad_b, _ = unpack(out_b)
        assert torch.equal(pad_a, pad_b)
        assert torch.equal(h_a, h_b)
        for i, n in enumerate(lengths.tolist()):  # each row equals the GRU over that row alone
            alone, h_alone = gru(x[i : i + 1, :n])
            torch.testing.assert_close(pad_a[i, :n], alone[0])
            torch.testing.assert_close(h_a[:, i], h_alone[:, 0])


def test_pack_errors():
    x = torch.zeros(3, 4, 2)
    with pytest.raises(ValueError, match=r"cannot pack zero-length rows \[1\]"):
        pack(x, [2, 0, 1])
    with pytest.raises(ValueError, match=r"lengths \[5\] exceed the batch width 4"):
        pack(x, [5, 1, 1])
    with pytest.raises(ValueError, match="got 2 lengths for a batch of 3 rows"):
        pack(x, [1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        pack(x, [1, -1, 1])
    with pytest.raises(ValueError, match="must be a torch tensor"):
        pack(np.zeros((3, 4, 2)), [1, 1, 1])
    with pytest.raises(ValueError, match="at least 2-D"):
        pack(torch.zeros(3), [1, 1, 1])
    with pytest.raises(ValueError, match="expected a PackedSequence"):
        unpack(x)


def test_pack_lengths_on_any_device_become_cpu_int64():
    packed = pack(torch.zeros(2, 3, 1), torch.tensor([3, 1], dtype=torch.int32))
    assert packed.batch_sizes.dtype == torch.int64 and packed.batch_sizes.device.type == "cpu"
    assert packed.unsorted_indices.tolist() == [0, 1]
    assert pack(torch.zeros(2, 3), [1, 3]).data.shape == (4,)  # (B, T) without features works too


# --------------------------------------------------------------------------------------------------------
# module hygiene
# --------------------------------------------------------------------------------------------------------


def test_doctests_pass():
    result = doctest.testmod(models.padding, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 15
    assert result.failed == 0


def test_numpy_paths_never_import_torch():
    code = (
        "import sys, numpy as np\n"
        "import models.padding as p\n"
        "assert 'torch' not in sys.modules\n"
        "x, n = p.pad_sequences([[1, 2], [3]], padding='post', return_lengths=True)\n"
        "m = p.lengths_to_mask(n)\n"
        "p.masked_softmax(x.astype(float), m)\n"
        "p.masked_pool(np.ones((2, 2, 3)), m, 'max')\n"
        "s = p.BucketBatchSampler([1, 2, 3], 2)\n"
        "list(s); len(s); s.padding_fraction()\n"
        "assert 'torch' not in sys.modules, 'torch got imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


# --------------------------------------------------------------------------------------------------------
# CUDA (runs only where a GPU is present; CI has none)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_stay_on_device():
    d = torch.device("cuda")
    lengths = torch.tensor([3, 1, 0], device=d)
    mask = lengths_to_mask(lengths, 4)  # (B, T)
    assert mask.device.type == "cuda" and mask.dtype == torch.bool
    for dt in (torch.float32, torch.float16, torch.bfloat16):
        s = torch.randn(3, 4, device=d, dtype=dt, requires_grad=True)
        p = masked_softmax(s, mask)
        (p * torch.randn_like(p)).sum().backward()
        assert p.device.type == "cuda" and p.dtype == dt and torch.isfinite(s.grad).all()
        assert (p[~mask] == 0).all() and (p[2] == 0).all()
        expected = torch.tensor([1.0, 1.0, 0.0], device=d)
        torch.testing.assert_close(p.float().sum(-1), expected, atol=1e-2, rtol=0)
    assert masked_softmax(torch.randn(3, 4, device=d), mask.cpu().numpy()).device.type == "cuda"
    x = torch.randn(3, 4, 5, device=d, requires_grad=True)
    for mode in ("mean", "max", "sum"):
        out = masked_pool(x, mask, mode)
        out.sum().backward()
        assert out.device.type == "cuda" and torch.isfinite(x.grad).all() and (out[2] == 0).all()
        torch.testing.assert_close(masked_pool(x.detach().cpu(), mask.cpu(), mode), out.detach().cpu())
    lengths2 = torch.tensor([2, 4, 1], device=d)
    gru = torch.nn.GRU(5, 6, batch_first=True).to(d)
    xp = torch.randn(3, 4, 5, device=d)
    packed = pack(xp, lengths2)  # lengths on the GPU are moved to the CPU
    assert packed.data.device.type == "cuda"
    out, h = gru(packed)
    padded, lens = unpack(out, total_length=4)
    assert padded.shape == (3, 4, 6) and lens.tolist() == [2, 4, 1]
    noisy = torch.where(lengths_to_mask(lengths2, 4).unsqueeze(-1), xp, torch.randn_like(xp) * 100)
    out2, h2 = gru(pack(noisy, lengths2.cpu().numpy()))
    torch.testing.assert_close(unpack(out2, 4)[0], padded)
    torch.testing.assert_close(h2, h)
    for i, n in enumerate(lengths2.tolist()):
        alone, _ = gru(xp[i : i + 1, :n])
        # cuDNN may use TF32 matmuls: compare loosely
        torch.testing.assert_close(padded[i, :n], alone[0], atol=2e-3, rtol=2e-3)
