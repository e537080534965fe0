"""Settings shared by both services, read from the environment with pydantic-settings.

Each service subclasses :class:`ServiceSettings` with its own environment prefix
(``EMBEDDINGS_`` or ``ATTENTION_``), so one ``.env`` file can configure both::

    EMBEDDINGS_PORT=8001
    ATTENTION_API_TOKEN=change-me

Every field below is documented in the README's configuration table.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings common to every service (the prefix is set by the subclass)."""

    model_config = SettingsConfigDict(env_prefix="EMBATTN_", extra="ignore", env_file=None)

    host: str = Field("127.0.0.1", description="Interface to bind.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port.")
    data_dir: Path = Field(Path("data"), description="Root of models, jobs and uploads (one volume).")
    api_token: SecretStr | None = Field(
        None, description="Bearer token required by mutating routes; unset = open (development)."
    )
    protect_queries: bool = Field(False, description="Also require the token on query routes.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest JSON request body, in bytes (413).")
    max_upload_bytes: int = Field(
        256 << 20, ge=1024, description="Largest upload (corpora, model files), in bytes (413)."
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="A request's headers must arrive within this many seconds of its first byte (or of "
        "the connection); else 408 and the connection is closed (`python -m service`).",
    )
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A request body may keep the service waiting this many seconds, plus one second per "
        "`BODY_MIN_RATE` bytes it has sent; else 408 and the connection is closed (a slow drip is cut).",
    )
    body_min_rate: int = Field(
        1024,
        ge=1,
        description="Bytes per second that earn a request body one more second of `BODY_TIMEOUT_S`.",
    )
    max_concurrent_requests: int = Field(
        256,
        ge=1,
        description="Most connections (and requests in progress) one process holds; beyond them a request "
        "is answered 503 (`python -m service`).",
    )
    max_concurrent_jobs: int = Field(1, ge=1, le=64, description="Training jobs that run at once.")
    max_finished_jobs: int = Field(
        1000, ge=1, description="Ended jobs kept in the job history (the oldest are forgotten)."
    )
    job_keep_timeout_s: float = Field(
        120.0,
        gt=0,
        description="`DELETE /v1/jobs/{id}?keep=best` (jobs that can keep their best checkpoint): a job not "
        "ended this many seconds after the request (stop, evaluate, publish) is terminated, nothing kept.",
    )
    threads: int = Field(
        1, ge=1, le=256, description="BLAS/torch threads per process (match the container's CPU limit)."
    )
    job_threads: int = Field(
        0,
        ge=0,
        le=256,
        description="Threads of a job's worker process (index builds, imports, training: faiss, BLAS, torch); "
        "0: the CPUs this process may use (affinity, capped by the cgroup's `cpu.max`). Queries keep `THREADS`.",
    )
    batch_wait_ms: float = Field(
        2.0,
        ge=0,
        le=1000,
        description="Micro-batching: how long the first of concurrent queries waits for others to join "
        "its batch (0: no wait; batches still form while one runs).",
    )
    max_batch_size: int = Field(
        64,
        ge=1,
        le=4096,
        description="Micro-batching: most rows (queries, inputs) run as one batch; 1 turns batching off.",
    )
    max_answer_values: int = Field(
        2_000_000,
        ge=1000,
        description="Output budget: most values (vector components, scores, attention weights, tokens) one "
        "answer may hold. A request whose answer would hold more is refused with a 422 "
        "(`answer-too-large`, naming the count and this setting) before any work; concurrent requests are "
        "batched only while their answers add up to at most this.",
    )
    role: Literal["all", "query"] = Field(
        "all",
        description="`all`: answer every route and take part in running jobs; `query`: answer queries "
        "only (no job runner, no default training; writes go to the writer: under Ray Serve they are "
        "forwarded, alone they are a 503).",
    )
    train_default: bool = Field(True, description="Train the default model at start-up when none exists.")
    default_model: str = Field("default", description="Name of the model trained at first start.")
    log_level: str = Field("info", description="Logging level.")
    log_json: bool = Field(True, description="One JSON object per log line (false: plain text).")
    ui_peer_url: str | None = Field(
        None,
        description="Base URL of the other service as the browser sees it (the page shows its jobs too).",
    )
    cors_origins: str = Field(
        "", description="Comma-separated extra origins allowed to GET cross-origin (the peer's is allowed)."
    )

    #: The service's name; its state lives in ``data_dir/<service_name>``.
    service_name: ClassVar[str] = "service"

    @field_validator("api_token")
    @classmethod
    def _not_a_placeholder(cls, token: SecretStr | None) -> SecretStr | None:
        """Refuse the example tokens (.env.example's ``change-me-…``, FastAPI's ``changethis``)."""
        value = token.get_secret_value() if token is not None else ""
        if value.lower().startswith(("change-me", "changeme", "changethis")):
            var = f"{cls.model_config.get('env_prefix', '')}API_TOKEN"
            raise ValueError(
                f"{var} is the placeholder {value!r} (as in .env.example): "
                "set a real secret, e.g. `openssl rand -hex 32`"
            )
        return token

    @property
    def service_dir(self) -> Path:
        """Directory of this service's state: ``data_dir/<service_name>``."""
        return self.data_dir / self.service_name
