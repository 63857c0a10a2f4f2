"""SCMs in the conventions of NOTEARS's simulator (`notears/utils.py`, Zheng et al. 2018, 2020), the
generator behind much of the continuous-optimization literature's benchmarks.

- Graphs (`simulate_dag`): "ER", an Erdos-Renyi graph with exactly s0 = k d undirected edges,
  oriented along a random order; "SF", Barabasi-Albert preferential attachment, each new node
  sending round(k) edges to earlier ones (so the hubs are effects), relabelled at random.
- Linear SEMs: weights uniform on +-[0.5, 2], additive noise of unit scale: Gaussian,
  exponential, Gumbel or uniform on [-1, 1].
- Nonlinear SEMs, additive N(0, 1) noise: "mlp" (one hidden layer of 100 sigmoid units, weights
  +-[0.5, 2]), "mim" (tanh(X w1) + cos(X w2) + sin(X w3), an index model), "gp" (one GP draw
  over all parents jointly) and "gp-add" (a sum of one GP draw per parent), the GPs with an RBF
  kernel of length scale 1 on the parents' raw values.

NOTEARS returns raw values; the suites (suites.py) standardize them afterwards, as the benchmarks
that followed Reisach et al. (2021) do, so that a variable's scale does not give its position away.
"""
from __future__ import annotations

import networkx as nx
import numpy as np

from simulators.external.gp import additive_gp_draw, gp_draw

GRAPHS = ("ER", "SF")
LINEAR_NOISES = ("gauss", "exp", "gumbel", "uniform")
NONLINEAR = ("mlp", "mim", "gp", "gp-add")


def simulate_dag(d: int, edges_per_var: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    """(d, d) uint8 adjacency, [i, j] = 1 for i -> j, of an "ER" or "SF" DAG with about
    ``edges_per_var`` * d edges, its variables in random order."""
    if kind == "ER":
        pairs = np.transpose(np.triu_indices(d, k=1))
        edges = min(int(round(edges_per_var * d)), len(pairs))
        chosen = pairs[rng.choice(len(pairs), size=edges, replace=False)]
        upper = np.zeros((d, d), dtype=np.uint8)
        upper[chosen[:, 0], chosen[:, 1]] = 1  # i < j: earlier -> later, a random order below
    elif kind == "SF":
        per_node = max(1, int(round(edges_per_var)))
        upper = np.zeros((d, d), dtype=np.uint8)
        in_degree = np.zeros(d)
        for new in range(1, d):
            # Preferential attachment on in-degree (plus one, so a node without edges can be picked).
            weights = in_degree[:new] + 1.0
            targets = rng.choice(new, size=min(per_node, new), replace=False, p=weights / weights.sum())
            upper[targets, new] = 1  # transposed below: the new node is the cause, the old one the effect
            in_degree[targets] += 1
        upper = upper.T.copy()
    else:
        raise ValueError(f"unknown NOTEARS graph {kind!r} (known: {', '.join(GRAPHS)})")
    order = rng.permutation(d)
    graph = np.zeros((d, d), dtype=np.uint8)
    graph[np.ix_(order, order)] = upper
    return graph


def _signed_uniform(rng: np.random.Generator, size) -> np.ndarray:
    """Uniform on [-2, -0.5] U [0.5, 2], NOTEARS's weight range."""
    return rng.uniform(0.5, 2.0, size=size) * rng.choice((-1.0, 1.0), size=size)


def _linear_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "gauss":
        return rng.normal(size=n)
    if kind == "exp":
        return rng.exponential(size=n)
    if kind == "gumbel":
        return rng.gumbel(size=n)
    if kind == "uniform":
        return rng.uniform(-1.0, 1.0, size=n)
    raise ValueError(f"unknown NOTEARS noise {kind!r} (known: {', '.join(LINEAR_NOISES)})")


def _nonlinear(kind: str, parents: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """f(parents) (n,) for parents (n, p), p >= 1."""
    p = parents.shape[1]
    if kind == "mlp":
        hidden = 1.0 / (1.0 + np.exp(-(parents @ _signed_uniform(rng, (p, 100)))))
        return hidden @ _signed_uniform(rng, 100)
    if kind == "mim":
        w1, w2, w3 = (_signed_uniform(rng, p) for _ in range(3))
        return np.tanh(parents @ w1) + np.cos(parents @ w2) + np.sin(parents @ w3)
    if kind == "gp":
        return gp_draw(parents, rng)
    if kind == "gp-add":
        return additive_gp_draw(parents, rng)
    raise ValueError(f"unknown NOTEARS mechanism {kind!r} (known: {', '.join(NONLINEAR)})")


def simulate_sem(graph: np.ndarray, n: int, mechanism: str, rng: np.random.Generator) -> np.ndarray:
    """(n, d) raw samples of the SEM on ``graph``: ``mechanism`` "linear-<noise>" (``LINEAR_NOISES``)
    or one of ``NONLINEAR`` with N(0, 1) noise; variables generated in a topological order."""
    d = graph.shape[0]
    linear = mechanism.startswith("linear-")
    weights = graph * _signed_uniform(rng, (d, d)) if linear else None
    x = np.zeros((n, d))
    for j in nx.lexicographical_topological_sort(nx.from_numpy_array(graph, create_using=nx.DiGraph)):
        parents = np.flatnonzero(graph[:, j])
        if linear:
            x[:, j] = x[:, parents] @ weights[parents, j] + _linear_noise(mechanism.removeprefix("linear-"), n, rng)
            continue
        noise = rng.normal(size=n)
        x[:, j] = noise if parents.size == 0 else _nonlinear(mechanism, x[:, parents], rng) + noise
    return x
