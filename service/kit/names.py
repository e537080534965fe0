"""Names that become paths on disk: models, corpora, jobs.

A name matches :data:`NAME_PATTERN` — lowercase letters, digits, ``.``, ``_`` and ``-``, starting
with a letter or digit, at most 64 characters — so it can never contain a slash, start with a dot
or be ``..``. Routes take names through :data:`ModelName`; anything else is a 422.

>>> is_valid_name("default"), is_valid_name("../etc"), is_valid_name("A")
(True, False, False)
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_NAME_RE = re.compile(NAME_PATTERN)

NAME_DESCRIPTION = (
    "Lowercase letters, digits, '.', '_' and '-', starting with a letter or digit; at most 64 characters."
)

#: A model name taken from the URL path, validated before any handler runs.
ModelName = Annotated[
    str, Path(pattern=NAME_PATTERN, description=NAME_DESCRIPTION, examples=["default"], max_length=64)
]


def is_valid_name(name: str) -> bool:
    """Return True when ``name`` is safe to use as a single path component."""
    return bool(_NAME_RE.fullmatch(name))
