"""Learning-rate schedules: optional linear warmup, then constant / step / exponential / linear decay.

``step`` is the 0-based index of the optimizer update. Warmup (``warmup_steps = W > 0``)::

    lr_at(step) = lr * (step + 1) / W                  for step < W   (lr/W, 2·lr/W, ..., lr)

Then, with ``t = step - W`` (steps after warmup; ``t = step`` when W = 0)::

    constant     lr
    step         lr * rate ** floor(t / step_size)             ("x rate every step_size steps")
    exponential  lr * rate ** (t / decay_steps)
    linear       max(min_lr, lr - (t / T) * (lr - min_lr))     T = total_steps - W  (decay span)

A run whose length is only known as it goes (a time budget) moves the linear decay's end with
:func:`retarget`: the lr at the current step is kept, and the decay goes on in a straight line from
there to ``min_lr`` at the new ``total_steps`` (no jump in the lr, up or down).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

SCHEDULES = ("constant", "step", "exponential", "linear")


@dataclass
class ScheduleConfig:
    """Parameters of :func:`lr_at` (see the module docstring for the formulas)."""

    name: str = "constant"
    lr: float = 1e-3
    warmup_steps: int = 0
    rate: float = 0.5
    step_size: int = 1000
    decay_steps: int = 1000
    min_lr: float = 0.0
    total_steps: int = 0

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.name!r}; expected one of {SCHEDULES}")
        if self.lr <= 0:
            raise ValueError("lr must be > 0")
        if self.warmup_steps < 0:
            raise ValueError("warmup_steps must be >= 0")
        if self.name == "step" and self.step_size < 1:
            raise ValueError("step_size must be >= 1")
        if self.name == "exponential" and self.decay_steps < 1:
            raise ValueError("decay_steps must be >= 1")
        if self.name in ("step", "exponential") and not self.rate > 0:
            raise ValueError("rate must be > 0")
        if self.name == "linear" and self.total_steps <= self.warmup_steps:
            raise ValueError("linear schedule needs total_steps > warmup_steps")
        if self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError("min_lr must be in [0, lr]")

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict."""
        return asdict(self)


def lr_at(step: int, cfg: ScheduleConfig) -> float:
    """Return the learning rate for the 0-based update ``step`` (pure function of its arguments)."""
    if step < 0:
        raise ValueError("step must be >= 0")
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = step - cfg.warmup_steps
    if cfg.name == "constant":
        return cfg.lr
    if cfg.name == "step":
        return cfg.lr * cfg.rate ** math.floor(t / cfg.step_size)
    if cfg.name == "exponential":
        return cfg.lr * cfg.rate ** (t / cfg.decay_steps)
    span = cfg.total_steps - cfg.warmup_steps
    return max(cfg.min_lr, cfg.lr - (t / span) * (cfg.lr - cfg.min_lr))


def retarget(cfg: ScheduleConfig, step: int, total_steps: int) -> ScheduleConfig:
    """Return a config like ``cfg`` whose schedule ends at ``total_steps`` and agrees with ``cfg`` at ``step``.

    Linear schedule past its warmup: ``lr`` is moved so that the line through
    ``(step, lr_at(step, cfg))`` reaches ``min_lr`` at ``total_steps`` (lr_at(step) is unchanged; the
    warmup is over, so the moved ``lr`` changes nothing before ``step``); once at ``min_lr`` it stays
    there (``cfg`` is returned unchanged). Within the warmup, or another schedule: only ``total_steps``
    changes. ``total_steps`` is raised to ``max(step, warmup_steps) + 1`` when smaller.

    >>> cfg = ScheduleConfig(name="linear", lr=1.0, total_steps=100)
    >>> new = retarget(cfg, 50, 75)               # half way at lr 0.5; now 25 steps are left
    >>> [round(lr_at(s, new), 3) for s in (50, 60, 75, 90)]
    [0.5, 0.3, 0.0, 0.0]
    """
    total = max(total_steps, step + 1, cfg.warmup_steps + 1)
    if cfg.name != "linear" or step < cfg.warmup_steps:
        return replace(cfg, total_steps=total)
    current = lr_at(step, cfg)
    if current <= cfg.min_lr:
        return cfg  # at the floor: stay there
    t = step - cfg.warmup_steps
    slope = (current - cfg.min_lr) / (total - step)
    return replace(cfg, lr=current + t * slope, total_steps=total)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig) -> LambdaLR:
    """Return a ``LambdaLR`` whose lr at update k (after k ``scheduler.step()`` calls) is ``lr_at(k, cfg)``.

    The optimizer's base lr is set to ``cfg.lr``.
    """
    for group in optimizer.param_groups:
        group["lr"] = cfg.lr
        group["initial_lr"] = cfg.lr
    return LambdaLR(optimizer, lambda step: lr_at(step, cfg) / cfg.lr)
