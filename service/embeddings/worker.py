"""Training jobs of the embeddings service, run by the kit's JobManager in a worker process.

``train(spec, report)`` reads the corpus from disk with the streaming reader of
:mod:`models.embeddings.corpus` (or takes the inline token lists of the spec), trains with
:func:`models.embeddings.training.train_model` (continuing from the model's current version for
``mode="continue"``), and saves the result as the model's next version with
:meth:`ModelStore.new_version` + :func:`models.embeddings.io.save_model`. Nothing of this runs in
the API process, so its memory never grows with the corpus.

The spec (JSON, persisted with the job)::

    {"mode": "train" | "continue", "name": "news", "algorithm": "word2vec", "store_root": "...",
     "corpus": {"path": "...", "format": "text", "tokenizer": "simple", "lowercase": true, "id": "...", ...}
       | "sentences": [["tok", ...], ...],
     "params": {...given hyper-parameters...}, "source": "trained" | "continued" | "builtin",
     "index_min_vocab": 200000}

A trained version whose vocabulary reaches ``index_min_vocab`` gets its ANN index in the same job
(:func:`add_index`). ``build_index_job(spec, report)`` adds one to an existing version::

    {"mode": "index", "name": "news", "version": 3, "store_root": "...",
     "params": {"m": 32, "ef_construction": 200, "ef_search": 128}, "sample": 1000}
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
from gensim.models import KeyedVectors

from models.embeddings.ann import INDEX_FILE, HnswParams, build_index, recall_at_10, save_index
from models.embeddings.corpus import LineCorpus, Tokenizer
from models.embeddings.io import load_full_model, load_vectors, save_model
from models.embeddings.training import TrainParams, train_model
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
    with store.new_version(name, meta) as directory:
        io_meta = save_model(model, directory)
        meta.update(
            io_meta
        )  # format_version, kind, has_full_model, vector_size, vocab_size (read by load_vectors)
    out: dict[str, Any] = {}
    threshold = spec.get("index_min_vocab")
    if threshold is not None and meta["vocab_size"] >= threshold:
        report(progress=1.0, phase="indexing")
        out["index"] = add_index(store, name, meta["version"], model.wv, HnswParams())
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


def add_index(
    store: ModelStore, name: str, version: int, kv: KeyedVectors, params: HnswParams, sample: int = 1000
) -> dict[str, Any]:
    """Build the HNSW index of a stored version, write it beside the version (``index.faiss``),
    measure its recall@10 against exact search and record all that in the version's metadata."""
    stored = store.get(name, version)
    if stored is None:
        raise ValueError(f"model {name!r} has no version {version}")
    t0 = time.perf_counter()
    index = build_index(kv, params)
    build_s = time.perf_counter() - t0
    size = save_index(index, stored.path / INDEX_FILE)
    recall = recall_at_10(kv, index, sample=sample, ef_search=params.ef_search)
    info = {
        "kind": "hnsw",
        **params.to_dict(),
        "build_s": round(build_s, 4),
        "recall_at_10": round(recall, 4),
        "sample": min(sample, len(kv.index_to_key)),
        "size_bytes": size,
        "built": datetime.now(UTC).isoformat(),
        "faiss": faiss.__version__,
    }
    store.update_meta(name, version, {"index": info})
    return info


def build_index_job(spec: dict[str, Any], report: Any) -> dict[str, Any]:
    """The ``index`` job: the ANN index of version ``spec["version"]`` of model ``spec["name"]``."""
    store = ModelStore(Path(spec["store_root"]))
    name, version = spec["name"], int(spec["version"])
    stored = store.get(name, version)
    if stored is None:
        raise ValueError(f"model {name!r} has no version {version}")
    report(progress=0.0, phase="indexing")
    kv = load_vectors(stored.path, mmap=True)
    info = add_index(store, name, version, kv, HnswParams(**spec.get("params", {})), spec.get("sample", 1000))
    return {"model": name, "version": version, "vocab_size": len(kv.index_to_key), "index": info}
