"""Rough time and memory of an evaluation, before it runs (see simulators.core.resources).

Each step's cost is a power law in d and n fitted to measurements on one core of the
development machine (docs/benchmarks.md; d up to 2000 for the models, whose costs are
causal_amort.model.cost's, and 300 for pruning): pruning an order is ~d^3.5; LiNGAM ~d^3, SCORE
~d n^2, NoGAM ~d^2.2 n^2 on their subsampled rows. Slow baselines stop at the time limit.
"""
from __future__ import annotations

from typing import Callable, Sequence

from causal_amort.baselines import BASELINES
from causal_amort.config import RunConfig
from causal_amort.evaluation.evaluate import EvalOptions, ModelRef, curve_chunk_counts, load_cached_model
from causal_amort.model.cost import model_cost
from simulators.core.dataset import Dataset
from simulators.core.resources import Estimate, describe_size

# Seconds on one core for a baseline's fit_order on n rows and d variables.
_BASELINE_SECONDS: dict[str, Callable[[int, int], float]] = {
    "random": lambda n, d: 1e-6 * d,
    "varsort": lambda n, d: 5e-8 * n * d,
    "r2sort": lambda n, d: 5e-8 * n * d + 1.5e-7 * d**3,
    "lingam": lambda n, d: 4e-5 * d**3 * (n / 1000) ** 0.4,
    "score": lambda n, d: 0.04 * d * (n / 1000) ** 2,
    "nogam": lambda n, d: 1.9 * (d / 10) ** 2.2 * (n / 1000) ** 2,
    "intsort": lambda n, d: 5e-9 * n * d * d,  # one pass over the rows per target: 4 ms at d = 20, n = 2000
}
_UNKNOWN_BASELINE = _BASELINE_SECONDS["lingam"]  # a baseline added without a cost model: assume a slow one
_CURVE_FITS = 5  # fast data-reading baselines are also fitted on up to 5 prefixes for the curves
_WORKER_BYTES = 400 * 2**20  # a spawned worker process with torch, scikit-learn and pandas loaded


def prune_seconds(d: int, method: str) -> float:
    """Seconds to prune one order to a DAG (lasso; cam costs a fifth more)."""
    return 2.6e-7 * d**3.5 * (1.2 if method == "cam" else 1.0)


def evaluation_cost(dataset: Dataset, models: Sequence[RunConfig], options: EvalOptions) -> tuple[float, int]:
    """Seconds and peak working bytes of every method on one dataset (orders pruned only against a
    truth); ``models`` the configs of the models evaluated, each decoding at every curve point."""
    n, d = dataset.x.shape
    seconds, peak = 0.0, 0
    for cfg in models:
        decodes = len(curve_chunk_counts(max(1, -(-n // cfg.data.chunk_size)), options.curve_points))
        model_s, model_bytes = model_cost(cfg.model, d, n, decodes, options.beam)
        seconds, peak = seconds + model_s, max(peak, model_bytes)
    rows_slow = min(n, options.baseline_max_n or n)
    for name in options.baselines:
        baseline = BASELINES[name]
        fit = _BASELINE_SECONDS.get(name, _UNKNOWN_BASELINE)
        if baseline.slow:
            fit_s = fit(rows_slow, d)
            seconds += min(fit_s, options.time_limit_s) if options.time_limit_s else fit_s
            peak = max(peak, 32 * rows_slow**2)  # kernel matrices of SCORE and NoGAM
        else:
            seconds += fit(n, d) * (1 + _CURVE_FITS * (dataset.graph is not None and baseline.reads_data))
    if dataset.graph is not None:
        seconds += (len(models) + len(options.baselines)) * prune_seconds(d, options.prune)
    # Baselines and pruning work on float64 copies of the data and d x d matrices.
    return seconds, max(peak, 8 * (3 * n * d + 4 * d * d))


def estimate_eval(items: Sequence[tuple[int, str, Dataset]], models: Sequence[ModelRef], options: EvalOptions,
                  workers: int = 1) -> Estimate:
    """Size, rough time and peak memory of evaluating ``items`` (already in memory) with ``models``
    (loaded, for their chunk size) and ``options.baselines`` over ``workers`` processes."""
    configs = [load_cached_model(ref, options.device)[1] for ref in models]
    costs = [evaluation_cost(ds, configs, options) for _, _, ds in items]
    parallel = max(1, min(workers, len(items)))
    largest = max(costs, key=lambda c: c[1])[1]
    peak = parallel * largest + (parallel * _WORKER_BYTES if workers > 1 else 0)
    ds = [ds for _, _, ds in items]
    size = describe_size(len(ds), (min(x.d for x in ds), max(x.d for x in ds)), (min(x.n for x in ds),
                                                                                 max(x.n for x in ds)))
    methods = len(models) + len(options.baselines)
    data = sum(x.x.nbytes + (x.graph.nbytes if x.graph is not None else 0) for x in ds)
    return Estimate(f"{size}, {methods} method{'s' if methods != 1 else ''}", data, int(peak),
                    sum(c[0] for c in costs) / parallel)
