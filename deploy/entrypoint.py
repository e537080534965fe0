"""Container entrypoint: size the thread pools to the container's CPU limit, then exec the service.

    python /opt/embattn/entrypoint.py SERVICE [options]   ->   python -m service SERVICE ...

* An empty ``EMBEDDINGS_*``/``ATTENTION_*``/``OMP_NUM_THREADS`` variable counts as unset (compose
  passes ``${X:-}`` through as ""), so it is removed and the service's default applies.
* ``<PREFIX>THREADS`` (and through it ``OMP_NUM_THREADS``, see ``service/__main__.py``) defaults to
  the CPU limit: the cgroup quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``) rounded up, bounded by
  the CPUs this process may run on. A value you set is kept.
* ``EMBATTN_SHARED_DATA=/data`` makes a read-only query replica: ``<DATA_DIR>/<service>/models``
  becomes a link to ``/data/<service>/models`` (mounted read-only), while the replica's jobs and
  uploads stay in its own ``<DATA_DIR>``, so it never touches the primary's jobs or temporaries.

The services and their prefixes come from :mod:`service.catalog` (pip-installed in the image;
it imports nothing heavy). ``python -m service`` then validates the settings: a placeholder
API token, say, is one plain line on stderr and exit status 2.

``exec`` keeps the process id, so the service itself receives SIGTERM (``podman stop``).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path

from service.catalog import SERVICES

PREFIXES = {name: spec.env_prefix for name, spec in SERVICES.items()}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cgroup_quota(root: Path) -> float | None:
    """CPUs granted by the cgroup CPU quota under ``root``, or None when unlimited or unreadable."""
    try:  # cgroup v2: "max 100000" or "150000 100000"
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for d in (root / "cpu", root / "cpu,cpuacct", root):  # cgroup v1: -1 = unlimited
        try:
            quota_us = int((d / "cpu.cfs_quota_us").read_text())
            period_us = int((d / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    return None


def cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> int:
    """Threads to use: the quota rounded up, at most the CPUs in this process's affinity mask."""
    cpus = len(os.sched_getaffinity(0))
    quota = cgroup_quota(root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def prepare_env(argv: list[str], env: MutableMapping[str, str], root: Path = Path("/sys/fs/cgroup")) -> None:
    """Drop empty settings, default the thread count and, for a replica, link the shared models."""
    for key in [k for k, v in env.items() if v == "" and k.startswith((*PREFIXES.values(), *THREAD_VARS))]:
        del env[key]
    prefix = PREFIXES.get(argv[0]) if argv else None
    if prefix:
        env.setdefault(prefix + "THREADS", str(cpu_limit(root)))
        if env.get("EMBATTN_SHARED_DATA"):
            link_shared_models(
                argv[0], Path(env.get(prefix + "DATA_DIR", "data")), Path(env["EMBATTN_SHARED_DATA"])
            )


def link_shared_models(service: str, data_dir: Path, shared: Path, wait_s: float = 600.0) -> None:
    """Link ``data_dir/service/models`` to the shared models, once the primary has created them."""
    target = shared / service / "models"
    deadline = time.monotonic() + wait_s
    while not target.is_dir():
        if time.monotonic() > deadline:
            raise SystemExit(f"entrypoint: {target} did not appear within {wait_s:.0f} s")
        time.sleep(1)
    link = data_dir / service / "models"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(target, target_is_directory=True)


def main() -> None:
    argv = sys.argv[1:]
    prepare_env(argv, os.environ)
    os.execv(sys.executable, [sys.executable, "-m", "service", *argv])  # noqa: S606 (exec is the point)


if __name__ == "__main__":
    main()
