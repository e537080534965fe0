"""Settings of the embeddings service: environment variables prefixed ``EMBEDDINGS_``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from service.catalog import SERVICES
from service.kit.settings import ServiceSettings

SPEC = SERVICES["embeddings"]


class Settings(ServiceSettings):
    """Embeddings service settings (``EMBEDDINGS_PORT``, ``EMBEDDINGS_DATA_DIR``, …)."""

    model_config = SettingsConfigDict(env_prefix=SPEC.env_prefix, extra="ignore")
    service_name: ClassVar[str] = SPEC.name

    port: int = Field(SPEC.port, ge=1, le=65535, description="TCP port.")
    default_model: str = Field("default", description="Name of the model trained at first start.")
    ui_peer_url: str | None = Field(
        SERVICES["attention"].url,
        description="Base URL of the attention service as the browser sees it (its jobs in the page).",
    )
    max_topn: int = Field(1000, ge=1, description="Largest `topn` a query may ask for.")
    max_batch: int = Field(
        2048,
        ge=1,
        description="Most queries (or words, sentences, `/v1/embeddings` inputs) in one request; 2048 is "
        "what OpenAI's embeddings API takes and its clients send.",
    )
    mmap: bool = Field(True, description="Load stored vectors with mmap (shared between worker processes).")
    max_inline_sentences: int = Field(
        10_000, ge=1, description="Most sentences a training request may carry inline (`sentences`)."
    )
    max_ngram_bytes: int = Field(
        4 << 30,
        ge=1 << 20,
        description="Largest FastText n-gram table (bucket x vector_size x 4 bytes) a training may allocate.",
    )
    max_decompressed_bytes: int = Field(
        4 << 30, ge=1024, description="Largest decompressed size of a gzip corpus, in bytes (413)."
    )
    max_decompression_ratio: float = Field(
        100.0,
        ge=1,
        description="Most times its compressed size a gzip corpus may inflate to, past its first MiB "
        "(413 as soon as it does: a decompression bomb is refused at once).",
    )
    max_evaluation_items: int = Field(
        50_000, ge=1, description="Most word pairs or analogies an `/evaluate` request may carry inline."
    )
    index_min_vocab: int = Field(
        200_000,
        ge=1,
        description="Build the ANN index (faiss HNSW) automatically after a training job or an import "
        "whose vocabulary has at least this many words.",
    )
    index_kind: Literal["hnsw", "hnsw-sq8", "ivf", "ivf-sq8"] = Field(
        "ivf-sq8",
        description="Kind of ANN index an index request without `kind` builds: `hnsw` (graph, float copy), "
        "`hnsw-sq8` (graph, 8-bit copy), `ivf` (inverted lists, float copy), `ivf-sq8` (inverted lists, "
        "8-bit copy); 8-bit candidates are re-ranked exactly from the stored vectors.",
    )
    recall_target: float = Field(
        0.95,
        gt=0,
        le=1,
        description="recall@10 an index job tunes its search parameter (`ef_search`, `nprobe`) to reach.",
    )
    import_dir: Path | None = Field(
        None,
        description="Directory of vector files the service may import by name (`POST "
        '/v1/models/{name}/import` with `{"path": ...}`), e.g. a mounted volume; unset: uploads only.',
    )
    max_import_bytes: int = Field(
        64 << 30, ge=1, description="Largest file imported from the import directory, in bytes."
    )
    import_job_bytes: int = Field(
        32 << 20,
        ge=0,
        description="An uploaded vectors file of at least this many bytes is imported by a job (202) "
        "instead of within the request (201); files from the import directory always are.",
    )

    @field_validator("import_dir", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        """``EMBEDDINGS_IMPORT_DIR=`` (empty, as compose passes an unset variable) means no import
        directory, never the working directory."""
        return None if isinstance(value, str) and not value.strip() else value
