"""Structured logs: one JSON object per line, carrying the request id of the request being served.

:func:`configure_logging` sends every record to stderr, formatted by :class:`JsonFormatter`: after
``configure_logging("info")``, ``logging.getLogger("demo").info("model loaded", extra={"model":
"default"})`` writes the line that this formatter makes of that record:

>>> import logging
>>> record = logging.getLogger("demo").makeRecord(
...     "demo", logging.INFO, __file__, 1, "model %s", ("loaded",), None, extra={"model": "default"})
>>> print(JsonFormatter().format(record))
{"ts": "...T...Z", "level": "info", "logger": "demo", "msg": "model loaded", "model": "default"}

Python ``warnings`` (matplotlib's, gensim's, torch's…) are logged too, through the ``py.warnings``
logger, so they come out as JSON lines like everything else rather than raw text on stderr::

    {"ts": "…", "level": "warning", "logger": "py.warnings", "msg": "UserWarning: …",
     "warning_category": "UserWarning", "warning_file": "…/x.py", "warning_line": 12}
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from contextvars import ContextVar
from typing import Any, TextIO

from models.unicode import escape_surrogates, has_surrogate

#: The id of the request being served (set by the request-context middleware), or None.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Record attributes that are not "extra" fields (uvicorn adds an ANSI-coloured copy of its message).
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; ``extra={...}`` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        out = {"ts": ts, "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in out and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        line = json.dumps(out, ensure_ascii=False)
        # a lone surrogate (from a client's JSON) cannot be written as UTF-8: keep it as its JSON escape
        return escape_surrogates(line) if has_surrogate(line) else line


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = request_id_var.get()
        base = super().format(record)
        return f"{base} [request_id={rid}]" if rid else base


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` replacement: one ``py.warnings`` record with the warning's origin."""
    if file is not None:  # an explicit target (warnings.showwarning(..., file=f)): honour it
        try:
            file.write(warnings.formatwarning(message, category, filename, lineno, line))
        except OSError:
            pass
        return
    extra: dict[str, Any] = {
        "warning_category": category.__name__,
        "warning_file": filename,
        "warning_line": lineno,
    }
    logging.getLogger("py.warnings").warning("%s: %s", category.__name__, message, extra=extra)


def configure_logging(level: str = "info", *, json_lines: bool = True) -> None:
    """Send the root logger (and uvicorn's) to stderr, as JSON lines or plain text.

    Python warnings are captured (:func:`logging.captureWarnings`) and logged by ``py.warnings``
    with the same formatter, so every line the service writes stays JSON.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_lines else _PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Access lines come from our middleware (with request id and latency), not uvicorn's.
    logging.getLogger("uvicorn.access").disabled = True
    # Warnings: through the root handler (its formatter), never printed raw by warnings.showwarning.
    py_warnings = logging.getLogger("py.warnings")
    py_warnings.handlers[:] = []
    py_warnings.propagate = True
    py_warnings.disabled = False
    logging.captureWarnings(True)  # remembers the original showwarning for captureWarnings(False)
    warnings.showwarning = _log_warning
