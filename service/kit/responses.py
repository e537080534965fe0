"""Large JSON answers written once: pydantic's (Rust) encoder straight to bytes.

A route that answers thousands of vectors, neighbours or attention matrices builds its response model
with ``model_construct`` (the values come from the core with the declared types) and returns
:func:`json_response`: FastAPI would otherwise validate the answer again and encode it through
``jsonable_encoder``, which costs more time and memory than producing it. The route's
``response_model`` still documents it.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_response(body: BaseModel, *, exclude_none: bool = False) -> Response:
    """``body`` as ``application/json`` (with ``exclude_none``, members that are None left out, as a
    route's ``response_model_exclude_none`` would)."""
    return Response(body.model_dump_json(exclude_none=exclude_none), media_type="application/json")
