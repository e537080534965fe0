"""The training job, run by the kit's JobManager in a worker process: ``train_job(spec, report)``.

The spec is plain JSON built by the ``POST /v1/models`` route (already validated there)::

    {"name", "models_dir", "threads", "config": {...}, "params": {...},
     "source": {"task": {"name", "kwargs"}} | {"dataset": {"id", "path", "format"}} | {"pairs": [...]},
     "dev": {"fraction": f} | {"dataset": {...}} | None,
     "embeddings": {"url", "model", "freeze"} | {"file", "id", "freeze"} | None,
     "max_src_len", "max_output_len", "device"}

It reports ``lr``/``train_loss`` every step and the dev metrics every epoch (both into the job's
history), trains with :func:`models.seq2seq.training.train` (best dev checkpoint), saves it into a
draft of the model's next version (:meth:`ModelStore.draft`) and publishes it as its last step,
after :func:`~service.kit.job_worker.commit_point`: a cancel or a crash before leaves the model as
it was. A ``DELETE /v1/jobs/{id}?keep=best`` reaches training as ``should_stop``
(:func:`~service.kit.job_worker.stop_requested`): training stops after the running update,
evaluates the running epoch and restores the best weights, and the job publishes them like a
normal finish (``stopped_by: "cancel"``); asked before the first update, it raises
:class:`~service.kit.job_worker.NothingToKeep` (the job ends cancelled, nothing kept).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from models.seq2seq import training
from models.seq2seq.checkpoint import init_embedding_from_vectors
from models.seq2seq.data import Example, examples_from_pairs, split_dev
from models.seq2seq.devices import resolve_device
from models.seq2seq.evaluation import evaluate
from models.seq2seq.tasks import make_task
from models.seq2seq.tokenizers import get_tokenizer, tokenization_sides
from service.attention import checkpoints
from service.attention.checkpoints import DEV_FILE
from service.attention.datasets import read_pairs
from service.kit.job_worker import NothingToKeep, commit_point, stop_requested
from service.kit.model_store import ModelStore
from service.kit.storage import atomic_write_bytes


def load_data(spec: dict[str, Any]) -> tuple[list[Example], list[Example], dict[str, Any]]:
    """Return ``(train, dev, source-description)`` for the spec's data source and dev split."""
    source = spec["source"]
    seed = int(spec["params"].get("seed", 0))
    if "task" in source:
        task = make_task(source["task"]["name"], **source["task"]["kwargs"])
        return task.train, task.dev, {"task": source["task"]}
    if "dataset" in source:
        ds = source["dataset"]
        examples = read_pairs(Path(ds["path"]), ds["format"])
        described: dict[str, Any] = {"dataset_id": ds["id"], "pairs": len(examples)}
    else:
        examples = examples_from_pairs(source["pairs"])
        described = {"inline_pairs": len(examples)}
    dev_spec = spec.get("dev") or {"fraction": 0.1}
    if "dataset" in dev_spec:
        dev_ds = dev_spec["dataset"]
        described["dev_dataset_id"] = dev_ds["id"]
        return examples, read_pairs(Path(dev_ds["path"]), dev_ds["format"]), described
    train, dev = split_dev(examples, float(dev_spec["fraction"]), seed)
    described["dev_fraction"] = float(dev_spec["fraction"])
    return train, dev, described


def fetch_vectors(url: str, model: str, dest: Path, timeout: float) -> None:
    """Stream ``GET {url}/v1/models/{model}/vectors?format=word2vec-binary`` into ``dest``.

    RuntimeError naming the service and the model when it cannot be reached or has no such model.
    """
    import httpx

    endpoint = f"{url.rstrip('/')}/v1/models/{model}/vectors"
    try:
        with httpx.stream("GET", endpoint, params={"format": "word2vec-binary"}, timeout=timeout) as resp:
            if resp.status_code == 404:
                raise RuntimeError(
                    f"the embeddings service at {url} has no model {model!r} (404 for {endpoint})"
                )
            if resp.status_code != 200:
                resp.read()
                raise RuntimeError(
                    f"embeddings service answered {resp.status_code} for {endpoint}: {resp.text[:300]}"
                )
            with open(dest, "wb") as fh:
                for chunk in resp.iter_bytes():
                    fh.write(chunk)
    except httpx.HTTPError as exc:
        raise RuntimeError(
            f"cannot fetch vectors of {model!r} from the embeddings service at {url}: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def read_vectors(path: Path) -> Any:
    """Read a word2vec file with the safe reader (never unpickles): gensim ``KeyedVectors``."""
    from models.embeddings.vector_import import import_vectors

    return import_vectors(path, "auto")


def init_embeddings(model: Any, vectors: Any, freeze: bool) -> dict[str, Any]:
    """Copy ``vectors`` into the source embedding of ``model`` (the core's :func:`init_embedding_from_vectors`).

    Returns ``{coverage, vocab, dim, freeze}``: coverage is the share of the source vocabulary's
    ordinary tokens found in the vectors.
    """
    embedding = model.encoder.embedding
    coverage = init_embedding_from_vectors(embedding, model.src_vocab, vectors)
    if freeze:
        embedding.weight.requires_grad_(False)
    return {
        "coverage": coverage,
        "vocab": len(model.src_vocab) - 4,
        "dim": embedding.embedding_dim,
        "freeze": freeze,
    }


def train_job(spec: dict[str, Any], report: Any) -> dict[str, Any]:
    """Train one model as described by ``spec`` and store it as a new version; returns its summary."""
    torch.set_num_threads(int(spec.get("threads", 1)))
    started = time.perf_counter()
    report(progress=0.0, phase="loading data")
    train_ex, dev_ex, source = load_data(spec)
    config = dict(spec["config"])
    tgt_tokenize = get_tokenizer(tokenization_sides(config["tokenization"])[1]).tokenize
    longest_tgt = max(len(tgt_tokenize(e.target)) for e in train_ex)
    config.setdefault("max_src_len", int(spec.get("max_src_len", 200)))
    config.setdefault("max_tgt_len", int(min(spec.get("max_output_len", 200), max(16, 2 * longest_tgt + 2))))
    params = dict(spec["params"])
    params["report_every"] = 1

    emb_info: dict[str, Any] | None = None
    emb_spec = spec.get("embeddings")
    with tempfile.TemporaryDirectory(prefix="attn-vectors-") as tmp:
        vectors_path: Path | None = None
        vectors: Any = None
        if emb_spec:
            if "file" in emb_spec:
                vectors_path = Path(emb_spec["file"])
            else:
                report(phase="fetching vectors")
                vectors_path = Path(tmp) / "vectors.bin"
                fetch_vectors(
                    emb_spec["url"], emb_spec["model"], vectors_path, float(emb_spec.get("timeout", 60))
                )
            vectors = read_vectors(vectors_path)
            config["emb_dim"] = int(vectors.vector_size)

        def init_with_vectors(model: Any) -> None:
            nonlocal emb_info
            emb_info = init_embeddings(model, vectors, bool(emb_spec.get("freeze", False)))
            report(embedding_coverage=emb_info["coverage"])

        def on_event(event: dict[str, Any]) -> None:
            event = dict(event)
            kind = event.pop("event", None)
            if kind == "step":
                report(  # total_steps: min(epochs x batches, max_steps), or the max_time_s estimate
                    progress=min(0.99, event["step"] / max(1, event["total_steps"])),
                    step=event["step"],
                    epoch=event["epoch"],
                    lr=event["lr"],
                    train_loss=event["train_loss"],
                    history=True,
                )
            elif kind == "epoch":
                event.pop("elapsed_s", None)
                report(epoch_train_loss=event.pop("train_loss"), **event, history=True)

        stopping = False

        def should_stop() -> bool:
            nonlocal stopping
            if stop_requested() and not stopping:
                stopping = True
                report(phase="stopping (keep=best): evaluating, then saving the best checkpoint")
            return stopping

        report(phase="training")
        result = training.train(
            config,
            train_ex,
            dev_ex,
            params,
            report=on_event,
            should_stop=should_stop,
            init_model=init_with_vectors if vectors is not None else None,
            device=resolve_device(spec.get("device", "cpu")),  # ATTENTION_DEVICE: auto is resolved here
        )
    if result.metrics.get("stopped") == "should_stop" and not result.metrics.get("steps"):
        raise NothingToKeep("nothing was trained yet (no update made), so there is no checkpoint to keep")

    model = result.model
    training_time_s = round(time.perf_counter() - started, 3)
    test_metrics = None
    if "task" in source:
        report(phase="testing")
        task = make_task(source["task"]["name"], **source["task"]["kwargs"])
        test = evaluate(model, task.test, with_bleu=True)
        test_metrics = {k: v for k, v in test.items()}
    report(phase="saving", progress=0.99)
    dev_metrics = {
        k: v for k, v in result.metrics.items() if k.startswith(("dev_", "average_")) or k in CHECKPOINT_KEYS
    }
    meta: dict[str, Any] = {
        "config": model.config.to_dict(),
        "src_vocab_size": len(model.src_vocab),
        "tgt_vocab_size": len(model.tgt_vocab),
        "dev_metrics": dev_metrics,
        "test_metrics": test_metrics,
        "training_time_s": training_time_s,
        "train_stats": {k: result.metrics.get(k) for k in ("steps", "epochs_run", "stopped", "train_time_s")},
        "source": source,
        "params": {k: v for k, v in params.items() if k != "report_every"},
        "embeddings": ({k: v for k, v in emb_spec.items() if k not in ("file", "timeout")} | (emb_info or {}))
        if emb_spec
        else None,
        "train_pairs": len(train_ex),
        "dev_pairs": len(dev_ex),
        "created": datetime.now(UTC).isoformat(),
    }
    store = ModelStore(Path(spec["models_dir"]))
    with store.draft(spec["name"]) as draft:
        checkpoints.save(model, draft.path, result.metrics)
        if dev_ex:
            lines = [_example_json(e) for e in dev_ex]
            atomic_write_bytes(draft.path / DEV_FILE, ("\n".join(lines) + "\n").encode("utf-8"))
        draft.publish(meta, before_commit=commit_point)
    return {
        "model": spec["name"],
        "version": meta["version"],
        "dev_metrics": dev_metrics,
        "training_time_s": meta["training_time_s"],
        "embedding_coverage": emb_info["coverage"] if emb_info else None,
        "steps": result.metrics.get("steps"),
        "stopped_by": _STOPPED_BY.get(str(result.metrics.get("stopped")), result.metrics.get("stopped")),
        "selected_by": result.metrics.get("selected_by"),
        "average_kept": result.metrics.get("average_kept"),
    }


#: What says which checkpoint was kept, besides the ``dev_*`` figures and ``average_*`` keys
#: (``average_kept``, ``average_dev_<select_by>``): the epoch and the metric that chose it, the epochs averaged.
CHECKPOINT_KEYS = ("best_epoch", "selected_by", "averaged_epochs")


#: The core's ``stopped`` reasons as the job result's ``stopped_by``.
_STOPPED_BY = {"completed": "epochs", "should_stop": "cancel"}


def _example_json(e: Example) -> str:
    import json

    item: dict[str, Any] = {"source": e.source, "target": e.target}
    if e.links:
        item["links"] = [list(link) for link in e.links]
    if e.alternatives:
        item["alternatives"] = list(e.alternatives)
    return json.dumps(item, ensure_ascii=False)
