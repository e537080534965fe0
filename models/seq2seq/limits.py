"""Hard limits of the seq2seq core, importable without torch (the services' settings bound theirs by them).

>>> MAX_BEAM_SIZE
16
"""

from __future__ import annotations

#: Widest beam :func:`models.seq2seq.search.beam_search` accepts (``1..MAX_BEAM_SIZE``); the attention
#: service's ``max_beam_size`` setting and request schemas are bounded by it, so they never disagree.
MAX_BEAM_SIZE = 16

__all__ = ["MAX_BEAM_SIZE"]
