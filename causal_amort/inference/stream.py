"""Streaming inference: feed chunks one at a time, get the current order after each.

Only the model's state (d x h) survives between chunks, so memory stays flat however
many rows stream by, and time grows linearly with them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from causal_amort.inference.dequantize import ANCHOR_DRAWS, ROW_DRAWS, Dequantizer
from causal_amort.model.order_model import OrderModel
from causal_amort.runtime.inference_mode import inference
from simulators.core.errors import InputError
from simulators.core.float32 import as_float32, column_offsets


# Rows gathered into one block of sums (see `stream_orders`); also how many rows the Python API reads
# at a time for such a model: larger blocks mean fewer round trips.
GATHER_ROWS = 4096
# Most rows whose order statistics fix the standardization (`spread_quantiles`): as many as a
# parser block of `amort predict`, so that an array and a file agree up to that size.
QUANTILE_ROWS = 1 << 16


@dataclass(frozen=True)
class StreamStep:
    """The model's answer after `n_seen` rows: `order` (d,) causes first, and `confidence`
    (d,), the probability the model gave each pick given the picks before it."""

    n_seen: int
    order: np.ndarray
    confidence: np.ndarray


def spread_rows(n: int, m: int) -> np.ndarray:
    """Indices of min(m, n) rows at evenly spaced positions of n rows, the first and the last among
    them: a sample from every part of the data, whatever order the rows come in."""
    return np.linspace(0, n - 1, min(m, n)).round().astype(np.int64)


def spread_quantiles(x: np.ndarray, m: int) -> np.ndarray:
    """(min(m, n), d): each column's order statistics at the ranks `spread_rows` picks, the columns
    sorted one by one. The standardization reads each column on its own (median, MAD), so these
    rows give each column's centre and spread as all n values do, and they are the same whatever
    order the rows come in (rule v22). Past `QUANTILE_ROWS` rows they are those of the rows at
    evenly spaced positions (sorting 10^6 x 20 values takes 0.7 s, these 65,536 rows 35 ms)."""
    if x.shape[0] > QUANTILE_ROWS:
        x = x[spread_rows(x.shape[0], QUANTILE_ROWS)]
    return np.sort(x, axis=0)[spread_rows(x.shape[0], m)]


def chunk_array(x: np.ndarray, chunk_size: int) -> Iterator[np.ndarray]:
    """Consecutive row blocks of `x` (views, no copy) of `chunk_size` rows; the last may be shorter."""
    if chunk_size < 1:
        raise InputError(f"chunk size must be >= 1, got {chunk_size}")
    for start in range(0, x.shape[0], chunk_size):
        yield x[start : start + chunk_size]


def rechunk(chunks: Iterable[np.ndarray], chunk_size: int) -> Iterator[np.ndarray]:
    """Blocks of `chunk_size` rows (the last may be shorter) from chunks (b, d) of any sizes, each
    checked as `stream_orders` checks its chunks; a chunk of the right size passes unchanged."""
    def checked() -> Iterator[np.ndarray]:
        d = None
        for index, chunk in enumerate(chunks):
            x = checked_rows(chunk, index, d)
            d = x.shape[1]
            # Values not yet float32 go on as they are (checked): `stream_orders` casts them less the
            # offsets that keep every column's digits.
            yield x if np.asarray(chunk).dtype == np.float32 else np.asarray(chunk)

    yield from regroup(checked(), chunk_size)


def regroup(blocks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The rows of ``blocks`` (arrays of any row counts and one dtype) in blocks of ``size`` rows, the
    last one shorter when the rows run out; nothing is checked (`rechunk` checks data chunks first)."""
    if size < 1:
        raise InputError(f"chunk size must be >= 1, got {size}")
    pending: list[np.ndarray] = []
    rows = 0
    for block in blocks:
        pending.append(block)
        rows += block.shape[0]
        while rows >= size:
            whole = pending[0] if len(pending) == 1 else np.concatenate(pending)
            yield whole[:size]
            pending, rows = [whole[size:]], rows - size
    if rows:
        yield np.concatenate(pending)


def check_beam(beam: int) -> None:
    """Refuse a decoder beam width below 1 (1 is greedy decoding)."""
    if beam < 1:
        raise InputError(f"beam must be at least 1 (greedy), got {beam}")


def _ready(model: OrderModel, beam: int, precede: np.ndarray | None, device: torch.device | str) -> torch.Tensor | None:
    """Check the beam, put the model in eval mode and return the constraints as a bool tensor (None
    without): what `stream_orders` and `batch_orders` do before reading any data."""
    check_beam(beam)
    model.ensure_eval()
    return None if precede is None else torch.as_tensor(np.asarray(precede, dtype=bool), device=device)


def stream_orders(
    model: OrderModel,
    chunks: Iterable[np.ndarray],
    *,
    device: torch.device | str,
    beam: int = 1,
    masks: Iterable[np.ndarray] | None = None,
    decode_at: Callable[[int], bool] | None = None,
    precede: np.ndarray | None = None,
    standardize_on: np.ndarray | None = None,
) -> Iterator[StreamStep]:
    """Yield a StreamStep after chunks (b, d) of raw values, in order.

    By default the order is decoded after every chunk. Decoding costs more than reading a
    chunk, so ``decode_at(k)`` (k = chunks read so far) can pick where to decode instead; the
    last chunk is always decoded (one chunk of lookahead tells which is last).
    `masks`, when given, yields one (b, d) bool intervention mask per chunk. ``precede`` (d, d)
    bool, True at [i, j] when i must come before j, is honoured by every order (see
    causal_amort.inference.constraints). The model is put in eval mode and runs under
    `runtime.inference_mode.inference` (no autograd state at all, torch's native CPU kernels).
    For a model whose state follows from its running statistics, the rows ``standardize_on`` (m, d)
    fix each variable's robust standardization (default: the first chunk); only each column's values
    matter, not which row they sit in. A caller that holds all the data should pass
    `spread_quantiles` of it: a file sorted by time, an id or a variable, or concatenated from
    conditions, has first rows that are a narrow slice, and order statistics do not depend on the
    row order at all. With the standardization fixed, any chunking of the same rows gives the same
    orders (up to float rounding). Every chunk is cast to float32 less the `column_offsets` of those
    rows (of the first chunk without them), which keeps the digits of a column far from zero.
    """
    constraint = _ready(model, beam, precede, device)
    mask_iter = iter(masks) if masks is not None else None
    # A model whose state follows from its running statistics needs no network pass on chunks that
    # are not decoded, and its sums are the same for any split of the rows: such chunks are gathered
    # into blocks of up to GATHER_ROWS rows (fewer, larger products), the first chunk alone fixing
    # the standardization as it does chunk by chunk.
    gather = not model.needs_every_chunk
    pending: list[tuple[np.ndarray, np.ndarray | None]] = []
    pending_rows = 0
    memory = None
    n_seen = 0
    chunk_iter = iter(chunks)
    upcoming = next(chunk_iter, None)
    index = 0
    offsets = anchor = spread = draws = None
    # The inference settings hold while the model runs, never across a yield: they are
    # thread-local, and the caller's own code runs between the steps.
    while upcoming is not None:
        chunk, upcoming = upcoming, next(chunk_iter, None)
        if memory is None:
            x = checked_rows(chunk, index, None)
            if gather and standardize_on is not None:
                anchor = checked_rows(standardize_on, "standardize_on", x.shape[1])
            # Columns far from zero lose their digits in float32: every chunk is read less the offsets
            # of the rows that fix the standardization (none for ordinary data).
            offsets = column_offsets(x if anchor is None else anchor)
            if offsets is not None:
                x = checked_rows(chunk, index, None, offsets)
                if anchor is not None:
                    anchor = checked_rows(standardize_on, "standardize_on", x.shape[1], offsets)
            # Discrete columns (model.dequantize_levels) are judged on the same rows, and every row read
            # after is spread over their bins by one generator: any chunking draws the same values.
            spread = _dequantizer(model, x if anchor is None else anchor)
            if spread is not None and anchor is not None:
                anchor = spread.apply32(anchor, np.random.default_rng(ANCHOR_DRAWS))
            draws = np.random.default_rng(ROW_DRAWS)
        else:
            x = checked_rows(chunk, index, memory.state.shape[1], offsets)
        if spread is not None:
            x = spread.apply32(x, draws)
        mask = None
        if mask_iter is not None:
            mask = _as_mask(next(mask_iter, None), x.shape, f"chunk {index}")
        index += 1
        n_seen += x.shape[0]
        decode = upcoming is None or decode_at is None or decode_at(index)
        if decode and constraint is not None and constraint.shape != (x.shape[1],) * 2:
            raise InputError(f"the constraint matrix is {tuple(constraint.shape)}, the data have "
                             f"{x.shape[1]} variables")
        with inference():
            if memory is None:
                memory = model.init_memory(1, x.shape[1], device)
                if gather:
                    memory = model.standardize(memory, torch.from_numpy(x if anchor is None else anchor).to(device)[None])
            if gather:
                pending.append((x, mask))
                pending_rows += x.shape[0]
                if not decode and pending_rows < GATHER_ROWS:
                    continue
                x = pending[0][0] if len(pending) == 1 else np.concatenate([rows for rows, _ in pending])
                if mask is not None:
                    mask = pending[0][1] if len(pending) == 1 else np.concatenate([m for _, m in pending])
                pending, pending_rows = [], 0
            block_mask = None if mask is None else torch.from_numpy(mask).to(device)[None]
            memory = model.advance(memory, torch.from_numpy(x).to(device)[None], block_mask, encode=decode)
            if decode:
                order, confidence = model.decode(memory, beam=beam, precede=constraint)
                step = StreamStep(n_seen, order[0].cpu().numpy(), confidence[0].float().cpu().numpy())
        if decode:
            yield step


def read_rows(model: OrderModel, chunk_size: int) -> int:
    """Rows per block a reader hands the model for chunks of ``chunk_size``: the chunk itself where
    the model needs every chunk, else at least `GATHER_ROWS` (the rows only add to the sums)."""
    return chunk_size if model.needs_every_chunk else max(chunk_size, GATHER_ROWS)


def batch_orders(model: OrderModel, x: np.ndarray, *, device: torch.device | str, chunk_size: int, beam: int = 1,
                 precede: np.ndarray | None = None, standardize_on: np.ndarray | None = None,
                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Orders (B, d), causes first, and their confidences (as `StreamStep`) of B datasets of one
    shape, ``x`` (B, n, d) float32 and already checked, read as one batch: what `stream_orders` gives
    each dataset alone when it decodes after the last chunk only, up to float rounding. Every op then
    serves B datasets, so the per-op cost that dominates one small dataset is shared (about half the
    time per dataset at d = 30 and B = 16, docs/benchmarks.md). ``precede`` (d, d) or (B, d, d) bool
    as in `stream_orders`; ``standardize_on`` (B, m, d) each dataset's rows that fix its
    standardization (default: its first chunk, as there); ``mask`` (B, n, d) bool their intervention
    masks, checked; blocks of `read_rows` rows."""
    constraint = _ready(model, beam, precede, device)
    batch, n, d = x.shape
    if mask is not None:
        mask = _as_mask(mask, x.shape, "the batch")
    rows = read_rows(model, chunk_size)
    x, standardize_on = _dequantized(model, x, standardize_on, chunk_size)
    with inference():
        memory = model.init_memory(batch, d, device)
        if not model.needs_every_chunk:
            anchor = x[:, :chunk_size] if standardize_on is None else standardize_on
            memory = model.standardize(memory, torch.from_numpy(np.ascontiguousarray(anchor)).to(device))
        for start in range(0, n, rows):
            block = torch.from_numpy(np.ascontiguousarray(x[:, start : start + rows])).to(device)
            block_mask = None if mask is None else torch.from_numpy(
                np.ascontiguousarray(mask[:, start : start + rows])).to(device)
            memory = model.advance(memory, block, block_mask, encode=start + rows >= n)
        order, confidence = model.decode(memory, beam=beam, precede=constraint)
    return order.cpu().numpy(), confidence.float().cpu().numpy()


def _dequantizer(model: OrderModel, rows: np.ndarray) -> Dequantizer | None:
    """The bins of the discrete columns of ``rows`` (those that fix the standardization) where the model
    spreads such columns (``model.dequantize_levels``); None where it does not or none is discrete."""
    levels = model.cfg.dequantize_levels
    return Dequantizer.of(rows, levels) if levels else None


def _dequantized(model: OrderModel, x: np.ndarray, standardize_on: np.ndarray | None,
                 chunk_size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` (B, n, d) and ``standardize_on`` (B, m, d) with each dataset's discrete columns spread as
    `stream_orders` spreads them for that dataset alone (the same rows judge them, the same draws)."""
    spreads = [_dequantizer(model, x[b, :chunk_size] if standardize_on is None else standardize_on[b])
               for b in range(x.shape[0])]
    if all(spread is None for spread in spreads):
        return x, standardize_on  # continuous data: no copy
    x = x.copy()
    anchor = None if standardize_on is None else standardize_on.copy()
    for b, spread in enumerate(spreads):
        if spread is not None:
            if anchor is not None:
                anchor[b] = spread.apply32(anchor[b], np.random.default_rng(ANCHOR_DRAWS))
            x[b] = spread.apply32(x[b], np.random.default_rng(ROW_DRAWS))
    return x, anchor


def checked_rows(chunk: np.ndarray, index: int | str, d: int | None, offsets: np.ndarray | None = None) -> np.ndarray:
    """``chunk`` as contiguous float32 rows, checked, each column less its ``offsets`` (d,) when given
    (`simulators.core.float32`); ``index`` names it in messages (a chunk's position, or what the rows
    are for)."""
    x = np.asarray(chunk)
    what = f"chunk {index}" if isinstance(index, int) else index
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise InputError(f"{what} must be a non-empty 2-d array (rows, variables), got shape {x.shape}")
    if d is not None and x.shape[1] != d:
        others = "earlier chunks had" if isinstance(index, int) else "the data have"
        raise InputError(f"{what} has {x.shape[1]} variables, {others} {d}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise InputError(f"{what} must hold real numbers, got dtype {x.dtype}")
    x = as_float32(x, offsets)  # a value past float32's range becomes inf, refused below
    if not np.isfinite(x).all():
        raise InputError(f"{what} holds NaN or infinite values, or values beyond float32's range")
    return x


def checked_dataset(values: np.ndarray, what: str) -> np.ndarray:
    """All the rows of one dataset as the model reads them: `checked_rows`, less the `column_offsets`
    of those rows (none for ordinary data)."""
    x = checked_rows(values, what, None)
    offsets = column_offsets(x)
    return x if offsets is None else checked_rows(values, what, None, offsets)


def _as_mask(mask: np.ndarray | None, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``mask`` checked against the ``shape`` of the data it marks (``what`` names them: "chunk 3")."""
    if mask is None:
        raise InputError(f"the intervention mask ends before the data: none for {what}")
    m = np.asarray(mask)
    if m.shape != shape:
        raise InputError(f"the intervention mask does not match the data: {m.shape} for {what}, which is "
                         f"{shape} (a mask has the data's rows and columns)")
    if m.dtype != np.bool_:
        raise InputError(f"the intervention mask for {what} must be bool, got {m.dtype}")
    return np.ascontiguousarray(m)
