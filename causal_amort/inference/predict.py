"""A causal order (and optionally a pruned DAG) for one CSV file, streamed in chunks.

The file is read once: chunks go to the model (through the Python API's `AmortModel.order`)
as they are parsed, and a seeded reservoir sample of rows is kept for pruning, so memory is
bounded whatever the file size.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from causal_amort.inference.api import AmortModel
from causal_amort.inference.constraints import Constraints
from causal_amort.inference.pruning import prune_order
from simulators.storage.csv_read import CsvFormat, CsvSummary, ReadProgress, check_summary, stream_csv


@dataclass
class Prediction:
    """The model's order for a file, causes first, with per-position confidence."""

    names: list[str]
    order: list[str]
    confidence: list[float]
    rows: int
    dropped_rows: int
    edges: list[tuple[str, str]] | None = None


class Reservoir:
    """A uniform random sample of at most ``size`` rows of a stream (Algorithm R)."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size, self.rng, self.seen = size, rng, 0
        self.rows: np.ndarray | None = None

    def add(self, chunk: np.ndarray) -> None:
        """Offer every row of ``chunk`` to the sample."""
        if self.rows is None:
            self.rows = np.empty((0, chunk.shape[1]), dtype=chunk.dtype)
        take = max(0, min(self.size - len(self.rows), len(chunk)))
        if take:
            self.rows = np.concatenate([self.rows, chunk[:take]])
        rest = chunk[take:]
        if len(rest):
            positions = self.seen + take + np.arange(len(rest))
            slots = self.rng.integers(0, positions + 1)
            for row, slot in zip(rest[slots < self.size], slots[slots < self.size]):
                self.rows[slot] = row
        self.seen += len(chunk)


def _tee(chunks: Iterable[np.ndarray], reservoir: Reservoir | None) -> Iterator[np.ndarray]:
    for chunk in chunks:
        if reservoir is not None:
            reservoir.add(chunk)
        yield chunk


def _checked(chunks: Iterable[np.ndarray], path: str | Path, summary: CsvSummary, min_rows: int) -> Iterator[np.ndarray]:
    """The chunks, then the checks that need the whole file, before the model sees the end."""
    yield from chunks
    check_summary(path, summary, min_rows=min_rows)


def predict_csv(path: str | Path, model: AmortModel, *, dag: bool = False, prune: str = "lasso",
                drop_missing: bool = False, beam: int = 1, constraints: Constraints | None = None,
                sample_rows: int = 5000, seed: int = 0, fmt: CsvFormat = CsvFormat(),
                on_progress: Callable[[ReadProgress], None] | None = None) -> Prediction:
    """Stream ``path`` (read as ``fmt`` says) through ``model`` in its chunks, honouring
    ``constraints``; with ``dag`` also prune the order on a row sample. ``on_progress`` hears how
    far the file has been read."""
    summary = CsvSummary(names=[])
    reservoir = Reservoir(sample_rows, np.random.default_rng(seed)) if dag else None
    chunks = _checked(_tee(stream_csv(path, model.read_rows(), fmt=fmt, drop_missing=drop_missing, summary=summary,
                                      on_progress=on_progress), reservoir), path, summary, model.chunk_size)
    first = next(chunks)  # the header is read by now; an empty file fails its checks here
    result = model.order(itertools.chain([first], chunks), summary.names, constraints=constraints, beam=beam)
    names = result.names
    prediction = Prediction(names=names, order=result.order, confidence=[float(c) for c in result.confidence],
                            rows=summary.rows, dropped_rows=summary.dropped)
    if dag:
        graph = prune_order(reservoir.rows, result.indices, method=prune)
        prediction.edges = [(names[i], names[j]) for i, j in zip(*np.nonzero(graph))]
    return prediction
