"""Iterative, causally masked order model: training, inference, metrics, baselines, evaluation.

From Python (the README's "From Python" section shows them at work):

- ``load_model(model="default", device="auto") -> AmortModel``: the shipped model, a checkpoint
  file or a run folder, ready for data.
- ``AmortModel.order(X, names=None, *, constraints=None, chunk_size=None, beam=1, mask=None) -> OrderResult``:
  the causal order of a numpy array, a pandas DataFrame or an iterator of chunks (streamed); ``mask``
  (X's shape, 1 where an intervention set the value) for interventional data;
  ``AmortModel.order_many(datasets, *, constraints=None, chunk_size=None, beam=1, batch_size=16, masks=None)``
  the same for many datasets, those of one shape read together as one batch.
- ``OrderResult``: the order as names and as column indices, causes first, the confidence at
  each position, the rows read.
- ``AmortizedOrder(model="default", prune="lasso", constraints=None)``: a `lingam`-style
  estimator; ``fit(X, mask=None)`` sets ``causal_order_``, ``confidence_`` and ``adjacency_matrix_``
  (lingam's: j's coefficient in i's regression on its parents at [i, j], for lasso pruning);
  ``bootstrap(X, n_sampling, mask=None, seed=0) -> BootstrapResult`` orders row resamples;
  ``estimate_total_effect(X, from_index, to_index)`` as lingam's.
- ``BootstrapResult``: each resample's order (``orders_``) and pruned DAG (``adjacency_matrices_``);
  ``get_precedence_probabilities()`` and lingam's ``get_probabilities(min_causal_effect=None)``,
  ``get_causal_direction_counts(...)`` and ``get_directed_acyclic_graph_counts(...)``: how much the answer moves
  with the rows drawn (not whether it is right).
- ``Constraints(require=..., tiers=..., first=..., last=...)``: prior knowledge that every order
  honours exactly; ``read_tiers(path)`` reads a tiers file.
- ``prune_order(x, order, method="lasso")``: an order to a DAG (i -> j at [i, j]).
- ``evaluate(sources, models, baselines, options, out, ...)``: what `amort eval` runs — every
  method on every dataset into a folder of tables; yields ``Planned``, ``Evaluated`` per dataset,
  then ``Written`` (with the tables); ``EvalOptions`` holds its settings.
- ``InputError``: bad input; a ValueError whose message is one line.

They are imported on first use, so ``import causal_amort`` stays light for the `amort` command.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "load_model": "causal_amort.inference.api",
    "AmortModel": "causal_amort.inference.api",
    "OrderResult": "causal_amort.inference.api",
    "AmortizedOrder": "causal_amort.inference.api",
    "BootstrapResult": "causal_amort.inference.bootstrap",
    "Constraints": "causal_amort.inference.constraints",
    "read_tiers": "causal_amort.inference.constraints",
    "prune_order": "causal_amort.inference.pruning",
    "evaluate": "causal_amort.evaluation.evaluate",
    "EvalOptions": "causal_amort.evaluation.evaluate",
    "InputError": "simulators.core.errors",
}
__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from causal_amort.inference.api import AmortizedOrder, AmortModel, OrderResult, load_model
    from causal_amort.inference.bootstrap import BootstrapResult
    from causal_amort.inference.constraints import Constraints, read_tiers
    from causal_amort.evaluation.evaluate import EvalOptions, evaluate
    from causal_amort.inference.pruning import prune_order
    from simulators.core.errors import InputError


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'causal_amort' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
