"""Where a model and its tensors live: a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``) made
a :class:`torch.device`, and the device a model is on.

Training (:func:`models.seq2seq.training.train`'s ``device``) moves the model and each batch there;
inference (:mod:`models.seq2seq.inference`, :mod:`models.seq2seq.search`,
:mod:`models.seq2seq.evaluation`) follows the model: inputs are moved to :func:`model_device`, and
what is returned (ids, scores, attention arrays) is on the CPU. Checkpoints are written from CPU
copies and read with ``map_location="cpu"`` (:mod:`models.seq2seq.checkpoint`), so a model trained
on a GPU loads on a machine without one.

>>> resolve_device("cpu")
device(type='cpu')
>>> resolve_device(None)
device(type='cpu')
>>> resolve_device("auto").type in ("cpu", "cuda")
True
>>> resolve_device("tpu")
Traceback (most recent call last):
...
ValueError: device must be 'auto', 'cpu', 'cuda' or 'cuda:N', not 'tpu'
"""

from __future__ import annotations

import re

import torch
from torch import nn

#: The device names :func:`resolve_device` accepts (``cuda:N`` too).
DEVICE_NAMES = ("auto", "cpu", "cuda")
_CUDA = re.compile(r"cuda(?::(\d+))?")


def resolve_device(name: str | torch.device | None) -> torch.device:
    """Return the :class:`torch.device` for ``name``.

    ``None`` and ``"cpu"``: the CPU; ``"auto"``: the first CUDA GPU when ``torch.cuda.is_available()``,
    else the CPU; ``"cuda"`` / ``"cuda:N"``: that GPU. ValueError for another name, and for a CUDA
    device torch cannot use (no GPU, a CPU-only build of torch, no GPU ``N``), saying why.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name is None or name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    m = _CUDA.fullmatch(name) if isinstance(name, str) else None
    if m is None:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', not {name!r}")
    if not torch.cuda.is_available():
        build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(
            f"device {name!r} asked for, but torch finds no CUDA GPU (torch {torch.__version__}, {build}; "
            "torch.cuda.is_available() is False): use 'cpu' or 'auto'"
        )
    index = int(m.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device {name!r} asked for, but torch finds {torch.cuda.device_count()} CUDA GPU(s)"
        )
    return torch.device(name)


def model_device(model: nn.Module) -> torch.device:
    """Return the device of ``model``'s first parameter (the CPU for a model without parameters).

    >>> model_device(nn.Linear(2, 2))
    device(type='cpu')
    """
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


__all__ = ["DEVICE_NAMES", "model_device", "resolve_device"]
