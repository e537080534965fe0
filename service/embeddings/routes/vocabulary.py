"""A model's vocabulary as a resource, and a 2-D projection of word vectors (the web page's explorer).

* ``GET /v1/models/{name}/words?prefix=&offset=&limit=`` -> ``{"model", "version", "prefix",
  "total", "offset", "limit", "words": [{"word", "rank"}]}``: the words in frequency order (gensim's
  ``index_to_key``; ``rank`` is the index), those starting with ``prefix`` when one is given
  (case-sensitive, as gensim's keys are). ``total`` counts every match, so a client can page.
  A prefix is answered from a sorted-key index built once per loaded model version (on its first
  prefix request: one sort of the keys), then two binary searches and a sort of the matches' ranks.
* ``POST /v1/models/{name}/projection`` with ``{"words": [...]}`` or ``{"word": w, "topn": k}`` (the
  word and its k nearest neighbours) -> ``{"points": [{"word", "x", "y"}], "explained_variance":
  [r1, r2]}``: PCA of the unit vectors by a numpy SVD (share of the variance on each axis).
  Unknown words are the 404 ``unknown-words`` of every query, naming all of them.

Both take ``?version=N`` like every query.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.embeddings.mapped_vocab import MappedKeys
from service.embeddings.errors import query_errors, unknown_words
from service.embeddings.runtime import LoadedVectors, Runtime
from service.embeddings.schemas import Word
from service.kit.auth import require_query_token
from service.kit.errors import InvalidInputError
from service.kit.models_routes import VersionQuery
from service.kit.names import ModelName
from service.kit.schemas import Int, RequestModel

router = APIRouter(prefix="/v1/models", tags=["queries"], dependencies=[Depends(require_query_token)])

#: Most words one page of ``/words`` lists.
MAX_LIMIT = 1000
#: Most words one projection places.
MAX_PROJECTION_WORDS = 1000

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown model or version, or unknown words (`unknown_words` lists ALL of them)"},
    422: {"description": "Invalid query"},
}


# --------------------------------------------------------------------------- the prefix index


@dataclass(frozen=True)
class PrefixIndex:
    """The vocabulary's keys sorted (code-point order) with each key's frequency rank."""

    keys: Sequence[str]  # (V,) sorted
    ranks: np.ndarray  # (V,) int64: ranks[i] is the index_to_key position of keys[i]

    @classmethod
    def build(cls, index_to_key: Sequence[str]) -> PrefixIndex:
        if isinstance(index_to_key, MappedKeys):  # sorted on disk already, shared by every process
            return cls(index_to_key.sorted_view(), index_to_key.order)
        order = sorted(range(len(index_to_key)), key=index_to_key.__getitem__)
        return cls([index_to_key[i] for i in order], np.asarray(order, dtype=np.int64))

    def matches(self, prefix: str) -> np.ndarray:
        """Ranks of the keys starting with ``prefix``, in frequency order: (M,) int64."""
        lo = bisect.bisect_left(self.keys, prefix)
        # Every key with the prefix sorts before prefix + the largest code point.
        hi = bisect.bisect_left(self.keys, prefix + "\U0010ffff", lo)
        while hi < len(self.keys) and self.keys[hi].startswith(prefix):  # keys holding U+10FFFF itself
            hi += 1
        return np.sort(self.ranks[lo:hi])


_indexes: weakref.WeakKeyDictionary[Any, PrefixIndex] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def prefix_index(m: LoadedVectors) -> PrefixIndex:
    """The model version's index, built on first use and dropped with the loaded vectors."""
    kv = m.model.kv
    with _lock:
        index = _indexes.get(kv)
        if index is None:
            index = _indexes[kv] = PrefixIndex.build(kv.index_to_key)
        return index


# --------------------------------------------------------------------------- /words


class VocabularyWord(BaseModel):
    word: str
    rank: int = Field(description="Position in frequency order (gensim `index_to_key`), from 0.")


class VocabularyPage(BaseModel):
    """One page of a model's vocabulary, in frequency order."""

    model: str
    version: int
    prefix: str = Field(description="The prefix the words start with ('' for every word).")
    total: int = Field(description="How many words match (over every page).")
    offset: int
    limit: int
    words: list[VocabularyWord]


@router.get(
    "/{name}/words",
    response_model=VocabularyPage,
    summary="The vocabulary in frequency order, optionally by prefix (autocomplete)",
    description="Words in gensim's `index_to_key` order (most frequent first), those starting with "
    "`prefix` (case-sensitive) when given; `total` counts all matches, `offset`/`limit` page through them.",
    responses=PROBLEM_RESPONSES,
)
def list_words(
    name: ModelName,
    runtime: Runtime,
    prefix: Annotated[str, Query(max_length=200, description="Only words starting with this.")] = "",
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Matches to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"At most {MAX_LIMIT} words.")] = 100,
    version: VersionQuery = None,
) -> VocabularyPage:
    m = runtime.registry.get(name, version)
    keys = m.model.kv.index_to_key
    if prefix:
        ranks = prefix_index(m).matches(prefix)
        total = int(ranks.shape[0])
        page = [int(r) for r in ranks[offset : offset + limit]]
    else:
        total = len(keys)
        page = list(range(min(offset, total), min(offset + limit, total)))
    return VocabularyPage(
        model=m.name,
        version=m.version,
        prefix=prefix,
        total=total,
        offset=offset,
        limit=limit,
        words=[VocabularyWord(word=keys[r], rank=r) for r in page],
    )


# --------------------------------------------------------------------------- /projection


class ProjectionQuery(RequestModel):
    """Words to place in 2-D: a list, or one word and its nearest neighbours."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"word": "president", "topn": 15}, {"words": ["king", "queen", "man", "woman"]}]
        },
    )

    words: list[Word] | None = Field(
        None, min_length=2, max_length=MAX_PROJECTION_WORDS, description="At least 2 distinct words."
    )
    word: Word | None = Field(None, description="A word, placed with its `topn` nearest neighbours.")
    topn: Int | None = Field(
        None, ge=1, le=MAX_PROJECTION_WORDS - 1, description="Neighbours of `word` (default 20)."
    )

    @model_validator(mode="after")
    def _source(self) -> ProjectionQuery:
        if (self.words is None) == (self.word is None):
            raise ValueError("give exactly one of words or word")
        if self.words is not None and self.topn is not None:
            raise ValueError("topn goes with word, not with words")
        return self


class ProjectedPoint(BaseModel):
    word: str
    x: float
    y: float
    neighbour_score: float | None = Field(None, description="Cosine similarity to `word` (neighbour form).")


class ProjectionResult(BaseModel):
    model: str
    version: int
    points: list[ProjectedPoint]
    explained_variance: list[float] = Field(description="Share of the variance on x and on y (PCA).")


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``vectors`` (N, D) -> 2-D coordinates (N, 2) and the two components' variance shares (2,).

    Centred, then a thin SVD; each axis's sign is fixed (its largest coordinate is positive) so the
    same words always come out the same way round.
    """
    x = vectors.astype(np.float64) - vectors.mean(axis=0, dtype=np.float64)  # (N, D)
    u, sv, _ = np.linalg.svd(x, full_matrices=False)  # u (N, K), sv (K,), K = min(N, D)
    coords = np.zeros((x.shape[0], 2))  # (N, 2)
    k = min(2, sv.shape[0])
    coords[:, :k] = u[:, :k] * sv[:k]
    for j in range(k):
        if coords[np.argmax(np.abs(coords[:, j])), j] < 0:
            coords[:, j] = -coords[:, j]
    total = float(np.sum(sv**2))
    shares = np.zeros(2)
    if total > 0:
        shares[:k] = sv[:k] ** 2 / total
    return coords, shares


@router.post(
    "/{name}/projection",
    response_model=ProjectionResult,
    summary="2-D PCA projection of words (or of a word and its neighbours)",
    description="Principal components of the words' unit vectors (numpy SVD). `words` lists the words "
    "(at least 2 distinct); or `word` with `topn` (default 20) places the word and its nearest neighbours "
    "(gensim `most_similar`), each with its `neighbour_score`.",
    responses=PROBLEM_RESPONSES,
)
def projection(
    name: ModelName, body: ProjectionQuery, runtime: Runtime, version: VersionQuery = None
) -> ProjectionResult:
    m = runtime.registry.get(name, version)
    queries = m.model.queries
    scores: dict[str, float] = {}
    with query_errors(m.name):
        if body.word is not None:
            topn = body.topn or 20
            if topn > runtime.settings.max_topn:
                raise InvalidInputError(
                    f"topn {topn} exceeds the limit of {runtime.settings.max_topn}",
                    loc=["body", "topn"],
                    code="topn-too-large",
                )
            neighbours = queries.most_similar([body.word], topn=topn)
            words = [body.word, *(w for w, _ in neighbours)]
            scores = dict(neighbours)
        else:
            words = list(dict.fromkeys(body.words or []))
            if len(words) < 2:
                raise InvalidInputError(
                    "words must name at least 2 distinct words", loc=["body", "words"], code="invalid-query"
                )
            missing = queries.unknown_words(words)
            if missing:
                raise unknown_words(m.name, missing)
        vectors = np.stack([m.model.kv.get_vector(w, norm=True) for w in words])  # (N, D)
    coords, shares = pca_2d(vectors)
    return ProjectionResult(
        model=m.name,
        version=m.version,
        points=[
            ProjectedPoint(word=w, x=float(c[0]), y=float(c[1]), neighbour_score=scores.get(w))
            for w, c in zip(words, coords, strict=True)
        ],
        explained_variance=[float(v) for v in shares],
    )
