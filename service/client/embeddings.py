"""Clients of the embeddings service (port 8001): :class:`EmbeddingsClient` and :class:`AsyncEmbeddingsClient`.

Every method of :class:`EmbeddingsAPI` is one call of the service; the sync client returns its
result, the async one is a coroutine function of it (the same arguments, the same result, awaited).

>>> client = EmbeddingsClient("http://127.0.0.1:8001")
>>> corpus = client.upload_corpus("lee.txt", name="lee")
>>> accepted = client.train("lee-w2v", corpus_id="lee", params={"vector_size": 50, "epochs": 10})
>>> client.wait_job(accepted.job_id).status
'succeeded'
>>> client.similar("lee-w2v", ["president"], topn=3)
[Neighbour(word='bush', score=0.97...), ...]

>>> async with AsyncEmbeddingsClient("http://127.0.0.1:8001") as client:
...     hits = await client.similar("default", ["president"])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from service.catalog import SERVICES
from service.client.base import AsyncClient, ServiceAPI, SyncClient, operation, seg
from service.client.http import (
    Call,
    Download,
    ProgressCallback,
    Upload,
    json_object,
    nothing,
    written_path,
)
from service.client.results import Accepted, ModelInfo, Neighbour, ResultList, WordVector

R = TypeVar("R")

DEFAULT_URL = SERVICES["embeddings"].url

#: The query routes that have a ``/batch`` sibling.
BATCH_OPERATIONS = (
    "similar",
    "analogy",
    "similarity",
    "n-similarity",
    "doesnt-match",
    "vectors",
    "sentence-vectors",
)


def _neighbours(data: dict[str, Any]) -> ResultList[Neighbour]:
    return ResultList([Neighbour(r["word"], r["score"]) for r in data["results"]], data)


def _word_vectors(data: dict[str, Any]) -> ResultList[WordVector]:
    return ResultList([WordVector.from_dict(v) for v in data["vectors"]], data)


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _query(
    name: str, op: str, body: dict[str, Any], version: int | None, parse: Callable[[Any], R]
) -> Call[R]:
    """``POST /v1/models/{name}/{op}``: a query, safe to send again."""
    return Call(
        "POST", f"/v1/models/{seg(name)}/{op}", parse, params={"version": version}, json=body, idempotent=True
    )


def _batch(
    name: str, operation: str, queries: Sequence[dict[str, Any]], version: int | None
) -> Call[dict[str, Any]]:
    if operation not in BATCH_OPERATIONS:
        raise ValueError(f"no batch form for {operation!r}; one of {', '.join(BATCH_OPERATIONS)}")
    return _query(name, f"{operation}/batch", {"queries": list(queries)}, version, json_object)


class EmbeddingsAPI(ServiceAPI):
    """The embeddings service's routes (plus the shared models/versions/jobs of :class:`ServiceAPI`)."""

    # ----------------------------------------------------------------- corpora

    @operation
    def upload_corpus(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        format: str = "text",  # noqa: A002
        tokenizer: str = "simple",
        lowercase: bool = True,
        progress: ProgressCallback | None = None,
    ) -> Call[dict[str, Any]]:
        """Upload a corpus file (streamed; ``format`` ``text`` or ``jsonl``, gzip detected); returns
        its description (``id``, ``sentences``, ``tokens``…). ``progress(sent, total)`` per chunk.

        >>> client.upload_corpus("lee.txt", name="lee")["sentences"]
        300
        """
        return Call(
            "POST",
            "/v1/corpora",
            json_object,
            params={"name": name, "format": format, "tokenizer": tokenizer, "lowercase": lowercase},
            upload=Upload(Path(path), progress),
        )

    @operation
    def corpora(self) -> Call[ResultList[dict[str, Any]]]:
        """Every uploaded corpus: a :class:`ResultList` of dicts (``raw``: ``{"corpora": [...]}``)."""
        return Call("GET", "/v1/corpora", lambda d: ResultList(d["corpora"], d))

    @operation
    def corpus(self, corpus_id: str) -> Call[dict[str, Any]]:
        """One corpus's description (404 when unknown)."""
        return Call("GET", f"/v1/corpora/{seg(corpus_id)}", json_object)

    @operation
    def delete_corpus(self, corpus_id: str) -> Call[None]:
        """Delete an uploaded corpus."""
        return Call("DELETE", f"/v1/corpora/{seg(corpus_id)}", nothing, accept="none")

    # ----------------------------------------------------------------- training

    @operation
    def train(
        self,
        name: str,
        *,
        corpus_id: str | None = None,
        sentences: Sequence[str | Sequence[str]] | None = None,
        algorithm: str = "word2vec",
        params: dict[str, Any] | None = None,
        tokenizer: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> Call[Accepted]:
        """Start training ``name`` on an uploaded corpus or inline ``sentences``; returns the
        :class:`Accepted` job (wait with :meth:`wait_job`). ``params``: gensim's (``vector_size``,
        ``window``, ``min_count``, ``epochs``, ``sg``…). A taken name is a 409 unless ``overwrite``.

        >>> client.train("tiny", sentences=["the cat sat", "the dog sat"], params={"min_count": 1}).status
        'queued'
        """
        body = _drop_none(
            {
                "name": name,
                "algorithm": algorithm,
                "corpus_id": corpus_id,
                "sentences": list(sentences) if sentences is not None else None,
                "params": params,
                "tokenizer": tokenizer,
                "overwrite": overwrite or None,
            }
        )
        return Call("POST", "/v1/models", Accepted.from_dict, json=body)

    @operation
    def continue_training(
        self,
        name: str,
        *,
        corpus_id: str | None = None,
        sentences: Sequence[str | Sequence[str]] | None = None,
        epochs: int | None = None,
        alpha: float | None = None,
        min_alpha: float | None = None,
        tokenizer: dict[str, Any] | None = None,
    ) -> Call[Accepted]:
        """Train ``name`` further (a new version); returns the :class:`Accepted` job."""
        body = _drop_none(
            {
                "corpus_id": corpus_id,
                "sentences": list(sentences) if sentences is not None else None,
                "epochs": epochs,
                "alpha": alpha,
                "min_alpha": min_alpha,
                "tokenizer": tokenizer,
            }
        )
        return Call("POST", f"/v1/models/{seg(name)}/continue", Accepted.from_dict, json=body)

    # ----------------------------------------------------------------- import / export

    @operation
    def import_vectors(
        self,
        name: str,
        path: str | Path,
        *,
        format: str = "auto",  # noqa: A002
        overwrite: bool = False,
        limit: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Call[ModelInfo | Accepted]:
        """Upload a vector file (``word2vec-text``, ``word2vec-binary``, ``glove``, ``fasttext-bin`` or ``auto``)
        as model ``name`` (``limit``: its first vectors only). A file under the service's
        ``EMBEDDINGS_IMPORT_JOB_BYTES`` returns the new model's :class:`ModelInfo`; a larger one the
        :class:`Accepted` import job (wait with :meth:`wait_job`). ``progress(sent, total)`` per chunk.

        >>> client.import_vectors("copy", "default.bin").version
        1
        """

        def parse(d: dict[str, Any]) -> ModelInfo | Accepted:
            return Accepted.from_dict(d) if "job_id" in d else self._model_info(d)

        return Call(
            "POST",
            f"/v1/models/{seg(name)}/import",
            parse,
            params=_drop_none({"format": format, "overwrite": overwrite, "limit": limit}),
            upload=Upload(Path(path), progress),
        )

    @operation
    def import_file(
        self,
        name: str,
        path: str,
        *,
        format: str = "auto",  # noqa: A002
        overwrite: bool = False,
        limit: int | None = None,
    ) -> Call[Accepted]:
        """Import a file that is already on the server, ``path`` relative to its
        ``EMBEDDINGS_IMPORT_DIR`` (the way to deliver a multi-GB file); returns the :class:`Accepted` job.

        >>> client.wait_job(client.import_file("news", "GoogleNews-vectors-negative300.bin").job_id).status
        'succeeded'
        """
        body = _drop_none({"path": path, "format": format, "limit": limit, "overwrite": overwrite or None})
        return Call("POST", f"/v1/models/{seg(name)}/import", Accepted.from_dict, json=body)

    @operation
    def export_vectors(
        self,
        name: str,
        dest: str | Path,
        *,
        format: str = "word2vec-binary",  # noqa: A002
        version: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Call[Path]:
        """Stream the model's vectors (``word2vec-binary`` or ``word2vec-text``) to the file ``dest``
        (written whole or not at all); returns its ``Path``. ``progress(received, total_or_None)``.

        >>> client.export_vectors("default", "default.bin")
        PosixPath('default.bin')
        """
        return Call(
            "GET",
            f"/v1/models/{seg(name)}/vectors",
            written_path,
            params={"format": format, "version": version},
            download=Download(Path(dest), progress),
        )

    # ----------------------------------------------------------------- queries

    @operation
    def similar(
        self,
        name: str,
        positive: Sequence[str] = (),
        negative: Sequence[str] = (),
        *,
        topn: int = 10,
        method: str = "cosadd",
        vector: Sequence[float] | None = None,
        restrict_vocab: int | None = None,
        exact: bool | None = None,
        version: int | None = None,
    ) -> Call[ResultList[Neighbour]]:
        """The ``topn`` nearest words (gensim ``most_similar``; ``method="cosmul"``:
        ``most_similar_cosmul``; or nearest to a raw ``vector``); a :class:`ResultList` of :class:`Neighbour`.
        ``exact``: ``True`` scans every vector (gensim's answer), ``False``/``None`` lets the model's ANN
        index answer when it has one (``raw["exact"]`` says which did).

        >>> client.similar("default", ["president"], topn=1)
        [Neighbour(word='bush', score=0.98...)]
        """
        body = _drop_none(
            {
                "positive": list(positive),
                "negative": list(negative),
                "topn": topn,
                "method": method,
                "vector": list(vector) if vector is not None else None,
                "restrict_vocab": restrict_vocab,
                "exact": exact,
            }
        )
        return _query(name, "similar", body, version, _neighbours)

    @operation
    def analogy(
        self,
        name: str,
        a: str,
        b: str,
        c: str,
        *,
        topn: int = 10,
        method: str = "cosadd",
        restrict_vocab: int | None = None,
        exact: bool | None = None,
        version: int | None = None,
    ) -> Call[ResultList[Neighbour]]:
        """``a : b :: c : ?`` (``b - a + c``); a :class:`ResultList` of :class:`Neighbour` (``exact``: as
        :meth:`similar`).

        >>> client.analogy("default", "man", "king", "woman", topn=1)
        [Neighbour(word='queen', score=0.7...)]
        """
        body = _drop_none(
            {
                "a": a,
                "b": b,
                "c": c,
                "topn": topn,
                "method": method,
                "restrict_vocab": restrict_vocab,
                "exact": exact,
            }
        )
        return _query(name, "analogy", body, version, _neighbours)

    @operation
    def similarity(
        self, name: str, pairs: Sequence[Sequence[str]], *, version: int | None = None
    ) -> Call[list[float]]:
        """Cosine similarity of each word pair, in order.

        >>> client.similarity("default", [("war", "peace")])
        [0.93...]
        """
        body = {"pairs": [list(p) for p in pairs]}
        return _query(name, "similarity", body, version, lambda d: [float(x) for x in d["similarities"]])

    @operation
    def n_similarity(
        self, name: str, words1: Sequence[str], words2: Sequence[str], *, version: int | None = None
    ) -> Call[float]:
        """Cosine between the means of two word sets (gensim ``n_similarity``)."""
        body = {"words1": list(words1), "words2": list(words2)}
        return _query(name, "n-similarity", body, version, lambda d: float(d["similarity"]))

    @operation
    def doesnt_match(self, name: str, words: Sequence[str], *, version: int | None = None) -> Call[str]:
        """The odd word out (gensim ``doesnt_match``).

        >>> client.doesnt_match("default", ["president", "minister", "fire"])
        'fire'
        """
        return _query(name, "doesnt-match", {"words": list(words)}, version, lambda d: str(d["word"]))

    @operation
    def vectors(
        self, name: str, words: Sequence[str], *, version: int | None = None
    ) -> Call[ResultList[WordVector]]:
        """Each word's vector; a :class:`ResultList` of :class:`WordVector` (``vector=None`` when
        unknown; ``raw["unknown_words"]`` lists those). 404 only when every word is unknown."""
        return _query(name, "vectors", {"words": list(words)}, version, _word_vectors)

    @operation
    def sentence_vectors(
        self,
        name: str,
        sentences: Sequence[str | Sequence[str]],
        *,
        pooling: str = "mean",
        tokenizer: dict[str, Any] | None = None,
        version: int | None = None,
    ) -> Call[ResultList[dict[str, Any]]]:
        """Pooled (``mean``, ``max``, ``sum``) vectors of sentences (text or token lists); a
        :class:`ResultList` of dicts (``vector``, ``tokens``, ``known_tokens``…)."""
        body = _drop_none({"sentences": list(sentences), "pooling": pooling, "tokenizer": tokenizer})
        return _query(name, "sentence-vectors", body, version, lambda d: ResultList(d["vectors"], d))

    @operation
    def batch(
        self, name: str, operation: str, queries: Sequence[dict[str, Any]], *, version: int | None = None
    ) -> Call[dict[str, Any]]:
        """Many queries of one ``operation`` (one of :data:`BATCH_OPERATIONS`) in one request; returns
        ``{"results": [...], "errors": [...]}``: ``results`` aligned with ``queries`` (``None`` where
        one failed), ``errors`` naming each failure by ``index`` with its problem.

        >>> client.batch("default", "similar", [{"positive": ["war"], "topn": 3}, {"positive": ["qwzx"]}])["errors"][0]["index"]
        1
        """
        return _batch(name, operation, queries, version)

    @operation
    def similar_batch(
        self, name: str, queries: Sequence[dict[str, Any]], *, version: int | None = None
    ) -> Call[dict[str, Any]]:
        """``batch(name, "similar", queries)``: cosadd queries run as one matrix product."""
        return _batch(name, "similar", queries, version)

    @operation
    def analogy_batch(
        self, name: str, queries: Sequence[dict[str, Any]], *, version: int | None = None
    ) -> Call[dict[str, Any]]:
        """``batch(name, "analogy", queries)``."""
        return _batch(name, "analogy", queries, version)

    @operation
    def evaluate(
        self,
        name: str,
        *,
        pairs: dict[str, Any] | None = None,
        analogies: dict[str, Any] | None = None,
        version: int | None = None,
    ) -> Call[dict[str, Any]]:
        """Word-pair correlation and/or analogy accuracy; returns ``{"pairs": {...}, "analogies": {...}}``.

        >>> client.evaluate("default", pairs={"dataset": "wordsim353"})["pairs"]["spearman_rho"]
        0.3...
        """
        body = _drop_none({"pairs": pairs, "analogies": analogies})
        return _query(name, "evaluate", body, version, json_object)


class EmbeddingsClient(EmbeddingsAPI, SyncClient):
    """Synchronous client of the embeddings service (default ``http://127.0.0.1:8001``).

    >>> client = EmbeddingsClient("http://127.0.0.1:8001", token="…")
    >>> client.models()[0].name
    'default'
    """

    default_url = DEFAULT_URL


class AsyncEmbeddingsClient(EmbeddingsAPI, AsyncClient):
    """Asynchronous client of the embeddings service: the methods of :class:`EmbeddingsAPI`, awaited.

    >>> async with AsyncEmbeddingsClient("http://127.0.0.1:8001") as client:
    ...     hits = await client.similar("default", ["president"], topn=3)
    """

    default_url = DEFAULT_URL


__all__ = ["BATCH_OPERATIONS", "DEFAULT_URL", "AsyncEmbeddingsClient", "EmbeddingsAPI", "EmbeddingsClient"]
