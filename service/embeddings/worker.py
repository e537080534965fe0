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
     "params": {...given hyper-parameters...}, "source": "trained" | "continued" | "builtin"}
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.embeddings.corpus import LineCorpus, Tokenizer
from models.embeddings.io import load_full_model, save_model
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
    return {
        "model": name,
        "version": meta["version"],
        "vocab_size": meta["vocab_size"],
        "vector_size": meta["vector_size"],
        "training_time_s": meta["training_time_s"],
        "job_time_s": round(time.perf_counter() - t0, 4),
        "loss_history": summary.loss_history,
        "loss_note": summary.loss_note,
    }
