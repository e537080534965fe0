"""Similarity queries: ``POST /v1/models/{name}/<query>`` and its batch form ``.../<query>/batch``.

Every query answers exactly what gensim answers on the model's vectors (words, order, scores). A
query is one declaration, :func:`query_route`, over its model function ``fn(runtime, model, body)``;
the single and the batch route come from it. The batch form takes ``{"queries": [<the single
body>, ...]}`` (at most ``EMBEDDINGS_MAX_BATCH``) and answers ``{"results": [<the single answer> |
null, ...], "errors": [{index, status, type, ...}]}``: a query that would have been a 4xx alone
(unknown words, topn too large) fails alone, the rest are answered. Cosadd neighbour queries of a
batch run as one matrix product (:mod:`models.embeddings.batch`). Every route takes ``?version=N``.

A model version with an ANN index (faiss HNSW, :mod:`models.embeddings.ann`) answers cosadd
``/similar`` and ``/analogy`` queries from it unless the query says ``exact: true`` or has
``restrict_vocab``; the answer's ``exact`` says which search answered.
"""

# No ``from __future__ import annotations`` here: the routes made by ``query_route`` annotate their
# parameters with the declared body types, which FastAPI must see as objects, not strings.

import os
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from models.embeddings.ann import search as ann_search
from models.embeddings.batch import CosAddQuery, most_similar_cosadd
from models.embeddings.evaluation import evaluate_word_analogies, evaluate_word_pairs
from service.embeddings import schemas as s
from service.embeddings.errors import query_errors, unknown_words
from service.embeddings.runtime import EmbeddingsRuntime, LoadedVectors, Runtime, tokenizer_for
from service.kit.auth import require_query_token
from service.kit.batching import attempt
from service.kit.errors import InvalidInputError, ServiceError
from service.kit.models_routes import VersionQuery
from service.kit.names import ModelName
from service.kit.problems import PROBLEM_BASE, ProblemError, domain_status

router = APIRouter(prefix="/v1/models", tags=["queries"], dependencies=[Depends(require_query_token)])

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown model or version, or unknown words (`unknown_words` lists ALL of them)"},
    422: {"description": "Invalid query"},
}

Answer = Callable[[EmbeddingsRuntime, LoadedVectors, Any], BaseModel]
#: What one query of a batch came to: its answer, or the problem it would have been alone.
Outcome = BaseModel | ProblemError | ServiceError
#: A batch's own way of answering (e.g. one matrix product): ``(runtime, model, queries, answer)``
#: -> one outcome per query, in order.
BatchAnswer = Callable[[EmbeddingsRuntime, LoadedVectors, Sequence[Any], Answer], list[Outcome]]


# --------------------------------------------------------------------------- declaring a query


def query_route(
    path: str,
    body: type[BaseModel],
    result: type[BaseModel],
    *,
    summary: str,
    description: str | None = None,
    batch_summary: str | None = None,
    batch: BatchAnswer | None = None,
    micro_batch: bool = False,
) -> Callable[[Answer], Answer]:
    """Declare a query: ``POST /{name}/<path>`` (one ``body``) and ``POST /{name}/<path>/batch``.

    The decorated function answers one query on a loaded model; the batch route runs it per query
    (or ``batch`` runs them all at once), each failure reported by index. The batch bodies are
    made from ``body`` and ``result`` (:func:`~service.embeddings.schemas.batch_models`).

    With ``micro_batch``, concurrent single queries are gathered by the runtime's micro-batcher
    (``EMBEDDINGS_BATCH_WAIT_MS``, ``EMBEDDINGS_MAX_BATCH_SIZE``) and answered together the way the
    batch route answers them; each answer is the one it would have had alone.
    """
    examples = (body.model_config.get("json_schema_extra") or {}).get("examples") or [{}]  # type: ignore[union-attr]
    batch_body, batch_result = s.batch_models(body.__name__.removesuffix("Query"), body, result, examples[0])
    answer_all = batch or _each

    def register(fn: Answer) -> Answer:
        def answer(runtime: EmbeddingsRuntime, model: LoadedVectors, q: Any) -> BaseModel:
            with query_errors(model.name):  # the core's exceptions -> the problems they are
                return fn(runtime, model, q)

        def answer_items(
            runtime: EmbeddingsRuntime, items: list[tuple[str, int | None, Any]]
        ) -> list[Outcome]:
            """Outcomes of ``(name, version, query)`` items: alike ones answered together."""
            outcomes: list[Outcome] = [None] * len(items)  # type: ignore[list-item]
            for model, idx in runtime.models_of(items, lambda it: (it[0], it[1]), outcomes):
                for i, outcome in zip(
                    idx, answer_all(runtime, model, [items[i][2] for i in idx], answer), strict=True
                ):
                    outcomes[i] = outcome
            return outcomes

        if micro_batch:

            async def single(
                name: ModelName,
                query: body,
                runtime: Runtime,
                request: Request,
                version: VersionQuery = None,  # type: ignore[valid-type]
            ) -> Any:
                run = partial(answer_items, runtime)
                return await runtime.run_batched(path, run, (name, version, query), request=request)

        else:

            def single(name: ModelName, query: body, runtime: Runtime, version: VersionQuery = None) -> Any:  # type: ignore[valid-type,misc]
                return answer(runtime, runtime.registry.get(name, version), query)

        def many(name: ModelName, queries: batch_body, runtime: Runtime, version: VersionQuery = None) -> Any:  # type: ignore[valid-type]
            model = runtime.registry.get(name, version)
            items = queries.queries  # type: ignore[attr-defined]
            _limit(len(items), runtime.settings.max_batch, "queries", ["body", "queries"])
            results: list[Any] = []
            errors: list[s.BatchError] = []
            for i, outcome in enumerate(answer_all(runtime, model, items, answer)):
                if isinstance(outcome, ProblemError | ServiceError):
                    results.append(None)
                    errors.append(_batch_error(i, outcome))
                else:
                    results.append(outcome)
            return batch_result(results=results, errors=errors)

        single.__name__, many.__name__ = fn.__name__.lstrip("_"), fn.__name__.lstrip("_") + "_batch"
        router.post(
            f"/{{name}}/{path}", response_model=result, summary=summary, description=description,
            responses=PROBLEM_RESPONSES,
        )(single)  # fmt: skip
        router.post(
            f"/{{name}}/{path}/batch", response_model=batch_result,
            summary=batch_summary or f"{summary}: many queries at once",
        )(many)  # fmt: skip
        return fn

    return register


def _each(
    runtime: EmbeddingsRuntime, model: LoadedVectors, queries: Sequence[Any], answer: Answer
) -> list[Outcome]:
    return [attempt(answer, runtime, model, q) for q in queries]


def _batch_error(index: int, exc: ProblemError | ServiceError) -> s.BatchError:
    """The problem a failed query of a batch would have been alone, by its index."""
    if isinstance(exc, ServiceError):
        status, title = domain_status(exc)
        return s.BatchError(
            index=index, status=status, type=PROBLEM_BASE + exc.code, title=exc.title or title,
            detail=exc.detail, unknown_words=exc.extensions.get("unknown_words"),
        )  # fmt: skip
    return s.BatchError(
        index=index,
        status=exc.status,
        type=PROBLEM_BASE + exc.type if exc.type else "about:blank",
        title=exc.title,
        detail=exc.detail,
        unknown_words=exc.extensions.get("unknown_words"),
    )


def _limit(n: int, limit: int, what: str, loc: list[str | int]) -> None:
    if n > limit:
        raise InvalidInputError(f"{n} {what} exceed the limit of {limit}", loc=loc, code="too-many-items")


def _topn(state: EmbeddingsRuntime, topn: int) -> None:
    if topn > state.settings.max_topn:
        raise InvalidInputError(
            f"topn {topn} exceeds the limit of {state.settings.max_topn}",
            loc=["body", "topn"],
            code="topn-too-large",
        )


def _neighbours(pairs: Sequence[tuple[str, float]], *, exact: bool = True) -> s.SimilarResult:
    return s.SimilarResult(results=[s.Neighbour(word=w, score=sc) for w, sc in pairs], exact=exact)


# --------------------------------------------------------------------------- cosadd batches


def _prepare_cosadd(
    state: EmbeddingsRuntime, m: LoadedVectors, positive: list[str], negative: list[str],
    vector: list[float] | None, topn: int, restrict_vocab: int | None,
) -> CosAddQuery:  # fmt: skip
    _topn(state, topn)
    if vector is not None:
        with np.errstate(over="ignore"):  # values beyond float32 become inf: refused below, no warning
            vec = np.asarray(vector, dtype=np.float32)  # (D,)
        size = m.model.queries.vector_size
        if vec.shape != (size,):
            raise InvalidInputError(
                f"vector must have {size} values, got {vec.shape[0]}",
                code="invalid-query",
                title="Invalid query",
            )
        if not np.all(np.isfinite(vec)) or not np.any(vec):
            raise InvalidInputError(
                "vector must be finite and not all zeros", code="invalid-query", title="Invalid query"
            )
        return CosAddQuery(vector=vec, topn=topn, restrict_vocab=restrict_vocab)
    missing = m.model.queries.unknown_words(positive + negative)
    if missing:
        raise unknown_words(m.name, missing)
    return CosAddQuery(positive=positive, negative=negative, topn=topn, restrict_vocab=restrict_vocab)


def _cosadd_batch(prepare: Callable[[EmbeddingsRuntime, LoadedVectors, Any], CosAddQuery]) -> BatchAnswer:
    """A batch answer that runs every cosadd query as one matrix product (others one by one), or as
    one search of the model's ANN index when it has one (unless ``exact`` or ``restrict_vocab``)."""

    def run(
        state: EmbeddingsRuntime, m: LoadedVectors, queries: Sequence[Any], answer: Answer
    ) -> list[Outcome]:
        outcomes: list[Outcome] = [None] * len(queries)  # type: ignore[list-item]
        fast: list[tuple[int, CosAddQuery]] = []
        approx: list[tuple[int, CosAddQuery]] = []
        index = m.model.index
        for i, q in enumerate(queries):
            try:
                if q.method == "cosadd":
                    cq = prepare(state, m, q)
                    use_index = index is not None and q.exact is not True and cq.restrict_vocab is None
                    (approx if use_index else fast).append((i, cq))
                else:
                    outcomes[i] = answer(state, m, q)
            except (ProblemError, ServiceError) as exc:
                outcomes[i] = exc
        if fast:
            answers = most_similar_cosadd(m.model.kv, [q for _, q in fast])
            for (i, _), ans in zip(fast, answers, strict=True):
                outcomes[i] = _neighbours(ans)
        if approx:
            answers = ann_search(m.model.kv, index, [q for _, q in approx], ef_search=m.model.ef_search)
            for (i, _), ans in zip(approx, answers, strict=True):
                outcomes[i] = _neighbours(ans, exact=False)
        return outcomes

    return run


# --------------------------------------------------------------------------- the queries


@query_route(
    "similar", s.SimilarQuery, s.SimilarResult,
    summary="Nearest words (most_similar, most_similar_cosmul, similar_by_vector)",
    description="`positive`/`negative` words with `method` `cosadd` (gensim `most_similar`) or `cosmul` "
    "(`most_similar_cosmul`), or a raw `vector` (gensim `similar_by_vector`). Query words are excluded. "
    "The batch form runs cosadd queries as one matrix product: far faster than one request per query. "
    "Cosadd queries use the model's ANN index when it has one (`POST /v1/models/{name}/index`) unless "
    "`exact: true` or `restrict_vocab`; `method: cosmul` is always exact. The answer's `exact` says which "
    "search answered.",
    batch=_cosadd_batch(
        lambda state, m, q: _prepare_cosadd(state, m, q.positive, q.negative, q.vector, q.topn, q.restrict_vocab)
    ),
    micro_batch=True,
)  # fmt: skip
def _similar(state: EmbeddingsRuntime, m: LoadedVectors, q: s.SimilarQuery) -> s.SimilarResult:
    _topn(state, q.topn)
    if q.vector is not None:
        res = m.model.queries.similar_by_vector(q.vector, topn=q.topn, restrict_vocab=q.restrict_vocab)
    else:
        res = m.model.queries.most_similar(
            q.positive, q.negative, topn=q.topn, method=q.method, restrict_vocab=q.restrict_vocab
        )
    return _neighbours(res)


@query_route(
    "analogy", s.AnalogyQuery, s.SimilarResult,
    summary="Analogy a : b :: c : ?",
    description="gensim `most_similar(positive=[b, c], negative=[a])` (`cosadd`) or `most_similar_cosmul` "
    "(`cosmul`). `man : king :: woman : ?` -> `queen` on a good model. Cosadd uses the ANN index when the "
    "model has one, unless `exact: true` or `restrict_vocab` (see `/similar`).",
    batch=_cosadd_batch(lambda state, m, q: _prepare_cosadd(state, m, [q.b, q.c], [q.a], None, q.topn, q.restrict_vocab)),
    micro_batch=True,
)  # fmt: skip
def _analogy(state: EmbeddingsRuntime, m: LoadedVectors, q: s.AnalogyQuery) -> s.SimilarResult:
    _topn(state, q.topn)
    res = m.model.queries.analogy(
        q.a, q.b, q.c, topn=q.topn, method=q.method, restrict_vocab=q.restrict_vocab
    )
    return _neighbours(res)


@query_route("similarity", s.SimilarityQuery, s.SimilarityResult, summary="Cosine similarity of word pairs")
def _similarity(state: EmbeddingsRuntime, m: LoadedVectors, q: s.SimilarityQuery) -> s.SimilarityResult:
    _limit(len(q.pairs), state.settings.max_batch, "pairs", ["body", "pairs"])
    return s.SimilarityResult(similarities=m.model.queries.similarity(q.pairs))


@query_route(
    "n-similarity", s.NSimilarityQuery, s.NSimilarityResult, summary="Cosine of two word sets' means"
)
def _n_similarity(state: EmbeddingsRuntime, m: LoadedVectors, q: s.NSimilarityQuery) -> s.NSimilarityResult:
    _limit(max(len(q.words1), len(q.words2)), state.settings.max_batch, "words", ["body", "words1"])
    return s.NSimilarityResult(similarity=m.model.queries.n_similarity(q.words1, q.words2))


@query_route("doesnt-match", s.DoesntMatchQuery, s.DoesntMatchResult, summary="The odd word out")
def _doesnt_match(state: EmbeddingsRuntime, m: LoadedVectors, q: s.DoesntMatchQuery) -> s.DoesntMatchResult:
    _limit(len(q.words), state.settings.max_batch, "words", ["body", "words"])
    return s.DoesntMatchResult(word=m.model.queries.doesnt_match(q.words))


@query_route(
    "vectors", s.VectorsQuery, s.VectorsResult,
    summary="Raw vectors of words",
    description="Unknown words get `vector: null` and are listed in `unknown_words` (404 only when EVERY "
    "word is unknown). FastText builds vectors for out-of-vocabulary words from character n-grams: `oov: true`.",
    micro_batch=True,
)  # fmt: skip
def _vectors(state: EmbeddingsRuntime, m: LoadedVectors, q: s.VectorsQuery) -> s.VectorsResult:
    _limit(len(q.words), state.settings.max_batch, "words", ["body", "words"])
    vecs = m.model.queries.vectors(q.words)
    out = [
        s.WordVectorOut(
            word=v.word,
            vector=None if v.vector is None else v.vector.tolist(),
            known=v.known,
            in_vocab=v.in_vocab,
            oov=v.oov,
        )
        for v in vecs
    ]
    unknown = list(dict.fromkeys(v.word for v in vecs if not v.known))
    return s.VectorsResult(vectors=out, unknown_words=unknown)


@query_route(
    "sentence-vectors", s.SentenceVectorsQuery, s.SentenceVectorsResult,
    summary="Sentence vectors by masked pooling (mean, max or sum) of word vectors",
    description="Strings are tokenized with `tokenizer`; token lists are used as given. Unknown tokens "
    "are masked out (padding never influences the result). A sentence with no known token gets an all-zero "
    "vector and `known_tokens: 0`.",
)  # fmt: skip
def _sentence_vectors(
    state: EmbeddingsRuntime, m: LoadedVectors, q: s.SentenceVectorsQuery
) -> s.SentenceVectorsResult:
    _limit(len(q.sentences), state.settings.max_batch, "sentences", ["body", "sentences"])
    tok = tokenizer_for(q.tokenizer.kind, q.tokenizer.lowercase)
    res = m.model.queries.sentence_vectors(q.sentences, mode=q.pooling, tokenizer=tok)
    return s.SentenceVectorsResult(
        vectors=[
            s.SentenceVectorOut(
                vector=r.vector.tolist(),
                tokens=r.tokens,
                used_tokens=r.used_tokens,
                unknown_tokens=r.unknown_tokens,
                oov_tokens=r.oov_tokens,
                known_tokens=r.known_tokens,
            )
            for r in res
        ]
    )


# --------------------------------------------------------------------------- evaluate


def _write_lines(state: EmbeddingsRuntime, lines: list[str]) -> str:
    state.tmp_dir.mkdir(parents=True, exist_ok=True)
    path = state.tmp_dir / f".tmp-eval-{uuid.uuid4().hex}"
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


@router.post(
    "/{name}/evaluate",
    response_model=s.EvaluateResult,
    summary="Evaluate on word-similarity and analogy benchmarks",
    description="Builtin `wordsim353`, `simlex999` (word pairs: Pearson, Spearman, OOV ratio) and "
    "`questions-words` (analogies: accuracy overall and per section), or your own pairs / analogies inline.",
    responses=PROBLEM_RESPONSES,
)
def evaluate(
    name: ModelName, body: s.EvaluateQuery, state: Runtime, version: VersionQuery = None
) -> s.EvaluateResult:
    m = state.registry.get(name, version)
    limit = state.settings.max_evaluation_items
    out = s.EvaluateResult()
    paths: list[str] = []
    try:
        with query_errors(m.name):
            if body.pairs is not None:
                p = body.pairs
                dataset: str = p.dataset or ""
                if p.items is not None:
                    _limit(len(p.items), limit, "pairs", ["body", "pairs", "items"])
                    dataset = _write_lines(state, [f"{a}\t{b}\t{score!r}\n" for a, b, score in p.items])
                    paths.append(dataset)
                r = evaluate_word_pairs(
                    m.model.kv, dataset, restrict_vocab=p.restrict_vocab, case_insensitive=p.case_insensitive
                )
                out.pairs = s.PairsResult(**{**r.to_dict(), "dataset": p.dataset or "inline"})
            if body.analogies is not None:
                a = body.analogies
                dataset = a.dataset or ""
                if a.sections is not None:
                    total = sum(len(sec.questions) for sec in a.sections)
                    _limit(total, limit, "analogy questions", ["body", "analogies", "sections"])
                    lines = []
                    for sec in a.sections:
                        lines.append(f": {sec.name}\n")
                        lines.extend(" ".join(question) + "\n" for question in sec.questions)
                    dataset = _write_lines(state, lines)
                    paths.append(dataset)
                r2 = evaluate_word_analogies(
                    m.model.kv, dataset, restrict_vocab=a.restrict_vocab, case_insensitive=a.case_insensitive
                )
                out.analogies = s.AnalogiesResult(**{**r2.to_dict(), "dataset": a.dataset or "inline"})
    finally:
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)
    return out
