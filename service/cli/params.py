"""``--param key=value`` options: the value is read as JSON when it parses (``5``, ``0.1``, ``true``), else as text."""

from __future__ import annotations

import argparse
import json
from typing import Any


def key_value(text: str) -> tuple[str, Any]:
    """``"epochs=5"`` -> ``("epochs", 5)``; ``"schedule=linear"`` -> ``("schedule", "linear")``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def merged(pairs: list[tuple[str, Any]] | None, **named: Any) -> dict[str, Any] | None:
    """The named options that were given, then ``--param`` pairs over them; ``None`` when empty."""
    out = {k: v for k, v in named.items() if v is not None}
    out.update(dict(pairs or []))
    return out or None
