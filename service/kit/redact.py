"""What the API never shows: the server's absolute paths and the credentials of a URL.

Views are built without either (a job shows the file it imports relative to the import directory,
a model its data by id); :class:`Redactor` is the safety net for the text a view cannot choose, such
as the message of a job that failed on an ``OSError``. It rewrites every absolute spelling of the
data directory (and of the import directory, where the service has one) to the name of its
setting::

    FileNotFoundError: [Errno 2] No such file or directory: '$EMBEDDINGS_DATA_DIR/embeddings/staged/…'

and drops the ``user:password@`` of any URL (:func:`redact_url`).

>>> redact_url("http://alice:s3cret@emb:8001/v1")
'http://***@emb:8001/v1'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: ``scheme://userinfo@``: what a URL's credentials look like.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s'\"]*@")


def redact_url(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it replaced by ``***@``."""
    return _USERINFO.sub(r"\1***@", text)


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries a ``user[:password]@`` part."""
    return _USERINFO.search(url) is not None


class Redactor:
    """Rewrite the absolute spellings of private directories in text (and in JSON values).

    ``roots`` are ``(directory, label)`` pairs; each directory is matched as written absolute and as
    resolved (symbolic links followed), longest first, and only as a whole path prefix.
    """

    def __init__(self, roots: Iterable[tuple[str | os.PathLike[str], str]]) -> None:
        forms: dict[str, str] = {}
        for root, label in roots:
            for form in (os.path.abspath(root), os.path.realpath(root)):
                form = form.rstrip("/")
                if form:  # never "/" itself
                    forms.setdefault(form, label)
        self._pattern = (
            re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)) + r"(?![\w.-])")
            if forms
            else None
        )
        self._labels = forms

    @classmethod
    def for_settings(cls, settings: Any) -> Redactor:
        """The service's private directories: ``data_dir`` and, if the service has one, ``import_dir``,
        labelled ``$<PREFIX>DATA_DIR`` / ``$<PREFIX>IMPORT_DIR``."""
        prefix = settings.model_config.get("env_prefix", "")
        roots: list[tuple[Path, str]] = [(settings.data_dir, f"${prefix}DATA_DIR")]
        import_dir = getattr(settings, "import_dir", None)
        if import_dir is not None:
            roots.append((import_dir, f"${prefix}IMPORT_DIR"))
        return cls(roots)

    def text(self, value: str) -> str:
        if self._pattern is not None:
            value = self._pattern.sub(lambda m: self._labels[m.group(0)], value)
        return redact_url(value)

    def __call__(self, value: Any) -> Any:
        """``value`` (JSON: dicts, lists, strings…) with every string rewritten by :meth:`text`."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value
