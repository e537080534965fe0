"""Attention heatmaps rendered with matplotlib's object API (Agg; no pyplot global state)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FORMATS = ("png", "svg")


def _labels(tokens: Sequence[str]) -> list[str]:
    """Tick labels; whitespace tokens become a visible "\u2423"."""
    return ["\u2423" if t.isspace() else t for t in tokens]


def attention_heatmap(
    attention: np.ndarray,
    src_tokens: Sequence[str],
    tgt_tokens: Sequence[str],
    fmt: str = "png",
    title: str | None = None,
    dpi: int = 100,
) -> bytes:
    """Draw ``attention`` (T, S) with source tokens on the x axis and output tokens on the y axis.

    Returns the image bytes (PNG or SVG). ValueError for a bad format or mismatched labels.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; expected one of {FORMATS}")
    att = np.asarray(attention, dtype=np.float32)
    if att.ndim != 2 or att.shape != (len(tgt_tokens), len(src_tokens)):
        raise ValueError(
            f"attention shape {att.shape} does not match {len(tgt_tokens)} output x {len(src_tokens)} source tokens"
        )
    width = max(3.0, 0.35 * len(src_tokens) + 1.5)
    height = max(2.5, 0.35 * len(tgt_tokens) + 1.2)
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    shown = att if att.size else np.zeros((1, max(len(src_tokens), 1)), dtype=np.float32)  # empty output
    image = ax.imshow(shown, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    # single characters read best upright; longer (word) labels are turned to fit their columns
    upright = all(len(t) <= 1 for t in src_tokens)
    ax.set_xticks(range(len(src_tokens)), _labels(src_tokens), rotation=0 if upright else 90)
    ax.set_yticks(range(len(tgt_tokens)), _labels(tgt_tokens))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return buf.getvalue()
