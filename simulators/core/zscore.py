"""The one z-score of the project: simulated data, mechanisms' inputs and pruning all use it."""
from __future__ import annotations

import numpy as np


def zscore(a: np.ndarray) -> np.ndarray:
    """Each column (axis 0) centred and scaled to unit standard deviation on the sample.

    A constant column is only centred (to zeros): dividing by its zero spread would give NaN.
    Datasets are bit-identical per seed only while this stays the exact same arithmetic.
    """
    std = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(std > 0, std, 1.0)
