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

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query

from models.embeddings.projection import pca_2d
from service.embeddings import limits
from service.embeddings.errors import query_errors
from service.embeddings.routes.queries import QUERY_RESPONSES
from service.embeddings.runtime import Runtime
from service.embeddings.schemas.vocabulary import (
    MAX_LIMIT,
    ProjectedPoint,
    ProjectionRequest,
    ProjectionResponse,
    VocabularyPage,
    VocabularyWord,
)
from service.kit.auth import require_query_token
from service.kit.errors import InvalidInputError
from service.kit.models_routes import VersionQuery
from service.kit.names import ModelName

router = APIRouter(prefix="/v1/models", tags=["queries"], dependencies=[Depends(require_query_token)])


@router.get(
    "/{name}/words",
    response_model=VocabularyPage,
    summary="The vocabulary in frequency order, optionally by prefix (autocomplete)",
    description="Words in gensim's `index_to_key` order (most frequent first), those starting with "
    "`prefix` (case-sensitive) when given; `total` counts all matches, `offset`/`limit` page through them.",
    responses=QUERY_RESPONSES,
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
        ranks = m.model.prefixes.matches(prefix)
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


@router.post(
    "/{name}/projection",
    response_model=ProjectionResponse,
    summary="2-D PCA projection of words (or of a word and its neighbours)",
    description="Principal components of the words' unit vectors (numpy SVD). `words` lists the words "
    "(at least 2 distinct); or `word` with `topn` (default 20) places the word and its nearest neighbours "
    "(gensim `most_similar`), each with its `neighbour_score`.",
    responses=QUERY_RESPONSES,
)
def projection(
    name: ModelName, body: ProjectionRequest, runtime: Runtime, version: VersionQuery = None
) -> ProjectionResponse:
    m = runtime.registry.get(name, version)
    scores: dict[str, float] = {}
    with query_errors(m.name):
        if body.word is not None:
            topn = body.topn or 20
            limits.check_topn(topn, runtime.settings)
            neighbours = m.model.most_similar([body.word], topn=topn)
            words = [body.word, *(w for w, _ in neighbours)]
            scores = dict(neighbours)
        else:
            words = list(dict.fromkeys(body.words or []))
            if len(words) < 2:
                raise InvalidInputError(
                    "words must name at least 2 distinct words", loc=["body", "words"], code="invalid-query"
                )
            m.model.require(words)
        vectors = np.stack([m.model.kv.get_vector(w, norm=True) for w in words])  # (N, D)
    coords, shares = pca_2d(vectors)
    return ProjectionResponse(
        model=m.name,
        version=m.version,
        points=[
            ProjectedPoint(word=w, x=float(c[0]), y=float(c[1]), neighbour_score=scores.get(w))
            for w, c in zip(words, coords, strict=True)
        ],
        explained_variance=[float(v) for v in shares],
    )
