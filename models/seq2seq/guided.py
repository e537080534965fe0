"""Guided alignment: supervise the decoder's teacher-forced attention with gold links.

The loss is the cross-entropy form of Marian's guided alignment (``--guided-alignment-cost ce``;
Garg et al., 2019, "Jointly Learning to Align and Translate with Transformer Models"): for every
target position ``t`` that has gold links the gold distribution is uniform over its linked source
positions, and the position costs ``-sum_s gold[t, s] * log(attention[t, s] + eps)``. The loss is the
mean over the target positions of the batch that have links; target positions without links, padded
target and source positions and examples without links add nothing (their contents are never read).
Training adds ``weight * loss`` to the token NLL (:func:`models.seq2seq.training.train`,
``TrainParams.guided_alignment_weight``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from models.padding import lengths_to_mask

from .alignment import Link

#: Added to the attention weights before the log (Marian's epsilon), so a zero weight costs finitely.
EPS = 1e-6


def gold_alignment(
    links: Sequence[Iterable[Link] | None],
    tgt_lengths: Sequence[int],
    src_lengths: Sequence[int],
    n_tgt: int | None = None,
    n_src: int | None = None,
) -> Tensor:
    """The gold attention of a padded batch: (B, T, S), float32.

    ``links[i]``: gold ``(src_idx, tgt_idx)`` links of row ``i`` (None: no links). Row ``t`` of example
    ``i`` is uniform over the sources linked to target token ``t``, all zeros when ``t`` has no link
    (unlinked tokens, EOS, padding). Links outside ``0 <= s < src_lengths[i]``, ``0 <= t <
    tgt_lengths[i]`` are ignored (``tgt_lengths`` count the target tokens, EOS not included).
    ``n_tgt``/``n_src`` (default: the longest lengths) are the padded sizes T and S.

    >>> gold_alignment([[(0, 0), (1, 0), (1, 1)], None], [2, 1], [2, 3]).tolist()[0]
    [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]]
    """
    if not (len(links) == len(tgt_lengths) == len(src_lengths)):
        raise ValueError(
            f"{len(links)} link sets, {len(tgt_lengths)} target lengths, {len(src_lengths)} source lengths"
        )
    n_tgt = max(tgt_lengths, default=0) if n_tgt is None else n_tgt
    n_src = max(src_lengths, default=0) if n_src is None else n_src
    gold = torch.zeros(len(links), n_tgt, n_src)  # (B, T, S)
    for i, row_links in enumerate(links):
        if not row_links:
            continue
        t_len, s_len = min(tgt_lengths[i], n_tgt), min(src_lengths[i], n_src)
        for s, t in set(row_links):
            if 0 <= s < s_len and 0 <= t < t_len:
                gold[i, t, s] = 1.0
    counts = gold.sum(-1, keepdim=True)  # (B, T, 1)
    return gold / counts.clamp(min=1.0)  # (B, T, S), rows sum to 1 or 0


def guided_alignment_loss(
    attention: Tensor, gold: Tensor, tgt_mask: Tensor, src_mask: Tensor, eps: float = EPS
) -> Tensor:
    """Mean cross-entropy between gold rows and attention rows over the linked target positions.

    attention: (B, T, S) attention weights (rows sum to 1 over real sources); gold: (B, T, S) from
    :func:`gold_alignment`; tgt_mask: (B, T) True = real target position; src_mask: (B, S) True =
    real source position (the masks of :func:`models.padding.lengths_to_mask`). Returns a scalar:
    ``sum_{(b, t) linked} -sum_s gold[b, t, s] * log(attention[b, t, s] + eps)`` over the number of
    linked positions (0 when there are none; still part of the graph). A position is linked when it
    is real and its gold row is not all zeros. Padded cells are never read: any value there, NaN
    included, leaves the loss and its gradient unchanged.

    Its minimum for a gold row with one link is ``-log(1 + eps)`` (about 0), reached when the
    attention puts all its weight on that source; for a row with ``k`` links it is about ``log k``
    (the gold distribution's entropy).
    """
    if attention.shape != gold.shape or attention.dim() != 3:
        raise ValueError(f"attention {tuple(attention.shape)} and gold {tuple(gold.shape)} must be (B, T, S)")
    keep = tgt_mask.unsqueeze(2) & src_mask.unsqueeze(1)  # (B, T, S)
    gold = gold.to(attention.dtype).masked_fill(~keep, 0.0)  # (B, T, S)
    log_att = torch.log(attention.masked_fill(~keep, 1.0) + eps)  # (B, T, S), pads never read
    cost = -(gold * log_att).sum(-1)  # (B, T)
    linked = tgt_mask & (gold.sum(-1) > 0)  # (B, T)
    total = cost.masked_fill(~linked, 0.0).sum()  # ()
    return total / linked.sum().clamp(min=1).to(total.dtype)


def batch_guided_alignment_loss(
    attention: Tensor,
    links: Sequence[Iterable[Link] | None],
    tgt_lengths: Sequence[int],
    src_lengths: Tensor,
) -> Tensor:
    """:func:`guided_alignment_loss` of a padded training batch.

    attention: (B, T, S) teacher-forced attention (T = target tokens + EOS); links: gold links per row
    (None: none); tgt_lengths: target tokens per row (EOS not included); src_lengths: (B,).
    """
    batch, n_tgt, n_src = attention.shape
    src_list = [int(n) for n in src_lengths.tolist()]
    gold = gold_alignment(links, list(tgt_lengths), src_list, n_tgt, n_src).to(attention.device)  # (B, T, S)
    tgt_mask = lengths_to_mask(torch.tensor([int(n) for n in tgt_lengths]), n_tgt).to(
        attention.device
    )  # (B, T)
    src_mask = lengths_to_mask(src_lengths.to(torch.long), n_src).to(attention.device)  # (B, S)
    return guided_alignment_loss(attention, gold, tgt_mask, src_mask)


__all__ = ["EPS", "batch_guided_alignment_loss", "gold_alignment", "guided_alignment_loss"]
