"""The embeddings service's state: stores, job manager, model registry, and the rules that tie them.

One :class:`EmbeddingsState` per app (``app.state.embeddings``); handlers reach it with
:func:`get_state`. It owns the checks that must happen atomically (a name is free, no job is active
for it) and the lifecycle: clean leftovers, start the job manager (which marks interrupted jobs
failed), load every current model, and train the default model when it is missing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import Request

from models.embeddings.builtin import DEFAULT_ALGORITHM, DEFAULT_PARAMS, default_corpus_path
from service.embeddings.corpora import CorpusStore, tokenizer_for
from service.embeddings.registry import ModelRegistry
from service.embeddings.settings import Settings
from service.kit.jobs import JobManager, JobRecord
from service.kit.model_store import ModelStore
from service.kit.problems import ProblemError, invalid, not_found
from service.kit.storage import remove_temporaries

log = logging.getLogger("service.embeddings")

WORKER = "service.embeddings.worker:train"
PRELOAD = ["service.embeddings.worker"]


class EmbeddingsState:
    """Everything a handler needs, built from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        root = settings.service_dir
        self.models_dir = root / "models"
        self.uploads_dir = root / "uploads"
        self.store = ModelStore(self.models_dir)
        self.corpora = CorpusStore(root / "corpora")
        self.registry = ModelRegistry(self.store, mmap=settings.mmap, service=settings.service_name)
        self.jobs = JobManager(
            root / "jobs",
            settings.max_concurrent_jobs,
            service=settings.service_name,
            threads=settings.threads,
            preload=PRELOAD,
            on_finished=self._on_job_finished,
            keep_finished=settings.max_finished_jobs,
        )
        self.lock = threading.RLock()  # name checks + submissions/imports happen under it
        self.loaded_at_start = False
        self.default_ready = False
        self.default_job_id: str | None = None
        self.startup_error: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Clean leftovers and start the job manager (quick; models load in :meth:`load_models`)."""
        for d in (self.models_dir, self.uploads_dir, self.corpora.root):
            d.mkdir(parents=True, exist_ok=True)
        self.store.clean()
        remove_temporaries(self.corpora.root)
        remove_temporaries(self.uploads_dir)
        self.jobs.start()

    def load_models(self) -> None:
        """Load every current model, then train the default model when it is missing."""
        try:
            self.registry.load_all()
            name = self.settings.default_model
            if self.registry.is_loaded(name):
                self.default_ready = True
            elif self.settings.train_default:
                self._submit_default()
        except Exception as exc:  # keep serving; /readyz shows it
            log.exception("start-up loading failed")
            self.startup_error = f"{type(exc).__name__}: {exc}"
        finally:
            self.loaded_at_start = True

    def stop(self) -> None:
        self.jobs.shutdown()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        details: dict[str, Any] = {
            "models_loaded": self.registry.loaded(),
            "startup_loading": "done" if self.loaded_at_start else "in progress",
        }
        if self.settings.train_default:
            details["default_model"] = self.settings.default_model
            # the truth now (deleted: false); readiness itself stays latched once the default model loaded
            details["default_model_loaded"] = self.registry.is_loaded(self.settings.default_model)
            jobs = self.jobs.list(model=self.settings.default_model)
            job = next((j for j in jobs if j.id == self.default_job_id), None)
            if job is not None:  # (a long-ended job may have left the history)
                details["default_job"] = {"id": job.id, "status": job.status, "error": job.error}
        if self.startup_error:
            details["error"] = self.startup_error
        ready = self.loaded_at_start and (self.default_ready or not self.settings.train_default)
        return ready, details

    def _submit_default(self) -> None:
        name = self.settings.default_model
        with self.lock:
            active = self.jobs.active_for(name)
            if active:
                self.default_job_id = active[0].id
                return
            corpus = {
                "path": default_corpus_path(),
                "format": "text",
                "tokenizer": "simple",
                "lowercase": True,
                "id": "lee_background",
                "source": "builtin",
            }
            spec = self._spec(
                "train", name, DEFAULT_ALGORITHM, DEFAULT_PARAMS.to_dict(), "builtin", corpus=corpus
            )
            rec = self.jobs.submit("default", WORKER, spec, model=name)
            self.default_job_id = rec.id
        log.info("training the default model", extra={"job": rec.id, "model": name})

    def _on_job_finished(self, rec: JobRecord) -> None:
        if rec.status != "succeeded" or not rec.model:
            return
        try:
            self.registry.load(rec.model)
        except Exception:
            log.exception("could not load model %s after job %s", rec.model, rec.id)
            return
        if rec.model == self.settings.default_model:
            self.default_ready = True

    # -- training ----------------------------------------------------------------------------

    def _spec(
        self,
        mode: str,
        name: str,
        algorithm: str,
        params: dict[str, Any],
        source: str,
        *,
        corpus: dict[str, Any] | None = None,
        sentences: list[list[str]] | None = None,
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "mode": mode,
            "name": name,
            "algorithm": algorithm,
            "params": params,
            "source": source,
            "store_root": str(self.models_dir),
        }
        if corpus is not None:
            spec["corpus"] = corpus
        else:
            spec["sentences"] = sentences
        return spec

    def corpus_spec(self, corpus_id: str) -> dict[str, Any]:
        meta = self.corpora.get(corpus_id)
        return {**meta, "path": str(self.corpora.data_path(corpus_id)), "source": "upload"}

    def tokenize_inline(self, sentences: list[Any], kind: str, lowercase: bool) -> list[list[str]]:
        """Inline sentences as token lists (strings tokenized, token lists kept); 422 when too many/empty."""
        limit = self.settings.max_inline_sentences
        if len(sentences) > limit:
            raise invalid(
                f"{len(sentences)} inline sentences exceed the limit of {limit}; upload a corpus instead",
                loc=["body", "sentences"],
            )
        tok = tokenizer_for(kind, lowercase)
        out = [tok(s) if isinstance(s, str) else list(s) for s in sentences]
        out = [s for s in out if s]
        if not out:
            raise invalid("no sentence has a token after tokenization", loc=["body", "sentences"])
        return out

    def check_no_active_job(self, name: str) -> None:
        active = self.jobs.active_for(name)
        if active:
            raise ProblemError(
                409,
                "Conflict",
                f"job {active[0].id} is {active[0].status} for model {name!r}",
                type="job-active",
                job_id=active[0].id,
            )

    def submit_training(
        self,
        *,
        mode: str,
        name: str,
        algorithm: str | None,
        params: dict[str, Any],
        overwrite: bool,
        corpus_id: str | None,
        sentences: list[list[str]] | None,
    ) -> JobRecord:
        """Check the name and the corpus, then queue the job (all under the state lock)."""
        with self.lock:
            self.check_no_active_job(name)
            current = self.store.current(name)
            if mode == "train":
                if current is not None and not overwrite:
                    raise ProblemError(
                        409,
                        "Conflict",
                        f"a model named {name!r} exists; send overwrite=true to train a new version",
                        type="model-exists",
                    )
                source = "trained"
            else:
                if current is None:
                    raise not_found("model", name)
                if not current.meta.get("has_full_model"):
                    raise ProblemError(
                        422,
                        "Model cannot be trained further",
                        f"model {name!r} has vectors only (imported); only trained models can continue",
                        type="model-not-trainable",
                    )
                algorithm = current.meta.get("algorithm") or current.meta.get("kind")
                source = "continued"
            corpus = self.corpus_spec(corpus_id) if corpus_id is not None else None
            spec = self._spec(mode, name, str(algorithm), params, source, corpus=corpus, sentences=sentences)
            return self.jobs.submit(mode, WORKER, spec, model=name)


async def get_state(request: Request) -> EmbeddingsState:
    """FastAPI dependency: the app's :class:`EmbeddingsState` (async: no threadpool hop)."""
    return request.app.state.embeddings
