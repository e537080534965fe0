"""Million-word vocabularies (issue 9): ANN against exact search, import cost, memory per process
and start-up time of the embeddings service on 1,000,000 x 300 vectors, over HTTP, as one table of
figures measured in one run.

    .venv/bin/python bench/million_bench.py [--words 1000000] [--dim 300] [--queries 200] [--fresh]
                                            [--out bench/out/million.json] [--cache bench/out/million]

* **Synthetic vectors**: ``--words`` x ``--dim`` float32 with cluster structure like real word
  vectors (``words / 100`` Gaussian centres with Zipf-like cluster sizes; each word = its centre +
  noise whose spread decays over the dimensions, like the PCA spectrum of trained vectors), written
  once with a fixed seed as a word2vec *binary* file in the cache directory and reused.
* **Import** through the API: ``POST /v1/models/{name}/import`` with the JSON body naming the file
  in ``EMBEDDINGS_IMPORT_DIR`` (a job) when the service has that setting, else the raw upload of
  the file (synchronous, ``EMBEDDINGS_MAX_UPLOAD_BYTES`` raised). Throughput (MB/s of file) and the
  peak RSS of the process that parsed it, against the file and the final matrix (n x dim x 4 bytes).
* **ANN index**: built explicitly by an ``index`` job with ``--m``/``--ef-construction``/
  ``--ef-search`` (``EMBEDDINGS_INDEX_MIN_VOCAB`` is set above the vocabulary, so nothing is built
  automatically). The service's data directory is kept in the cache, so a second run skips import
  and index (``--fresh`` redoes them; the vectors file is deterministic and always reused).
* **Queries**: ``--queries`` one-word ``/similar`` (topn 10) requests, one at a time on one
  keep-alive connection, answered by the index and exactly (``"exact": true``): p50 of each, the
  speed-up, and recall@10 of the ANN answers against the exact ones. Recall is also measured on a
  real model trained here through the API (Word2Vec on gensim's Lee corpus: a small vocabulary).
* **Disk**: before anything is written, the free space of the cache's disk is checked against what
  the run needs (the vectors file, the stored model, its index, the import's staging copy); the run
  stops there with the figure when it is short. 3 M x 300 needs about 12 GB.
* **End to end**: import + index job + start of a fresh process to its first answer, the
  GoogleNews-sized path (``--words 3000000``): target 10 minutes.
* **Processes**: ``--processes`` (default 2) separate server processes (``python -m service embeddings``) on ONE data
  directory, each queried exactly and through the index (so the shared pages are touched); RSS,
  USS (private) and PSS of each (psutil ``memory_full_info()`` when installed, else
  ``/proc/<pid>/smaps_rollup``, the same numbers), and a server with no model as the baseline.
* **Start-up**: time from ``Popen`` to the first 200 answer of ``/similar`` of each fresh
  process, the model being stored already. Before the servers start, the stored files are
  read once so that they are in the page cache (a cold memory-mapped index makes the first queries
  wait on random disk reads: measured 116 ms ANN p50 instead of 3 ms, 3.4-4.3 s to the first answer).

Every server listens on 127.0.0.1 and is stopped however the run ends. No figure is asserted here:
the table says, for each target of the issue, whether this run met it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port  # noqa: E402

MODEL = "synth"
LEE_MODEL = "lee"
SEED = 0
#: Version of :func:`write_vectors` (in the cached file's and data directory's names).
GENERATOR = 2
TOPN = 10
MB = 1e6
MiB = 1 << 20

#: The issue's targets.
TARGET_SPEEDUP = 50.0
TARGET_RECALL = 0.95
TARGET_PEAK_RATIO = 1.3
TARGET_EXTRA_MB = 50.0
TARGET_START_S = 2.0
TARGET_INDEX_RATIO = 0.6  # issue 22: the index holds the vectors once, quantized
TARGET_EXACT_OVER_PASS = 1.3  # issue 22: exact p50 within 1.3x of the memory-bandwidth floor
TARGET_ANN_OVER_FLOOR = 1.5  # issue 22: ANN p50 within 1.5x of the HTTP floor
TARGET_END_TO_END_S = 600.0  # issue 22: 3 M x 300 imported, indexed and answering within 10 minutes

#: Figures every run writes (the test checks them); dotted paths into the JSON.
REQUIRED = (
    "synthetic.ann_p50_ms",
    "synthetic.exact_p50_ms",
    "synthetic.speedup",
    "synthetic.numpy_pass_p50_ms",
    "synthetic.recall_at_10",
    "synthetic.index.recall_at_10",
    "synthetic.index.build_s",
    "lee.recall_at_10",
    "lee.vocab_size",
    "import.file_bytes",
    "import.matrix_bytes",
    "import.seconds",
    "import.mb_per_s",
    "import.peak_rss_bytes",
    "import.peak_over_matrix",
    "processes.baseline",
    "processes.servers",
    "processes.extra_uss_mb",
    "processes.pss_sum_bytes",
    "processes.n_times_one_rss_bytes",
    "startup.first_s",
    "startup.all_s",
)


# --------------------------------------------------------------------------- synthetic vectors

_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]  # 70 two-letter syllables


def word(i: int) -> str:
    """The ``i``-th synthetic word: ``i`` in base 70, one two-letter syllable a digit, at least two
    (unique: every syllable has two letters and only ``i < 70`` has a leading zero)."""
    digits = []
    while True:
        i, d = divmod(i, len(_SYLLABLES))
        digits.append(d)
        if i == 0:
            break
    if len(digits) < 2:
        digits.append(0)
    return "".join(_SYLLABLES[d] for d in reversed(digits))


def words(n: int) -> list[str]:
    return [word(i) for i in range(n)]


def file_size(n: int, dim: int) -> int:
    """Bytes of the word2vec binary file of ``n`` x ``dim`` synthetic vectors."""
    return len(f"{n} {dim}\n") + sum(len(w) for w in words(n)) + n * (1 + 4 * dim)


def write_vectors(path: Path, n: int, dim: int, seed: int = SEED, chunk: int = 50_000) -> None:
    """``n`` clustered ``dim``-float32 vectors as a word2vec binary file (as gensim writes it:
    ``"<n> <dim>\\n"``, then ``word + b" " + float32 LE`` per vector), written atomically.

    Two levels, like the neighbourhoods of trained vectors: ``n // 10000`` topics ~ N(0, 1); ``n // 100``
    cluster centres, each a random topic + N(0, 0.6^2); cluster sizes Zipf-like (weight of cluster k
    ~ (k + 10)^-0.5: at 1M words from ~30 to ~1,600 words, median ~75); a word is its centre +
    N(0, sigma_d) noise with sigma_d ~ d^-0.5 (RMS 0.7), a decaying spectrum like the PCA spectrum of
    trained vectors. The 1st / 10th neighbours' cosines come out at ~0.84 / ~0.81. Frequency rank and
    cluster are independent. (Flat, well-separated clusters are islands an HNSW graph misses.)
    """
    rng = np.random.default_rng(seed)
    clusters = max(1, n // 100)
    weights = (np.arange(clusters) + 10.0) ** -0.5
    which = rng.choice(clusters, size=n, p=weights / weights.sum())  # (n,)
    topics = rng.standard_normal((max(1, n // 10_000), dim), dtype=np.float32)  # (T, D)
    centres = topics[rng.integers(0, len(topics), clusters)]  # (C, D)
    centres += 0.6 * rng.standard_normal((clusters, dim), dtype=np.float32)
    sigma = np.arange(1, dim + 1, dtype=np.float32) ** -0.5
    sigma *= 0.7 / np.sqrt(np.mean(sigma**2))  # (D,)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(f"{n} {dim}\n".encode())
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            noise = rng.standard_normal((stop - start, dim), dtype=np.float32)  # (B, D)
            rows = (0.25 * (centres[which[start:stop]] + noise * sigma)).astype("<f4")  # (B, D)
            f.write(b"".join(word(start + i).encode() + b" " + rows[i].tobytes() for i in range(len(rows))))
    os.replace(tmp, path)


def disk_needed(n: int, dim: int, vectors_cached: bool) -> int:
    """Bytes of disk the run needs: the word2vec file (unless cached), the stored model (matrix,
    norms, words) with its index and the import's staging copy, plus 1 GiB of room."""
    matrix = n * dim * 4
    file = 0 if vectors_cached else file_size(n, dim)
    return file + 2 * matrix + matrix // 2 + 64 * n + (1 << 30)


def check_disk(cache: Path, n: int, dim: int, fresh: bool) -> None:
    """Exit with a message naming what is needed when the cache's disk has too little free space."""
    path = cache / f"vectors-{n}x{dim}-g{GENERATOR}-seed{SEED}.bin"
    cached = path.exists() and path.stat().st_size == file_size(n, dim)
    data = cache / f"data-{n}x{dim}-g{GENERATOR}"
    if data.exists() and not fresh:
        need = 1 << 30 if cached else file_size(n, dim) + (1 << 30)
    else:
        need = disk_needed(n, dim, cached)
    free = shutil.disk_usage(cache).free
    print(f"disk: {need / 1e9:.1f} GB needed in {cache}, {free / 1e9:.1f} GB free", flush=True)
    if free < need:
        raise SystemExit(
            f"not enough disk for {n:,} x {dim}: {need / 1e9:.1f} GB needed in {cache} "
            f"(vectors file, stored model, index, staging), {free / 1e9:.1f} GB free; use --cache elsewhere"
        )


def ensure_vectors(cache: Path, n: int, dim: int) -> tuple[Path, float | None]:
    """The cached vectors file (written when missing or of the wrong size); seconds spent writing it."""
    path = cache / f"vectors-{n}x{dim}-g{GENERATOR}-seed{SEED}.bin"
    if path.exists() and path.stat().st_size == file_size(n, dim):
        return path, None
    t0 = time.perf_counter()
    write_vectors(path, n, dim)
    return path, time.perf_counter() - t0


# --------------------------------------------------------------------------- processes and memory


def memory(pid: int) -> dict[str, int]:
    """RSS, USS (private pages), PSS and peak RSS (``VmHWM``) of ``pid``, in bytes."""
    out: dict[str, int] = {}
    try:
        import psutil

        info = psutil.Process(pid).memory_full_info()
        out = {"rss": info.rss, "uss": info.uss, "pss": info.pss}
    except ImportError:  # not a dependency of the project: the same numbers from the kernel
        fields: dict[str, int] = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                fields[key] = int(parts[0]) * 1024
        uss = sum(fields.get(k, 0) for k in ("Private_Clean", "Private_Dirty", "Private_Hugetlb"))
        out = {"rss": fields.get("Rss", 0), "uss": uss, "pss": fields.get("Pss", 0)}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            out["peak_rss"] = int(line.split()[1]) * 1024
    return out


class Server:
    """``python -m service embeddings`` on 127.0.0.1 (a context manager; stopped however it ends).

    ``started`` is the ``perf_counter`` just before ``Popen``; its log goes to ``log``.
    """

    def __init__(self, data_dir: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir, self.log_path = data_dir, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {"EMBEDDINGS_TRAIN_DEFAULT": "false", "EMBEDDINGS_LOG_JSON": "true", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def __enter__(self) -> Server:
        cmd = [sys.executable, "-m", "service", "embeddings", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **self.env}, stdout=self._log, stderr=subprocess.STDOUT
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")

    def wait_until(self, request: Any, timeout: float = 120.0) -> float:
        """Poll ``request(client) -> bool`` until true; returns seconds since ``Popen``."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while True:
                try:
                    if request(client):
                        return time.perf_counter() - self.started
                except httpx.TransportError:
                    pass
                self.alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not answering in {timeout} s; see {self.log_path}")
                time.sleep(0.01)

    def wait_ready(self, timeout: float = 120.0) -> float:
        return self.wait_until(lambda c: c.get("/readyz").status_code == 200, timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check(resp: httpx.Response, *status: int) -> Any:
    if resp.status_code not in status:
        raise RuntimeError(f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text[:2000]}")
    return resp.json() if resp.content else None


def wait_job(client: httpx.Client, job_id: str, timeout: float = 1800.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = check(client.get(f"/v1/jobs/{job_id}", params={"history": "false"}), 200)
        if job["status"] not in ("queued", "running"):
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {job['status']}: {json.dumps(job)[:2000]}")
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} not done in {timeout} s")
        time.sleep(0.2)


def wait_loaded(client: httpx.Client, name: str, pred: Any = None, timeout: float = 120.0) -> dict[str, Any]:
    """``GET /v1/models/{name}`` until it is loaded (and ``pred(info)``); returns the info."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/models/{name}")
        if r.status_code == 200:
            info = r.json()
            if info.get("loaded", True) and (pred is None or pred(info)):
                return info
        if time.monotonic() > deadline:
            raise RuntimeError(f"model {name} not loaded in {timeout} s: {r.status_code} {r.text[:500]}")
        time.sleep(0.1)


def json_import_available() -> bool:
    """Whether this service imports by a JSON body naming a file of ``EMBEDDINGS_IMPORT_DIR``."""
    from service.embeddings.settings import Settings

    return "import_dir" in Settings.model_fields


# --------------------------------------------------------------------------- phases


def index_params(args: argparse.Namespace) -> dict[str, int | float | str]:
    """Returns the index request's body: the kind, its parameters and the recall target."""
    if args.kind.startswith("ivf"):
        params: dict[str, int | float | str] = {"kind": args.kind}
    else:
        params = {
            "kind": args.kind,
            "m": args.m,
            "ef_construction": args.ef_construction,
            "ef_search": args.ef_search,
        }
    return {**params, "recall_target": args.recall_target}


def index_matches(info: dict[str, Any] | None, params: dict[str, Any]) -> bool:
    """Returns whether the index ``info`` was built with ``params`` (the search parameter, tuned by
    the job to reach the recall target, is not compared)."""
    built = {k: v for k, v in params.items() if k not in ("ef_search", "nprobe")}
    return bool(info) and all(info.get(k) == v for k, v in built.items())  # type: ignore[union-attr]


def import_synthetic(
    client: httpx.Client, srv: Server, vectors: Path, mode: str, n: int, dim: int
) -> dict[str, Any]:
    """Import ``vectors`` as model ``synth`` (a new version when it exists); the import's figures."""
    size = vectors.stat().st_size
    exists = client.get(f"/v1/models/{MODEL}").status_code == 200
    before = memory(srv.pid)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"mode": mode, "file_bytes": size, "matrix_bytes": n * dim * 4}
    if mode == "json":
        body = {"path": vectors.name, "format": "auto", "limit": None, "overwrite": exists}
        accepted = check(client.post(f"/v1/models/{MODEL}/import", json=body), 202)
        job = wait_job(client, accepted["job_id"])
        wall = time.perf_counter() - t0
        result = job.get("result") or {}
        out["job"] = {k: v for k, v in result.items() if k != "history"}
        out["seconds"] = float(result.get("import_s") or wall)
        out["wall_s"] = wall
        peak = result.get("peak_rss_bytes")
        out["peak_rss_bytes"] = int(peak) if peak is not None else None
        out["start_rss_bytes"] = result.get("start_rss_bytes")
        out["peak_rss_of"] = "the import job's process (its result's peak_rss_bytes)"
    else:
        with open(vectors, "rb") as f:
            resp = client.post(
                f"/v1/models/{MODEL}/import",
                params={"format": "word2vec-binary", "overwrite": str(exists).lower()},
                content=f,
                timeout=1800,
            )
        check(resp, 201)
        wall = time.perf_counter() - t0
        out["seconds"] = out["wall_s"] = wall
        after = memory(srv.pid)
        out["peak_rss_bytes"] = after["peak_rss"]
        out["server_rss_before_bytes"] = before["rss"]
        out["peak_rss_of"] = "the API process (VmHWM; it parses the upload in a thread)"
    out["mb_per_s"] = size / MB / out["seconds"]
    if out["peak_rss_bytes"] is not None:
        out["peak_over_matrix"] = out["peak_rss_bytes"] / out["matrix_bytes"]
        out["peak_over_file"] = out["peak_rss_bytes"] / size
    wait_loaded(client, MODEL)
    return out


def build_index(client: httpx.Client, name: str, params: dict[str, int], sample: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    accepted = check(client.post(f"/v1/models/{name}/index", json={**params, "sample": sample}), 202)
    job = wait_job(client, accepted["job_id"])
    info = wait_loaded(client, name, lambda i: index_matches(i.get("index"), params))
    out = dict(info["index"])
    out["job_wall_s"] = time.perf_counter() - t0
    out["job_result"] = {k: v for k, v in (job.get("result") or {}).items() if k != "index"}
    return out


def prepare_synthetic(args: argparse.Namespace, cache: Path, vectors: Path, logs: Path) -> dict[str, Any]:
    """The data directory of the 1M model with its index: made (import, index job) unless cached."""
    data = cache / f"data-{args.words}x{args.dim}-g{GENERATOR}"
    record = cache / f"data-{args.words}x{args.dim}-g{GENERATOR}.bench.json"
    if args.fresh:
        shutil.rmtree(data, ignore_errors=True)
        record.unlink(missing_ok=True)
    params = index_params(args)
    mode = args.import_mode
    if mode == "auto":
        mode = "json" if json_import_available() else "upload"
    env = {
        "EMBEDDINGS_THREADS": str(args.build_threads),
        "EMBEDDINGS_JOB_THREADS": str(args.build_threads),  # the index job's faiss threads
        "EMBEDDINGS_INDEX_MIN_VOCAB": str(args.words + 1),  # the bench builds the index itself
        "EMBEDDINGS_MAX_UPLOAD_BYTES": str(vectors.stat().st_size + (1 << 20)),
        "EMBEDDINGS_IMPORT_DIR": str(vectors.parent),
    }
    stored = json.loads(record.read_text()) if record.exists() else {}
    with Server(data, logs / "builder.log", env) as srv:
        srv.wait_ready()
        with httpx.Client(base_url=srv.url, timeout=600) as client:
            r = client.get(f"/v1/models/{MODEL}")
            info = r.json() if r.status_code == 200 else None
            cached = (
                info is not None
                and info.get("vocab_size") == args.words
                and index_matches(info.get("index"), params)
                and "import" in stored
                and "index" in stored
            )
            if cached:
                return {**stored, "cached": True}
            print(f"importing {vectors.name} ({vectors.stat().st_size / MB:.0f} MB, {mode}) ...", flush=True)
            imp = import_synthetic(client, srv, vectors, mode, args.words, args.dim)
            print(f"  {imp['seconds']:.1f} s, {imp['mb_per_s']:.0f} MB/s; building the index ...", flush=True)
            index = build_index(client, MODEL, params, args.index_sample)
            print(f"  built in {index.get('build_s')} s, recall@10 {index.get('recall_at_10')}", flush=True)
    out = {"import": imp, "index": index}
    record.write_text(json.dumps(out, indent=1))
    return {**out, "cached": False}


def timed_similar(client: httpx.Client, name: str, queries: list[str], exact: bool) -> tuple[list, list]:
    """One ``/similar`` request per word, in turn: (latencies in s, answers as word lists)."""
    lat, answers = [], []
    for w in queries:
        body = {"positive": [w], "topn": TOPN, "exact": exact}
        t0 = time.perf_counter()
        r = client.post(f"/v1/models/{name}/similar", json=body)
        lat.append(time.perf_counter() - t0)
        res = check(r, 200)
        if res.get("exact") is not exact:
            raise RuntimeError(f"asked exact={exact}, answered by exact={res.get('exact')}: {res}")
        answers.append([x["word"] for x in res["results"]])
    return lat, answers


def warm_page_cache(data: Path) -> float:
    """Read the stored model's files once (into the page cache), so that runs compare alike: a cold
    memory-mapped index makes the first queries wait on random disk reads. Returns the seconds."""
    t0 = time.perf_counter()
    for path in sorted((data / "embeddings" / "models" / MODEL).glob("v*/*")):
        if path.is_file():
            with open(path, "rb") as f:
                while f.read(16 << 20):
                    pass
    return time.perf_counter() - t0


def trivial_queries(client: httpx.Client, name: str, queries: list[str]) -> list[float]:
    """Latencies of a query with next to no work on the same model (``/similarity`` of one pair): the
    floor the HTTP path puts under any ``/similar``."""
    lat = []
    for a, b in zip(queries, queries[1:] + queries[:1], strict=True):
        t0 = time.perf_counter()
        check(client.post(f"/v1/models/{name}/similarity", json={"pairs": [[a, b]]}), 200)
        lat.append(time.perf_counter() - t0)
    return lat


def served_version(data: Path) -> Path:
    """The directory of the benchmark model's current (served) version in ``data``'s model store."""
    from service.kit.model_store import ModelStore

    current = ModelStore(data / "embeddings" / "models").current(MODEL)
    if current is None:
        raise FileNotFoundError(f"no stored version of {MODEL} under {data}")
    return current.path


def stored_matrix(version: Path) -> np.ndarray:
    """The stored version's float32 (n, D) matrix, memory-mapped, as the service loads it (either
    layout: the ``npy`` one of imported vectors or gensim's of a trained model)."""
    from models.embeddings import storage

    return storage.load_vectors(version, mmap=True).vectors


def faiss_alone(
    version: Path, vectors: np.ndarray, rows: np.ndarray, index_info: dict[str, Any]
) -> float | None:
    """p50 ms of the bare faiss search (in this process, the stored index memory-mapped) for the
    words of ``rows``, with the index's tuned search value (``ef_search`` or ``nprobe``): what the
    index itself costs, without HTTP, gensim's mean and the re-scoring. ``None`` without an index."""
    from models.embeddings import ann

    if not (version / ann.INDEX_FILE).exists():
        return None
    index = ann.load_index(version / ann.INDEX_FILE)
    value = int(index_info.get("nprobe") or index_info.get("ef_search") or 128)
    lat = []
    for r in rows.tolist():
        q = np.array(vectors[int(r)], dtype=np.float32)[None, :]  # (1, D), a copy of the mapped row
        q /= np.linalg.norm(q)
        t0 = time.perf_counter()
        ann._candidates(index, q, TOPN + 1, value)
        lat.append(time.perf_counter() - t0)
    del index
    return statistics.median(lat) * 1000


def numpy_pass(vectors: np.ndarray, rows: np.ndarray) -> float:
    """p50 ms of one numpy pass over the stored matrix (``vectors @ q``, the matrix memory-mapped and
    warm): the memory-bandwidth floor under any exact answer."""
    lat = []
    for r in rows.tolist()[:50]:
        q = np.asarray(vectors[int(r)], dtype=np.float32)  # (D,)
        t0 = time.perf_counter()
        vectors @ q  # (n,)
        lat.append(time.perf_counter() - t0)
    return statistics.median(lat) * 1000


def recall(ann: list[list[str]], exact: list[list[str]]) -> tuple[float, list[float]]:
    per = [len(set(a) & set(e)) / len(e) if e else 1.0 for a, e in zip(ann, exact, strict=True)]
    return (sum(per) / len(per) if per else 1.0), per


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def serve_and_measure(
    args: argparse.Namespace, cache: Path, logs: Path, index_info: dict[str, Any]
) -> dict[str, Any]:
    """``args.processes`` fresh servers on the data directory: start-up time, latency and recall (on
    the first), memory of each once all have answered exact and ANN queries."""
    data = cache / f"data-{args.words}x{args.dim}-g{GENERATOR}"
    rng = np.random.default_rng(1)
    picks = rng.choice(args.words, size=min(args.queries, args.words), replace=False)
    queries = [word(int(i)) for i in picks]
    touch = queries[:3]
    env = {"EMBEDDINGS_INDEX_MIN_VOCAB": str(args.words + 1)}
    probe = {"positive": [queries[0]], "topn": TOPN}
    warm_s = warm_page_cache(data)
    startup: list[float] = []
    servers: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        for k in range(args.processes):
            srv = stack.enter_context(Server(data, logs / f"server{k + 1}.log", env))
            first = srv.wait_until(
                lambda c: c.post(f"/v1/models/{MODEL}/similar", json=probe).status_code == 200
            )
            startup.append(first)
            print(
                f"server {k + 1}: first /similar 200 after {first:.2f} s",
                flush=True,
            )
            with httpx.Client(base_url=srv.url, timeout=120) as client:
                if k == 0:
                    timed_similar(client, MODEL, queries[:5], exact=False)  # warm up
                    timed_similar(client, MODEL, queries[:2], exact=True)
                    ann_lat, ann = timed_similar(client, MODEL, queries, exact=False)
                    exact_lat, exact = timed_similar(client, MODEL, queries, exact=True)
                    rec, per = recall(ann, exact)
                    floor_lat = trivial_queries(client, MODEL, queries)
                    version = served_version(data)
                    matrix = stored_matrix(version)  # (n, D), memory-mapped
                    faiss_ms = faiss_alone(version, matrix, picks, index_info)
                    numpy_ms = numpy_pass(matrix, picks)
                    del matrix
                    out["synthetic"] = {
                        "http_floor_p50_ms": statistics.median(floor_lat) * 1000,
                        "faiss_alone_p50_ms": faiss_ms,
                        "numpy_pass_p50_ms": numpy_ms,
                        "words": args.words,
                        "dim": args.dim,
                        "queries": len(queries),
                        "topn": TOPN,
                        "ann_p50_ms": statistics.median(ann_lat) * 1000,
                        "ann_p99_ms": percentile(ann_lat, 0.99) * 1000,
                        "exact_p50_ms": statistics.median(exact_lat) * 1000,
                        "exact_p99_ms": percentile(exact_lat, 0.99) * 1000,
                        "recall_at_10": rec,
                        "recall_min": min(per),
                        "answers": [
                            {"query": q, "ann": a, "exact": e}
                            for q, a, e in zip(queries, ann, exact, strict=True)
                        ],
                    }
                    out["synthetic"]["speedup"] = (
                        out["synthetic"]["exact_p50_ms"] / out["synthetic"]["ann_p50_ms"]
                    )
                    print(
                        f"  ANN p50 {out['synthetic']['ann_p50_ms']:.2f} ms, exact p50 "
                        f"{out['synthetic']['exact_p50_ms']:.1f} ms, recall@10 {rec:.4f}",
                        flush=True,
                    )
                else:
                    timed_similar(client, MODEL, touch, exact=False)
                    timed_similar(client, MODEL, touch, exact=True)
            servers.append({"pid": srv.pid})
        # a server with no model beside them: what every process costs without one (measured while
        # they run, so the libraries' pages are shared alike)
        base = stack.enter_context(Server(cache / "data-empty", logs / "baseline.log", env))
        baseline_start = base.wait_until(lambda c: c.get("/readyz").status_code == 200)
        httpx.get(base.url + "/v1/models", timeout=30)
        for s in servers:
            s.update(memory(s["pid"]))
        baseline = memory(base.pid)
    one = servers[0]["rss"]
    out["processes"] = {
        "baseline": baseline,
        "servers": servers,
        "extra_uss_mb": [s["uss"] / MiB for s in servers[1:]],
        "extra_uss_over_baseline_mb": [(s["uss"] - baseline["uss"]) / MiB for s in servers[1:]],
        "pss_sum_bytes": sum(s["pss"] for s in servers),
        "rss_sum_bytes": sum(s["rss"] for s in servers),
        "n_times_one_rss_bytes": len(servers) * one,
    }
    out["startup"] = {
        "first_s": startup[0],
        "all_s": startup,
        "max_s": max(startup),
        "page_cache_warm_read_s": warm_s,
        "no_model_ready_s": baseline_start,
    }
    return out


def lee_recall(args: argparse.Namespace, cache: Path, logs: Path) -> dict[str, Any]:
    """Word2Vec trained through the API on gensim's Lee corpus, indexed like the 1M model; recall@10
    of its ANN answers against exact ones over (up to 1000 of) its words."""
    from gensim.test.utils import datapath

    data = cache / "data-lee"
    record = cache / "data-lee.bench.json"
    if args.fresh:
        shutil.rmtree(data, ignore_errors=True)
        record.unlink(missing_ok=True)
    params = index_params(args)
    train = {"vector_size": 100, "window": 5, "min_count": 2, "epochs": args.lee_epochs, "sg": 1, "seed": 1}
    stored = json.loads(record.read_text()) if record.exists() else {}
    env = {
        "EMBEDDINGS_INDEX_MIN_VOCAB": str(1 << 30),
        "EMBEDDINGS_THREADS": str(args.build_threads),
        "EMBEDDINGS_JOB_THREADS": str(args.build_threads),
    }
    with Server(data, logs / "lee.log", env) as srv:
        srv.wait_ready()
        with httpx.Client(base_url=srv.url, timeout=600) as client:
            r = client.get(f"/v1/models/{LEE_MODEL}")
            info = r.json() if r.status_code == 200 else None
            if not (info and info.get("params", {}).get("epochs") == args.lee_epochs and stored):
                with open(datapath("lee_background.cor"), "rb") as f:
                    corpus = check(
                        client.post(
                            "/v1/corpora",
                            params={
                                "name": "lee",
                                "format": "text",
                                "tokenizer": "simple",
                                "lowercase": "true",
                            },
                            content=f,
                        ),
                        201,
                        409,
                    )
                body = {"name": LEE_MODEL, "algorithm": "word2vec", "corpus_id": "lee", "overwrite": True}
                job = wait_job(
                    client, check(client.post("/v1/models", json={**body, "params": train}), 202)["job_id"]
                )
                stored = {
                    "training_time_s": (job.get("result") or {}).get("training_time_s"),
                    "corpus": corpus,
                }
                info = wait_loaded(client, LEE_MODEL)
            if not index_matches(info.get("index"), params):
                stored["index"] = build_index(client, LEE_MODEL, params, args.index_sample)
                info = wait_loaded(client, LEE_MODEL)
            record.write_text(json.dumps(stored, indent=1))
            vocab: list[str] = []
            while len(vocab) < min(1000, info["vocab_size"]):
                page = check(
                    client.get(f"/v1/models/{LEE_MODEL}/words", params={"offset": len(vocab), "limit": 1000}),
                    200,
                )
                if not page["words"]:
                    break
                vocab += [w["word"] for w in page["words"]]
            vocab = vocab[:1000]
            answers = {}
            for exact in (False, True):
                qs = [{"positive": [w], "topn": TOPN, "exact": exact} for w in vocab]
                res = check(client.post(f"/v1/models/{LEE_MODEL}/similar/batch", json={"queries": qs}), 200)
                answers[exact] = [[x["word"] for x in r["results"]] for r in res["results"]]
            rec, per = recall(answers[False], answers[True])
    return {
        "vocab_size": info["vocab_size"],
        "queries": len(vocab),
        "epochs": args.lee_epochs,
        "params": train,
        "recall_at_10": rec,
        "recall_min": min(per) if per else 1.0,
        "index": info.get("index"),
        "training_time_s": stored.get("training_time_s"),
    }


# --------------------------------------------------------------------------- the report


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def table(res: dict[str, Any]) -> str:
    syn, lee, imp, proc, st = res["synthetic"], res["lee"], res["import"], res["processes"], res["startup"]
    n, dim = syn["words"], syn["dim"]
    idx = syn["index"]
    rows: list[tuple[str, str, str, str]] = []

    def row(what: str, value: str, target: str = "", ok: bool | None = None) -> None:
        rows.append((what, value, target, verdict(ok) if target else ""))

    row(f"ANN `/similar` p50 ({n:,} x {dim}, {syn['queries']} one-word queries, topn 10)",
        f"{syn['ann_p50_ms']:.2f} ms (p99 {syn['ann_p99_ms']:.2f})")  # fmt: skip
    row("exact `/similar` p50 (same queries, `exact: true`)",
        f"{syn['exact_p50_ms']:.1f} ms (p99 {syn['exact_p99_ms']:.1f})")  # fmt: skip
    row(
        "  floor of the HTTP path: `/similarity` of one pair, same model, p50",
        f"{syn['http_floor_p50_ms']:.2f} ms",
    )
    if syn.get("faiss_alone_p50_ms") is not None:
        row(
            "  the faiss search alone (in-process, same index and efSearch), p50",
            f"{syn['faiss_alone_p50_ms']:.2f} ms",
        )
    row("  one numpy pass over the matrix (`vectors @ q`, in-process, warm), p50",
        f"{syn['numpy_pass_p50_ms']:.2f} ms")  # fmt: skip
    ratio = syn["exact_p50_ms"] / syn["numpy_pass_p50_ms"]
    row("exact `/similar` p50 / one numpy pass", f"{ratio:.2f}x", f"<= {TARGET_EXACT_OVER_PASS}x",
        ratio <= TARGET_EXACT_OVER_PASS)  # fmt: skip
    ann_floor = syn["ann_p50_ms"] / syn["http_floor_p50_ms"]
    row("ANN `/similar` p50 / the HTTP floor", f"{ann_floor:.2f}x", f"<= {TARGET_ANN_OVER_FLOOR}x",
        ann_floor <= TARGET_ANN_OVER_FLOOR)  # fmt: skip
    row("ANN speed-up (exact p50 / ANN p50)", f"{syn['speedup']:.0f}x", f">= {TARGET_SPEEDUP:g}x",
        syn["speedup"] >= TARGET_SPEEDUP)  # fmt: skip
    row(f"recall@10, ANN vs exact answers over HTTP, synthetic (min {syn['recall_min']:.1f})",
        f"{syn['recall_at_10']:.4f}", f">= {TARGET_RECALL}", syn["recall_at_10"] >= TARGET_RECALL)  # fmt: skip
    row(f"recall@10 measured by the index job (sample {idx.get('sample')})", f"{idx['recall_at_10']:.4f}",
        f">= {TARGET_RECALL}", idx["recall_at_10"] >= TARGET_RECALL)  # fmt: skip
    row(f"recall@10, Word2Vec on Lee via the API ({lee['vocab_size']:,} words, {lee['epochs']} epochs, "
        f"{lee['queries']} queries)", f"{lee['recall_at_10']:.4f}", f">= {TARGET_RECALL}",
        lee["recall_at_10"] >= TARGET_RECALL)  # fmt: skip
    shown = ", ".join(
        f"{k} {idx[k]}" for k in ("kind", "m", "ef_construction", "ef_search", "nlist", "nprobe") if k in idx
    )
    row(f"index build ({shown})",
        f"{idx['build_s']:.0f} s, {idx['size_bytes'] / MiB:.0f} MiB file")  # fmt: skip
    size_ratio = idx["size_bytes"] / (n * dim * 4)
    row("  index file / the vectors' bytes (n x dim x 4)", f"{size_ratio:.2f}x",
        f"<= {TARGET_INDEX_RATIO}x", size_ratio <= TARGET_INDEX_RATIO)  # fmt: skip
    how = "JSON body + job" if imp["mode"] == "json" else "raw upload"
    row(f"import ({how}): file / matrix (n x dim x 4)",
        f"{imp['file_bytes'] / MiB:.0f} MiB / {imp['matrix_bytes'] / MiB:.0f} MiB")  # fmt: skip
    row("import throughput", f"{imp['mb_per_s']:.0f} MB/s ({imp['seconds']:.1f} s)")
    if imp.get("peak_rss_bytes") is not None:
        row(f"import peak RSS ({imp['peak_rss_of']})",
            f"{imp['peak_rss_bytes'] / MiB:.0f} MiB = {imp['peak_over_matrix']:.2f}x matrix, "
            f"{imp['peak_over_file']:.2f}x file"
            + (f"; {imp['start_rss_bytes'] / MiB:.0f} MiB at its start" if imp.get("start_rss_bytes") else ""),
            f"<= {TARGET_PEAK_RATIO}x matrix",
            imp["peak_over_matrix"] <= TARGET_PEAK_RATIO)  # fmt: skip
    else:
        row("import peak RSS", "not reported", f"<= {TARGET_PEAK_RATIO}x matrix", None)
    extra = proc["extra_uss_mb"]
    over = proc["extra_uss_over_baseline_mb"]
    k = len(proc["servers"])
    row(f"USS (private) of server processes 2..{k}", ", ".join(f"{x:.0f}" for x in extra) + " MiB")
    row(f"  what the model adds to each: the same minus a server with no model (USS "
        f"{proc['baseline']['uss'] / MiB:.0f} MiB, the interpreter and libraries every process has)",
        ", ".join(f"{x:.0f}" for x in over) + " MiB",
        f"< {TARGET_EXTRA_MB:g} MB each", max(over) * MiB / MB < TARGET_EXTRA_MB)  # fmt: skip
    row(f"PSS sum of the {k} processes / {k} x RSS of one",
        f"{proc['pss_sum_bytes'] / MiB:.0f} / {proc['n_times_one_rss_bytes'] / MiB:.0f} MiB "
        f"({proc['pss_sum_bytes'] / proc['n_times_one_rss_bytes']:.2f})")  # fmt: skip
    row(f"start (Popen) to the first 200 of `/similar`, model stored (processes 1..{k})",
        f"{st['first_s']:.2f} s ({', '.join(f'{x:.2f}' for x in st['all_s'])})",
        f"<= {TARGET_START_S:g} s (process 1)", st["first_s"] <= TARGET_START_S)  # fmt: skip
    row("  a server with no model, start to `/readyz` 200 (interpreter, imports, app)",
        f"{st['no_model_ready_s']:.2f} s")  # fmt: skip
    e2e = res.get("end_to_end")
    if e2e is not None:
        row("end to end: import + index + start to the first answer of a fresh process",
            f"{e2e['seconds']:.0f} s ({e2e['import_s']:.0f} + {e2e['index_s']:.0f} + {e2e['first_answer_s']:.1f})",
            f"<= {TARGET_END_TO_END_S:g} s", e2e["seconds"] <= TARGET_END_TO_END_S)  # fmt: skip
    lines = ["| figure | measured | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", "| process | RSS MiB | USS MiB | PSS MiB |", "|---|---|---|---|"]
    for k, s in enumerate(proc["servers"], 1):
        lines.append(f"| server {k} | {s['rss'] / MiB:.0f} | {s['uss'] / MiB:.0f} | {s['pss'] / MiB:.0f} |")
    b = proc["baseline"]
    lines.append(
        f"| no model (baseline) | {b['rss'] / MiB:.0f} | {b['uss'] / MiB:.0f} | {b['pss'] / MiB:.0f} |"
    )
    return "\n".join(lines)


def get(res: dict[str, Any], dotted: str) -> Any:
    cur: Any = res
    for part in dotted.split("."):
        cur = cur[part]
    return cur


def run(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    logs = cache / "logs"
    phases: dict[str, float] = {}
    check_disk(cache, args.words, args.dim, args.fresh)
    vectors, gen_s = ensure_vectors(cache, args.words, args.dim)
    made = f"written in {gen_s:.1f} s" if gen_s else "cached"
    print(f"vectors: {vectors} ({made})", flush=True)
    phases["vectors"] = time.perf_counter() - t0
    prepared = prepare_synthetic(args, cache, vectors, logs)
    phases["import_and_index"] = time.perf_counter() - t0 - sum(phases.values())
    lee = lee_recall(args, cache, logs)
    print(f"lee: {lee['vocab_size']} words, recall@10 {lee['recall_at_10']:.4f}", flush=True)
    phases["lee"] = time.perf_counter() - t0 - sum(phases.values())
    served = serve_and_measure(args, cache, logs, prepared["index"])
    phases["serve"] = time.perf_counter() - t0 - sum(phases.values())
    res: dict[str, Any] = {
        "synthetic": {**served["synthetic"], "index": prepared["index"]},
        "lee": lee,
        "import": {**prepared["import"], "cached": prepared["cached"]},
        "processes": served["processes"],
        "startup": served["startup"],
        "vectors_file": str(vectors),
        "vectors_written_s": gen_s,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "args": vars(args),
        "targets": {
            "speedup": TARGET_SPEEDUP,
            "recall_at_10": TARGET_RECALL,
            "peak_over_matrix": TARGET_PEAK_RATIO,
            "extra_uss_mb": TARGET_EXTRA_MB,
            "startup_s": TARGET_START_S,
        },
    }
    if not prepared["cached"]:
        imp, idx = prepared["import"], prepared["index"]
        res["end_to_end"] = {
            "import_s": imp["wall_s"],
            "index_s": idx["job_wall_s"],
            "first_answer_s": served["startup"]["first_s"],
            "seconds": imp["wall_s"] + idx["job_wall_s"] + served["startup"]["first_s"],
        }
    res["table"] = table(res)
    res["phases_s"] = phases
    res["bench_s"] = time.perf_counter() - t0
    return res


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--queries", type=int, default=200, help="timed /similar queries of each kind")
    parser.add_argument(
        "--fresh", action="store_true", help="import and index again (the vectors file is kept)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "million.json"))
    parser.add_argument("--cache", default=str(ROOT / "bench" / "out" / "million"))
    parser.add_argument("--m", type=int, default=32, help="HNSW M")
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--ef-search", type=int, default=256)
    parser.add_argument("--index-sample", type=int, default=1000, help="words of the index job's recall")
    parser.add_argument("--lee-epochs", type=int, default=40)
    parser.add_argument(
        "--build-threads", type=int, default=2, help="EMBEDDINGS_JOB_THREADS of the index job"
    )
    parser.add_argument("--import-mode", choices=["auto", "json", "upload"], default="auto")
    parser.add_argument(
        "--kind",
        choices=["default", "hnsw", "hnsw-sq8", "ivf", "ivf-sq8"],
        default="default",
        help="index kind (default: the service's EMBEDDINGS_INDEX_KIND default)",
    )
    parser.add_argument("--processes", type=int, default=2, help="serving processes on one data directory")
    parser.add_argument("--recall-target", type=float, default=0.95, help="recall@10 the index job tunes to")
    parser.add_argument("--short", action="store_true", help="seconds: 3,000 x 32, 20 queries")
    args = parser.parse_args(argv)
    if args.kind == "default":
        from service.embeddings.settings import Settings

        args.kind = Settings.model_fields["index_kind"].default
    if args.processes < 1:
        parser.error("--processes must be >= 1")
    if args.short:
        args.words, args.dim, args.queries, args.lee_epochs, args.index_sample = 3000, 32, 20, 2, 200
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    res = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print()
    print(res["table"])
    cached = (
        " (import and index from the cache: figures of the run that made them)"
        if res["import"]["cached"]
        else ""
    )
    print(f"\nbench took {res['bench_s']:.0f} s{cached}; figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
