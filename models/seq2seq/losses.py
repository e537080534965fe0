"""Token cross-entropy of a padded batch, optionally label-smoothed (Szegedy et al. 2016).

With smoothing ``eps`` the target distribution is ``(1 - eps)`` on the gold token plus ``eps / V``
on every token of the vocabulary (PyTorch's ``F.cross_entropy(label_smoothing=eps)``); pad
positions of the target are left out of both the loss and the token count.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def token_losses(
    logits: torch.Tensor, target: torch.Tensor, pad: int, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(objective, nll)``: the mean label-smoothed and the mean plain cross-entropy per
    non-pad target token.

    ``logits``: (B, T, V); ``target``: (B, T) token ids, ``pad`` where there is no token. The
    objective is what training minimises; ``nll`` (no gradient) is the figure to report, comparable
    across smoothing values. With ``label_smoothing`` 0 both are the same tensor.

    >>> logits = torch.zeros(1, 2, 4)             # uniform over 4 tokens
    >>> objective, nll = token_losses(logits, torch.tensor([[1, 0]]), pad=0, label_smoothing=0.1)
    >>> round(float(nll), 4), round(float(objective), 4)   # ln 4 both: uniform output
    (1.3863, 1.3863)
    """
    flat_logits, flat_target = logits.flatten(0, 1), target.flatten()  # (B*T, V), (B*T,)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError("label_smoothing must be in [0, 1)")
    if label_smoothing == 0.0:
        loss = F.cross_entropy(flat_logits, flat_target, ignore_index=pad)  # ()
        return loss, loss
    objective = F.cross_entropy(
        flat_logits, flat_target, ignore_index=pad, label_smoothing=label_smoothing
    )  # ()
    with torch.no_grad():
        nll = F.cross_entropy(flat_logits, flat_target, ignore_index=pad)  # ()
    return objective, nll
