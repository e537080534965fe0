"""Padding and masking: the one place where variable-length batches are made and undone.

Both services use this module:

* the embeddings service pools word vectors into sentence vectors (numpy arrays), and
* the attention service builds padded batches, packs them for GRU encoders and masks attention
  (torch tensors).

Conventions (every function here):

* batch-first: a batch is ``(B, T, *)`` -- ``B`` rows, ``T`` time steps;
* a mask is boolean ``(B, T)`` with ``True`` = real token, ``False`` = padding;
* functions marked "numpy or torch" return the same kind of array they were given
  (a torch tensor stays on its device);
* torch is imported lazily, so ``import models.padding`` (and every numpy path) never imports it.

Errors are ``ValueError`` with a message naming the problem.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "BucketBatchSampler",
    "lengths_to_mask",
    "masked_pool",
    "masked_softmax",
    "pack",
    "pad_sequences",
    "padding_fraction",
    "unpack",
]

_SIDES = ("pre", "post")
_POOL_MODES = ("mean", "max", "sum")


# ----------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------


def _torch():
    """Import torch on first use (keeps the numpy paths torch-free)."""
    import torch

    return torch


def _is_torch(x: Any) -> bool:
    """True when ``x`` is a torch tensor. Never imports torch: if torch is not loaded, x is no tensor."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _as_lengths_numpy(lengths: Any, name: str = "lengths") -> np.ndarray:
    """Validate 1-D non-negative integer lengths and return them as int64 numpy ``(B,)``."""
    arr = np.asarray(lengths)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one length per row), got shape {tuple(arr.shape)}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise ValueError(f"{name} must be whole numbers, got {arr.tolist()}")
    out = arr.astype(np.int64)
    if (out < 0).any():
        raise ValueError(f"{name} must be non-negative, got {out.tolist()}")
    return out


# ----------------------------------------------------------------------------------------------------------
# pad_sequences (Keras semantics)
# ----------------------------------------------------------------------------------------------------------


def pad_sequences(
    sequences: Any,
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
    return_lengths: bool = False,
):
    """Pad a list of sequences to one numpy array, with ``keras.utils.pad_sequences`` semantics.

    Returns a numpy array of shape ``(n, maxlen, *feature_shape)`` (``feature_shape`` taken from the
    first non-empty sequence, ``()`` for scalar items). With ``return_lengths=True`` returns
    ``(padded, lengths)`` where ``lengths`` (int64, ``(n,)``) counts the real items kept in each row
    after truncation -- the way to get the true lengths back (e.g. for :func:`lengths_to_mask`).

    * ``maxlen=None`` pads to the longest sequence; sequences longer than ``maxlen`` are truncated.
    * ``padding``/``truncating``: ``"pre"`` (default, Keras' default) works at the start of a
      sequence, ``"post"`` at the end. Truncating ``"pre"`` keeps the *last* ``maxlen`` items.
    * ``value`` fills the pads; string values need a string or ``object`` dtype, as in Keras.
    * Empty sequences become all-pad rows; zero sequences give shape ``(0, maxlen or 0)``.
    * ``maxlen=0`` gives ``(n, 0)`` (Keras itself fails there).

    Raises ``ValueError`` for a negative ``maxlen``, ``padding``/``truncating`` not in
    ``{"pre", "post"}``, non-iterable input, wrongly nested input (items of a row, or rows, with
    different shapes), and a string ``value`` with a non-string ``dtype``.

    >>> pad_sequences([[1, 2, 3], [4, 5], [6]])
    array([[1, 2, 3],
           [0, 4, 5],
           [0, 0, 6]], dtype=int32)
    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post", truncating="post", value=-1)
    array([[ 1,  2],
           [ 4, -1]], dtype=int32)
    >>> padded, lengths = pad_sequences([[7, 8, 9], [1]], maxlen=2, padding="post", return_lengths=True)
    >>> padded, lengths
    (array([[8, 9],
           [1, 0]], dtype=int32), array([2, 1]))
    """
    if padding not in _SIDES:
        raise ValueError(f'padding type "{padding}" not understood: must be "pre" or "post"')
    if truncating not in _SIDES:
        raise ValueError(f'truncating type "{truncating}" not understood: must be "pre" or "post"')
    if maxlen is not None:
        if isinstance(maxlen, bool) or not isinstance(maxlen, int | np.integer):
            raise ValueError(f"maxlen must be an int or None, got {maxlen!r}")
        if maxlen < 0:
            raise ValueError(f"maxlen must be non-negative, got {maxlen}")
        maxlen = int(maxlen)
    if not hasattr(sequences, "__len__") or isinstance(sequences, str | bytes):
        raise ValueError(f"`sequences` must be a list of iterables, got {type(sequences).__name__}")

    num_samples = len(sequences)
    seq_lengths: list[int] = []
    sample_shape: tuple[int, ...] = ()
    found_first = False
    # Keras: take the sample shape from the first non-empty sequence; check the others below.
    for idx, s in enumerate(sequences):
        try:
            n = len(s)
        except TypeError as e:
            raise ValueError(
                f"`sequences` must be a list of iterables. Found non-iterable at position {idx}: {s!r}"
            ) from e
        seq_lengths.append(n)
        if not found_first and n:
            try:
                sample_shape = np.asarray(s).shape[1:]
            except ValueError as e:
                raise ValueError(
                    f"wrongly nested input: the items of the sequence at position {idx} have different shapes"
                ) from e
            found_first = True

    if maxlen is None:
        maxlen = max(seq_lengths, default=0)

    np_dtype = np.dtype(dtype)
    is_dtype_str = np_dtype.kind in ("U", "S")
    if isinstance(value, str) and np_dtype != np.dtype(object) and not is_dtype_str:
        raise ValueError(
            f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}. "
            "You should set `dtype=object` for variable length strings."
        )

    x = np.full((num_samples, maxlen) + tuple(sample_shape), value, dtype=np_dtype)  # (n, maxlen, *feat)
    kept = np.zeros(num_samples, dtype=np.int64)  # (n,)
    for idx, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue  # empty sequence (or nothing to keep): an all-pad row
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        try:
            trunc = np.asarray(trunc, dtype=np_dtype)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"wrongly nested input: the sequence at position {idx} cannot be converted to an array "
                f"of dtype {np_dtype} with items of shape {tuple(sample_shape)} ({e})"
            ) from e
        if trunc.shape[1:] != tuple(sample_shape):
            raise ValueError(
                f"wrongly nested input: shape of sample {trunc.shape[1:]} of sequence at position {idx} "
                f"is different from expected shape {tuple(sample_shape)}"
            )
        if padding == "post":
            x[idx, : len(trunc)] = trunc
        else:
            x[idx, -len(trunc) :] = trunc
        kept[idx] = len(trunc)
    if return_lengths:
        return x, kept
    return x


# ----------------------------------------------------------------------------------------------------------
# lengths -> mask
# ----------------------------------------------------------------------------------------------------------


def lengths_to_mask(lengths: Any, maxlen: int | None = None):
    """Boolean mask ``(B, T)`` from lengths ``(B,)``: ``mask[i, t] = t < lengths[i]`` (True = real token).

    numpy or torch: a tensor gives a bool tensor on the same device; anything else (list, numpy)
    gives a bool numpy array. ``maxlen=None`` means ``max(lengths)`` (0 for no rows). This is the
    mask of a *post*-padded batch.

    Raises ``ValueError`` for non-1-D lengths, negative lengths, or ``maxlen`` smaller than the
    longest length.

    >>> lengths_to_mask([3, 1, 0])
    array([[ True,  True,  True],
           [ True, False, False],
           [False, False, False]])
    >>> lengths_to_mask([1, 2], maxlen=4).astype(int)
    array([[1, 0, 0, 0],
           [1, 1, 0, 0]])
    """
    if _is_torch(lengths):
        torch = _torch()
        if lengths.dim() != 1:
            raise ValueError(f"lengths must be 1-D (one length per row), got shape {tuple(lengths.shape)}")
        if lengths.is_floating_point() or lengths.dtype == torch.bool or lengths.is_complex():
            raise ValueError(f"lengths must be an integer tensor, got dtype {lengths.dtype}")
        longest = int(lengths.max()) if lengths.numel() else 0
        if lengths.numel() and int(lengths.min()) < 0:
            raise ValueError(f"lengths must be non-negative, got {lengths.tolist()}")
        width = _check_maxlen(maxlen, longest)
        steps = torch.arange(width, device=lengths.device)  # (T,)
        return steps.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    arr = _as_lengths_numpy(lengths)  # (B,)
    longest = int(arr.max()) if arr.size else 0
    width = _check_maxlen(maxlen, longest)
    return np.arange(width)[None, :] < arr[:, None]  # (B, T)


def _check_maxlen(maxlen: Any, longest: int) -> int:
    if maxlen is None:
        return longest
    if isinstance(maxlen, bool) or not isinstance(maxlen, int | np.integer):
        raise ValueError(f"maxlen must be an int or None, got {maxlen!r}")
    if maxlen < longest:
        raise ValueError(f"maxlen {maxlen} is smaller than the longest length {longest}")
    return int(maxlen)


# ----------------------------------------------------------------------------------------------------------
# masked softmax and pooling
# ----------------------------------------------------------------------------------------------------------


def _check_broadcast(mask_shape: tuple[int, ...], scores_shape: tuple[int, ...]) -> None:
    try:
        target = np.broadcast_shapes(tuple(mask_shape), tuple(scores_shape))
    except ValueError:
        target = None
    if target != tuple(scores_shape):
        raise ValueError(
            f"mask of shape {tuple(mask_shape)} is not broadcastable to scores of shape {tuple(scores_shape)}"
        )


def masked_softmax(scores: Any, mask: Any, dim: int = -1):
    """Softmax of ``scores`` over ``dim`` restricted to positions where ``mask`` is True.

    Returns probabilities with the shape of ``scores``: they sum to 1 over the real positions and are
    exactly ``0.0`` at masked positions, whatever scores sit there. A slice that is entirely masked
    returns all zeros (never NaN), and gradients are finite everywhere (zero at masked positions).

    numpy or torch: ``scores`` decides (a tensor gives a tensor, differentiable; numpy gives numpy of
    the scores' float dtype). ``mask`` (True = keep) must broadcast to ``scores``' shape, e.g.
    ``(B, 1, T)`` for scores ``(B, T_q, T)``; otherwise ``ValueError`` naming both shapes.

    >>> masked_softmax(np.array([[1.0, 1.0, 5.0], [0.0, 0.0, 0.0]]),
    ...                np.array([[True, True, False], [False, False, False]]))
    array([[0.5, 0.5, 0. ],
           [0. , 0. , 0. ]])
    """
    if _is_torch(scores):
        torch = _torch()
        scores_t = scores
        mask_t = mask if _is_torch(mask) else torch.as_tensor(np.asarray(mask), device=scores_t.device)
        _check_broadcast(tuple(mask_t.shape), tuple(scores_t.shape))
        if not scores_t.is_floating_point():
            scores_t = scores_t.to(torch.get_default_dtype())
        keep = mask_t.to(device=scores_t.device, dtype=torch.bool).expand_as(scores_t)  # like scores
        # A finite fill keeps the softmax (and its backward) NaN-free even for all-masked slices;
        # the second masked_fill makes pads exactly 0 and cuts their gradient.
        filled = scores_t.masked_fill(~keep, torch.finfo(scores_t.dtype).min)
        probs = torch.softmax(filled, dim=dim).masked_fill(~keep, 0.0)
        return probs
    scores_a = np.asarray(scores)
    if _is_torch(mask):
        mask = mask.detach().cpu().numpy()
    if not np.issubdtype(scores_a.dtype, np.floating):
        scores_a = scores_a.astype(np.float64)
    mask_a = np.asarray(mask)
    _check_broadcast(mask_a.shape, scores_a.shape)
    keep = np.broadcast_to(mask_a.astype(bool), scores_a.shape)  # like scores
    neg = np.where(keep, scores_a, -np.inf)
    top = np.max(neg, axis=dim, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(under="ignore"):
        ex = np.where(keep, np.exp(neg - top), 0.0)
    total = ex.sum(axis=dim, keepdims=True)
    out = ex / np.where(total > 0, total, 1.0)
    return out.astype(scores_a.dtype, copy=False)


def masked_pool(x: Any, mask: Any, mode: str = "mean"):
    """Pool ``x`` ``(B, T, D)`` over time, ignoring pads: returns ``(B, D)``.

    ``mask`` ``(B, T)`` is True at real tokens. ``mode``: ``"mean"`` (average of the real vectors),
    ``"max"`` (element-wise maximum over them) or ``"sum"``. A row without real tokens pools to zeros
    (never NaN or -inf). Pad contents never matter, even NaN. Extra trailing feature dimensions
    ``(B, T, *)`` are pooled the same way.

    numpy or torch: a tensor ``x`` gives a tensor (differentiable); numpy gives numpy. ``"mean"`` of
    an integer array is floating point. Raises ``ValueError`` for an unknown mode or when ``mask``'s
    shape is not ``x.shape[:2]``.

    >>> vecs = np.array([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    >>> masked_pool(vecs, np.array([[True, True, False]]))
    array([[2., 3.]])
    >>> masked_pool(vecs, np.array([[True, True, False]]), mode="max")
    array([[3., 4.]])
    """
    if mode not in _POOL_MODES:
        raise ValueError(f"unknown pooling mode {mode!r}: must be one of {', '.join(_POOL_MODES)}")
    if _is_torch(x):
        torch = _torch()
        mask_t = mask if _is_torch(mask) else torch.as_tensor(np.asarray(mask))
        if x.dim() < 3 or tuple(mask_t.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"x must be (B, T, D) and mask (B, T); got x {tuple(x.shape)} and mask {tuple(mask_t.shape)}"
            )
        keep = mask_t.to(device=x.device, dtype=torch.bool)  # (B, T)
        keep_x = keep.reshape(keep.shape + (1,) * (x.dim() - 2))  # (B, T, 1...)
        has_any = keep.any(dim=1).reshape((keep.shape[0],) + (1,) * (x.dim() - 2))  # (B, 1...)
        if mode == "max":
            if x.shape[1] == 0:
                return x.sum(dim=1, dtype=x.dtype)  # (B, D) zeros, still attached to the graph
            fill = torch.finfo(x.dtype).min if x.is_floating_point() else torch.iinfo(x.dtype).min
            best = torch.where(keep_x, x, torch.full((), fill, dtype=x.dtype, device=x.device)).amax(dim=1)
            return torch.where(has_any, best, torch.zeros((), dtype=x.dtype, device=x.device))  # (B, D)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        total = torch.where(keep_x, x, zero).sum(dim=1)  # (B, D)
        if mode == "sum":
            return total
        if not total.is_floating_point():
            total = total.to(torch.get_default_dtype())
        count = keep.sum(dim=1).clamp(min=1).to(total.dtype)  # (B,)
        return total / count.reshape(count.shape + (1,) * (total.dim() - 1))  # (B, D)
    xa = np.asarray(x)
    ma = mask.detach().cpu().numpy() if _is_torch(mask) else np.asarray(mask)
    if xa.ndim < 3 or ma.shape != xa.shape[:2]:
        raise ValueError(f"x must be (B, T, D) and mask (B, T); got x {xa.shape} and mask {ma.shape}")
    keep = ma.astype(bool)  # (B, T)
    keep_x = keep.reshape(keep.shape + (1,) * (xa.ndim - 2))  # (B, T, 1...)
    has_any = keep.any(axis=1).reshape((keep.shape[0],) + (1,) * (xa.ndim - 2))  # (B, 1...)
    if mode == "max":
        if np.issubdtype(xa.dtype, np.floating):
            fill = np.finfo(xa.dtype).min
        elif xa.dtype == bool:
            fill = False
        else:
            fill = np.iinfo(xa.dtype).min
        if xa.shape[1] == 0:
            return np.zeros((xa.shape[0],) + xa.shape[2:], dtype=xa.dtype)
        best = np.where(keep_x, xa, fill).max(axis=1)
        return np.where(has_any, best, np.zeros((), dtype=xa.dtype)).astype(xa.dtype, copy=False)
    total = np.where(keep_x, xa, np.zeros((), dtype=xa.dtype)).sum(axis=1)  # (B, D)
    if mode == "sum":
        return total.astype(xa.dtype, copy=False) if xa.dtype != bool else total
    if not np.issubdtype(total.dtype, np.floating):
        total = total.astype(np.float64)
    count = np.maximum(keep.sum(axis=1), 1).astype(total.dtype)  # (B,)
    return total / count.reshape(count.shape + (1,) * (total.ndim - 1))  # (B, D)


# ----------------------------------------------------------------------------------------------------------
# length bucketing
# ----------------------------------------------------------------------------------------------------------


def padding_fraction(lengths: Sequence[int], batches: Any) -> float:
    """Fraction in ``[0, 1]`` of padded cells when each batch pads to its own longest item.

    ``lengths[i]`` is the length of item ``i``; ``batches`` is an iterable of lists of item indices
    (e.g. a :class:`BucketBatchSampler`). Returns ``padded cells / total cells`` (0.0 when there are
    no cells at all).

    >>> padding_fraction([1, 3, 2, 2], [[0, 1], [2, 3]])  # 10 cells, 8 real
    0.2
    """
    total = 0
    real = 0
    for batch in batches:
        batch_lengths = [int(lengths[i]) for i in batch]
        if not batch_lengths:
            continue
        total += len(batch_lengths) * max(batch_lengths)
        real += sum(batch_lengths)
    if total == 0:
        return 0.0
    return (total - real) / total


class BucketBatchSampler:
    """Batches of similar-length items, to waste little compute on padding.

    A plain Python iterable of ``list[int]`` batches (no torch needed), usable as
    ``torch.utils.data.DataLoader(dataset, batch_sampler=sampler)``. Each epoch:

    1. shuffle all indices (seeded by ``(seed, epoch)``; skipped when ``shuffle=False``),
    2. cut them into chunks of ``batch_size * bucket_size_multiplier`` and sort each chunk by length
       (stable),
    3. cut each sorted chunk into batches of ``batch_size`` (only the very last batch may be smaller;
       nothing is dropped or repeated),
    4. shuffle the batch order (again only when ``shuffle=True``).

    The plan is deterministic for ``(seed, epoch)``; call :meth:`set_epoch` before each epoch to get
    a new one. ``len(sampler)`` is the number of batches, ``ceil(len(lengths) / batch_size)``.

    >>> sampler = BucketBatchSampler([5, 1, 4, 2, 3, 1], batch_size=2, shuffle=False)
    >>> list(sampler)
    [[1, 5], [3, 4], [2, 0]]
    >>> len(sampler), round(sampler.padding_fraction(), 3)  # 18 cells, 16 real
    (3, 0.111)
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        bucket_size_multiplier: int = 50,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if (
            isinstance(bucket_size_multiplier, bool)
            or not isinstance(bucket_size_multiplier, int | np.integer)
            or bucket_size_multiplier < 1
        ):
            raise ValueError(f"bucket_size_multiplier must be a positive int, got {bucket_size_multiplier!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        lens = lengths.detach().cpu().numpy() if _is_torch(lengths) else lengths
        self.lengths: list[int] = _as_lengths_numpy(lens).tolist()
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.bucket_size_multiplier = int(bucket_size_multiplier)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose plan the next iteration yields (plans are deterministic per epoch)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)

    def batches(self) -> list[list[int]]:
        """The current epoch's plan: a list of batches, each a list of item indices."""
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n).tolist() if self.shuffle else list(range(n))
        chunk = self.batch_size * self.bucket_size_multiplier
        plan: list[list[int]] = []
        for start in range(0, n, chunk):
            part = sorted(order[start : start + chunk], key=self.lengths.__getitem__)
            plan.extend(part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size))
        if self.shuffle:
            plan = [plan[i] for i in rng.permutation(len(plan)).tolist()]
        return plan

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def padding_fraction(self) -> float:
        """Padded-cell fraction of the current epoch's plan (see module-level :func:`padding_fraction`)."""
        return padding_fraction(self.lengths, self.batches())


# ----------------------------------------------------------------------------------------------------------
# pack / unpack for RNNs (torch only)
# ----------------------------------------------------------------------------------------------------------


def pack(x: Any, lengths: Any):
    """Pack a post-padded batch-first tensor ``(B, T, *)`` for an RNN: returns a ``PackedSequence``.

    ``lengths`` ``(B,)`` may be in any order (``enforce_sorted=False``) and of any kind (list, numpy,
    tensor on any device; it is moved to CPU int64 as PyTorch requires). Rows past their length are
    never read, so pad contents do not matter. Raises ``ValueError`` for a zero length (PyTorch
    cannot pack empty rows -- drop or give such rows at least one token), a length exceeding ``T``,
    or a lengths/batch size mismatch.

    >>> import torch
    >>> packed = pack(torch.arange(6.0).reshape(2, 3, 1), [1, 3])
    >>> packed.batch_sizes
    tensor([2, 1, 1])
    """
    torch = _torch()
    if not _is_torch(x):
        raise ValueError(f"x must be a torch tensor (B, T, *), got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"x must be at least 2-D (B, T, *), got shape {tuple(x.shape)}")
    lens = lengths.detach().cpu().numpy() if _is_torch(lengths) else lengths
    lens_np = _as_lengths_numpy(lens)  # (B,)
    if len(lens_np) != x.shape[0]:
        raise ValueError(f"got {len(lens_np)} lengths for a batch of {x.shape[0]} rows")
    if (lens_np == 0).any():
        raise ValueError(
            f"cannot pack zero-length rows {np.flatnonzero(lens_np == 0).tolist()}: "
            "PyTorch's pack_padded_sequence needs every length >= 1"
        )
    if lens_np.size and lens_np.max() > x.shape[1]:
        raise ValueError(
            f"lengths {lens_np[lens_np > x.shape[1]].tolist()} exceed the batch width {x.shape[1]}"
        )
    return torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.as_tensor(lens_np, dtype=torch.int64), batch_first=True, enforce_sorted=False
    )


def unpack(packed: Any, total_length: int | None = None):
    """Undo :func:`pack`: returns ``(padded (B, T, *), lengths (B,) int64 CPU)`` in the original row order.

    Pads are zeros; ``T`` is the longest length, or ``total_length`` when given (it must be at least
    the longest length -- pass the original ``T`` to get the original width back).

    >>> import torch
    >>> padded, lengths = unpack(pack(torch.tensor([[1.0, 0.0], [2.0, 3.0]]).unsqueeze(-1), [1, 2]))
    >>> padded.squeeze(-1), lengths
    (tensor([[1., 0.],
            [2., 3.]]), tensor([1, 2]))
    """
    torch = _torch()
    if not isinstance(packed, torch.nn.utils.rnn.PackedSequence):
        raise ValueError(f"expected a PackedSequence, got {type(packed).__name__}")
    padded, lengths = torch.nn.utils.rnn.pad_packed_sequence(
        packed, batch_first=True, total_length=total_length
    )
    return padded, lengths
