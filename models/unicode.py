"""Lone UTF-16 surrogates: what ``json.loads`` makes of an unpaired ``"\\ud800"`` escape.

Such a string is not Unicode text: it cannot be encoded as UTF-8, so a model trained on it fails
later, when its vocabulary is saved or a response is written. The JSON-lines readers refuse the line.

>>> surrogate_path(["ok", {"a": "\\ud800"}])
'[1].a'
>>> surrogate_path({"source": "abc"}) is None
True
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    """True when ``text`` holds a lone UTF-16 surrogate (U+D800..U+DFFF)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as ``\\udXXX`` (safe to print or send back)."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def surrogate_path(value: Any, path: str = "") -> str | None:
    """Where the first string with a lone surrogate is in a parsed JSON value (``"[2]"``, ``"source"``,
    ``"links[0]"``; ``""`` for the value itself; a dict key is named ``"<key>"``), or None."""
    if isinstance(value, str):
        return path if has_surrogate(value) else None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = surrogate_path(item, f"{path}[{i}]")
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and has_surrogate(key):
                return (
                    f"{path}.<key {escape_surrogates(key)!r}>"
                    if path
                    else f"<key {escape_surrogates(key)!r}>"
                )
            found = surrogate_path(item, name)
            if found is not None:
                return found
    return None


__all__ = ["escape_surrogates", "has_surrogate", "surrogate_path"]
