"""Draws from a zero-mean Gaussian-process prior with the RBF kernel exp(-|x - x'|^2 / 2), the
kernel both NOTEARS's (sklearn's default, length scale 1) and the CDT's GP mechanisms use."""
from __future__ import annotations

import numpy as np

# Added to the kernel's diagonal so that the Cholesky factor exists when inputs repeat; tiny next to
# the unit-scale functions drawn.
_JITTER = 1e-6


def gp_draw(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One function value per row of ``x`` (n, p): a sample of f ~ GP(0, exp(-|x - x'|^2 / 2))."""
    sq = np.sum(x * x, axis=1)
    distances = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    kernel = np.exp(-0.5 * distances)
    kernel[np.diag_indices_from(kernel)] += _JITTER
    return np.linalg.cholesky(kernel) @ rng.standard_normal(x.shape[0])


def additive_gp_draw(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """sum_k f_k(x_k) over the columns of ``x`` (n, p), each f_k an independent `gp_draw` of one column."""
    return sum(gp_draw(x[:, [k]], rng) for k in range(x.shape[1]))
