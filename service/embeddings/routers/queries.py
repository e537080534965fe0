"""Similarity queries: ``POST /v1/models/{name}/<query>`` and its batch form ``.../<query>/batch``.

Every query answers exactly what gensim answers on the model's vectors (words, order, scores). The
batch form takes ``{"queries": [<the single body>, ...]}`` (at most ``EMBEDDINGS_MAX_BATCH``) and
answers ``{"results": [<the single answer> | null, ...], "errors": [{index, status, type, ...}]}``:
a query that would have been a 4xx alone (unknown words, topn too large) fails alone, the rest are
answered. Cosadd neighbour queries of a batch run as one matrix product (:mod:`models.embeddings.batch`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from fastapi import APIRouter, Depends

from models.embeddings.batch import CosAddQuery, most_similar_cosadd
from models.embeddings.evaluation import evaluate_word_analogies, evaluate_word_pairs
from service.embeddings import schemas as s
from service.embeddings.corpora import tokenizer_for
from service.embeddings.errors import query_errors, unknown_words
from service.embeddings.registry import LoadedModel
from service.embeddings.state import EmbeddingsState, get_state
from service.kit.auth import require_query_token
from service.kit.names import ModelName
from service.kit.problems import PROBLEM_BASE, ProblemError, invalid

router = APIRouter(prefix="/v1/models", tags=["queries"], dependencies=[Depends(require_query_token)])

T = TypeVar("T")
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown model, or unknown words (`unknown_words` lists ALL of them)"},
    422: {"description": "Invalid query"},
}


# --------------------------------------------------------------------------- helpers


def _limit(n: int, limit: int, what: str, loc: list[str | int]) -> None:
    if n > limit:
        raise invalid(f"{n} {what} exceed the limit of {limit}", loc=loc, type="too-many-items")


def _topn(state: EmbeddingsState, topn: int) -> None:
    if topn > state.settings.max_topn:
        raise invalid(
            f"topn {topn} exceeds the limit of {state.settings.max_topn}",
            loc=["body", "topn"],
            type="topn-too-large",
        )


def _neighbours(pairs: Sequence[tuple[str, float]]) -> s.SimilarResult:
    return s.SimilarResult(results=[s.Neighbour(word=w, score=sc) for w, sc in pairs])


def _batch(
    state: EmbeddingsState, queries: Sequence[Any], answer: Callable[[Any], T]
) -> tuple[list[T | None], list[s.BatchError]]:
    _limit(len(queries), state.settings.max_batch, "queries", ["body", "queries"])
    results: list[T | None] = []
    errors: list[s.BatchError] = []
    for i, q in enumerate(queries):
        try:
            results.append(answer(q))
        except ProblemError as exc:
            results.append(None)
            errors.append(_batch_error(i, exc))
    return results, errors


def _batch_error(index: int, exc: ProblemError) -> s.BatchError:
    return s.BatchError(
        index=index,
        status=exc.status,
        type=PROBLEM_BASE + exc.type if exc.type else "about:blank",
        title=exc.title,
        detail=exc.detail,
        unknown_words=exc.extensions.get("unknown_words"),
    )


# --------------------------------------------------------------------------- similar


def _similar(state: EmbeddingsState, m: LoadedModel, q: s.SimilarQuery) -> s.SimilarResult:
    _topn(state, q.topn)
    with query_errors(m.name):
        if q.vector is not None:
            res = m.queries.similar_by_vector(q.vector, topn=q.topn, restrict_vocab=q.restrict_vocab)
        else:
            res = m.queries.most_similar(
                q.positive, q.negative, topn=q.topn, method=q.method, restrict_vocab=q.restrict_vocab
            )
    return _neighbours(res)


def _cosadd_batch(
    state: EmbeddingsState, m: LoadedModel, items: list[tuple[int, CosAddQuery]], results: list, errors: list
) -> None:
    if items:
        answers = most_similar_cosadd(m.kv, [q for _, q in items])
        for (i, _), ans in zip(items, answers, strict=True):
            results[i] = _neighbours(ans)


def _prepare_cosadd(
    state: EmbeddingsState, m: LoadedModel, positive: list[str], negative: list[str], vector: list[float] | None,
    topn: int, restrict_vocab: int | None,
) -> CosAddQuery:  # fmt: skip
    _topn(state, topn)
    if vector is not None:
        with np.errstate(over="ignore"):  # values beyond float32 become inf: refused below, no warning
            vec = np.asarray(vector, dtype=np.float32)  # (D,)
        if vec.shape != (m.queries.vector_size,):
            raise ProblemError(
                422, "Invalid query", f"vector must have {m.queries.vector_size} values, got {vec.shape[0]}",
                type="invalid-query",
            )  # fmt: skip
        if not np.all(np.isfinite(vec)) or not np.any(vec):
            raise ProblemError(
                422, "Invalid query", "vector must be finite and not all zeros", type="invalid-query"
            )
        return CosAddQuery(vector=vec, topn=topn, restrict_vocab=restrict_vocab)
    missing = m.queries.unknown_words(positive + negative)
    if missing:
        raise unknown_words(m.name, missing)
    return CosAddQuery(positive=positive, negative=negative, topn=topn, restrict_vocab=restrict_vocab)


@router.post(
    "/{name}/similar",
    response_model=s.SimilarResult,
    summary="Nearest words (most_similar, most_similar_cosmul, similar_by_vector)",
    description="`positive`/`negative` words with `method` `cosadd` (gensim `most_similar`) or `cosmul` "
    "(`most_similar_cosmul`), or a raw `vector` (gensim `similar_by_vector`). Query words are excluded.",
    responses=PROBLEM_RESPONSES,
)
def similar(
    name: ModelName, body: s.SimilarQuery, state: EmbeddingsState = Depends(get_state)
) -> s.SimilarResult:
    return _similar(state, state.registry.get(name), body)


@router.post(
    "/{name}/similar/batch",
    response_model=s.SimilarBatchResult,
    summary="Nearest words, many queries at once",
    description="Cosadd queries run as one matrix product: far faster than one request per query.",
)
def similar_batch(name: ModelName, body: s.SimilarBatch, state: EmbeddingsState = Depends(get_state)) -> Any:
    m = state.registry.get(name)
    _limit(len(body.queries), state.settings.max_batch, "queries", ["body", "queries"])
    results: list[Any] = [None] * len(body.queries)
    errors: list[s.BatchError] = []
    fast: list[tuple[int, CosAddQuery]] = []
    for i, q in enumerate(body.queries):
        try:
            if q.method == "cosadd":
                fast.append(
                    (i, _prepare_cosadd(state, m, q.positive, q.negative, q.vector, q.topn, q.restrict_vocab))
                )
            else:
                results[i] = _similar(state, m, q)
        except ProblemError as exc:
            errors.append(_batch_error(i, exc))
    _cosadd_batch(state, m, fast, results, errors)
    return s.SimilarBatchResult(results=results, errors=errors)


# --------------------------------------------------------------------------- analogy


def _analogy(state: EmbeddingsState, m: LoadedModel, q: s.AnalogyQuery) -> s.SimilarResult:
    _topn(state, q.topn)
    with query_errors(m.name):
        res = m.queries.analogy(q.a, q.b, q.c, topn=q.topn, method=q.method, restrict_vocab=q.restrict_vocab)
    return _neighbours(res)


@router.post(
    "/{name}/analogy",
    response_model=s.SimilarResult,
    summary="Analogy a : b :: c : ?",
    description="gensim `most_similar(positive=[b, c], negative=[a])` (`cosadd`) or `most_similar_cosmul` "
    "(`cosmul`). `man : king :: woman : ?` -> `queen` on a good model.",
    responses=PROBLEM_RESPONSES,
)
def analogy(
    name: ModelName, body: s.AnalogyQuery, state: EmbeddingsState = Depends(get_state)
) -> s.SimilarResult:
    return _analogy(state, state.registry.get(name), body)


@router.post("/{name}/analogy/batch", response_model=s.AnalogyBatchResult, summary="Analogies, many at once")
def analogy_batch(name: ModelName, body: s.AnalogyBatch, state: EmbeddingsState = Depends(get_state)) -> Any:
    m = state.registry.get(name)
    _limit(len(body.queries), state.settings.max_batch, "queries", ["body", "queries"])
    results: list[Any] = [None] * len(body.queries)
    errors: list[s.BatchError] = []
    fast: list[tuple[int, CosAddQuery]] = []
    for i, q in enumerate(body.queries):
        try:
            if q.method == "cosadd":
                fast.append((i, _prepare_cosadd(state, m, [q.b, q.c], [q.a], None, q.topn, q.restrict_vocab)))
            else:
                results[i] = _analogy(state, m, q)
        except ProblemError as exc:
            errors.append(_batch_error(i, exc))
    _cosadd_batch(state, m, fast, results, errors)
    errors.sort(key=lambda e: e.index)
    return s.AnalogyBatchResult(results=results, errors=errors)


# --------------------------------------------------------------------------- pairwise


def _similarity(state: EmbeddingsState, m: LoadedModel, q: s.SimilarityQuery) -> s.SimilarityResult:
    _limit(len(q.pairs), state.settings.max_batch, "pairs", ["body", "pairs"])
    with query_errors(m.name):
        return s.SimilarityResult(similarities=m.queries.similarity(q.pairs))


@router.post(
    "/{name}/similarity",
    response_model=s.SimilarityResult,
    summary="Cosine similarity of word pairs",
    responses=PROBLEM_RESPONSES,
)
def similarity(
    name: ModelName, body: s.SimilarityQuery, state: EmbeddingsState = Depends(get_state)
) -> s.SimilarityResult:
    return _similarity(state, state.registry.get(name), body)


@router.post(
    "/{name}/similarity/batch",
    response_model=s.SimilarityBatchResult,
    summary="Pair similarities, many at once",
)
def similarity_batch(
    name: ModelName, body: s.SimilarityBatch, state: EmbeddingsState = Depends(get_state)
) -> Any:
    m = state.registry.get(name)
    results, errors = _batch(state, body.queries, lambda q: _similarity(state, m, q))
    return s.SimilarityBatchResult(results=results, errors=errors)


def _n_similarity(state: EmbeddingsState, m: LoadedModel, q: s.NSimilarityQuery) -> s.NSimilarityResult:
    _limit(max(len(q.words1), len(q.words2)), state.settings.max_batch, "words", ["body", "words1"])
    with query_errors(m.name):
        return s.NSimilarityResult(similarity=m.queries.n_similarity(q.words1, q.words2))


@router.post(
    "/{name}/n-similarity",
    response_model=s.NSimilarityResult,
    summary="Cosine between the means of two word sets",
    responses=PROBLEM_RESPONSES,
)
def n_similarity(
    name: ModelName, body: s.NSimilarityQuery, state: EmbeddingsState = Depends(get_state)
) -> s.NSimilarityResult:
    return _n_similarity(state, state.registry.get(name), body)


@router.post(
    "/{name}/n-similarity/batch",
    response_model=s.NSimilarityBatchResult,
    summary="Set similarities, many at once",
)
def n_similarity_batch(
    name: ModelName, body: s.NSimilarityBatch, state: EmbeddingsState = Depends(get_state)
) -> Any:
    m = state.registry.get(name)
    results, errors = _batch(state, body.queries, lambda q: _n_similarity(state, m, q))
    return s.NSimilarityBatchResult(results=results, errors=errors)


def _doesnt_match(state: EmbeddingsState, m: LoadedModel, q: s.DoesntMatchQuery) -> s.DoesntMatchResult:
    _limit(len(q.words), state.settings.max_batch, "words", ["body", "words"])
    with query_errors(m.name):
        return s.DoesntMatchResult(word=m.queries.doesnt_match(q.words))


@router.post(
    "/{name}/doesnt-match",
    response_model=s.DoesntMatchResult,
    summary="The word that does not match the others",
    responses=PROBLEM_RESPONSES,
)
def doesnt_match(
    name: ModelName, body: s.DoesntMatchQuery, state: EmbeddingsState = Depends(get_state)
) -> s.DoesntMatchResult:
    return _doesnt_match(state, state.registry.get(name), body)


@router.post(
    "/{name}/doesnt-match/batch",
    response_model=s.DoesntMatchBatchResult,
    summary="Odd words out, many at once",
)
def doesnt_match_batch(
    name: ModelName, body: s.DoesntMatchBatch, state: EmbeddingsState = Depends(get_state)
) -> Any:
    m = state.registry.get(name)
    results, errors = _batch(state, body.queries, lambda q: _doesnt_match(state, m, q))
    return s.DoesntMatchBatchResult(results=results, errors=errors)


# --------------------------------------------------------------------------- vectors


def _vectors(state: EmbeddingsState, m: LoadedModel, q: s.VectorsQuery) -> s.VectorsResult:
    _limit(len(q.words), state.settings.max_batch, "words", ["body", "words"])
    with query_errors(m.name):
        vecs = m.queries.vectors(q.words)
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


@router.post(
    "/{name}/vectors",
    response_model=s.VectorsResult,
    summary="Raw vectors of words",
    description="Unknown words get `vector: null` and are listed in `unknown_words` (404 only when EVERY "
    "word is unknown). FastText builds vectors for out-of-vocabulary words from character n-grams: `oov: true`.",
    responses=PROBLEM_RESPONSES,
)
def vectors(
    name: ModelName, body: s.VectorsQuery, state: EmbeddingsState = Depends(get_state)
) -> s.VectorsResult:
    return _vectors(state, state.registry.get(name), body)


@router.post(
    "/{name}/vectors/batch", response_model=s.VectorsBatchResult, summary="Word vectors, many lists at once"
)
def vectors_batch(name: ModelName, body: s.VectorsBatch, state: EmbeddingsState = Depends(get_state)) -> Any:
    m = state.registry.get(name)
    results, errors = _batch(state, body.queries, lambda q: _vectors(state, m, q))
    return s.VectorsBatchResult(results=results, errors=errors)


def _sentence_vectors(
    state: EmbeddingsState, m: LoadedModel, q: s.SentenceVectorsQuery
) -> s.SentenceVectorsResult:
    _limit(len(q.sentences), state.settings.max_batch, "sentences", ["body", "sentences"])
    tok = tokenizer_for(q.tokenizer.kind, q.tokenizer.lowercase)
    with query_errors(m.name):
        res = m.queries.sentence_vectors(q.sentences, mode=q.pooling, tokenizer=tok)
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


@router.post(
    "/{name}/sentence-vectors",
    response_model=s.SentenceVectorsResult,
    summary="Sentence vectors by masked pooling (mean, max or sum) of word vectors",
    description="Strings are tokenized with `tokenizer`; token lists are used as given. Unknown tokens "
    "are masked out (padding never influences the result). A sentence with no known token gets an all-zero "
    "vector and `known_tokens: 0`.",
    responses=PROBLEM_RESPONSES,
)
def sentence_vectors(
    name: ModelName, body: s.SentenceVectorsQuery, state: EmbeddingsState = Depends(get_state)
) -> s.SentenceVectorsResult:
    return _sentence_vectors(state, state.registry.get(name), body)


@router.post(
    "/{name}/sentence-vectors/batch",
    response_model=s.SentenceVectorsBatchResult,
    summary="Sentence vectors, many at once",
)
def sentence_vectors_batch(
    name: ModelName, body: s.SentenceVectorsBatch, state: EmbeddingsState = Depends(get_state)
) -> Any:
    m = state.registry.get(name)
    results, errors = _batch(state, body.queries, lambda q: _sentence_vectors(state, m, q))
    return s.SentenceVectorsBatchResult(results=results, errors=errors)


# --------------------------------------------------------------------------- evaluate


def _write_lines(state: EmbeddingsState, lines: list[str]) -> str:
    state.uploads_dir.mkdir(parents=True, exist_ok=True)
    path = state.uploads_dir / f".tmp-eval-{uuid.uuid4().hex}"
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
    name: ModelName, body: s.EvaluateQuery, state: EmbeddingsState = Depends(get_state)
) -> s.EvaluateResult:
    m = state.registry.get(name)
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
                    m.kv, dataset, restrict_vocab=p.restrict_vocab, case_insensitive=p.case_insensitive
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
                    m.kv, dataset, restrict_vocab=a.restrict_vocab, case_insensitive=a.case_insensitive
                )
                out.analogies = s.AnalogiesResult(**{**r2.to_dict(), "dataset": a.dataset or "inline"})
    finally:
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)
    return out
