"""R²-sort (Reisach et al. 2023): order by increasing R² of each variable regressed on all others.

R² is scale-invariant, so this survives standardization; it measures how much a benchmark
leaks through the simulator's R²-sortability.
"""
from __future__ import annotations

import numpy as np
import torch

from causal_amort.baselines.base import Baseline


def r2_scores(x: np.ndarray) -> np.ndarray:
    """Coefficient of determination of the linear regression of each column on the others."""
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    gram = z.T @ z  # one O(n d^2) pass; each regression is then a (d-1) x (d-1) system
    d = gram.shape[0]
    r2 = np.empty(d)
    for j in range(d):
        rest = np.delete(np.arange(d), j)
        coef = np.linalg.lstsq(gram[np.ix_(rest, rest)], gram[rest, j], rcond=None)[0]
        r2[j] = (coef @ gram[rest, j]) / gram[j, j]
    return np.clip(r2, 0.0, 1.0)


def _r2sort_order(x: np.ndarray, rng: np.random.Generator, device: torch.device) -> np.ndarray:
    return np.argsort(r2_scores(x), kind="stable")


BASELINE = Baseline("r2sort", _r2sort_order)
