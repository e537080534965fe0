"""Word vectors placed in 2-D by PCA (the web page's explorer).

>>> import numpy as np
>>> coords, shares = pca_2d(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.1]]))
>>> coords.shape, [round(float(s), 3) for s in shares]
((3, 2), [0.997, 0.003])
"""

from __future__ import annotations

import numpy as np


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
