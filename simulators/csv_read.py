"""Read a numeric CSV table in checked chunks, so a file larger than memory works.

The one reader of CSV data: `amort predict` streams it, and the CSV-folder format
(`simulators.csvio`) reads whole files through it.

Every problem is an `InputError` naming the file, the offending column and the line number
(1-based, the header being line 1), because a scientist has to find and fix it by hand.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from simulators.errors import InputError


@dataclass
class CsvSummary:
    """What a full pass over the file saw: names, row counts, per-column extremes."""

    names: list[str]
    rows: int = 0
    dropped: int = 0
    col_min: np.ndarray = field(default_factory=lambda: np.empty(0))
    col_max: np.ndarray = field(default_factory=lambda: np.empty(0))


def read_header(path: Path) -> list[str]:
    """Variable names from the header row: present, non-empty and unique."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a CSV file")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    if not header:
        raise InputError(f"{path}: the file is empty")
    names = [h.strip() for h in header]
    seen: set[str] = set()
    for name in names:
        if not name:
            raise InputError(f"{path}: empty column name in the header")
        if name in seen:
            raise InputError(f"{path}: duplicate column name {name!r}")
        seen.add(name)
    return names


def _check_chunk(path: Path, frame: pd.DataFrame, names: list[str], first_line: int, drop_missing: bool
                 ) -> tuple[np.ndarray, int]:
    """Numeric float32 array of one chunk (rows with missing values dropped if asked) and drop count."""
    for col, name in zip(frame.columns, names):
        series = frame[col]
        if series.dtype.kind not in "fiub":
            numeric = pd.to_numeric(series, errors="coerce")
            bad = numeric.isna() & series.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(
                    f"{path}: column {name!r} is not numeric: {series.iloc[row]!r} on line {first_line + row}"
                )
            frame[col] = numeric
    values = frame.to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    if finite.all():
        return values.astype(np.float32), 0
    bad_rows = ~finite.all(axis=1)
    if drop_missing:
        return values[~bad_rows].astype(np.float32), int(bad_rows.sum())
    row, col = np.argwhere(~finite)[0]
    what = "a missing (NaN)" if np.isnan(values[row, col]) else "an infinite"
    raise InputError(
        f"{path}: column {names[col]!r} has {what} value on line {first_line + int(row)} "
        "(missing or infinite values are not allowed; `amort predict --drop-missing` skips such rows)"
    )


def stream_csv(path: str | Path, chunk_size: int, *, drop_missing: bool = False,
               summary: CsvSummary | None = None) -> Iterator[np.ndarray]:
    """Yield float32 chunks of ``chunk_size`` rows (the last may be shorter) from a CSV file.

    Pass a ``CsvSummary`` to collect row counts and per-column extremes during the pass; the
    caller checks constant columns with `check_summary` once the stream is exhausted.
    """
    path = Path(path)
    names = read_header(path)
    if len(names) < 2:
        raise InputError(f"{path}: needs at least 2 columns (variables), found {len(names)}")
    if summary is None:
        summary = CsvSummary(names=names)
    summary.names = names
    summary.col_min = np.full(len(names), np.inf)
    summary.col_max = np.full(len(names), -np.inf)
    pending: list[np.ndarray] = []
    pending_rows = 0
    line = 2
    try:
        reader = pd.read_csv(path, chunksize=max(chunk_size, 1024), skiprows=1, header=None, names=names,
                             skipinitialspace=True, low_memory=False)
        for frame in reader:
            if frame.shape[1] != len(names):
                raise InputError(f"{path}: line {line} has {frame.shape[1]} fields, expected {len(names)}")
            values, dropped = _check_chunk(path, frame, names, line, drop_missing)
            line += len(frame)
            summary.dropped += dropped
            if len(values):
                summary.col_min = np.minimum(summary.col_min, values.min(axis=0))
                summary.col_max = np.maximum(summary.col_max, values.max(axis=0))
            pending.append(values)
            pending_rows += len(values)
            while pending_rows >= chunk_size:
                block = np.concatenate(pending)
                yield block[:chunk_size]
                summary.rows += chunk_size
                pending, pending_rows = [block[chunk_size:]], pending_rows - chunk_size
    except pd.errors.EmptyDataError:
        pass  # a header without rows: no chunks; the caller's row count says so
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{path}: malformed CSV ({str(exc).strip().splitlines()[0]})") from None
    if pending_rows:
        summary.rows += pending_rows
        yield np.concatenate(pending)


def check_summary(path: str | Path, summary: CsvSummary, min_rows: int) -> None:
    """Checks that need the whole file: enough rows, no constant column."""
    if summary.rows == 0:
        raise InputError(f"{path}: no data rows" + (" left after --drop-missing" if summary.dropped else ""))
    if summary.rows < min_rows:
        raise InputError(f"{path}: {summary.rows} rows, but the model needs at least {min_rows} (one chunk)")
    constant = np.flatnonzero(summary.col_max <= summary.col_min)
    if constant.size:
        raise InputError(f"{path}: column {summary.names[constant[0]]!r} is constant; drop it, it carries no signal")
