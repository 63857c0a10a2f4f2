"""Dequantization: each value of a discrete column spread uniformly over its bin, before the model reads it.

The model was trained on continuous values; a column of a few levels (a flag, an ordinal scale, small
counts) is point masses to it (model card, Limits: discretized data). A column is discrete here when the
rows it is judged on hold 2 to ``max_levels`` distinct values; its bins run between the midpoints of
adjacent levels, the outer ones as wide on their open side as on the other, and every value goes to the
bin of its nearest level (so a level the judging rows missed joins its neighbour's bin). Draws come from
the caller's seeded generator, row by row in column order, so any split of the same rows into chunks
draws the same values; the rows in another order get other draws (and may get another answer), which
continuous columns never do.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A column is called discrete where the rows it is judged on hold at most this many distinct values.
FEW_VALUES = 10
# Seeds of the draws of the rows the model reads and of the rows that fix its standardization: fixed, so
# that the same data always give the same order.
ROW_DRAWS, ANCHOR_DRAWS = 0, 1


@dataclass(frozen=True)
class Dequantizer:
    """The discrete columns of some rows and their bins: ``columns`` (indices), and per column the
    ``lower`` / ``upper`` edges of each level's bin and the ``midpoints`` between levels."""

    columns: tuple[int, ...]
    lower: tuple[np.ndarray, ...]
    upper: tuple[np.ndarray, ...]
    midpoints: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, rows: np.ndarray, max_levels: int = FEW_VALUES) -> Dequantizer | None:
        """The bins of the columns of ``rows`` (m, d) with 2 to ``max_levels`` distinct values; None if none."""
        ordered = np.sort(np.asarray(rows).T, axis=1)  # each column's values as one contiguous row
        distinct = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(axis=1)
        columns, lower, upper, midpoints = [], [], [], []
        for j in np.flatnonzero((distinct >= 2) & (distinct <= max_levels)):
            levels = np.unique(ordered[j]).astype(np.float64)
            mid = (levels[1:] + levels[:-1]) / 2
            columns.append(int(j))
            lower.append(np.r_[2 * levels[0] - mid[0], mid])
            upper.append(np.r_[mid, 2 * levels[-1] - mid[-1]])
            midpoints.append(mid)
        if not columns:
            return None
        return cls(tuple(columns), tuple(lower), tuple(upper), tuple(midpoints))

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``x`` (n, d) as float64, each discrete column's values drawn uniformly over their levels' bins."""
        out = np.array(x, dtype=np.float64)
        spread = rng.random((out.shape[0], len(self.columns)))
        for k, (j, low, high, mid) in enumerate(zip(self.columns, self.lower, self.upper, self.midpoints)):
            level = np.searchsorted(mid, out[:, j])
            out[:, j] = low[level] + spread[:, k] * (high[level] - low[level])
        return out

    def apply32(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """`apply`, as the contiguous float32 rows the model reads."""
        return np.ascontiguousarray(self.apply(x, rng), dtype=np.float32)
