"""The CPUs this process may use: its affinity mask, capped by a cgroup v2 ``cpu.max`` quota."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """Returns the cgroup v2 CPU quota in CPUs (``cpu.max`` "quota period"), or None when unlimited or absent."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """Returns the CPUs this process may use: ``len(os.sched_getaffinity(0))``, at most the cgroup
    quota rounded up, at least 1."""
    cpus = len(os.sched_getaffinity(0))
    quota = cgroup_quota(root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)
