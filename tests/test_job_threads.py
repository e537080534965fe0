"""Jobs use the machine: ``JOB_THREADS`` defaults to the CPUs this process may use (issue 22 item 1)."""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np
from gensim.models import KeyedVectors

from models.embeddings.ann import HnswParams, build_index
from service.embeddings.settings import Settings
from service.kit.cpus import available_cpus, cgroup_quota


def test_default_is_the_affinity_mask_without_a_quota(tmp_path: Path) -> None:
    assert cgroup_quota(tmp_path) is None
    assert available_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_a_cgroup_quota_caps_it(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota(tmp_path) == 1.5
    assert available_cpus(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_setting_zero_means_the_default(monkeypatch) -> None:
    monkeypatch.delenv("EMBEDDINGS_JOB_THREADS", raising=False)
    assert Settings().job_threads == 0
    monkeypatch.setenv("EMBEDDINGS_JOB_THREADS", "3")
    assert Settings().job_threads == 3


def test_job_worker_sets_faiss_threads() -> None:
    from service.kit.job_worker import _set_library_threads

    before = faiss.omp_get_max_threads()
    try:
        _set_library_threads(1)
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)


def test_vectors_are_added_in_batches_with_progress() -> None:
    rng = np.random.default_rng(0)
    kv = KeyedVectors(8)
    kv.add_vectors([f"w{i}" for i in range(1000)], rng.standard_normal((1000, 8)).astype(np.float32))
    seen: list[float] = []
    index = build_index(
        kv, HnswParams(m=8, ef_construction=20, ef_search=20), progress=seen.append, batch=300
    )
    assert index.ntotal == 1000
    assert seen == [0.3, 0.6, 0.9, 1.0]
