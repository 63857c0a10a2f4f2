"""Var-sortability and R²-sortability (Reisach et al. 2021, 2023): how well sorting variables by
marginal variance, or by the R² of regressing each on all others, recovers the causal order.

Both are the fraction of directed paths (counted with multiplicity, any length) along which the
criterion strictly increases from cause to effect; ties count one half. 0.5 is chance; near 1 a
trivial sort finds the order. NaN when the graph has no edges.
"""
from __future__ import annotations

import numpy as np

from simulators.core.zscore import zscore

# Relative tolerance for ties: standardized float32 data have variances 1 +- 1e-7, which must tie.
_TIE = 1e-5


def sortability(scores: np.ndarray, graph: np.ndarray, tol: float = _TIE) -> float:
    """Fraction of cause -> effect paths along which ``scores`` increase (ties: 1/2)."""
    d = graph.shape[0]
    adj = (graph != 0).astype(np.float64)
    # (I - A)^-1 = sum_k A^k for a DAG: entry (i, j) counts the directed paths from i to j.
    paths = np.linalg.solve(np.eye(d) - adj, np.eye(d)) - np.eye(d)
    total = paths.sum()
    if total <= 0:
        return float("nan")
    s = np.asarray(scores, dtype=np.float64)
    cause, effect = s[:, None], s[None, :]
    scale = np.maximum(np.maximum(np.abs(cause), np.abs(effect)), 1e-300)
    diff = (effect - cause) / scale
    credit = np.where(diff > tol, 1.0, np.where(diff >= -tol, 0.5, 0.0))
    return float((paths * credit).sum() / total)


def r2_scores(x: np.ndarray) -> np.ndarray:
    """R² of the linear regression (with intercept) of each column on all the others.

    Uses R²_j = 1 - 1 / (C^-1)_jj with C the correlation matrix; a pseudo-inverse covers
    collinear data (n <= d), where the fit is perfect.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] <= x.shape[1]:
        return np.ones(x.shape[1])
    z = zscore(x)
    corr = (z.T @ z) / x.shape[0]
    precision_diag = np.diag(np.linalg.pinv(corr, hermitian=True))
    with np.errstate(divide="ignore"):
        r2 = 1.0 - 1.0 / precision_diag
    return np.clip(np.nan_to_num(r2, nan=1.0), 0.0, 1.0)


def var_sortability(x: np.ndarray, graph: np.ndarray) -> float:
    """Sortability by marginal variance."""
    return sortability(np.asarray(x, dtype=np.float64).var(axis=0), graph)


def r2_sortability(x: np.ndarray, graph: np.ndarray) -> float:
    """Sortability by R² (scale-invariant: unchanged by standardization)."""
    return sortability(r2_scores(x), graph)
