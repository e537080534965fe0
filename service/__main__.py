"""Command line: start one service with uvicorn.

    python -m service embeddings [--host 127.0.0.1] [--port 8001] [--data-dir data] [--workers 1]
    python -m service attention  [--host 127.0.0.1] [--port 8002] [--data-dir data] [--workers 1]

The services, their environment prefixes and default ports come from :mod:`service.catalog`.
Options override the service's environment settings (``EMBEDDINGS_*`` / ``ATTENTION_*``). Invalid
settings (a placeholder API token, say) are reported one per line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from pydantic import ValidationError  # light: no numpy, so the thread limits below still apply

from service.catalog import SERVICES


def settings_errors(exc: ValidationError, prefix: str) -> list[str]:
    """One plain line per invalid setting of a pydantic ``ValidationError``, named by its variable."""
    lines = []
    for err in exc.errors():
        var = prefix + "_".join(str(part) for part in err["loc"]).upper()
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(msg if msg.startswith(var) else f"{var}: {msg}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__.split("\n\n")[0])
    parser.add_argument("service", choices=sorted(SERVICES), help="which service to run")
    parser.add_argument("--host", help="interface to bind (default from the environment, else 127.0.0.1)")
    ports = ", ".join(f"{spec.port} {name}" for name, spec in SERVICES.items())
    parser.add_argument("--port", type=int, help=f"TCP port (default {ports})")
    parser.add_argument("--data-dir", help="directory of models, jobs and uploads (default ./data)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    args = parser.parse_args(argv)

    spec = SERVICES[args.service]
    prefix = spec.env_prefix
    for opt, var in (("host", "HOST"), ("port", "PORT"), ("data_dir", "DATA_DIR")):
        value = getattr(args, opt)
        if value is not None:
            os.environ[prefix + var] = str(value)
    # Bound BLAS/OpenMP threads before numpy, gensim or torch are imported.
    threads = os.environ.get(prefix + "THREADS", "1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, threads)

    try:
        settings = spec.settings_class()()
    except ValidationError as exc:
        for line in settings_errors(exc, prefix):
            print(f"{parser.prog} {spec.name}: {line}", file=sys.stderr)
        return 2

    import uvicorn

    from service.kit.http_server import http_protocol

    uvicorn.run(
        spec.app_factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        proxy_headers=True,
        # Slow or idle clients: headers within HEADER_TIMEOUT_S (408), an idle kept-alive connection
        # closed after 5 s, at most MAX_CONCURRENT_REQUESTS connections per process (503); a body that
        # stalls is the app's middleware's (BODY_TIMEOUT_S).
        http=http_protocol(header_timeout_s=settings.header_timeout_s, prefix=prefix),
        timeout_keep_alive=5,
        limit_concurrency=settings.max_concurrent_requests,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
