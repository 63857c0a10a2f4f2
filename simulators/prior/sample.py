"""Draw one SCM from a spec and sample its data: the function the training loop calls on the fly.

Every draw comes from the ``rng`` argument, in a fixed sequence, so a seed fixes the dataset
bit for bit. Variables are generated in topological order, each vectorized over all samples.
"""
from __future__ import annotations

import numpy as np

from simulators.core.dataset import Dataset
from simulators.core.errors import InputError
from simulators.core.zscore import zscore
from simulators.prior.sortability import r2_sortability, var_sortability
from simulators.prior.spec import Spec, pick

# "perfect": a target's value is redrawn independently of its parents (do); "shift": its mechanism is
# kept and its value moved by the shift (an imperfect, soft intervention that leaves the parents' pull).
INTERVENTION_KINDS = ("perfect", "shift")


def check_intervention_kind(kind: str, name: str = "intervention kind") -> None:
    """InputError unless ``kind`` is one of ``INTERVENTION_KINDS`` (``name``: what the message calls it)."""
    if kind not in INTERVENTION_KINDS:
        raise InputError(f"{name} must be one of {', '.join(INTERVENTION_KINDS)}, got {kind!r}")


def sample_dataset(spec: Spec, d: int, n: int, rng: np.random.Generator, *, interventions: int = 0,
                   standardize: bool = True, name: str = "", intervention_kind: str = "perfect") -> Dataset:
    """One SCM drawn from ``spec`` on d variables and n samples of it.

    ``interventions = K`` picks K distinct random targets; the rows are split at random into K + 1
    near-equal regimes: observational, and one perfect intervention per target (the target's value
    is drawn independently of its parents, from a normal with a mean shifted by 1-3 observational
    standard deviations; ``intervention_kind = "shift"``: its mechanism is kept and its value moved by
    that shift, a soft intervention). ``mask`` marks the intervened cells. ``standardize`` z-scores every
    variable of the returned data; the metadata record var-sortability both of the returned data
    and of the raw scale (``var_sortability_raw``).
    """
    _validate(spec, d, n, interventions, intervention_kind)
    graph_family = pick(spec.graphs, rng)
    upper, graph_info = graph_family.sample(d, rng)
    # order[p] is the variable at causal position p: a random relabeling hides the construction order.
    order = rng.permutation(d)
    graph = np.zeros((d, d), dtype=np.uint8)
    graph[np.ix_(order, order)] = upper
    noise_family = pick(spec.noises, rng)
    noise = noise_family.sample(n, d, rng).T.copy()  # (d, n): one contiguous row per variable
    mixed = bool(rng.random() < spec.mix_prob)
    shared = pick(spec.mechanisms, rng)
    internal = bool(rng.random() < spec.internal_standardize_prob)
    regime, targets, shifts = _intervention_plan(n, d, interventions, rng)

    values = np.empty((d, n))
    kinds = ["root"] * d
    # Overflow is checked once below and reported as one InputError, not as numpy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for j in order:
            parents = np.flatnonzero(graph[:, j])
            if parents.size == 0:
                column = noise[j]
            else:
                family = pick(spec.mechanisms, rng) if mixed else shared
                kinds[j] = family.kind
                column = family.build(parents.size, rng)(values[parents].T, noise[j])
            if internal:
                column = zscore(column)
            if j in targets:
                column = _intervene(column, regime, targets.index(j) + 1, shifts[targets.index(j)], rng,
                                    intervention_kind)
            values[j] = column

    raw = values.T
    if not np.isfinite(raw).all() or (not standardize and np.abs(raw).max() > np.finfo(np.float32).max / 2):
        raise InputError(f"spec {spec.name}: simulated values overflow (d={d}); use smaller linear weights, "
                         "sparser graphs or internal_standardize_prob > 0")
    x = (zscore(raw) if standardize else raw).astype(np.float32)
    mask = None
    if interventions:
        mask = np.zeros((n, d), dtype=bool)
        for k, t in enumerate(targets, start=1):
            mask[regime == k, t] = True
    names = [f"X{i}" for i in range(d)]
    edges = int(graph.sum())
    meta = {
        "preset": spec.name,
        "d": d, "n": n, "edges": edges, "edges_per_var": edges / d,
        "order": order.tolist(),
        "graph": graph_info,
        "mechanism": {"family": "mixed" if mixed else shared.kind, "internal_standardize": internal,
                      **({"per_variable": kinds} if mixed else {})},
        "noise": {"family": noise_family.kind},
        "interventions": [names[t] for t in targets],
        **({"intervention_kind": intervention_kind} if interventions else {}),
        "standardized": standardize,
        "var_sortability": _json_float(var_sortability(x, graph)),
        "var_sortability_raw": _json_float(var_sortability(raw, graph)),
        "r2_sortability": _json_float(r2_sortability(raw, graph)),
    }
    return Dataset(name=name, x=x, graph=graph, names=names, mask=mask, meta=meta)


def dataset_cost(d: int, n: int) -> tuple[float, int]:
    """Rough seconds (one core) and peak bytes of ``sample_dataset`` at d variables and n samples.

    Fitted to the train and test-out presets at d = 50..3200, n = 200..20000: a per-variable
    overhead, the mechanisms (per cell; test-out's cost 5x train's, this sits between) and the
    sortabilities' d x d path solves and pseudo-inverse (d^3); memory is a few float64 copies
    of the data (n x d) and of d x d matrices.
    """
    return 7e-4 * d + 5e-7 * n * d + 4e-10 * d**3, int(8 * (4.5 * n * d + 6.5 * d * d))


def _validate(spec: Spec, d: int, n: int, interventions: int, kind: str = "perfect") -> None:
    spec.check_d(d)
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    if not 0 <= interventions <= d:
        raise InputError(f"interventions must be between 0 and d={d}, got {interventions}")
    check_intervention_kind(kind)


def _intervention_plan(n: int, d: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Regime of each row (0 = observational, i = i-th target), the targets, their mean shifts."""
    if k == 0:
        return np.zeros(n, dtype=np.int64), [], np.zeros(0)
    targets = [int(t) for t in rng.choice(d, size=k, replace=False)]
    regime = rng.permutation(np.arange(n) % (k + 1))
    shifts = rng.uniform(1.0, 3.0, size=k) * np.where(rng.random(k) < 0.5, -1.0, 1.0)
    return regime, targets, shifts


def _intervene(column: np.ndarray, regime: np.ndarray, which: int, shift: float,
               rng: np.random.Generator, kind: str = "perfect") -> np.ndarray:
    """Replace the rows of regime ``which`` by draws from N(mean + shift * sd, sd^2) of the
    observational rows: a perfect intervention, independent of the parents; ``kind = "shift"`` adds
    shift * sd to those rows instead, keeping what the parents and the noise gave them."""
    observed = column[regime == 0] if (regime == 0).sum() >= 2 else column
    mean, sd = observed.mean(), observed.std()
    sd = sd if sd > 0 else 1.0
    rows = regime == which
    column = column.copy()
    if kind == "shift":
        column[rows] += sd * shift
    else:
        column[rows] = mean + sd * (shift + rng.standard_normal(int(rows.sum())))
    return column


def _json_float(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)
