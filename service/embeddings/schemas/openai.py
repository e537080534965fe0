"""Bodies of the OpenAI-compatible route (:mod:`service.embeddings.routes.openai`): ``POST
/v1/embeddings`` in the shape of OpenAI's embeddings API (``openai.types.EmbeddingCreateParams``,
``CreateEmbeddingResponse``) and its error envelope ``{"error": {"message", "type", "param", "code"}}``.

``input`` is published as OpenAI's (a string, an array of strings, an array of token ids, an array of
token-id arrays) so clients generated from either document send the same bodies; token ids are refused
(422 ``token_ids_unsupported``: the service has no tokenizer ids). A single string is validated as a
one-item array.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from service.embeddings.schemas import HARD_MAX_ITEMS
from service.kit.schemas import Int, RequestModel

#: Longest input, in characters (as a sentence of ``/sentence-vectors``).
MAX_INPUT_CHARS = 100_000

InputText = Annotated[str, StringConstraints(max_length=MAX_INPUT_CHARS)]

_TEXT = {"type": "string", "maxLength": MAX_INPUT_CHARS}
_TOKEN_IDS = {"type": "array", "items": {"type": "integer"}, "minItems": 1}
INPUT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {**_TEXT, "title": "One input"},
        {"type": "array", "items": _TEXT, "minItems": 1, "maxItems": HARD_MAX_ITEMS, "title": "Inputs"},
        {**_TOKEN_IDS, "title": "Token ids (refused: 422 token_ids_unsupported)"},
        {
            "type": "array",
            "items": _TOKEN_IDS,
            "minItems": 1,
            "title": "Arrays of token ids (refused: 422 token_ids_unsupported)",
        },
    ],
    "title": "Input",
    "description": "A string or an array of strings (at most `EMBEDDINGS_MAX_BATCH`, default 2048, as "
    f"OpenAI; each at most {MAX_INPUT_CHARS:,} characters). One vector per string, in order. Token ids "
    "(OpenAI's other two forms) are refused with a 422 `token_ids_unsupported`.",
}


def _input(value: Any) -> Any:
    """A string as a one-item array; token ids refused with their own error type."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if any(isinstance(v, int | list) and not isinstance(v, bool) for v in value):
            raise PydanticCustomError(
                "token_ids_unsupported",
                "token ids are not supported: this service has no tokenizer ids (its vocabulary is "
                "words); send the text as a string or an array of strings",
            )
        return value
    raise PydanticCustomError("input_type", "input must be a string or an array of strings")


class EmbeddingsRequest(RequestModel):
    """OpenAI's ``POST /v1/embeddings`` body (``openai.types.EmbeddingCreateParams``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"model": "default", "input": "The president spoke today."},
                {
                    "model": "default@1",
                    "input": ["war and peace", "the minister"],
                    "encoding_format": "base64",
                },
            ]
        },
    )

    input: Annotated[
        list[InputText],
        BeforeValidator(_input),
        Field(min_length=1, max_length=HARD_MAX_ITEMS),
        WithJsonSchema(INPUT_SCHEMA),
    ]
    model: str = Field(
        min_length=1,
        max_length=200,
        description="A model name (its current version) or `name@N` (version N). A name that is not "
        "served (OpenAI's `text-embedding-3-small` included) is a 404 `model_not_found`.",
        examples=["default", "default@2"],
    )
    encoding_format: Literal["float", "base64"] = Field(
        "float",
        description="`float`: arrays of numbers; `base64`: each vector's little-endian float32 bytes, "
        "base64-encoded (what the official SDKs ask for by default, and decode).",
    )
    dimensions: Int | None = Field(
        None,
        ge=1,
        description="Accepted only when it equals the model's vector size (vectors are never truncated "
        "or projected); else a 422 `dimensions_mismatch`.",
    )
    user: str | None = Field(None, max_length=10_000, description="Accepted and ignored.")


class Embedding(BaseModel):
    """One vector (``openai.types.Embedding``)."""

    object: Literal["embedding"] = "embedding"
    index: int = Field(description="Position of its input in `input`.")
    embedding: list[float] | str = Field(
        description="The mean of the input's known word vectors (raw, not normalised; all zeros when no "
        "token is known), or with `encoding_format: base64` its little-endian float32 bytes in base64."
    )


class Usage(BaseModel):
    prompt_tokens: int = Field(
        description="Tokens of every input by the service's `simple` tokenizer (gensim simple_preprocess, "
        "the `tokens` of `/sentence-vectors`), known or not."
    )
    total_tokens: int = Field(description="The same number (nothing is generated).")


class EmbeddingsResponse(BaseModel):
    """OpenAI's answer (``openai.types.CreateEmbeddingResponse``)."""

    object: Literal["list"] = "list"
    data: list[Embedding] = Field(description="One vector per input, in order.")
    model: str = Field(description="The model version that answered, as `name@N`.")
    usage: Usage


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, for a human.")
    type: str = Field(
        description="`invalid_request_error` (4xx) or `server_error` (5xx), as OpenAI.",
        examples=["invalid_request_error"],
    )
    param: str | None = Field(
        description="The offending request member (`input`, `input[3]`, `model`…), or null."
    )
    code: str | None = Field(
        description="A machine-readable code: `model_not_found`, `token_ids_unsupported`, "
        "`dimensions_mismatch`, `too_many_items`, `answer_too_large`, `invalid_api_key`, `missing_api_key`, "
        "or a validation error's type (`string_too_long`, `extra_forbidden`, `missing`…).",
        examples=["model_not_found"],
    )


class ErrorResponse(BaseModel):
    """OpenAI's error envelope (what the SDKs read into their exceptions' `message`, `code`, `param`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "message": "no model named 'text-embedding-3-small'",
                        "type": "invalid_request_error",
                        "param": "model",
                        "code": "model_not_found",
                    }
                }
            ]
        }
    )

    error: ErrorDetail
