"""What the command line prints: the service's JSON (``--json``) or lines for a person.

Results go to stdout, errors and progress to stderr, so ``embattn ... --json | jq`` sees only JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from service.client.problems import ProblemError, ServiceUnreachableError

PROG = "embattn"


def raw(value: Any) -> Any:
    """The service's JSON behind a typed result (``ResultList.raw``, a dataclass's ``raw``)."""
    if hasattr(value, "raw"):
        return value.raw
    return value


def print_json(value: Any) -> None:
    """One JSON document on one line of stdout."""
    print(json.dumps(raw(value), ensure_ascii=False, default=str), flush=True)


def error(message: str) -> None:
    """One ``embattn: message`` line on stderr."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def problem(exc: ProblemError, *, as_json: bool) -> None:
    """A problem the service answered: ``embattn: <status> <code>: <detail>`` on stderr, then one
    line per invalid member; with ``--json`` the problem body also goes to stdout."""
    if as_json:
        print_json(exc.problem)
    error(f"{exc.status} {exc.code}: {exc.message}")
    for err in exc.errors[:20]:
        loc = ".".join(str(p) for p in err.get("loc", []))
        print(f"  {loc}: {err.get('msg', '')}", file=sys.stderr)


def unreachable(exc: ServiceUnreachableError) -> None:
    error(f"cannot connect to {exc.url}: {exc.reason}")


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def compact(value: Any) -> str:
    """A value as one line: compact JSON for objects and lists."""
    return _scalar(raw(value))


def fields(data: dict[str, Any], *, skip: tuple[str, ...] = (), indent: int = 0) -> None:
    """A JSON object as aligned ``key: value`` lines (nested values as compact JSON)."""
    keys = [k for k in data if k not in skip and data[k] is not None]
    width = max((len(k) for k in keys), default=0)
    for key in keys:
        print(f"{' ' * indent}{key:<{width}}  {_scalar(data[key])}")


def table(rows: list[list[Any]], header: list[str], *, indent: int = 0) -> None:
    """Rows as left-aligned columns under a header."""
    cells = [[str(h) for h in header]] + [["" if c is None else _scalar(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        print(" " * indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
