"""Bootstrap of an order, in lingam's shape: the order (and its pruned DAG) of row resamples.

The shares it gives say how much the answer moves with the rows drawn, not whether it is right:
a model wrong in the same way on every resample (data unlike its training prior) agrees with itself.
The model card ("Bootstrap stability") has how often the pairs that every resample agreed on were right.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from causal_amort.inference.pruning import lingam_adjacency, prune_order
from simulators.core.errors import InputError

if TYPE_CHECKING:
    from causal_amort.inference.api import AmortModel, ConstraintsLike

# Resamples ordered at a time (`AmortModel.order_many`'s batch): memory stays that many copies of the data.
RESAMPLES_PER_BATCH = 16


@dataclass(frozen=True)
class BootstrapResult:
    """What `AmortizedOrder.bootstrap` found on ``n_sampling`` row resamples, each drawn with
    replacement and as many rows as the data:

    - ``orders_`` (n_sampling, d): each resample's causal order as column indices, causes first;
    - ``adjacency_matrices_`` (n_sampling, d, d) float, each order pruned to a DAG, as the estimator's
      ``adjacency_matrix_`` (nonzero at [i, j] when j -> i), or None when the estimator does not prune;
    - ``resampled_indices_`` (n_sampling, n): the rows each resample drew."""

    orders_: np.ndarray
    adjacency_matrices_: np.ndarray | None
    resampled_indices_: np.ndarray

    def get_precedence_probabilities(self) -> np.ndarray:
        """(d, d): at [i, j], the share of resamples whose order places i before j."""
        position = np.argsort(self.orders_, axis=1)  # position[s, i]: where resample s placed i
        return (position[:, :, None] < position[:, None, :]).mean(axis=0)

    def get_probabilities(self, min_causal_effect: float | None = None) -> np.ndarray:
        """(d, d), as lingam's: at [i, j], the share of resamples whose pruned DAG has j -> i with a
        coefficient larger in size than ``min_causal_effect`` (None: any edge)."""
        return (self._edges(min_causal_effect, signed=False) != 0).mean(axis=0)

    def get_causal_direction_counts(self, n_directions: int | None = None, min_causal_effect: float | None = None,
                                    split_by_causal_effect_sign: bool = False) -> dict[str, list[int]]:
        """As lingam's: the edges j -> i found in any resample's DAG (coefficient larger in size than
        ``min_causal_effect``), most frequent first (ties by effect, then cause), at most ``n_directions``,
        as ``{"from": [j, ...], "to": [i, ...], "count": [...]}``; with ``split_by_causal_effect_sign`` an
        edge's positive and negative coefficients are counted apart and ``"sign"`` (+1 / -1) is added."""
        edges = self._edges(min_causal_effect, split_by_causal_effect_sign)
        limit = _check_top("n_directions", n_directions)
        sample, to, cause = np.nonzero(edges)
        keys = np.stack([to, cause, edges[sample, to, cause]], axis=1)
        found, counts = np.unique(keys, axis=0, return_counts=True)
        top = np.argsort(-counts, kind="stable")[:limit]
        result = {"from": found[top, 1].tolist(), "to": found[top, 0].tolist(), "count": counts[top].tolist()}
        if split_by_causal_effect_sign:
            result["sign"] = found[top, 2].tolist()
        return result

    def get_directed_acyclic_graph_counts(self, n_dags: int | None = None, min_causal_effect: float | None = None,
                                          split_by_causal_effect_sign: bool = False) -> dict[str, list]:
        """As lingam's: the distinct DAGs among the resamples (edges as in `get_causal_direction_counts`),
        most frequent first, at most ``n_dags``, as ``{"dag": [{"from": [...], "to": [...]}, ...], "count":
        [...]}``, each DAG with ``"sign"`` too when ``split_by_causal_effect_sign``."""
        edges = self._edges(min_causal_effect, split_by_causal_effect_sign)
        limit = _check_top("n_dags", n_dags)
        found, counts = np.unique(edges, axis=0, return_counts=True)
        top = np.argsort(-counts, kind="stable")[:limit]
        dags = []
        for dag in found[top]:
            to, cause = np.nonzero(dag)
            dags.append({"from": cause.tolist(), "to": to.tolist()}
                        | ({"sign": dag[to, cause].tolist()} if split_by_causal_effect_sign else {}))
        return {"dag": dags, "count": counts[top].tolist()}

    def _edges(self, min_causal_effect: float | None, signed: bool) -> np.ndarray:
        """(n_sampling, d, d) int: 1 (or the coefficient's sign, when ``signed``) where a resample's DAG has an
        edge with a coefficient larger in size than ``min_causal_effect``, else 0."""
        if self.adjacency_matrices_ is None:
            raise InputError("no DAGs to count: the estimator was made with prune=None")
        if min_causal_effect is None:
            min_causal_effect = 0.0
        elif isinstance(min_causal_effect, bool) or not isinstance(min_causal_effect, numbers.Real) \
                or not min_causal_effect >= 0:
            raise InputError(f"min_causal_effect must be a number of at least 0, got {min_causal_effect!r}")
        kept = np.abs(self.adjacency_matrices_) > min_causal_effect
        return np.sign(self.adjacency_matrices_).astype(np.int64) * kept if signed else kept.astype(np.int64)


def _check_top(name: str, value: object) -> int | None:
    """``value`` (None: all) as a count of top items, refused unless a whole number of at least 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(f"{name} must be an integer greater than 0, got {value!r}")
    return int(value)


def check_n_sampling(n_sampling: object) -> int:
    """``n_sampling`` as an int, refused unless it is a whole number of at least 1."""
    if isinstance(n_sampling, bool) or not isinstance(n_sampling, numbers.Integral) or n_sampling < 1:
        raise InputError(f"n_sampling must be an integer greater than 0, got {n_sampling!r}")
    return int(n_sampling)


def bootstrap_orders(model: AmortModel, values: np.ndarray, n_sampling: int, rng: np.random.Generator, *,
                     constraints: ConstraintsLike = None, chunk_size: int | None = None, beam: int = 1,
                     mask: np.ndarray | None = None, prune: str | None = None,
                     on_progress: Callable[[int], None] | None = None) -> BootstrapResult:
    """The orders (and, with ``prune``, the pruned DAGs) of ``n_sampling`` resamples of the rows of
    ``values`` (n, d), drawn by ``rng``; ``mask`` (n, d), if any, is resampled with them. Resamples
    of one group are read as one batch; ``on_progress`` hears how many are done after each group."""
    n_sampling = check_n_sampling(n_sampling)
    if values.ndim != 2 or values.shape[0] == 0:
        raise InputError(f"the data must be 2-d (rows, variables) with rows, got shape {values.shape}")
    n, d = values.shape
    indices = rng.integers(0, n, size=(n_sampling, n))
    orders = np.empty((n_sampling, d), dtype=np.int64)
    dags = None if prune is None else np.empty((n_sampling, d, d), dtype=np.float64)
    for start in range(0, n_sampling, RESAMPLES_PER_BATCH):
        rows = indices[start : start + RESAMPLES_PER_BATCH]
        results = model.order_many([values[r] for r in rows], constraints=constraints, chunk_size=chunk_size,
                                   beam=beam, batch_size=RESAMPLES_PER_BATCH,
                                   masks=None if mask is None else [mask[r] for r in rows])
        for k, (r, result) in enumerate(zip(rows, results)):
            orders[start + k] = result.indices
            if dags is not None:
                graph = prune_order(values[r], result.indices, method=prune)
                dags[start + k] = lingam_adjacency(values[r], graph, prune)
        if on_progress is not None:
            on_progress(start + len(rows))
    return BootstrapResult(orders_=orders, adjacency_matrices_=dags, resampled_indices_=indices)
