"""Settings of the attention service: environment variables prefixed ``ATTENTION_``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from models.seq2seq.limits import MAX_BEAM_SIZE
from service.catalog import SERVICES
from service.kit.settings import ServiceSettings

SPEC = SERVICES["attention"]


class Settings(ServiceSettings):
    """Attention service settings (``ATTENTION_PORT``, ``ATTENTION_EMBEDDINGS_URL``, …)."""

    model_config = SettingsConfigDict(env_prefix=SPEC.env_prefix, extra="ignore")
    service_name: ClassVar[str] = SPEC.name

    port: int = Field(SPEC.port, ge=1, le=65535, description="TCP port.")
    default_model: str = Field("dates", description="Name of the model trained at first start.")
    ui_peer_url: str | None = Field(
        SERVICES["embeddings"].url,
        description="Base URL of the embeddings service as the browser sees it (its jobs in the page).",
    )
    embeddings_url: str = Field(
        SERVICES["embeddings"].url,
        description="Base URL of the embeddings service (vectors for word encoders).",
    )
    max_batch: int = Field(1000, ge=1, description="Most inputs (or pairs) in one request.")
    max_input_tokens: int = Field(200, ge=1, description="Longest input, in tokens (characters or words).")
    max_output_len: int = Field(200, ge=1, description="Largest `max_len` a decode may ask for.")
    max_beam_size: int = Field(
        MAX_BEAM_SIZE,
        ge=1,
        le=MAX_BEAM_SIZE,
        description=f"Largest beam size (at most {MAX_BEAM_SIZE}, the decoder's own limit).",
    )
    max_train_pairs: int = Field(
        200_000, ge=1, description="Most training pairs a job accepts (dataset, inline pairs or task sizes)."
    )
    max_inline_pairs: int = Field(5000, ge=1, description="Most pairs sent inline in a training request.")
    max_eval_examples: int = Field(5000, ge=1, description="Most examples one evaluate request decodes.")
    embeddings_timeout_s: float = Field(
        60.0, gt=0, description="Timeout when fetching vectors from the embeddings service."
    )
    max_heatmap_tokens: int = Field(
        100,
        ge=1,
        le=1000,
        description="Most tokens per side (source, output) of a heatmap image (422 above): an image grows "
        "0.35 inch a token, and one render at a time per process is drawn.",
    )
    infer_batch_size: int = Field(
        256,
        ge=1,
        le=4096,
        description="Rows per padded batch when decoding (inputs are length-sorted first).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where models train (job workers) and decode: `cuda` (a GPU), `cpu`, or `auto` (`cuda` "
        "when torch finds a GPU, else `cpu`). `cuda` without a usable GPU stops the service at start-up.",
    )

    @field_validator("device")
    @classmethod
    def _device_usable(cls, value: str) -> str:
        if value == "cuda":
            from models.seq2seq.devices import resolve_device

            resolve_device(value)  # ValueError saying why torch cannot use it
        return value
