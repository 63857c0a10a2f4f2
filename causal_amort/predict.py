"""A causal order (and optionally a pruned DAG) for one CSV file, streamed in chunks.

The file is read once: chunks go to the model as they are parsed, and a seeded reservoir
sample of rows is kept for pruning, so memory is bounded whatever the file size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from simulators.csv_read import CsvFormat, CsvSummary, ReadProgress, check_summary, stream_csv
from causal_amort.pruning import prune_order


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


STATS_READ_ROWS = 4096


def predict_csv(path: str | Path, model, chunk_size: int, *, device: str = "cpu", dag: bool = False,
                prune: str = "lasso", drop_missing: bool = False, beam: int = 1, sample_rows: int = 5000,
                seed: int = 0, fmt: CsvFormat = CsvFormat(),
                on_progress: Callable[[ReadProgress], None] | None = None) -> Prediction:
    """Stream ``path`` (read as ``fmt`` says) through ``model``; with ``dag`` also prune the order on
    a row sample. ``on_progress`` hears how far the file has been read."""
    from causal_amort.stream import stream_orders

    summary = CsvSummary(names=[])
    reservoir = Reservoir(sample_rows, np.random.default_rng(seed)) if dag else None
    # A model whose state is a function of its running statistics answers the same for any chunking
    # (up to the standardization its first chunk fixes), so it reads larger blocks: fewer round trips.
    read_rows = chunk_size if model.needs_every_chunk else max(chunk_size, STATS_READ_ROWS)
    chunks = _tee(stream_csv(path, read_rows, fmt=fmt, drop_missing=drop_missing, summary=summary,
                              on_progress=on_progress), reservoir)
    last = None
    for last in stream_orders(model, chunks, device=device, beam=beam, decode_at=lambda k: False):
        pass
    check_summary(path, summary, min_rows=chunk_size)
    assert last is not None  # check_summary guarantees at least one chunk
    names = summary.names
    prediction = Prediction(names=names, order=[names[i] for i in last.order],
                            confidence=[float(c) for c in last.confidence], rows=summary.rows,
                            dropped_rows=summary.dropped)
    if dag:
        graph = prune_order(reservoir.rows, np.asarray(last.order), method=prune)
        prediction.edges = [(names[i], names[j]) for i, j in zip(*np.nonzero(graph))]
    return prediction
