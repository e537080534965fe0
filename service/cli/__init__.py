"""``embattn``, the command line of both services (see :mod:`service.cli.main` and ``embattn --help``)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``embattn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    As the console script (``embattn = "service.cli:main"``) its return value is the exit status.
    """
    from service.cli.main import main as run

    return run(argv if argv is not None else sys.argv[1:])


__all__ = ["main"]
