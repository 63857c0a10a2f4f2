"""Values as the model reads them, float32, without losing a column's digits to a large offset.

float32 keeps 24 significant bits, so a column far from zero relative to its spread loses its
digits in the cast: 10,000,000 + N(0, 1) becomes whole numbers, and a causal order read from it is
a guess. Every reader of user data casts through `as_float32` with the `column_offsets` of rows it
has already seen; the model standardizes each column on a robust centre, so subtracting a constant
per column changes nothing but the rounding. Columns near zero get no offset, so ordinary data are
read bit for bit as a plain cast reads them.
"""
from __future__ import annotations

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)  # a larger value would become inf
# A column is shifted where its median is more than this many robust spreads from zero: there a
# float32 step would be over 2^-13 of the spread.
OFFSET_RATIO = 1024.0
# Rows, evenly spaced, that an offset is read from: it only has to lie near the column's values.
_OFFSET_ROWS = 256


def column_offsets(rows: np.ndarray) -> np.ndarray | None:
    """Per-column float64 offsets to subtract from values of these columns before a float32 cast:
    the median of each column of the finite ``rows`` (n, d) where it lies more than `OFFSET_RATIO`
    robust spreads (median absolute deviation, else mean absolute deviation) from zero, 0 elsewhere;
    None where no column needs one (or there are no rows). Read from at most 256 evenly spaced rows."""
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[0] == 0:
        return None
    values = rows[np.linspace(0, len(rows) - 1, min(len(rows), _OFFSET_ROWS)).astype(int)].astype(np.float64)
    median = np.median(values, axis=0)
    deviation = np.abs(values - median)
    mad = np.median(deviation, axis=0)
    spread = np.where(mad > 0, mad, deviation.mean(axis=0))
    offsets = np.where(np.abs(median) > OFFSET_RATIO * spread, median, 0.0)
    return offsets if offsets.any() else None


def as_float32(values: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """``values`` (n, d) minus ``offsets`` (d,), subtracted in float64, as contiguous float32. A value
    past float32's range becomes inf (no warning): callers refuse non-finite values after the cast."""
    with np.errstate(over="ignore", invalid="ignore"):
        if offsets is None:
            return np.ascontiguousarray(values, dtype=np.float32)
        return np.ascontiguousarray(np.asarray(values, dtype=np.float64) - offsets, dtype=np.float32)
