"""A service's runtime: its stores, model registry and job runner, their lifecycle and their rules.

Every service builds one :class:`ServiceRuntime` subclass (``app.state.runtime``) and brings only
what is its own: a *loader* for a model version, the job function that trains, the spec of its
default model, and the name of its upload collection. The kit owns the rest, once:

* **start-up** (:meth:`ServiceRuntime.start`): remove leftovers of interrupted writes, start the job
  runner (a job found running becomes ``failed``, interrupted), then, in a background thread so
  that ``/healthz`` answers at once, load every current model and, when ``train_default`` is set
  and the default model is missing, submit the job that trains it;
* **readiness** (:meth:`ServiceRuntime.readiness`): 503 until start-up loading is done and the
  default model's first training (when this process started one) has ended; from then on 200,
  whatever happens to the models, with what is loaded in the details;
* **job submission** (:meth:`ServiceRuntime.submit_job`): one job per model, and a new model under a
  taken name only with ``overwrite`` — checked and submitted under one lock;
* **models and versions**: delete a model, list its versions, make one current, delete one.

Stores, registry and jobs raise domain errors (:mod:`service.kit.errors`), which the app maps to
problem+json in one place.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from fastapi import Request

from service.kit.batching import Batching
from service.kit.cpus import available_cpus
from service.kit.errors import ConflictError, NotFoundError
from service.kit.job_manager import JobManager
from service.kit.job_record import ACTIVE, JobRecord
from service.kit.locks import FileLock
from service.kit.model_store import ModelStore, ModelVersion
from service.kit.registry import LoadedModel, ModelRegistry
from service.kit.settings import ServiceSettings
from service.kit.storage import remove_temporaries
from service.kit.uploads import UploadStore

log = logging.getLogger("service.runtime")

T = TypeVar("T")


class ServiceRuntime(Generic[T]):
    """The state of one service process, built from its settings.

    Subclasses set :attr:`uploads_name`, :attr:`upload_kind`, :attr:`job_target` and
    :attr:`preload`, and implement :meth:`load_model` and :meth:`default_job_spec`.
    """

    #: Directory (under the service's data directory) and kind of its uploads.
    uploads_name: ClassVar[str] = "uploads"
    upload_kind: ClassVar[str] = "upload"
    #: ``"module:function"`` run by the job runner for training jobs.
    job_target: ClassVar[str] = ""
    #: Modules the job runner's forkserver imports once (so jobs start fast).
    preload: ClassVar[tuple[str, ...]] = ()
    #: Job functions that can stop early and keep their best checkpoint (``DELETE
    #: /v1/jobs/{id}?keep=best``; see :func:`service.kit.job_worker.stop_requested`).
    stoppable_targets: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        root = settings.service_dir
        self.models_dir = root / "models"
        self.tmp_dir = root / "tmp"
        self.store = ModelStore(self.models_dir)
        self.uploads = UploadStore(root / self.uploads_name, kind=self.upload_kind)
        self.registry: ModelRegistry[T] = ModelRegistry(
            self.store, self.load_model, service=settings.service_name
        )
        self.jobs = JobManager(
            root / "jobs",
            settings.max_concurrent_jobs,
            service=settings.service_name,
            threads=settings.job_threads or available_cpus(),
            preload=self.preload,
            on_finished=self._on_job_finished,
            on_runner=self.clean_leftovers,
            keep_finished=settings.max_finished_jobs,
            log_config=(settings.log_level, settings.log_json),
            stoppable=self.stoppable_targets,
            keep_timeout_s=settings.job_keep_timeout_s,
        )
        #: Held while a rule is checked and acted on (a name is free, no job uses an upload, …), by
        #: one thread of one process at a time over every process serving this data directory.
        self.lock = FileLock(root / "rules.lock")
        self.startup_done = threading.Event()
        self.startup_error: str | None = None
        self.default_job_id: str | None = None
        self._loader: threading.Thread | None = None
        #: The process's micro-batchers: how queries reach the models (:mod:`service.kit.batching`).
        self.batching = Batching(
            self.registry,
            self,
            max_batch_size=settings.max_batch_size,
            wait_ms=settings.batch_wait_ms,
            service=settings.service_name,
            max_cost=settings.max_answer_values,
        )

    # -- what a service brings -------------------------------------------------------------------

    def load_model(self, version: ModelVersion) -> T:
        """Load the model object of a stored version (called by the registry)."""
        raise NotImplementedError

    def default_job_spec(self) -> dict[str, Any] | None:
        """The job spec that trains the default model, or None when the service has none."""
        return None

    def uploads_of(self, spec: dict[str, Any]) -> set[str]:
        """The ids of the uploads a job's spec reads (an upload in use cannot be deleted)."""
        return set()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, *, background: bool = True) -> None:
        """Start the job manager (the runner first cleans leftovers), then load the models (in a
        thread by default)."""
        for d in (self.models_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        if self.runs_jobs:
            self.jobs.start()
        if background:
            self._loader = threading.Thread(
                target=self.load_models, name=f"{self.settings.service_name}-load", daemon=True
            )
            self._loader.start()
        else:
            self.load_models()

    @property
    def runs_jobs(self) -> bool:
        """Whether this process takes part in running jobs (role ``all``; a ``query`` process never
        opens the job store: see :mod:`service.kit.roles`)."""
        return self.settings.role == "all"

    def clean_leftovers(self) -> None:
        """Remove what interrupted writes left (temporaries, drafts of versions, unfinished
        publications, half-made uploads).

        Called by the job manager when this process becomes the runner at start-up, before any
        job runs: the processes that start beside it (``--workers N``) do not clean, so they
        never remove a file another process is writing. (On a take-over, what the interrupted
        jobs left is removed by :meth:`clean_after`.)
        """
        self.store.clean()
        self.uploads.clean()
        remove_temporaries(self.tmp_dir)

    def load_models(self) -> None:
        """Load every current model, then submit the default model's training when it is missing."""
        try:
            self.registry.load_all()
            name = self.settings.default_model
            if self.runs_jobs and self.settings.train_default and not self.store.exists(name):
                spec = self.default_job_spec()
                if spec is not None:
                    try:
                        self.default_job_id = self.jobs.submit(
                            "default", self.job_target, spec, model=name
                        ).id
                        log.info(
                            "training the default model", extra={"job": self.default_job_id, "model": name}
                        )
                    except ConflictError as exc:  # queued already (by an earlier start, another process)
                        self.default_job_id = exc.extensions.get("job_id")
        except Exception as exc:  # keep serving; /readyz shows it
            log.exception("start-up loading failed")
            self.startup_error = f"{type(exc).__name__}: {exc}"
        finally:
            self.startup_done.set()

    def stop(self) -> None:
        """Stop the job runner (running jobs end as interrupted) and the batchers' threads."""
        if self._loader is not None:
            self._loader.join(timeout=30)
        if self.runs_jobs:
            self.jobs.shutdown()
        self.batching.close()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """``(ready, details)`` for ``/readyz``.

        Ready once start-up loading is done and the default model's first training, when this
        process submitted one, has ended (so a first ``make run`` answers 503 until the default
        model is served). A missing or deleted default model is a detail, never a 503.
        """
        details: dict[str, Any] = {
            "role": self.settings.role,
            "startup_loading": "done" if self.startup_done.is_set() else "in progress",
            "models_loaded": self.registry.loaded(),
            "default_model": self.settings.default_model,
            "default_model_loaded": self.registry.is_loaded(self.settings.default_model),
        }
        waiting = False
        if self.default_job_id is not None:
            try:
                job = self.jobs.get(self.default_job_id)
            except NotFoundError:  # a long-ended job may have left the history
                job = None
            if job is not None:
                details["default_job"] = {
                    "id": job.id,
                    "status": job.status,
                    "progress": job.progress,
                    "error": job.error,
                }
                waiting = job.status in ACTIVE
        if self.startup_error:
            details["error"] = self.startup_error
        return self.startup_done.is_set() and not waiting, details

    # -- rules -----------------------------------------------------------------------------------

    def check_no_active_job(self, name: str) -> None:
        """:class:`ConflictError` (``job-active``) when a job for ``name`` is queued or running."""
        self.jobs.check_idle(name)

    def check_name_free(self, name: str, overwrite: bool) -> None:
        """:class:`ConflictError` (``model-exists``) when ``name`` exists and ``overwrite`` is false."""
        if not overwrite and self.store.exists(name):
            raise ConflictError(
                f"a model named {name!r} exists; send overwrite=true to store a new version",
                code="model-exists",
            )

    def submit_job(
        self,
        kind: str,
        name: str,
        spec: dict[str, Any] | Callable[[], dict[str, Any]],
        *,
        overwrite: bool | None = None,
        target: str | None = None,
    ) -> JobRecord:
        """Queue a job that writes a new version of model ``name`` (``target``: another job function
        than :attr:`job_target`, e.g. one that adds to an existing version).

        ``overwrite=None`` means the model must exist (continue training); ``False``, that it
        must not (409 ``model-exists``); ``True``, either. ``spec`` may be a function, called
        under the lock once the checks have passed (for specs that read the store). One job per
        model: 409 ``job-active`` otherwise.
        """
        with self.lock:
            if overwrite is None:
                if not self.store.exists(name):
                    raise NotFoundError("model", name)
            else:
                self.check_name_free(name, overwrite)
            spec = spec() if callable(spec) else spec
            return self.jobs.submit(kind, target or self.job_target, spec, model=name)

    def delete_upload(self, upload_id: str) -> None:
        """Remove an upload; 404 when absent, 409 (``<kind>-in-use``) while a queued or running job reads it."""
        with self.lock:
            self.uploads.get(upload_id)
            for job in self.jobs.list():
                if job.status in ACTIVE and upload_id in self.uploads_of(job.spec):
                    raise ConflictError(
                        f"job {job.id} uses {self.upload_kind} {upload_id!r}",
                        code=f"{self.upload_kind}-in-use",
                    )
            self.uploads.delete(upload_id)

    def delete_model(self, name: str) -> None:
        """Remove every version of ``name``; 409 while a job for it is active, 404 when absent."""
        with self.lock:
            self.check_no_active_job(name)
            if not self.store.exists(name):
                raise NotFoundError("model", name)
            self.registry.drop(name)
            self.store.delete(name)

    def versions(self, name: str) -> tuple[int, list[ModelVersion]]:
        """``(current, versions)`` of model ``name``; 404 when absent."""
        current = self.store.current(name)
        if current is None:
            raise NotFoundError("model", name)
        return current.version, self.store.all_versions(name)

    def set_current(self, name: str, version: int) -> LoadedModel[T]:
        """Serve ``version`` of ``name`` from now on (roll back or forward); returns it, loaded.

        The version is loaded before it becomes current, so a version that cannot be loaded never
        replaces a good one. 409 while a job for the model is active.
        """
        with self.lock:
            self.check_no_active_job(name)
            self.registry.get(name, version)  # loads it (404 when absent), before anything changes
            self.store.set_current(name, version)
            loaded = self.registry.load(name)
        if loaded is None:  # deleted meanwhile
            raise NotFoundError("model", name)
        return loaded

    def delete_version(self, name: str, version: int) -> None:
        """Remove one version that is not the current one (409 for the current one)."""
        with self.lock:
            self.check_no_active_job(name)
            self.store.delete_version(name, version)
            self.registry.forget_version(name, version)

    def _on_job_finished(self, rec: JobRecord) -> None:
        if not rec.model:
            return
        if rec.status != "succeeded":
            self.clean_after(rec)
            return
        try:
            self.registry.load(rec.model)
        except Exception:
            log.exception("could not load model %s after job %s", rec.model, rec.id)

    def clean_after(self, rec: JobRecord) -> None:
        """Remove what a job that failed or was cancelled left in its model's directory.

        A worker that was killed (``kill -9``, or after the grace period of a cancel) leaves its
        draft, or a publication to undo; a failed first version, an empty model directory
        (:meth:`ModelStore.clean_model`). Under the rules' lock, so no in-request write of the
        model runs meanwhile; a writer still ending (the worker of a runner that was killed, on a
        take-over) is waited for a few seconds.
        """
        try:
            with self.lock:
                removed = self.store.clean_model(rec.model, wait_s=5.0)
        except Exception:
            log.exception("could not clean model %s after job %s", rec.model, rec.id)
            return
        if removed:
            log.info("removed what the job left", extra={"job": rec.id, "model": rec.model})


async def get_runtime(request: Request) -> Any:
    """FastAPI dependency: the app's runtime (async: no threadpool hop per request)."""
    return request.app.state.runtime
