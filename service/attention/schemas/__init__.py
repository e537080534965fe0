"""Request and response bodies of the attention service, one module per route module
(:mod:`.datasets`, :mod:`.models`, :mod:`.jobs`, :mod:`.inference`); this package holds the field
types several of them share. Their examples make ``/docs`` a manual.

Static bounds (``hidden <= 1024``, ``epochs <= 200``…) live in the schemas; bounds that depend on
the settings (batch size, input length, beam size, ``max_len``) are checked by
:mod:`service.attention.limits`, and bounds that depend on the model by the core.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from service.kit.schemas import Int

Attention = Literal["bahdanau", "luong-dot", "luong-general", "luong-concat"]


Decode = Literal["greedy", "beam"]


TaskName = Literal["dates", "reversal", "copy", "g2p"]


Tokenization = Literal["char", "word"]


Matrix = list[list[float]]


LinkList = list[tuple[int, int]]


#: Links in a request: JSON integers only (``[0, 0]``, never ``["0", 0]`` or ``[0.0, 0]``).
LinkListIn = list[tuple[Int, Int]]


Pair = tuple[str, str] | tuple[str, str, str | LinkListIn | None]


#: The beam width of ``decode: "beam"`` when the request gives none.
DEFAULT_BEAM_SIZE = 4


#: Options of ``decode: "beam"`` only (a 422 with ``greedy``: they would be ignored). They are
#: :func:`~service.kit.schemas.option` fields: the OpenAPI document publishes no default for them.
BEAM_ONLY = ("beam_size", "n_best", "length_penalty", "coverage_penalty")


def beam_only(body: BaseModel, decode: str) -> None:
    """Refuse beam options a client sent with a greedy decode (they would be silently ignored)."""
    given = [k for k in BEAM_ONLY if k in body.model_fields_set]
    if decode != "beam" and given:
        raise ValueError(
            f'{", ".join(given)} applies to decode \'beam\' only; add "decode": "beam" or drop it'
        )
