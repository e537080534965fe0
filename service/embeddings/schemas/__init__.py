"""Request and response bodies of the embeddings API, one module per route module
(:mod:`.corpora`, :mod:`.models`, :mod:`.jobs`, :mod:`.queries`, :mod:`.vocabulary`); this package
holds the field types several of them share.

Static bounds live in the schemas (they are published in the OpenAPI documents); bounds that
depend on the settings (``max_topn``, ``max_batch``, ``max_inline_sentences``) are checked by
:mod:`service.embeddings.limits`. ``Int``, ``Float``, ``Bool`` (:mod:`service.kit.schemas`) take
JSON numbers and booleans only: lax pydantic would read ``true`` as 1 and ``"5"`` as 5.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from models.embeddings.corpus import Tokenizer
from service.kit.names import NAME_DESCRIPTION, NAME_PATTERN
from service.kit.schemas import Bool, RequestModel

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64, description=NAME_DESCRIPTION)]


Word = Annotated[str, StringConstraints(min_length=1, max_length=200)]


# A token of a token list becomes a vocabulary key: no whitespace, so it can be exported (word2vec format).
Token = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]


SentenceText = Annotated[str, StringConstraints(max_length=100_000)]


TokenList = Annotated[list[Token], Field(max_length=10_000)]


Sentence = SentenceText | TokenList


# Int, Float, Bool (service.kit.schemas): JSON numbers and booleans only; lax pydantic would read
# `true` as 1 and "5" as 5 (`topn: true`, `vector_size: true`). Request bodies derive from RequestModel.
HARD_MAX_ITEMS = 100_000


HARD_MAX_TOPN = 100_000


class TokenizerOptions(RequestModel):
    """How string sentences are split into tokens (token lists are used as given)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["simple", "whitespace"] = Field(
        "simple",
        description="`simple`: gensim simple_preprocess (letters, 2..15 chars); `whitespace`: split().",
    )
    lowercase: Bool = True

    def tokenizer(self) -> Tokenizer:
        """The core's tokenizer for these options."""
        return Tokenizer(kind=self.kind, keep_case=not self.lowercase)


def tokenizer_used(sentences: list[Any]) -> None:
    """Refuse a ``tokenizer`` sent with token lists only (it applies to string sentences)."""
    if not any(isinstance(s, str) for s in sentences):
        raise ValueError(
            "tokenizer applies to string sentences only, and every sentence is a token list "
            "(used as given); drop tokenizer"
        )
