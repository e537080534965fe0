"""Job functions run by the kit's JobManager in worker processes during the kit's tests."""

from __future__ import annotations

import time
from pathlib import Path


def count(spec, report):
    """Report `n` steps, then return their sum."""
    total = 0
    for i in range(spec["n"]):
        total += i
        report(progress=(i + 1) / spec["n"], step=i + 1, loss=1.0 / (i + 1), history=True)
        time.sleep(spec.get("sleep", 0))
    return {"total": total}


def fail(spec, report):
    report(progress=0.5)
    raise ValueError("bad corpus: line 3 is not JSON")


def die(spec, report):
    import os

    os._exit(3)


def sleep_forever(spec, report):
    import os

    Path(spec["marker"]).write_text(str(os.getpid()))  # the worker's pid: tests check it ends
    report(progress=0.1)
    while True:
        time.sleep(0.05)


def write_model(spec, report):
    """Store a new version of model ``spec["name"]`` (its ``model.txt``: ``spec["text"]``) under
    ``spec["models_dir"]``, as a training job does."""
    from service.kit.model_store import ModelStore

    with ModelStore(Path(spec["models_dir"])).new_version(spec["name"], {"source": "job"}) as d:
        (d / "model.txt").write_text(spec["text"])
    report(progress=1.0)
    return {"name": spec["name"]}


def commit_slowly(spec, report):
    """Reach the job's commit point, say so in ``spec["marker"]``, then take a moment to "publish"."""
    from service.kit.job_worker import commit_point

    report(progress=0.5, phase="saving")
    commit_point()
    Path(spec["marker"]).write_text("committing")
    time.sleep(1.0)
    return {"published": True}


def stop_when_asked(spec, report):
    """Count steps until the runner asks the job to stop and keep (``keep=best``); returns the count,
    or raises NothingToKeep when ``spec["made"]`` is false (nothing worth keeping was made)."""
    from service.kit.job_worker import NothingToKeep, stop_requested

    Path(spec["marker"]).write_text("started")
    steps = 0
    report(progress=0.0)
    while not stop_requested():
        steps += 1
        time.sleep(0.02)
    if not spec["made"]:
        raise NothingToKeep("nothing made yet")
    return {"steps": steps, "stopped_by": "cancel"}
