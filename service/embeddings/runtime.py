"""The embeddings service's runtime: what it adds to the kit's (:class:`~service.kit.runtime.ServiceRuntime`).

* the loader: a stored version becomes :class:`~models.embeddings.queries.VectorQueries` over its
  gensim ``KeyedVectors`` (memory-mapped when ``EMBEDDINGS_MMAP``), whose norms are computed at
  load time (gensim fills them lazily, and concurrent threads would race), and over its ANN index
  (faiss HNSW, ``index.faiss`` beside it, memory-mapped) when the version's metadata names one;
  the index is built by an ``index`` job (:meth:`EmbeddingsRuntime.submit_index`);
* uploads of vector files kept in ``staged/`` until their import job ends (imports themselves are
  :mod:`service.embeddings.importing`'s);
* the default model: Word2Vec on gensim's Lee corpus (training requests become job specs in
  :mod:`service.embeddings.training`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends

from models.embeddings.ann import INDEX_FILE, RERANK, HnswParams, IndexParams, load_index
from models.embeddings.builtin import DEFAULT_ALGORITHM, DEFAULT_PARAMS, default_corpus_path
from models.embeddings.queries import VectorQueries
from models.embeddings.storage import load_vectors
from service.embeddings.settings import Settings
from service.embeddings.training import job_spec
from service.kit.errors import NotFoundError
from service.kit.job_record import JobRecord
from service.kit.model_store import ModelVersion
from service.kit.registry import LoadedModel
from service.kit.runtime import ServiceRuntime, get_runtime

log = logging.getLogger("service.embeddings")


#: A model version in memory, as the registry returns it.
LoadedVectors = LoadedModel[VectorQueries]


class EmbeddingsRuntime(ServiceRuntime[VectorQueries]):
    """Stores, registry and jobs of the embeddings service."""

    uploads_name = "corpora"
    upload_kind = "corpus"
    job_target = "service.embeddings.worker:train"
    preload = ("service.embeddings.worker",)

    settings: Settings

    #: Uploaded vector files kept for their import job (removed when it ends).
    @property
    def staged_dir(self) -> Path:
        return self.settings.service_dir / "staged"

    def load_model(self, version: ModelVersion) -> VectorQueries:
        kv = load_vectors(version.path, mmap=self.settings.mmap)
        info = version.meta.get("index") or {}
        path = version.path / INDEX_FILE
        index = None
        if info and path.exists():
            try:
                index = load_index(path, mmap=self.settings.mmap)
            except Exception:  # serve exactly rather than not at all
                log.exception("could not load the index of %s v%s", version.name, version.version)
            if index is not None and index.ntotal != len(kv.index_to_key):
                log.warning("index of %s v%s does not match its vectors", version.name, version.version)
                index = None
        kind = info.get("kind", "hnsw")
        value = info.get("nprobe") if kind.startswith("ivf") else info.get("ef_search")
        queries = VectorQueries(kv, index, int(value or HnswParams.ef_search), rerank=RERANK.get(kind, 1))
        queries.warm()
        return queries

    def default_job_spec(self) -> dict[str, Any]:
        corpus = {
            "path": default_corpus_path(),
            "format": "text",
            "tokenizer": "simple",
            "lowercase": True,
            "id": "lee_background",
            "source": "builtin",
        }
        return job_spec(self, "train", self.settings.default_model, DEFAULT_ALGORITHM, DEFAULT_PARAMS.to_dict(),
                        "builtin", corpus=corpus)  # fmt: skip

    # -- the ANN index ----------------------------------------------------------------------------

    def submit_index(
        self,
        name: str,
        version: int | None,
        params: IndexParams,
        sample: int = 1000,
        recall_target: float | None = None,
    ) -> JobRecord:
        """Queue the job that builds the index of ``version`` (default: the current one) of ``name``.

        404 when the model or the version does not exist, 409 while a job for the model is active.
        """

        def build() -> dict[str, Any]:
            target = self.store.current(name) if version is None else self.store.get(name, version)
            if target is None:
                raise NotFoundError("version", version, detail=f"model {name!r} has no version {version}")
            return {
                "mode": "index",
                "name": name,
                "version": target.version,
                "store_root": str(self.models_dir),
                "params": params.to_dict(),
                "sample": sample,
                "recall_target": recall_target if recall_target is not None else self.settings.recall_target,
            }

        return self.submit_job("index", name, build, target="service.embeddings.worker:build_index_job")

    def delete_index(self, name: str, version: int | None) -> None:
        """Remove the index of ``version`` (default: the current one); 404 when it has none."""
        with self.lock:
            self.check_no_active_job(name)
            target = self.store.current(name) if version is None else self.store.get(name, version)
            if target is None:
                if version is None:
                    raise NotFoundError("model", name)
                raise NotFoundError("version", version, detail=f"model {name!r} has no version {version}")
            if "index" not in target.meta:
                raise NotFoundError(
                    "index", name, detail=f"version {target.version} of model {name!r} has no index"
                )
            self.store.update_meta(name, target.version, {}, remove=("index",))
            (target.path / INDEX_FILE).unlink(missing_ok=True)
            self.registry.forget_version(name, target.version)
            self.registry.load(name)

    # -- staged uploads ---------------------------------------------------------------------------

    def clean_leftovers(self) -> None:
        """The kit's cleaning, and staged uploads no queued or running job reads (older than a minute:
        another process may be about to submit the job of a younger one). The staged file of a job
        that was running, interrupted, is removed at once when the job is marked failed, at
        start-up or on a take-over (:meth:`_on_job_finished`)."""
        super().clean_leftovers()
        if not self.staged_dir.exists():
            return
        wanted = {
            r.spec.get("path") for status in ("queued", "running") for r in self.jobs.list(status=status)
        }
        for path in self.staged_dir.iterdir():
            try:
                if str(path) not in wanted and time.time() - path.stat().st_mtime > 60:
                    path.unlink()
            except FileNotFoundError:
                continue

    def _on_job_finished(self, rec: JobRecord) -> None:
        # Whatever its outcome (interrupted included: the job manager calls this for the jobs it
        # finds running when it becomes the runner), an import job's staged upload is no longer needed.
        if rec.kind == "import" and rec.spec.get("staged"):
            Path(rec.spec["path"]).unlink(missing_ok=True)
        super()._on_job_finished(rec)
        result = rec.result or {}
        if rec.status == "succeeded" and rec.model and "index" in result and "version" in result:
            self.registry.forget_version(rec.model, int(result["version"]))  # a pinned copy without it

    def uploads_of(self, spec: dict[str, Any]) -> set[str]:
        corpus = spec.get("corpus") or {}
        return {corpus["id"]} if corpus.get("source") == "upload" and "id" in corpus else set()


#: The runtime, as a route parameter.
Runtime = Annotated[EmbeddingsRuntime, Depends(get_runtime)]
