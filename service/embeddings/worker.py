"""Training jobs of the embeddings service, run by the kit's JobManager in a worker process.

``train(spec, report)`` reads the corpus from disk with the streaming reader of
:mod:`models.embeddings.corpus` (or takes the inline token lists of the spec), trains with
:func:`models.embeddings.training.train_model` (continuing from the model's current version for
``mode="continue"``), and saves the result into a draft of the model's next version
(:meth:`ModelStore.draft` + :func:`models.embeddings.storage.save_model`). Nothing of this runs in
the API process, so its memory never grows with the corpus.

Every job publishes last: the draft gets all its files (the ANN index included) before
:meth:`~service.kit.model_store.Draft.publish` makes it a version and the current one, after the
job's :func:`~service.kit.job_worker.commit_point`; a cancel or a crash in any phase before that
leaves the model as it was.

The spec (JSON, persisted with the job)::

    {"mode": "train" | "continue", "name": "news", "algorithm": "word2vec", "store_root": "...",
     "corpus": {"path": "...", "format": "text", "tokenizer": "simple", "lowercase": true, "id": "...", ...}
       | "sentences": [["tok", ...], ...],
     "params": {...given hyper-parameters...}, "source": "trained" | "continued" | "builtin",
     "index_min_vocab": 200000}

A trained version whose vocabulary reaches ``index_min_vocab`` gets its ANN index in the same job,
before it is published (:func:`write_index`). ``import_job(spec, report)`` imports a user's vectors file (streamed, the
matrix never in memory: :mod:`models.embeddings.vector_import`) as the model's next version::

    {"mode": "import", "name": "news", "path": "/imports/news.bin", "format": "auto", "limit": null,
     "staged": false, "store_root": "...", "index_min_vocab": 200000}

(``staged``: the file is an upload kept for the job, removed when it ends.) ``build_index_job(spec, report)``
adds one to an existing version (its file moved in, and the metadata changed, at the end)::

    {"mode": "index", "name": "news", "version": 3, "store_root": "...",
     "params": {"m": 32, "ef_construction": 200, "ef_search": 128}, "sample": 1000}
"""

from __future__ import annotations

import errno
import resource
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
from gensim.models import KeyedVectors

from models.embeddings.ann import (
    INDEX_FILE,
    HnswParams,
    IndexParams,
    build_kind,
    query_times,
    save_index,
    tune,
)
from models.embeddings.corpus import LineCorpus, Tokenizer
from models.embeddings.storage import load_full_model, load_vectors, save_model
from models.embeddings.training import TrainParams, train_model
from models.embeddings.vector_import import import_into, matrix_bytes
from service.kit.job_worker import commit_point
from service.kit.model_store import ModelStore

FASTTEXT_ONLY = ("min_n", "max_n", "bucket")
EPOCH_FIELDS = ("loss", "loss_note", "learning_rate", "words_per_second", "elapsed_s", "epochs")


def _sentences(spec: dict[str, Any]) -> Any:
    if spec.get("sentences") is not None:
        return spec["sentences"]
    c = spec["corpus"]
    tok = Tokenizer(kind=c.get("tokenizer", "simple"), keep_case=not c.get("lowercase", True))
    return LineCorpus(c["path"], c.get("format", "text"), tok)


def _corpus_meta(spec: dict[str, Any], summary: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"sentences": summary.corpus_sentences, "words": summary.corpus_words}
    if spec.get("sentences") is not None:
        out["source"] = "inline"
    else:
        c = spec["corpus"]
        out.update(
            {
                k: c[k]
                for k in ("id", "format", "tokenizer", "lowercase", "lines", "tokens", "bytes")
                if k in c
            }
        )
        out["source"] = c.get("source", "upload")
    return out


def _stored_params(params: dict[str, Any], algorithm: str) -> dict[str, Any]:
    """The resolved hyper-parameters, without the FastText-only ones for Word2Vec."""
    if algorithm == "word2vec":
        return {k: v for k, v in params.items() if k not in FASTTEXT_ONLY}
    return params


def train(spec: dict[str, Any], report: Any) -> dict[str, Any]:
    """Train (or continue training) a model and store it as a new version; return a summary."""
    store = ModelStore(Path(spec["store_root"]))
    name = spec["name"]
    algorithm = spec["algorithm"]
    report(progress=0.0, phase="building vocabulary")

    def on_epoch(info: dict[str, Any]) -> None:
        fields = {k: info.get(k) for k in EPOCH_FIELDS if k in info}
        report(progress=info["progress"], epoch=info["epoch"], phase="training", history=True, **fields)

    base = None
    base_version = None
    if spec.get("mode") == "continue":
        current = store.current(name)
        if current is None:
            raise ValueError(f"model {name!r} no longer exists")
        base_version = current.version
        base = load_full_model(current.path)
        stored = dict(current.meta.get("params") or {})
        merged = {**stored, **spec.get("params", {})}
        params = TrainParams.from_dict(merged)
        prior_time = current.meta.get("training_time_s") or 0.0
    else:
        params = TrainParams.from_dict(spec.get("params", {}))
        prior_time = 0.0

    t0 = time.perf_counter()
    model, summary = train_model(algorithm, _sentences(spec), params, report=on_epoch, base_model=base)
    report(progress=1.0, phase="saving")
    meta: dict[str, Any] = {
        "algorithm": algorithm,
        "source": spec.get("source", "trained"),
        "params": _stored_params(params.to_dict(), algorithm),
        "corpus": _corpus_meta(spec, summary),
        "created": datetime.now(UTC).isoformat(),
        "training_time_s": round(summary.training_time_s, 4),
        "total_training_time_s": round(prior_time + summary.training_time_s, 4),
        "oov_vectors": algorithm == "fasttext",
        "loss_history": summary.loss_history,
        "loss_note": summary.loss_note,
        "new_words": summary.new_words,
    }
    if base_version is not None:
        meta["continued_from"] = base_version
    out: dict[str, Any] = {}
    with store.draft(name) as draft:
        # format_version, kind, has_full_model, vector_size, vocab_size (read by load_vectors)
        meta.update(save_model(model, draft.path))
        threshold = spec.get("index_min_vocab")
        if threshold is not None and meta["vocab_size"] >= threshold:
            report(progress=1.0, phase="indexing")
            out["index"] = meta["index"] = write_index(
                draft.path, model.wv, _auto_params(spec), recall_target=float(spec.get("recall_target", 0.95))
            )
        draft.publish(meta, before_commit=commit_point)
    return {
        **out,
        "model": name,
        "version": meta["version"],
        "vocab_size": meta["vocab_size"],
        "vector_size": meta["vector_size"],
        "training_time_s": meta["training_time_s"],
        "job_time_s": round(time.perf_counter() - t0, 4),
        "loss_history": summary.loss_history,
        "loss_note": summary.loss_note,
    }


def _auto_params(spec: dict[str, Any]) -> IndexParams:
    """Returns the parameters of an index built automatically after a job: ``spec["index_kind"]``
    (``EMBEDDINGS_INDEX_KIND``; hnsw for a spec written before kinds existed), default parameters."""
    return IndexParams(kind=spec.get("index_kind", "hnsw"))


def write_index(
    directory: Path,
    kv: KeyedVectors,
    params: HnswParams | IndexParams,
    sample: int = 1000,
    progress: Callable[[float], None] | None = None,
    recall_target: float = 0.95,
) -> dict[str, Any]:
    """Build the index of ``kv`` of ``params.kind`` (``progress(fraction)`` after each batch of vectors
    added), tune its search parameter until recall@10 against exact search reaches ``recall_target``
    (within bounds), and write it into ``directory`` (``index.faiss``); returns what the version's
    metadata records of it (kind, parameters, ``recall_at_10``, ``recall_target_reached``, …)."""
    if isinstance(params, HnswParams):
        params = IndexParams(kind="hnsw", **params.to_dict())
    t0 = time.perf_counter()
    index, params = build_kind(kv, params, progress=progress)
    build_s = time.perf_counter() - t0
    start = params.search_value()
    params, recall, reached = tune(kv, index, params, recall_target, sample=sample)
    timed = query_times(kv, index, params)
    size = save_index(index, directory / INDEX_FILE)
    field = "nprobe" if params.is_ivf else "ef_search"
    notes: list[str] = []
    if not reached:
        notes.append(
            f"recall@10 {recall:.4f} is below the target {recall_target} at the largest {field} tried "
            f"({params.search_value()}); build with other parameters (a larger "
            f"{'nlist' if params.is_ivf else 'm or ef_construction'}) or another kind, or search exactly"
        )
    if timed["index"] >= timed["exact"]:
        notes.append(
            f"at {field} {params.search_value()} a query through the index takes {timed['index']} ms, "
            f"exact search {timed['exact']} ms: the index gains nothing on these vectors (little cluster "
            "structure for the recall target); search exactly (`exact: true`), lower `recall_target`, "
            "or build `hnsw`"
        )
    extra: dict[str, Any] = {"note": "; ".join(notes)} if notes else {}
    return {
        **params.to_dict(),
        "vectors_bytes": int(kv.vectors.nbytes),
        "build_s": round(build_s, 4),
        "recall_at_10": round(recall, 4),
        "recall_target": recall_target,
        "recall_target_reached": reached,
        "tuned": {"parameter": field, "from": start, "to": params.search_value()},
        "query_ms": timed,
        **extra,
        "sample": min(sample, len(kv.index_to_key)),
        "size_bytes": size,
        "built": datetime.now(UTC).isoformat(),
        "faiss": faiss.__version__,
    }


def build_index_job(spec: dict[str, Any], report: Any) -> dict[str, Any]:
    """The ``index`` job: the ANN index of version ``spec["version"]`` of model ``spec["name"]``,
    written beside it and recorded in its metadata at the end (a cancel before leaves it as it was)."""
    store = ModelStore(Path(spec["store_root"]))
    name, version = spec["name"], int(spec["version"])
    stored = store.get(name, version)
    if stored is None:
        raise ValueError(f"model {name!r} has no version {version}")
    report(progress=0.0, phase="indexing")
    kv = load_vectors(stored.path, mmap=True)
    params = IndexParams(**spec.get("params", {}))
    with store.add_files(name, version) as addition:
        info = write_index(
            addition.path,
            kv,
            params,
            spec.get("sample", 1000),
            progress=lambda f: report(progress=round(0.9 * f, 4), phase="indexing"),
            recall_target=float(spec.get("recall_target", 0.95)),
        )
        addition.commit({"index": info}, before_commit=commit_point)
    return {"model": name, "version": version, "vocab_size": len(kv.index_to_key), "index": info}


#: The ``algorithm`` of a version imported from each format.
IMPORT_ALGORITHMS = {"fasttext-bin": "fasttext", "glove": "glove"}


def import_meta(fmt: str) -> dict[str, Any]:
    """The service's metadata of an imported version (the parser adds the file's figures)."""
    return {
        "algorithm": IMPORT_ALGORITHMS.get(fmt, "word2vec"),
        "source": "imported",
        "created": datetime.now(UTC).isoformat(),
        "oov_vectors": fmt == "fasttext-bin",
        "params": None,
        "corpus": None,
        "training_time_s": None,
    }


def store_import(
    store: ModelStore,
    name: str,
    path: str,
    fmt: str,
    limit: int | None = None,
    progress: Callable[[float], None] | None = None,
    *,
    finish: Callable[[Path, dict[str, Any]], None] | None = None,
    before_commit: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Import the checked file ``path`` (format ``fmt``) as the next version of ``name``; return its meta.

    The version is written into a draft; ``finish(directory, meta)``, when given, completes it
    (the import job adds the index there), then it is published (``before_commit``: see
    :meth:`~service.kit.model_store.Draft.publish`). Refuses to start when the model directory's
    disk lacks room for the matrix (plus a tenth), and turns a disk that fills up meanwhile into a
    clear error; either way no version is made and the previous one is still served. Raises what
    :func:`~models.embeddings.vector_import.import_into` raises.
    """
    need = matrix_bytes(path, fmt, limit)
    store.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(store.root).free
    if need * 1.1 > free:
        raise OSError(
            errno.ENOSPC,
            f"not enough disk space for the import: its matrix needs {need / 2**20:.0f} MiB, "
            f"{free / 2**20:.0f} MiB are free where the models are stored; the previous version is "
            "still served",
        )
    meta = import_meta(fmt)
    try:
        with store.draft(name) as draft:
            meta.update(import_into(path, draft.path, fmt, limit=limit, progress=progress))
            if finish is not None:
                finish(draft.path, meta)
            draft.publish(meta, before_commit=before_commit)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(
                exc.errno,
                f"the disk filled up while the import was written ({exc.strerror}); nothing was "
                "stored and the previous version is still served",
            ) from None
        raise
    return meta


def import_job(spec: dict[str, Any], report: Any) -> dict[str, Any]:
    """The ``import`` job: a user's vectors file becomes the next version of ``spec["name"]`` (with
    its ANN index when its vocabulary reaches ``spec["index_min_vocab"]``), published last."""
    store = ModelStore(Path(spec["store_root"]))
    name = spec["name"]
    report(progress=0.0, phase="importing")
    t0 = time.perf_counter()
    start_rss = _rss_bytes()
    out: dict[str, Any] = {}
    threshold = spec.get("index_min_vocab")

    def progress(fraction: float) -> None:
        report(progress=round(0.95 * fraction, 4), phase="importing")

    def index(directory: Path, meta: dict[str, Any]) -> None:
        out["import_s"] = time.perf_counter() - t0
        if threshold is not None and meta["vocab_size"] >= threshold:
            report(progress=0.95, phase="indexing")
            kv = load_vectors(directory, mmap=True)
            out["index"] = meta["index"] = write_index(
                directory, kv, _auto_params(spec), recall_target=float(spec.get("recall_target", 0.95))
            )

    meta = store_import(
        store, name, spec["path"], spec["format"], spec.get("limit"), progress,
        finish=index, before_commit=commit_point,
    )  # fmt: skip
    import_s = out.pop("import_s")
    return {
        **out,
        "model": name,
        "version": meta["version"],
        "vocab_size": meta["vocab_size"],
        "vector_size": meta["vector_size"],
        "import_format": meta["import_format"],
        "import_bytes": meta["import_bytes"],
        "import_records": meta["import_records"],
        "duplicates": meta["duplicates"],
        "import_s": round(import_s, 3),
        "mb_per_s": round(meta["import_bytes"] / 1e6 / max(import_s, 1e-9), 1),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "start_rss_bytes": start_rss,
        "job_time_s": round(time.perf_counter() - t0, 3),
    }


def _rss_bytes() -> int:
    """The resident set size of this process now (Linux ``/proc/self/statm``), 0 where unknown."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0
