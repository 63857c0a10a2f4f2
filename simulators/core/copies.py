"""Columns that are exact affine copies of another (b = s a + c): no method can tell which of two comes first."""
from __future__ import annotations

import numpy as np

# Columns whose |correlation| is this close to 1 are copies of each other up to scale and shift.
DUPLICATE_CORR = 1 - 1e-9


def copy_groups(x: np.ndarray) -> list[list[int]]:
    """Column indices of ``x`` (n, d) grouped by copies, in column order: each group holds a column and
    the later columns that copy it (|correlation| >= `DUPLICATE_CORR`). Constant columns are in no group."""
    x = np.asarray(x, dtype=np.float64)
    varying = np.flatnonzero(np.ptp(x, axis=0) > 0)
    z = x[:, varying]
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    corr = np.abs(z.T @ z) / x.shape[0]
    if not np.triu(corr >= DUPLICATE_CORR, 1).any():  # the usual case, without a loop over columns
        return [[int(j)] for j in varying]
    groups: list[list[int]] = []
    for a in range(varying.shape[0]):
        twin = next((g for g in groups if corr[a, g[0]] >= DUPLICATE_CORR), None)
        if twin is None:
            groups.append([a])
        else:
            twin.append(a)
    return [[int(varying[a]) for a in g] for g in groups]
