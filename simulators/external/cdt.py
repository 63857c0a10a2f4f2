"""SCMs in the conventions of the Causal Discovery Toolbox's `AcyclicGraphGenerator` (cdt 0.6,
`cdt/data/acyclic_graph_generator.py` and `causal_mechanisms.py`, Kalainathan et al. 2020).

- Graph ("default"): variable j (in generation order) takes a uniform number of parents in
  0..min(5, j) among the variables before it.
- Roots: a mixture of four Gaussians, means 2 N(0, 1) and weights uniform, normalized. (cdt sets
  the mixture's `covars_`, which scikit-learn's GaussianMixture no longer reads, so its spreads are
  those of a four-component fit to standard normal data; here each component's standard deviation
  is uniform on [0.3, 0.7], about what such a fit gives.)
- Noise of each variable: 0.4 (u N(0, 1) + c), u uniform on [0, 1] and c = +-2: not centred.
- Mechanisms: "linear" (weights uniform on [0, 1], additive noise); "polynomial" (per parent a
  quadratic with coefficients uniform on [0, 1], clipped to [-1, 1], summed; the noise multiplies
  the sum with probability 1/2, else adds); "sigmoid_add" (per parent a b (x + c) / (1 + |b (x + c)|)
  with a = 1 + Exp(1/4), b = +-U[0.5, 2], c = U[-2, 2]; cdt adds the noise once per parent and once
  more, kept here); "sigmoid_mix" (the same sigmoid of the parents' sum plus the noise);
  "gp_add" (a GP draw per parent plus the noise); "gp_mix" (one GP draw over the parents and the
  noise jointly); "nn" (a tanh network with 20 hidden units over the parents and the noise, in
  torch's default initialization: weights and biases uniform on +-1 / sqrt(fan in)).
- Every variable is standardized right after it is generated (cdt's ``rescale=True``), so children
  see standardized parents.

cdt labels the variables in generation order (each one's parents come before it); the suites
(suites.py) shuffle the columns, so that a method cannot read the order off the column positions.
"""
from __future__ import annotations

import numpy as np

from simulators.core.zscore import zscore
from simulators.external.gp import additive_gp_draw, gp_draw

MECHANISMS = ("linear", "polynomial", "sigmoid_add", "sigmoid_mix", "gp_add", "gp_mix", "nn")
PARENTS_MAX = 5
NOISE_COEFF = 0.4


def simulate_dag(d: int, rng: np.random.Generator) -> np.ndarray:
    """(d, d) uint8 adjacency of cdt's "default" DAG, in generation order (upper triangular)."""
    graph = np.zeros((d, d), dtype=np.uint8)
    for j in range(1, d):
        parents = rng.choice(j, size=int(rng.integers(0, min(PARENTS_MAX, j) + 1)), replace=False)
        graph[parents, j] = 1
    return graph


def _root(n: int, rng: np.random.Generator) -> np.ndarray:
    weights = rng.random(4)
    component = rng.choice(4, size=n, p=weights / weights.sum())
    means, spreads = 2.0 * rng.normal(size=4), rng.uniform(0.3, 0.7, size=4)
    return means[component] + spreads[component] * rng.normal(size=n)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return NOISE_COEFF * (rng.random() * rng.normal(size=n) + rng.choice((-2.0, 2.0)))


def _sigmoid_parameters(rng: np.random.Generator) -> tuple[float, float, float]:
    a = 1.0 + rng.exponential(0.25)
    b = rng.uniform(0.5, 2.0) * rng.choice((-1.0, 1.0))
    return a, b, rng.uniform(-2.0, 2.0)


def _sigmoid(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a * b * (x + c) / (1.0 + np.abs(b * (x + c)))


def _tanh_network(inputs: np.ndarray, rng: np.random.Generator, hidden: int = 20) -> np.ndarray:
    def layer(fan_in: int, fan_out: int) -> tuple[np.ndarray, np.ndarray]:
        bound = fan_in ** -0.5
        return rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out)

    w1, b1 = layer(inputs.shape[1], hidden)
    w2, b2 = layer(hidden, 1)
    return (np.tanh(inputs @ w1 + b1) @ w2 + b2)[:, 0]


def _mechanism(kind: str, parents: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The effect (n,) of standardized ``parents`` (n, p), p >= 1, noise included."""
    n, p = parents.shape
    noise = _noise(n, rng)
    if kind == "linear":
        return parents @ rng.random(p) + noise
    if kind == "polynomial":
        coefficients = rng.random((p, 3))
        total = sum(np.clip(coefficients[k, 0] + coefficients[k, 1] * parents[:, k] + coefficients[k, 2]
                            * parents[:, k] ** 2, -1.0, 1.0) for k in range(p))
        return total * noise if rng.random() < 0.5 else total + noise
    if kind == "sigmoid_add":
        a, b, c = _sigmoid_parameters(rng)
        return _sigmoid(parents, a, b, c).sum(axis=1) + (p + 1) * noise
    if kind == "sigmoid_mix":
        a, b, c = _sigmoid_parameters(rng)
        return _sigmoid(parents.sum(axis=1) + noise, a, b, c)
    if kind == "gp_add":
        return additive_gp_draw(parents, rng) + noise
    if kind == "gp_mix":
        return gp_draw(np.column_stack([parents, noise]), rng)
    if kind == "nn":
        return _tanh_network(np.column_stack([parents, noise]), rng)
    raise ValueError(f"unknown cdt mechanism {kind!r} (known: {', '.join(MECHANISMS)})")


def simulate(graph: np.ndarray, n: int, mechanism: str, rng: np.random.Generator) -> np.ndarray:
    """(n, d) standardized samples on cdt's DAG ``graph`` (generation order: upper triangular),
    every non-root variable by ``mechanism`` (``MECHANISMS``)."""
    d = graph.shape[0]
    x = np.zeros((n, d))
    for j in range(d):
        parents = np.flatnonzero(graph[:, j])
        column = _root(n, rng) if parents.size == 0 else _mechanism(mechanism, x[:, parents], rng)
        x[:, j] = zscore(column[:, None])[:, 0]
    return x
