"""A causal order (and optionally a pruned DAG) for one CSV file, streamed in chunks.

The file is read once, in blocks of up to 65,536 rows: they go to the model (through the Python
API's `AmortModel.order`, which cuts them into its chunks) as they are parsed, and a seeded
reservoir sample of rows is kept for pruning, so memory is bounded whatever the file size. Each
variable's standardization is fixed on its values over the whole file (`_standardize_on`), not on
its first rows. With
``read_ahead`` a background thread parses the next blocks while the model sums the current one
(pandas' parser and torch's kernels both release the GIL for much of their work), so on two CPUs
parsing and the statistics overlap.
"""
from __future__ import annotations

import itertools
import queue
import threading
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np

from causal_amort.inference.api import AmortModel
from causal_amort.inference.bootstrap import (RESAMPLES_PER_BATCH, BootstrapResult, bootstrap_orders,
                                              check_n_sampling)
from causal_amort.inference.constraints import Constraints
from causal_amort.inference.dequantize import FEW_VALUES
from causal_amort.inference.pruning import lingam_adjacency, prune_order
from causal_amort.inference.stream import spread_quantiles
from simulators.core.copies import copy_groups
from simulators.core.errors import InputError
from simulators.core.resources import Estimate, check_memory
from simulators.storage.csv_read import (CsvFormat, CsvSummary, ReadProgress, block_rows, check_summary,
                                         read_header, sample_rows, stream_csv)
from simulators.storage.csvio import read_numeric

T = TypeVar("T")


# Columns are checked for exact copies of each other on at most this many of the file's first rows (real
# rows: the standardization rows are order statistics per column, in which any two columns of one shape agree).
COPY_ROWS = 4096


@dataclass
class Prediction:
    """The model's order for a file, causes first, with per-position confidence."""

    names: list[str]
    order: list[str]
    confidence: list[float]
    rows: int
    dropped_rows: int
    edges: list[tuple[str, str]] | None = None
    # With lasso pruning, each edge's coefficient as lingam gives it (`lingam_adjacency`), on the rows pruned on.
    coefficients: list[float] | None = None
    intervened_rows: int = 0  # rows with at least one value set by an intervention (from the mask file)
    # Columns with at most `FEW_VALUES` distinct values among the rows that fixed the standardization:
    # ordinal scales, small counts, flags, which a model trained on continuous values reads poorly.
    few_values: list[str] = field(default_factory=list)
    # Groups of columns that are exact affine copies of each other on the file's first `COPY_ROWS` rows
    # (`copy_groups`): which of a group comes first cannot be told from the data, so their places are arbitrary.
    copies: list[list[str]] = field(default_factory=list)


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


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """The items of ``items``, produced by a background thread at most ``depth`` ahead of the
    consumer. An exception of the producer is raised in the consumer at the point it occurred;
    when the consumer stops early (an error, or it is closed), the thread stops too and the
    source is closed, so no file stays open."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not offer(("item", item)):
                    return
            offer(("done", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(("error", exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()


def _checked(chunks: Iterable[np.ndarray], path: str | Path, summary: CsvSummary, min_rows: int) -> Iterator[np.ndarray]:
    """The chunks, then the checks that need the whole file, before the model sees the end."""
    yield from chunks
    check_summary(path, summary, min_rows=min_rows)


def _standardize_on(path: str | Path, fmt: CsvFormat, first: np.ndarray, whole: bool, rows: int,
                    offsets: np.ndarray | None) -> np.ndarray:
    """Rows from the whole file that fix the standardization (not its first rows: a file sorted by
    time or by a variable, or pooled from conditions): the order statistics of the first parser
    block when that is the ``whole`` file (as the API for the same rows); rows read at evenly
    spaced offsets of a longer uncompressed file (unless fewer than half of the lines read there
    parse, then as for a compressed one); the first block's order statistics for a longer
    compressed file, which cannot be read from the middle. Sampled rows are read less the
    ``offsets`` the stream's values are."""
    if whole:
        return spread_quantiles(first, rows)
    sampled = sample_rows(path, rows, fmt, offsets)
    return spread_quantiles(first, rows) if sampled is None or len(sampled) < rows // 2 else sampled


def _check_mask_rows(mask: str | Path | None, drop_missing: bool) -> None:
    """A mask file and dropped rows do not go together: the rows would part."""
    if mask is not None and drop_missing:
        raise InputError("--mask cannot be combined with --drop-missing: a dropped row would part the "
                         "data from its mask row")


class _MaskBlocks:
    """The mask file's blocks, once its header is checked against the data's ``names``, counting the
    rows in which some value was set by an intervention (``intervened``)."""

    def __init__(self, masks: Iterator[np.ndarray], summary: CsvSummary, names: list[str], path: str | Path):
        self.masks, self.summary, self.names, self.path = masks, summary, names, path
        self.intervened = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for index, block in enumerate(self.masks):
            if index == 0 and self.summary.names != self.names:
                raise InputError(f"{self.path}: its header must be the data's ({', '.join(self.names[:3])}, ...)")
            self.intervened += int((block != 0).any(axis=1).sum())
            yield block


def predict_csv(path: str | Path, model: AmortModel, *, dag: bool = False, prune: str = "lasso",
                drop_missing: bool = False, beam: int = 1, constraints: Constraints | None = None,
                sample_rows: int = 5000, seed: int = 0, fmt: CsvFormat = CsvFormat(),
                on_progress: Callable[[ReadProgress], None] | None = None, read_ahead_blocks: int = 0,
                mask: str | Path | None = None) -> Prediction:
    """Stream ``path`` (read as ``fmt`` says) through ``model`` in its chunks, honouring
    ``constraints``; with ``dag`` also prune the order on a row sample. ``on_progress`` hears how
    far the file has been read. The file is parsed in blocks of up to 65,536 rows (`stream_csv`),
    which the model cuts into its chunks; ``read_ahead_blocks`` > 0 parses up to that many blocks
    ahead in a background thread (`read_ahead`; ``on_progress`` is then called from that thread),
    worth it with a CPU to spare beside torch's threads. ``mask`` is a CSV file of the same header
    and rows (read as ``fmt`` says), 1 where an intervention set the value and 0 elsewhere, streamed
    beside the data."""
    _check_mask_rows(mask, drop_missing)
    summary = CsvSummary(names=[])
    reservoir = Reservoir(sample_rows, np.random.default_rng(seed)) if dag else None
    parsed: Iterator[np.ndarray] = stream_csv(path, None, fmt=fmt, drop_missing=drop_missing, summary=summary,
                                              on_progress=on_progress, offset_columns=True)
    if read_ahead_blocks > 0:
        parsed = read_ahead(parsed, read_ahead_blocks)
    # Closed however the model ends: the file (and a read-ahead thread) go at once, not when the
    # garbage collector finds a traceback's frames.
    with closing(parsed):
        chunks = _checked(_tee(parsed, reservoir), path, summary, model.chunk_size)
        first = next(chunks)  # the header is read by now; an empty file fails its checks here
        whole = len(first) < block_rows(len(summary.names))
        anchor = _standardize_on(path, fmt, first, whole, model.chunk_size, summary.offsets)
        few_values = [name for name, column in zip(summary.names, anchor.T) if len(np.unique(column)) <= FEW_VALUES]
        copies = [[summary.names[j] for j in group] for group in copy_groups(first[:COPY_ROWS]) if len(group) > 1]
        data = itertools.chain([first], chunks)
        intervened = 0
        if mask is None:
            result = model.order(data, summary.names, constraints=constraints, beam=beam, standardize_on=anchor)
        else:
            mask_summary = CsvSummary(names=[])
            with closing(stream_csv(mask, None, fmt=fmt, summary=mask_summary)) as masks:
                blocks = _MaskBlocks(masks, mask_summary, summary.names, mask)
                result = model.order(data, summary.names, constraints=constraints, beam=beam, standardize_on=anchor,
                                     mask=iter(blocks))
                if next(masks, None) is not None:
                    raise InputError(f"{mask}: more rows than {Path(path).name}")
                intervened = blocks.intervened
    names = result.names
    prediction = Prediction(names=names, order=result.order, confidence=[float(c) for c in result.confidence],
                            rows=summary.rows, dropped_rows=summary.dropped, intervened_rows=intervened,
                            few_values=few_values, copies=copies)
    if dag:
        graph = prune_order(reservoir.rows, result.indices, method=prune)
        prediction.edges = [(names[i], names[j]) for i, j in zip(*np.nonzero(graph))]
        if prune == "lasso":
            weights = lingam_adjacency(reservoir.rows, graph, prune)
            prediction.coefficients = [float(weights[j, i]) for i, j in zip(*np.nonzero(graph))]
    return prediction


def check_bootstrap_memory(path: str | Path, n_sampling: int, variables: int) -> None:
    """InputError, before anything is read, when the rows of ``path`` (of ``variables`` columns), a batch of
    their resamples and every resample's DAG would not fit in the memory this process may use (the file's
    size stands for the rows' bytes: a rough guess, low for a compressed file)."""
    size = Path(path).stat().st_size
    dags = n_sampling * variables**2 * np.dtype(np.float64).itemsize
    check_memory("bootstrapping", Estimate(f"{n_sampling} resamples of {Path(path).name}", size,
                                           (2 + RESAMPLES_PER_BATCH) * size + dags, 0.0),
                 "bootstrap fewer rows (a sample of the file)")


def bootstrap_csv(path: str | Path, model: AmortModel, n_sampling: int, *, prune: str | None = None,
                  drop_missing: bool = False, constraints: Constraints | None = None, beam: int = 1,
                  fmt: CsvFormat = CsvFormat(), mask: str | Path | None = None, seed: int = 0,
                  on_progress: Callable[[int], None] | None = None) -> BootstrapResult:
    """`AmortizedOrder.bootstrap` of the rows of ``path`` (read as ``fmt`` says; ``mask`` beside them):
    the orders, and with ``prune`` the pruned DAGs, of ``n_sampling`` row resamples drawn by a generator
    seeded with ``seed``; ``on_progress`` hears how many resamples are done. Unlike `predict_csv` it
    holds every row: a file whose resamples would not fit in memory is refused before it is read."""
    n_sampling = check_n_sampling(n_sampling)
    _check_mask_rows(mask, drop_missing)
    check_bootstrap_memory(path, n_sampling, len(read_header(path, fmt).names))
    summary, values = read_numeric(path, fmt, offset_columns=True, drop_missing=drop_missing)
    check_summary(path, summary, min_rows=model.chunk_size)
    marks = None
    if mask is not None:
        mask_summary, marks = read_numeric(mask, fmt)
        if mask_summary.names != summary.names or marks.shape != values.shape:
            raise InputError(f"{mask}: its header and rows must be the data's ({', '.join(summary.names[:3])}, ...)")
    return bootstrap_orders(model, values, n_sampling, np.random.default_rng(seed), constraints=constraints,
                            beam=beam, mask=marks, prune=prune, on_progress=on_progress)
