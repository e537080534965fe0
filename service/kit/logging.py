"""Structured logs: one JSON object per line, carrying the request id of the request being served.

>>> import logging; configure_logging("info", json_lines=True)
>>> logging.getLogger("demo").info("model loaded", extra={"model": "default"})  # doctest: +SKIP
{"ts": "2026-11-26T14:50:00.123Z", "level": "info", "logger": "demo", "msg": "model loaded", "model": "default"}
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

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
        return json.dumps(out, ensure_ascii=False)


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = request_id_var.get()
        base = super().format(record)
        return f"{base} [request_id={rid}]" if rid else base


def configure_logging(level: str = "info", *, json_lines: bool = True) -> None:
    """Send the root logger (and uvicorn's) to stderr, as JSON lines or plain text."""
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
