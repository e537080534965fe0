"""Similarity queries: ``POST /v1/models/{name}/<query>`` and its batch form ``.../<query>/batch``.

Every query answers exactly what gensim answers on the model's vectors (words, order, scores).
Each query has one *answer* function, ``answer_<query>(runtime, model, bodies)`` -> one response
or error per body, which serves both routes: the single route sends its body through the
process's micro-batcher for that query (:class:`service.kit.batching.Batching`: concurrent
requests answered together), the batch route answers its ``{"queries": [...]}`` (at most
``EMBEDDINGS_MAX_BATCH``) at once with ``{"results": [... | null], "errors": [{index, status, type,
...}]}``: a query that would have been a 4xx alone (unknown words, topn too large) fails alone.
Every route takes ``?version=N``.

Neighbour queries (``/similar``, ``/analogy``) are searched by the core
(:meth:`models.embeddings.queries.VectorQueries.nearest`): the model's ANN index when it has one,
unless ``exact: true`` or ``restrict_vocab``; the answer's ``exact`` says which search answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response

from models.embeddings.evaluation import evaluate_word_analogies, evaluate_word_pairs
from models.embeddings.neighbours import NeighbourQuery
from models.embeddings.queries import VectorQueries
from service.embeddings import limits
from service.embeddings.errors import query_error, query_errors
from service.embeddings.runtime import EmbeddingsRuntime, LoadedVectors, Runtime
from service.embeddings.schemas.queries import (
    AnalogiesOut,
    AnalogyBatchRequest,
    AnalogyBatchResponse,
    AnalogyRequest,
    BatchError,
    BatchResponse,
    DoesntMatchBatchRequest,
    DoesntMatchBatchResponse,
    DoesntMatchRequest,
    DoesntMatchResponse,
    EvaluateRequest,
    EvaluateResponse,
    Neighbour,
    NSimilarityBatchRequest,
    NSimilarityBatchResponse,
    NSimilarityRequest,
    NSimilarityResponse,
    PairsOut,
    SentenceVectorOut,
    SentenceVectorsBatchRequest,
    SentenceVectorsBatchResponse,
    SentenceVectorsRequest,
    SentenceVectorsResponse,
    SimilarBatchRequest,
    SimilarBatchResponse,
    SimilarityBatchRequest,
    SimilarityBatchResponse,
    SimilarityRequest,
    SimilarityResponse,
    SimilarRequest,
    SimilarResponse,
    VectorsBatchRequest,
    VectorsBatchResponse,
    VectorsRequest,
    VectorsResponse,
    WordVectorOut,
)
from service.kit.auth import require_query_token
from service.kit.batching import Answer, Outcome, attempt
from service.kit.budget import check_answer
from service.kit.errors import ServiceError
from service.kit.models_routes import VersionQuery
from service.kit.names import ModelName
from service.kit.problems import problem_members
from service.kit.responses import json_response

router = APIRouter(prefix="/v1/models", tags=["queries"], dependencies=[Depends(require_query_token)])

QUERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown model or version, or unknown words (`unknown_words` lists ALL of them)"},
    422: {"description": "Invalid query"},
}

B = TypeVar("B")  # a request body


# --------------------------------------------------------------------------- answers


def answer_similar(
    runtime: EmbeddingsRuntime, model: LoadedVectors, bodies: list[SimilarRequest]
) -> list[Outcome]:
    """``/similar`` bodies answered on one model: one :class:`SimilarResponse` or error each."""
    queries = [
        NeighbourQuery(b.positive, b.negative, b.vector, b.topn, b.method, b.restrict_vocab, b.exact)
        for b in bodies
    ]
    return _nearest(runtime, model, bodies, queries)


def answer_analogy(
    runtime: EmbeddingsRuntime, model: LoadedVectors, bodies: list[AnalogyRequest]
) -> list[Outcome]:
    """``/analogy`` bodies (``a : b :: c : ?`` = positive ``[b, c]``, negative ``[a]``) on one model."""
    queries = [
        NeighbourQuery([b.b, b.c], [b.a], None, b.topn, b.method, b.restrict_vocab, b.exact) for b in bodies
    ]
    return _nearest(runtime, model, bodies, queries)


def _nearest(
    runtime: EmbeddingsRuntime,
    model: LoadedVectors,
    bodies: list[SimilarRequest] | list[AnalogyRequest],
    queries: list[NeighbourQuery],
) -> list[Outcome]:
    """Neighbour queries whose ``topn`` is within the setting, searched together by the core."""
    outcomes: list[Outcome] = [attempt(limits.check_topn, b.topn, runtime.settings) for b in bodies]
    asked = [i for i, o in enumerate(outcomes) if o is None]
    for i, found in zip(asked, model.model.nearest([queries[i] for i in asked]), strict=True):
        if isinstance(found, Exception):
            outcomes[i] = query_error(found, model.name)
        else:
            # model_construct: the core's words and floats, validated a million at a time would cost more
            neighbours = [Neighbour.model_construct(word=w, score=score) for w, score in found.neighbours]
            outcomes[i] = SimilarResponse.model_construct(results=neighbours, exact=found.exact)
    return outcomes


def answer_similarity(
    runtime: EmbeddingsRuntime, model: LoadedVectors, bodies: list[SimilarityRequest]
) -> list[Outcome]:
    """``/similarity`` bodies on one model: the cosine of each pair."""

    def one(q: VectorQueries, b: SimilarityRequest) -> SimilarityResponse:
        limits.check_items(len(b.pairs), runtime.settings, "pairs", ["body", "pairs"])
        return SimilarityResponse(similarities=q.similarity(b.pairs))

    return _each(model, bodies, one)


def answer_n_similarity(
    runtime: EmbeddingsRuntime, model: LoadedVectors, bodies: list[NSimilarityRequest]
) -> list[Outcome]:
    """``/n-similarity`` bodies on one model: the cosine of two word sets' means."""

    def one(q: VectorQueries, b: NSimilarityRequest) -> NSimilarityResponse:
        n = max(len(b.words1), len(b.words2))
        limits.check_items(n, runtime.settings, "words", ["body", "words1"])
        return NSimilarityResponse(similarity=q.n_similarity(b.words1, b.words2))

    return _each(model, bodies, one)


def answer_doesnt_match(
    runtime: EmbeddingsRuntime, model: LoadedVectors, bodies: list[DoesntMatchRequest]
) -> list[Outcome]:
    """``/doesnt-match`` bodies on one model: the odd word out."""

    def one(q: VectorQueries, b: DoesntMatchRequest) -> DoesntMatchResponse:
        limits.check_items(len(b.words), runtime.settings, "words", ["body", "words"])
        return DoesntMatchResponse(word=q.doesnt_match(b.words))

    return _each(model, bodies, one)


def answer_vectors(
    runtime: EmbeddingsRuntime, model: LoadedVectors, bodies: list[VectorsRequest]
) -> list[Outcome]:
    """``/vectors`` bodies on one model: each word's raw vector, null when it has none."""

    def one(q: VectorQueries, b: VectorsRequest) -> VectorsResponse:
        limits.check_items(len(b.words), runtime.settings, "words", ["body", "words"])
        check_answer(
            vectors_cost(q, b), runtime.settings, f"{len(b.words)} words x {q.vector_size} dimensions"
        )
        vecs = q.vectors(b.words)
        out = [
            WordVectorOut(
                word=v.word,
                vector=None if v.vector is None else v.vector.tolist(),
                known=v.known,
                in_vocab=v.in_vocab,
                oov=v.oov,
            )
            for v in vecs
        ]
        unknown = list(dict.fromkeys(v.word for v in vecs if not v.known))
        return VectorsResponse(vectors=out, unknown_words=unknown)

    return _each(model, bodies, one)


def answer_sentence_vectors(
    runtime: EmbeddingsRuntime, model: LoadedVectors, bodies: list[SentenceVectorsRequest]
) -> list[Outcome]:
    """``/sentence-vectors`` bodies on one model: masked pooling of each sentence's word vectors."""

    def one(q: VectorQueries, b: SentenceVectorsRequest) -> SentenceVectorsResponse:
        limits.check_items(len(b.sentences), runtime.settings, "sentences", ["body", "sentences"])
        what = f"{len(b.sentences)} sentences x {q.vector_size} dimensions"
        check_answer(sentence_vectors_cost(q, b), runtime.settings, what)
        found = q.sentence_vectors(b.sentences, mode=b.pooling, tokenizer=b.tokenizer.tokenizer())
        return SentenceVectorsResponse(
            vectors=[
                SentenceVectorOut(
                    vector=r.vector.tolist(),
                    tokens=r.tokens,
                    used_tokens=r.used_tokens,
                    unknown_tokens=r.unknown_tokens,
                    oov_tokens=r.oov_tokens,
                    known_tokens=r.known_tokens,
                )
                for r in found
            ]
        )

    return _each(model, bodies, one)


def _each(model: LoadedVectors, bodies: list[B], one: Callable[[VectorQueries, B], Any]) -> list[Outcome]:
    """``one(queries, body)`` for each body, or the error it is."""
    outcomes: list[Outcome] = []
    for body in bodies:
        try:
            with query_errors(model.name):
                outcomes.append(one(model.model, body))
        except ServiceError as exc:
            outcomes.append(exc)
    return outcomes


def _batch(
    response: type[BatchResponse[Any]],
    runtime: EmbeddingsRuntime,
    answer: Answer[Any],
    name: str,
    version: int | None,
    queries: list[Any],
    cost: Callable[[VectorQueries, Any], int],
) -> Response:
    """A batch request's ``{"results", "errors"}`` (a ``response``): each query's answer, or null and
    its error.

    The whole batch is refused before any work when its answers would hold more values than the
    output budget (``cost(model, query)`` counts one query's)."""
    limits.check_items(len(queries), runtime.settings, "queries", ["body", "queries"])
    model = runtime.registry.get(name, version)
    values = sum(cost(model.model, q) for q in queries)
    check_answer(values, runtime.settings, f"{len(queries)} queries")
    results: list[Any] = []
    errors: list[BatchError] = []
    for i, outcome in enumerate(answer(runtime, model, queries)):
        if isinstance(outcome, ServiceError):
            results.append(None)
            errors.append(BatchError.model_validate({"index": i, **problem_members(outcome)}))
        else:
            results.append(outcome)
    return json_response(response.model_construct(results=results, errors=errors))


# --------------------------------------------------------------------------- costs: values an answer holds


def neighbours_cost(_q: VectorQueries | None, b: SimilarRequest | AnalogyRequest) -> int:
    """``topn`` words and scores: a neighbour counts as 8 values (measured: the word, its score and
    the objects that carry them cost ~8x a vector component on the way out)."""
    return 8 * b.topn


def vectors_cost(q: VectorQueries, b: VectorsRequest) -> int:
    """One vector per word (and its flags)."""
    return len(b.words) * (q.vector_size + 4)


def sentence_vectors_cost(q: VectorQueries, b: SentenceVectorsRequest) -> int:
    """One vector per sentence (its tokens are bounded by the body's size)."""
    return len(b.sentences) * (q.vector_size + 5)


def pairs_cost(_q: VectorQueries, b: SimilarityRequest) -> int:
    return len(b.pairs)


def one_cost(_q: VectorQueries, _b: Any) -> int:
    return 1


# --------------------------------------------------------------------------- routes


@router.post(
    "/{name}/similar",
    response_model=SimilarResponse,
    summary="Nearest words (most_similar, most_similar_cosmul, similar_by_vector)",
    description="`positive`/`negative` words with `method` `cosadd` (gensim `most_similar`) or `cosmul` "
    "(`most_similar_cosmul`), or a raw `vector` (gensim `similar_by_vector`). Query words are excluded. "
    "The batch form runs cosadd queries as one matrix product: far faster than one request per query. "
    "Cosadd queries use the model's ANN index when it has one (`POST /v1/models/{name}/index`) unless "
    "`exact: true` or `restrict_vocab`; `method: cosmul` is always exact. The answer's `exact` says which "
    "search answered.",
    responses=QUERY_RESPONSES,
)
async def similar(
    name: ModelName, body: SimilarRequest, runtime: Runtime, request: Request, version: VersionQuery = None
) -> SimilarResponse:
    return await runtime.batching.answer(
        answer_similar, name, version, body, request=request, cost=lambda b: neighbours_cost(None, b)
    )


@router.post(
    "/{name}/similar/batch",
    response_model=SimilarBatchResponse,
    summary="Nearest words (most_similar, most_similar_cosmul, similar_by_vector): many queries at once",
)
def similar_batch(
    name: ModelName, body: SimilarBatchRequest, runtime: Runtime, version: VersionQuery = None
) -> Response:
    return _batch(SimilarBatchResponse, runtime, answer_similar, name, version, body.queries, neighbours_cost)


@router.post(
    "/{name}/analogy",
    response_model=SimilarResponse,
    summary="Analogy a : b :: c : ?",
    description="gensim `most_similar(positive=[b, c], negative=[a])` (`cosadd`) or `most_similar_cosmul` "
    "(`cosmul`). `man : king :: woman : ?` -> `queen` on a good model. Cosadd uses the ANN index when the "
    "model has one, unless `exact: true` or `restrict_vocab` (see `/similar`).",
    responses=QUERY_RESPONSES,
)
async def analogy(
    name: ModelName, body: AnalogyRequest, runtime: Runtime, request: Request, version: VersionQuery = None
) -> SimilarResponse:
    return await runtime.batching.answer(
        answer_analogy, name, version, body, request=request, cost=lambda b: neighbours_cost(None, b)
    )


@router.post(
    "/{name}/analogy/batch",
    response_model=AnalogyBatchResponse,
    summary="Analogy a : b :: c : ?: many queries at once",
)
def analogy_batch(
    name: ModelName, body: AnalogyBatchRequest, runtime: Runtime, version: VersionQuery = None
) -> Response:
    return _batch(AnalogyBatchResponse, runtime, answer_analogy, name, version, body.queries, neighbours_cost)


@router.post(
    "/{name}/similarity",
    response_model=SimilarityResponse,
    summary="Cosine similarity of word pairs",
    responses=QUERY_RESPONSES,
)
async def similarity(
    name: ModelName, body: SimilarityRequest, runtime: Runtime, request: Request, version: VersionQuery = None
) -> SimilarityResponse:
    return await runtime.batching.answer(answer_similarity, name, version, body, request=request)


@router.post(
    "/{name}/similarity/batch",
    response_model=SimilarityBatchResponse,
    summary="Cosine similarity of word pairs: many queries at once",
)
def similarity_batch(
    name: ModelName, body: SimilarityBatchRequest, runtime: Runtime, version: VersionQuery = None
) -> Response:
    return _batch(
        SimilarityBatchResponse, runtime, answer_similarity, name, version, body.queries, pairs_cost
    )


@router.post(
    "/{name}/n-similarity",
    response_model=NSimilarityResponse,
    summary="Cosine of two word sets' means",
    responses=QUERY_RESPONSES,
)
async def n_similarity(
    name: ModelName,
    body: NSimilarityRequest,
    runtime: Runtime,
    request: Request,
    version: VersionQuery = None,
) -> NSimilarityResponse:
    return await runtime.batching.answer(answer_n_similarity, name, version, body, request=request)


@router.post(
    "/{name}/n-similarity/batch",
    response_model=NSimilarityBatchResponse,
    summary="Cosine of two word sets' means: many queries at once",
)
def n_similarity_batch(
    name: ModelName, body: NSimilarityBatchRequest, runtime: Runtime, version: VersionQuery = None
) -> Response:
    return _batch(
        NSimilarityBatchResponse, runtime, answer_n_similarity, name, version, body.queries, one_cost
    )


@router.post(
    "/{name}/doesnt-match",
    response_model=DoesntMatchResponse,
    summary="The odd word out",
    responses=QUERY_RESPONSES,
)
async def doesnt_match(
    name: ModelName,
    body: DoesntMatchRequest,
    runtime: Runtime,
    request: Request,
    version: VersionQuery = None,
) -> DoesntMatchResponse:
    return await runtime.batching.answer(answer_doesnt_match, name, version, body, request=request)


@router.post(
    "/{name}/doesnt-match/batch",
    response_model=DoesntMatchBatchResponse,
    summary="The odd word out: many queries at once",
)
def doesnt_match_batch(
    name: ModelName, body: DoesntMatchBatchRequest, runtime: Runtime, version: VersionQuery = None
) -> Response:
    return _batch(
        DoesntMatchBatchResponse, runtime, answer_doesnt_match, name, version, body.queries, one_cost
    )


@router.post(
    "/{name}/vectors",
    response_model=VectorsResponse,
    summary="Raw vectors of words",
    description="Unknown words get `vector: null` and are listed in `unknown_words` (404 only when EVERY "
    "word is unknown). FastText builds vectors for out-of-vocabulary words from character n-grams: `oov: true`.",
    responses=QUERY_RESPONSES,
)
async def vectors(
    name: ModelName, body: VectorsRequest, runtime: Runtime, request: Request, version: VersionQuery = None
) -> VectorsResponse:
    return await runtime.batching.answer(answer_vectors, name, version, body, request=request)


@router.post(
    "/{name}/vectors/batch",
    response_model=VectorsBatchResponse,
    summary="Raw vectors of words: many queries at once",
)
def vectors_batch(
    name: ModelName, body: VectorsBatchRequest, runtime: Runtime, version: VersionQuery = None
) -> Response:
    return _batch(VectorsBatchResponse, runtime, answer_vectors, name, version, body.queries, vectors_cost)


@router.post(
    "/{name}/sentence-vectors",
    response_model=SentenceVectorsResponse,
    summary="Sentence vectors by masked pooling (mean, max or sum) of word vectors",
    description="Strings are tokenized with `tokenizer`; token lists are used as given. Unknown tokens "
    "are masked out (padding never influences the result). A sentence with no known token gets an all-zero "
    "vector and `known_tokens: 0`.",
    responses=QUERY_RESPONSES,
)
async def sentence_vectors(
    name: ModelName,
    body: SentenceVectorsRequest,
    runtime: Runtime,
    request: Request,
    version: VersionQuery = None,
) -> SentenceVectorsResponse:
    return await runtime.batching.answer(answer_sentence_vectors, name, version, body, request=request)


@router.post(
    "/{name}/sentence-vectors/batch",
    response_model=SentenceVectorsBatchResponse,
    summary="Sentence vectors by masked pooling (mean, max or sum) of word vectors: many queries at once",
)
def sentence_vectors_batch(
    name: ModelName, body: SentenceVectorsBatchRequest, runtime: Runtime, version: VersionQuery = None
) -> Response:
    return _batch(
        SentenceVectorsBatchResponse,
        runtime,
        answer_sentence_vectors,
        name,
        version,
        body.queries,
        sentence_vectors_cost,
    )


@router.post(
    "/{name}/evaluate",
    response_model=EvaluateResponse,
    summary="Evaluate on word-similarity and analogy benchmarks",
    description="Builtin `wordsim353`, `simlex999` (word pairs: Pearson, Spearman, OOV ratio) and "
    "`questions-words` (analogies: accuracy overall and per section), or your own pairs / analogies inline.",
    responses=QUERY_RESPONSES,
)
def evaluate(
    name: ModelName, body: EvaluateRequest, runtime: Runtime, version: VersionQuery = None
) -> EvaluateResponse:
    m = runtime.registry.get(name, version)
    limits.check_evaluation(body, runtime.settings)
    out = EvaluateResponse()
    with query_errors(m.name):
        if (p := body.pairs) is not None:
            found = evaluate_word_pairs(
                m.model.kv, p.dataset or p.items, restrict_vocab=p.restrict_vocab,
                case_insensitive=p.case_insensitive,
            )  # fmt: skip
            out.pairs = PairsOut(**found.to_dict())
        if (a := body.analogies) is not None:
            sections = a.sections and [(s.name, s.questions) for s in a.sections]
            answered = evaluate_word_analogies(
                m.model.kv, a.dataset or sections, restrict_vocab=a.restrict_vocab,
                case_insensitive=a.case_insensitive,
            )  # fmt: skip
            out.analogies = AnalogiesOut(**answered.to_dict())
    return out
