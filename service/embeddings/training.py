"""A training request becomes a job: every check that must pass before a job exists.

The name is free (or ``overwrite``), no job for the model is active, the data can train something
(inline sentences within ``EMBEDDINGS_MAX_INLINE_SENTENCES`` with a token left, an uploaded corpus
whose most frequent word reaches ``min_count``), a FastText n-gram table within
``EMBEDDINGS_MAX_NGRAM_BYTES``; the spec is what the worker (:mod:`service.embeddings.worker`)
reads. Checks that read the store run under the runtime's lock, with the submission.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from models.embeddings.corpus import Tokenizer
from models.embeddings.training import TrainParams
from service.embeddings.schemas.models import ContinueRequest, TrainRequest
from service.kit.errors import InvalidInputError, NotFoundError
from service.kit.job_record import JobRecord

if TYPE_CHECKING:
    from service.embeddings.runtime import EmbeddingsRuntime


def submit_training(body: TrainRequest, runtime: EmbeddingsRuntime) -> JobRecord:
    """Queue the job that trains ``body.name`` (a new model, or a new version with ``overwrite``)."""
    check_ngram_table(body, runtime.settings.max_ngram_bytes)
    sentences = None
    if body.sentences is not None:
        sentences = tokenize_inline(runtime, body.sentences, body.tokenizer.tokenizer())
        check_min_count(sentences, body.params.min_count or TrainParams.min_count)
    min_count = body.params.min_count or TrainParams.min_count

    def build() -> dict[str, Any]:
        corpus = corpus_spec(runtime, body.corpus_id, min_count) if body.corpus_id is not None else None
        return job_spec(runtime, "train", body.name, body.algorithm, body.params.given(), "trained",
                        corpus=corpus, sentences=sentences)  # fmt: skip

    return runtime.submit_job("train", body.name, build, overwrite=body.overwrite)


def submit_continuation(name: str, body: ContinueRequest, runtime: EmbeddingsRuntime) -> JobRecord:
    """Queue the job that trains model ``name`` further on new sentences (a new version); 404 when it
    does not exist, 422 when it has vectors only (imported)."""
    if not runtime.store.exists(name):
        raise NotFoundError("model", name)
    sentences = None
    if body.sentences is not None:
        sentences = tokenize_inline(runtime, body.sentences, body.tokenizer.tokenizer())
    given = {"epochs": body.epochs, "alpha": body.alpha, "min_alpha": body.min_alpha}
    params = {k: v for k, v in given.items() if v is not None}
    current = runtime.store.current(name)
    if current is not None:
        stored = current.meta.get("params") or {}
        alpha = params.get("alpha", stored.get("alpha", 0.025))
        min_alpha = params.get("min_alpha", stored.get("min_alpha", 0.0001))
        if min_alpha > alpha:
            raise InvalidInputError(
                f"min_alpha ({min_alpha}) must be <= alpha ({alpha})", title="Invalid parameters"
            )

    def build() -> dict[str, Any]:
        current = runtime.store.current(name)
        assert current is not None
        if not current.meta.get("has_full_model"):
            raise InvalidInputError(
                f"model {name!r} has vectors only (imported); only trained models can continue",
                code="model-not-trainable",
                title="Model cannot be trained further",
            )
        algorithm = current.meta.get("algorithm") or current.meta.get("kind")
        corpus = corpus_spec(runtime, body.corpus_id, None) if body.corpus_id is not None else None
        return job_spec(runtime, "continue", name, str(algorithm), params, "continued",
                        corpus=corpus, sentences=sentences)  # fmt: skip

    return runtime.submit_job("continue", name, build)


def job_spec(
    runtime: EmbeddingsRuntime,
    mode: str,
    name: str,
    algorithm: str,
    params: dict[str, Any],
    source: str,
    *,
    corpus: dict[str, Any] | None = None,
    sentences: list[list[str]] | None = None,
) -> dict[str, Any]:
    """The worker's job spec: train (or continue) ``name`` on ``corpus`` or inline ``sentences``."""
    spec: dict[str, Any] = {
        "mode": mode,
        "name": name,
        "algorithm": algorithm,
        "params": params,
        "source": source,
        "store_root": str(runtime.models_dir),
        "index_min_vocab": runtime.settings.index_min_vocab,
        "index_kind": runtime.settings.index_kind,
        "recall_target": runtime.settings.recall_target,
    }
    if corpus is not None:
        spec["corpus"] = corpus
    else:
        spec["sentences"] = sentences
    return spec


def corpus_spec(runtime: EmbeddingsRuntime, corpus_id: str, min_count: int | None) -> dict[str, Any]:
    """An uploaded corpus as a job's data source (404 when absent, 422 when no word could reach
    ``min_count``, so the job would end on an empty vocabulary)."""
    meta = runtime.uploads.get(corpus_id)
    top = meta.get("max_token_count")
    if min_count is not None and top is not None and top < min_count:
        raise InvalidInputError(
            f"no word of corpus {corpus_id!r} occurs min_count={min_count} times (the most frequent "
            f"occurs {top}); lower params.min_count or upload more text",
            code="empty-vocabulary",
            loc=["body", "params", "min_count"],
        )
    return {**meta, "path": str(runtime.uploads.path(corpus_id)), "source": "upload"}


def tokenize_inline(runtime: EmbeddingsRuntime, sentences: list[Any], tok: Tokenizer) -> list[list[str]]:
    """Inline sentences as token lists (strings tokenized, token lists kept); 422 when too many/empty."""
    limit = runtime.settings.max_inline_sentences
    if len(sentences) > limit:
        raise InvalidInputError(
            f"{len(sentences)} inline sentences exceed the limit of {limit}; upload a corpus instead",
            loc=["body", "sentences"],
        )
    out = [tok(s) if isinstance(s, str) else list(s) for s in sentences]
    out = [s for s in out if s]
    if not out:
        raise InvalidInputError("no sentence has a token after tokenization", loc=["body", "sentences"])
    return out


def check_min_count(sentences: list[list[str]], min_count: int) -> None:
    """422 when no inline word reaches ``min_count`` (the job would fail on an empty vocabulary)."""
    word, count = Counter(t for s in sentences for t in s).most_common(1)[0]
    if count < min_count:
        raise InvalidInputError(
            f"no word of the inline sentences occurs min_count={min_count} times (the most frequent, "
            f"{word!r}, occurs {count}); lower params.min_count or send more sentences",
            loc=["body", "params", "min_count"],
            code="empty-vocabulary",
        )


def check_ngram_table(body: TrainRequest, limit: int) -> None:
    """422 when a FastText n-gram table would exceed ``EMBEDDINGS_MAX_NGRAM_BYTES`` (the worker would be
    OOM-killed)."""
    if body.algorithm != "fasttext":
        return
    bucket = body.params.bucket or TrainParams.bucket
    dim = body.params.vector_size or TrainParams.vector_size
    need = bucket * dim * 4
    if need > limit:
        raise InvalidInputError(
            f"a FastText n-gram table of bucket={bucket} x vector_size={dim} needs {need / 2**30:.1f} GiB, "
            f"over the limit of {limit / 2**30:.1f} GiB (EMBEDDINGS_MAX_NGRAM_BYTES); lower params.bucket",
            loc=["body", "params", "bucket"],
            code="model-too-large",
        )
