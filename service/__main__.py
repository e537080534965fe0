"""Command line: start one service with uvicorn.

    python -m service embeddings [--host 127.0.0.1] [--port 8001] [--data-dir data] [--workers 1]
    python -m service attention  [--host 127.0.0.1] [--port 8002] [--data-dir data] [--workers 1]

Options override the service's environment settings (``EMBEDDINGS_*`` / ``ATTENTION_*``).
"""

from __future__ import annotations

import argparse
import os
import sys

SERVICES = {
    "embeddings": ("EMBEDDINGS_", "service.embeddings.app:create_app"),
    "attention": ("ATTENTION_", "service.attention.app:create_app"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__.split("\n\n")[0])
    parser.add_argument("service", choices=sorted(SERVICES), help="which service to run")
    parser.add_argument("--host", help="interface to bind (default from the environment, else 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8001 embeddings, 8002 attention)")
    parser.add_argument("--data-dir", help="directory of models, jobs and uploads (default ./data)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    args = parser.parse_args(argv)

    prefix, factory = SERVICES[args.service]
    for opt, var in (("host", "HOST"), ("port", "PORT"), ("data_dir", "DATA_DIR")):
        value = getattr(args, opt)
        if value is not None:
            os.environ[prefix + var] = str(value)
    # Bound BLAS/OpenMP threads before numpy, gensim or torch are imported.
    threads = os.environ.get(prefix + "THREADS", "1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, threads)

    import uvicorn

    from service.kit.settings import ServiceSettings

    module_name, _, _ = factory.partition(":")
    settings_module = __import__(module_name.rsplit(".", 1)[0] + ".settings", fromlist=["Settings"])
    settings: ServiceSettings = settings_module.Settings()
    uvicorn.run(
        factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        proxy_headers=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
