"""The Python API: a trained model that orders the variables of your data, and an estimator in
the style of `lingam` for code that already does ``model.fit(X); model.causal_order_``.

Data are a numpy array (rows, variables), a pandas DataFrame (names from its columns) or an
iterator of such chunks, which is streamed: only the model's state and one chunk are held,
whatever the number of rows. Bad input raises InputError (a ValueError) with a one-line message.
"""
from __future__ import annotations

import itertools
import numbers
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np
import pandas as pd
import torch

from causal_amort.config import RunConfig
from causal_amort.inference.bootstrap import BootstrapResult, bootstrap_orders
from causal_amort.inference.constraints import Constraints, as_constraints, precede_matrix
from causal_amort.model.cost import model_cost
from causal_amort.model.order_model import OrderModel
from causal_amort.inference.pruning import check_prune_method, lingam_adjacency, prune_order
from causal_amort.inference.stream import (batch_orders, checked_dataset, chunk_array, read_rows, rechunk, regroup,
                                           spread_quantiles, stream_orders)
from simulators.core.errors import InputError
from simulators.core.resources import Estimate, check_memory

Data = Union[np.ndarray, pd.DataFrame, Iterator]
ConstraintsLike = Union[Constraints, str, Iterable[str], None]


@dataclass(frozen=True)
class OrderResult:
    """A causal order, causes first: `order` as names and `indices` as column positions;
    `confidence[k]` is the probability the model gave the variable it placed at position k (among
    those the constraints allowed there: its certainty under the training prior, not a calibrated
    chance of being right on data unlike it); `rows` were read."""

    names: list[str]
    order: list[str]
    indices: np.ndarray
    confidence: np.ndarray
    rows: int


class AmortModel:
    """A trained order model, ready for data (see `load_model`).

    `net` is the torch module, `config` the run config it was trained with; it reads data in
    chunks of `chunk_size` rows unless told otherwise.
    """

    def __init__(self, net: OrderModel, config: RunConfig, device: str) -> None:
        self.net, self.config, self.device = net, config, device

    @property
    def chunk_size(self) -> int:
        """Rows per chunk the model was trained on; also the fewest rows it accepts."""
        return self.config.data.chunk_size

    def estimate(self, d: int, n: int = 0, beam: int = 1, batch: int = 1) -> Estimate:
        """Rough seconds on one core and peak memory (`model.cost`) of ordering ``batch`` datasets of ``d``
        variables and ``n`` rows at once (n = 0: the work after the rows are read, one decode)."""
        seconds, peak = model_cost(self.config.model, d, n, beam=beam)
        return Estimate(f"{batch} dataset{'s' if batch > 1 else ''} of {d} variables", 0, batch * peak, batch * seconds)

    def check_memory(self, d: int, beam: int = 1, batch: int = 1) -> None:
        """InputError, before any work, when ordering ``batch`` datasets of ``d`` variables at once on
        the CPU would need more memory than this process may use (`estimate`: about 1.5 kB per d^2
        for the shipped model, 1.7 GB at d = 1000, beside the data). On a GPU its own memory decides."""
        if torch.device(self.device).type != "cpu":
            return
        fewer = "fewer datasets at once (batch_size), " if batch > 1 else ""
        check_memory("ordering", self.estimate(d, beam=beam, batch=batch),
                     f"order {fewer}fewer variables (a subset of the columns), or on a machine with more memory")

    def read_rows(self, chunk_size: int | None = None) -> int:
        """Rows per block the model reads for chunks of `chunk_size` (default: its own)."""
        return read_rows(self.net, self.chunk_size if chunk_size is None else chunk_size)

    def order(self, X: Data, names: Sequence[str] | None = None, *, constraints: ConstraintsLike = None,
              chunk_size: int | None = None, beam: int = 1, standardize_on: np.ndarray | None = None,
              mask: Data | None = None) -> OrderResult:
        """The causal order of the columns of `X`, causes first.

        `names` default to a DataFrame's columns, else X0, X1, ... ``constraints`` is prior
        knowledge that the order honours exactly: a `Constraints`, or ``"A<B"`` strings (A comes
        before B). ``chunk_size`` defaults to the model's; ``beam`` > 1 searches wider than greedy.
        ``standardize_on`` are rows (m, d) that fix each variable's robust standardization; by
        default each column's ``chunk_size`` order statistics at evenly spaced ranks, of an array
        (so its row order does not matter) or of the first block an iterator gives (`read_rows`
        rows: nothing else has been seen). ``mask``, for interventional data, has X's shape (an
        array or DataFrame, or for an iterator of chunks an iterator of chunks of the same shapes),
        1 (True) where an intervention set the value and 0 elsewhere: the model sums intervened rows
        apart from the observational ones (a model with `model.intervention_head` learned to read them).
        """
        size = self.chunk_size if chunk_size is None else int(chunk_size)
        constraints = as_constraints(constraints)  # its form is checked before any data is read
        rows = self.read_rows(size)
        masks = None if mask is None else _mask_blocks(mask, rows, X)
        chunks, d, columns, anchor = _chunks(X, rows, size, anchor=standardize_on is None)
        self.check_memory(d, beam)
        names = _check_names(names if names is not None else columns or [f"X{i}" for i in range(d)], d)
        precede = precede_matrix(constraints, names) if constraints else None
        last = None
        for last in stream_orders(self.net, chunks, device=self.device, beam=beam, precede=precede,
                                  decode_at=lambda k: False, masks=masks,
                                  standardize_on=anchor if standardize_on is None else standardize_on):
            pass
        _check_rows(last.n_seen, size)
        return OrderResult(names=names, order=[names[i] for i in last.order], indices=last.order,
                           confidence=last.confidence, rows=last.n_seen)

    def order_many(self, datasets: Sequence[np.ndarray | pd.DataFrame], *, constraints: ConstraintsLike = None,
                   chunk_size: int | None = None, beam: int = 1, batch_size: int = 16,
                   masks: Sequence[np.ndarray | pd.DataFrame | None] | None = None) -> list[OrderResult]:
        """The causal order of each dataset (arrays or DataFrames, rows x variables), as `order` gives
        it for one (the same orders, up to float rounding). Datasets of one shape are read
        ``batch_size`` at a time as one batch: every op of the model then serves the whole batch,
        which at d = 30, n = 1000 roughly halves the time per dataset (docs/benchmarks.md, session
        28); memory grows with the batch. ``constraints`` hold for every dataset, by its variables'
        names. ``masks``, one per dataset (None for an observational one), as `order`'s ``mask``.
        Every dataset is checked before any is ordered."""
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        size = self.chunk_size if chunk_size is None else int(chunk_size)
        constraints = as_constraints(constraints)
        if masks is not None and len(masks) != len(datasets):
            raise InputError(f"{len(masks)} masks for {len(datasets)} datasets")
        checked, mask_of = [], []
        for index, data in enumerate(datasets):
            x = checked_dataset(_values(data), f"dataset {index}")
            _check_rows(x.shape[0], size)
            checked.append((x, _check_names(_columns(data) or [f"X{i}" for i in range(x.shape[1])], x.shape[1])))
            given = None if masks is None else masks[index]
            mask = None if given is None else _mask_like(given, x.shape, f"dataset {index}: ")
            mask_of.append(mask)
        if checked:
            self.check_memory(max(x.shape[1] for x, _ in checked), beam, min(batch_size, len(checked)))
        by_shape: dict[tuple, list[int]] = {}  # one batch holds datasets of one shape, all with masks or none
        for index, (x, _) in enumerate(checked):
            by_shape.setdefault((*x.shape, mask_of[index] is not None), []).append(index)
        results: list[OrderResult | None] = [None] * len(checked)
        for members in by_shape.values():
            for start in range(0, len(members), batch_size):
                part = members[start : start + batch_size]
                precede = np.stack([precede_matrix(constraints, checked[i][1]) for i in part]) if constraints else None
                part_masks = np.stack([mask_of[i] for i in part]) if mask_of[part[0]] is not None else None
                orders, confidence = batch_orders(
                    self.net, np.stack([checked[i][0] for i in part]), device=self.device, chunk_size=size, beam=beam,
                    precede=precede, standardize_on=np.stack([spread_quantiles(checked[i][0], size) for i in part]),
                    mask=part_masks)
                for row, i in enumerate(part):
                    x, names = checked[i]
                    results[i] = OrderResult(names=names, order=[names[j] for j in orders[row]], indices=orders[row],
                                             confidence=confidence[row], rows=x.shape[0])
        return results


def load_model(model: str | Path = "default", device: str = "auto") -> AmortModel:
    """The shipped model ("default"), a checkpoint file or a run folder, on `device` (auto, cpu,
    cuda[:N]); in eval mode."""
    from causal_amort.model.checkpoint import load_model as load_checkpoint
    from causal_amort.runtime.devices import resolve_device

    dev = resolve_device(device)
    net, cfg = load_checkpoint(model, dev)
    return AmortModel(net, cfg, dev)


class AmortizedOrder:
    """Estimator in `lingam`'s style: ``AmortizedOrder().fit(X)`` sets

    - ``causal_order_``: list of column indices, causes first;
    - ``confidence_``: (d,) the model's probability of each pick (see OrderResult);
    - ``adjacency_matrix_``: (d, d) float, the order pruned to a DAG (``prune`` = "lasso" or "cam",
      None to skip), as lingam's: ``adjacency_matrix_[i, j]`` is nonzero when j -> i, and holds j's
      least-squares coefficient in the regression of i on its parents (lasso; 1.0 for cam, whose
      fits are not linear);
    - ``feature_names_in_``: the variables' names (a DataFrame's columns, else X0, X1, ...);

    ``bootstrap(X, n_sampling)`` gives the orders and DAGs of row resamples (`BootstrapResult`), and
    ``estimate_total_effect(X, from_index, to_index)`` a total effect under the fitted DAG.

    ``model`` is "default", a checkpoint or run folder, or an `AmortModel` from `load_model`.
    """

    def __init__(self, model: str | Path | AmortModel = "default", prune: str | None = "lasso",
                 constraints: ConstraintsLike = None, *, device: str = "auto", beam: int = 1,
                 chunk_size: int | None = None) -> None:
        self.model, self.prune, self.constraints = model, prune, constraints
        self.device, self.beam, self.chunk_size = device, beam, chunk_size

    def fit(self, X: np.ndarray | pd.DataFrame, y: object = None, *,
            mask: np.ndarray | pd.DataFrame | None = None) -> AmortizedOrder:
        """Order (and prune) the columns of `X`, a numpy array or DataFrame; `y` is ignored. ``mask``
        (X's shape, 1 where an intervention set the value) marks interventional rows for the order
        (`AmortModel.order`); the pruning regresses on all rows."""
        values, names, model = self._ready("fit", X)
        result = model.order(values, names, constraints=self.constraints, chunk_size=self.chunk_size, beam=self.beam,
                             mask=mask)
        self.causal_order_ = [int(i) for i in result.indices]
        self.confidence_ = result.confidence
        self.feature_names_in_ = np.asarray(result.names, dtype=object)
        if self.prune is not None:
            graph = prune_order(values, result.indices, method=self.prune)
            self.adjacency_matrix_ = lingam_adjacency(values, graph, self.prune)
        return self

    def bootstrap(self, X: np.ndarray | pd.DataFrame, n_sampling: int, *,
                  mask: np.ndarray | pd.DataFrame | None = None, seed: int = 0) -> BootstrapResult:
        """As lingam's ``bootstrap``: the order (and the pruned DAG, unless ``prune`` is None) of
        ``n_sampling`` resamples of the rows of `X`, drawn with replacement by a generator seeded with
        ``seed``; ``mask`` is resampled with the rows. The fitted attributes are left as they are. The
        shares say how much the answer moves with the rows, not that it is right (`BootstrapResult`)."""
        values, _, model = self._ready("bootstrap", X)
        if mask is not None:
            mask = _mask_like(mask, values.shape)
        return bootstrap_orders(model, values, n_sampling, np.random.default_rng(seed), constraints=self.constraints,
                                chunk_size=self.chunk_size, beam=self.beam, mask=mask, prune=self.prune)

    def estimate_total_effect(self, X: np.ndarray | pd.DataFrame, from_index: int, to_index: int) -> float:
        """As lingam's: the total effect of column ``from_index`` on column ``to_index`` of `X` under the
        fitted DAG, the coefficient of ``from_index`` in the least-squares regression of ``to_index`` on it
        and its parents in ``adjacency_matrix_`` (a back-door adjustment; linear, whatever ``prune``). As
        lingam's, it warns (RuntimeWarning) when the fitted order places ``to_index`` first: the number is
        then no effect under that order."""
        if getattr(self, "adjacency_matrix_", None) is None:
            raise InputError("estimate_total_effect needs the fitted DAG: call fit(X) first, with prune set")
        values = _frame_values(X) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=np.float64)
        d = self.adjacency_matrix_.shape[0]
        if values.ndim != 2 or values.shape[1] != d or values.shape[0] < 2:
            raise InputError(f"X must hold rows of the {d} variables it was fitted on, got shape {values.shape}")
        if not np.isfinite(values).all():
            raise InputError("X holds NaN or infinite values")
        for name, index in (("from_index", from_index), ("to_index", to_index)):
            if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not 0 <= index < d:
                raise InputError(f"{name} must be a column index from 0 to {d - 1}, got {index!r}")
        if from_index == to_index:
            raise InputError(f"from_index and to_index are both {from_index}: a variable's effect on itself")
        if self.causal_order_.index(from_index) > self.causal_order_.index(to_index):
            warnings.warn(f"the fitted order places {to_index} (to_index) before {from_index} (from_index): the "
                          "estimate is not a causal effect under it", RuntimeWarning, stacklevel=2)
        predictors = [int(from_index), *np.flatnonzero(self.adjacency_matrix_[from_index])]
        design = np.c_[values[:, predictors], np.ones(values.shape[0])]
        return float(np.linalg.lstsq(design, values[:, to_index], rcond=None)[0][0])

    def _ready(self, what: str, X: np.ndarray | pd.DataFrame) -> tuple[np.ndarray, list[str] | None, AmortModel]:
        """`X`'s values and names (a DataFrame's columns) and the model, once the settings are checked."""
        if self.prune is not None:
            check_prune_method(self.prune)
        if isinstance(X, Iterator):
            raise InputError(f"{what} needs the data as an array or DataFrame (pruning reads them); "
                             "to stream chunks use load_model(...).order(chunks)")
        values = _frame_values(X) if isinstance(X, pd.DataFrame) else np.asarray(X)
        names = _check_names(X.columns, values.shape[1]) if isinstance(X, pd.DataFrame) else None
        model = self.model if isinstance(self.model, AmortModel) else load_model(self.model, self.device)
        return values, names, model


def _chunks(X: Data, rows: int, min_rows: int, anchor: bool = True) -> tuple[Iterator[np.ndarray], int,
                                                                            list[str] | None, np.ndarray | None]:
    """Blocks of `rows` rows, the number of variables, the column names a DataFrame gives, and, when
    ``anchor`` asks (the caller gave no rows of its own), `min_rows` rows to standardize on
    (`spread_quantiles` of an array, or of an iterator's first block; None for an array that
    `stream_orders` refuses as it reads it: not numbers, or a non-finite value, which sorts to a
    first or last rank and so shows in the quantiles)."""
    if isinstance(X, Iterator):
        first = next(X, None)
        if first is None:
            raise InputError("no data: the iterator of chunks is empty")
        blocks = rechunk(map(_values, itertools.chain([first], X)), rows)
        head = next(blocks)  # rechunk checks every chunk; this one has at least one row
        return (itertools.chain([head], blocks), head.shape[1], _columns(first),
                spread_quantiles(head, min_rows) if anchor else None)
    values = _values(X)
    if values.ndim != 2:
        raise InputError(f"the data must be 2-d (rows, variables), got shape {values.shape}")
    _check_rows(values.shape[0], min_rows)
    rows_on = spread_quantiles(values, min_rows) if anchor and np.issubdtype(values.dtype, np.number) else None
    if rows_on is not None and not np.isfinite(rows_on).all():
        rows_on = None  # the chunk that holds the value is named by `stream_orders`
    return chunk_array(values, rows), values.shape[1], _columns(X), rows_on


def _mask_blocks(mask: Data, rows: int, X: Data) -> Iterator[np.ndarray]:
    """An intervention mask in bool blocks of ``rows`` rows, the blocks the data ``X`` are read in
    (`stream_orders` checks each against its block): an array or DataFrame of X's shape for X given
    whole, an iterator of chunks for X streamed in chunks; only 0 and 1 (or bools) are accepted."""
    streamed = isinstance(X, Iterator)
    if streamed != isinstance(mask, Iterator):
        raise InputError("the mask must come as the data do: an array or DataFrame for an array or "
                         "DataFrame, an iterator of chunks for an iterator of chunks")
    if streamed:  # cut where the data are cut
        return regroup(_mask_chunks(mask), rows)
    return chunk_array(_mask_like(mask, np.shape(X)), rows)


def _mask_chunks(masks: Iterator) -> Iterator[np.ndarray]:
    """Mask chunks as bool, each 2-d with the first one's columns (`stream_orders` then checks each
    block against its data block)."""
    width = None
    for index, mask in enumerate(masks):
        m = _mask_values(mask)
        if m.ndim != 2 or (width is not None and m.shape[1] != width):
            raise InputError(f"mask chunk {index} has shape {m.shape}; the mask's chunks must be 2-d with "
                             "the data's columns")
        width = m.shape[1]
        yield m


def _mask_like(mask: object, shape: tuple[int, ...], what: str = "") -> np.ndarray:
    """A whole mask as bool, refused unless it has the data's ``shape`` (``what`` names the data)."""
    m = _mask_values(mask)
    if m.shape != shape:
        raise InputError(f"{what}the mask has shape {m.shape}, the data {shape}")
    return m


def _mask_values(mask: object) -> np.ndarray:
    """A mask chunk as bool; a value other than 0 / 1 (or True / False) is refused."""
    m = _values(mask)
    if m.dtype != np.bool_:
        if not np.issubdtype(m.dtype, np.number) or not np.isin(m, (0, 1)).all():
            raise InputError("the intervention mask must hold only 0 and 1 (1 where an intervention set the value)")
        m = m.astype(bool)
    return m


def _values(chunk: object) -> np.ndarray:
    return _frame_values(chunk) if isinstance(chunk, pd.DataFrame) else np.asarray(chunk)


def _columns(chunk: object) -> list[str] | None:
    return [str(c) for c in chunk.columns] if isinstance(chunk, pd.DataFrame) else None


def _frame_values(frame: pd.DataFrame) -> np.ndarray:
    """A DataFrame's values as float64 (the readers cast to float32 less each far column's offset, which
    needs the digits; the pruning regresses on them); a non-numeric column is refused by name."""
    for name, dtype in frame.dtypes.items():
        if not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)):
            raise InputError(f"column {name!r} is not numeric ({dtype})")
    return frame.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_names(names: Sequence[str], d: int) -> list[str]:
    names = [str(n) for n in names]
    if len(names) != d:
        raise InputError(f"{len(names)} names for {d} variables")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"duplicate variable name {name!r}")
        seen.add(name)
    return names


def _check_rows(rows: int, size: int) -> None:
    if rows < size:
        raise InputError(f"{rows} row{'' if rows == 1 else 's'}, but the model needs at least {size} "
                         "(one chunk; chunk_size sets another)")
