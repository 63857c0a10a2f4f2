"""Random DAG families. Each draws an upper-triangular DAG (i -> j only for i < j) from ``rng``;
the sampler then relabels the nodes with a random permutation so that index order says nothing.

Every family is parameterized by the expected number of edges per variable, drawn per graph
from ``edges_per_var``; a d-node DAG has at most (d - 1) / 2 edges per variable.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simulators.core.errors import InputError
from simulators.prior.ranges import Range, check_range, draw, draw_int, stochastic_round


def max_edges_per_var(d: int) -> float:
    """Edges per variable of the complete DAG on d nodes."""
    return (d - 1) / 2


def is_acyclic(graph: np.ndarray) -> bool:
    """True when the directed graph has no cycle (repeatedly strip nodes without parents)."""
    remaining = np.ones(graph.shape[0], dtype=bool)
    adj = graph != 0
    while remaining.any():
        sources = remaining & ~adj[remaining].any(axis=0)
        if not sources.any():
            return False
        remaining &= ~sources
    return True


@dataclass(frozen=True)
class GraphFamily(ABC):
    """A graph family: ``sample`` draws the density, each family the structure (``_dag``)."""

    kind: ClassVar[str]  # the name a spec's ``kind = ...`` selects
    edges_per_var: Range = (1.0, 2.0)

    def __post_init__(self) -> None:
        check_range(self.kind, "edges_per_var", self.edges_per_var, minimum=0.0)

    def check_d(self, d: int) -> None:
        """InputError when no density of the range fits a d-node DAG."""
        if self.edges_per_var[0] > max_edges_per_var(d):
            raise InputError(f"{self.kind}: edges_per_var >= {self.edges_per_var[0]} is impossible for d={d} "
                             f"(a DAG on {d} nodes has at most {max_edges_per_var(d):g} edges per variable)")

    def sample(self, d: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """An upper-triangular bool adjacency (d, d) and the realized parameters (JSON-ready).

        The upper end of ``edges_per_var`` is clipped to what d nodes allow, so that one broad
        prior serves every d; ``check_d`` rejects a range that lies entirely above it.
        """
        self.check_d(d)
        density = float(draw((self.edges_per_var[0], min(self.edges_per_var[1], max_edges_per_var(d))), rng))
        dag, extra = self._dag(d, density, rng)
        return np.triu(dag, k=1), {"family": self.kind, "edges_per_var_target": round(density, 4), **extra}

    @abstractmethod
    def _dag(self, d: int, density: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """A (d, d) bool adjacency with about ``density`` edges per variable (only its upper
        triangle is kept) and the family's realized parameters."""


@dataclass(frozen=True)
class ErdosRenyi(GraphFamily):
    """Every pair i < j is an edge independently with the probability that gives the density."""

    kind: ClassVar[str] = "erdos_renyi"

    def _dag(self, d: int, density: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        p = density / max_edges_per_var(d)
        return rng.random((d, d)) < p, {}


@dataclass(frozen=True)
class ScaleFree(GraphFamily):
    """Preferential attachment (Barabási–Albert): node i links to ~density earlier nodes, chosen with
    probability proportional to degree + 1. ``hubs = "causes"``: edges run from the old (hub)
    node to the new one, so hubs have many children; ``"effects"``: reversed, hubs have many parents."""

    kind: ClassVar[str] = "scale_free"
    hubs: str = "causes"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hubs not in ("causes", "effects"):
            raise InputError(f"scale_free.hubs must be 'causes' or 'effects', got {self.hubs!r}")

    def _dag(self, d: int, density: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        dag = np.zeros((d, d), dtype=bool)
        degree = np.zeros(d)
        for i in range(1, d):
            m = min(i, stochastic_round(density, rng))
            if m == 0:
                continue
            weight = degree[:i] + 1.0
            targets = rng.choice(i, size=m, replace=False, p=weight / weight.sum())
            dag[targets, i] = True
            degree[targets] += 1
            degree[i] += m
        if self.hubs == "effects":
            # Reverse every edge, then reverse the node order so that the DAG stays upper triangular.
            dag = dag.T[::-1, ::-1]
        return dag, {"hubs": self.hubs}


@dataclass(frozen=True)
class WattsStrogatz(GraphFamily):
    """Small world: a ring lattice linking each node to its k nearest successors, each edge rewired
    to a random node with probability drawn from ``rewire``; edges oriented by a random order."""

    kind: ClassVar[str] = "watts_strogatz"
    rewire: Range = (0.05, 0.3)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.kind, "rewire", self.rewire, minimum=0.0, maximum=1.0)

    def _dag(self, d: int, density: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        k = max(1, min(stochastic_round(density, rng), max(1, (d - 1) // 2)))
        beta = float(draw(self.rewire, rng))
        adj = np.zeros((d, d), dtype=bool)
        ring = [(u, (u + off) % d) for off in range(1, k + 1) for u in range(d)]
        for u, v in ring:
            adj[u, v] = adj[v, u] = True
        flips = rng.random(len(ring)) < beta
        for (u, v), flip in zip(ring, flips):
            if not flip:
                continue
            free = np.flatnonzero(~adj[u])
            free = free[free != u]
            if free.size == 0:
                continue
            w = free[rng.integers(free.size)]
            adj[u, v] = adj[v, u] = False
            adj[u, w] = adj[w, u] = True
        # Ring positions are not exchangeable: relabel at random before orienting by index.
        perm = rng.permutation(d)
        relabeled = np.zeros_like(adj)
        relabeled[np.ix_(perm, perm)] = adj
        return relabeled, {"neighbors": k, "rewire": round(beta, 4)}


@dataclass(frozen=True)
class StochasticBlock(GraphFamily):
    """Nodes fall into random blocks; within-block pairs are ``in_out_ratio`` times more likely to
    be linked than across blocks, scaled to the drawn density; oriented by (random) index order."""

    kind: ClassVar[str] = "sbm"
    blocks: Range = (2, 5)
    in_out_ratio: Range = (4.0, 20.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.kind, "blocks", self.blocks, minimum=1, integer=True)
        check_range(self.kind, "in_out_ratio", self.in_out_ratio, minimum=1.0)

    def _dag(self, d: int, density: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        num_blocks = min(draw_int(self.blocks, rng), d)
        ratio = float(draw(self.in_out_ratio, rng))
        labels = rng.integers(num_blocks, size=d)
        same = labels[:, None] == labels[None, :]
        upper = np.triu(np.ones((d, d), dtype=bool), k=1)
        n_in = int((same & upper).sum())
        n_out = int(upper.sum()) - n_in
        target = density * d
        p_out = target / (n_out + ratio * n_in)
        p_in = ratio * p_out
        if p_in > 1.0:  # blocks too small to hold their share: fill them, put the rest across
            p_in, p_out = 1.0, min(1.0, (target - n_in) / max(n_out, 1))
        return rng.random((d, d)) < np.where(same, p_in, p_out), {"blocks": num_blocks, "in_out_ratio": round(ratio, 4)}


@dataclass(frozen=True)
class Geometric(GraphFamily):
    """Random geometric graph: uniform points in the unit cube of ``dim`` dimensions, the closest
    pairs linked (a radius chosen to give the density); oriented by (random) index order."""

    kind: ClassVar[str] = "geometric"
    dim: Range = (2, 3)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.kind, "dim", self.dim, minimum=1, integer=True)

    def _dag(self, d: int, density: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        dim = draw_int(self.dim, rng)
        points = rng.random((d, dim))
        rows, cols = np.triu_indices(d, k=1)
        dist = np.linalg.norm(points[rows] - points[cols], axis=1)
        m = min(stochastic_round(density * d, rng), rows.size)
        chosen = np.argsort(dist, kind="stable")[:m]
        dag = np.zeros((d, d), dtype=bool)
        dag[rows[chosen], cols[chosen]] = True
        return dag, {"dim": dim}


@dataclass(frozen=True)
class Layered(GraphFamily):
    """Layers: the nodes (in index order) cut into ``layers`` contiguous groups of random sizes, and
    each pair from an earlier to a later layer an edge with the probability that gives the density
    (as far as the layers allow); no edges within a layer, as in multi-stage processes."""

    kind: ClassVar[str] = "layered"
    layers: Range = (2, 5)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.kind, "layers", self.layers, minimum=2, integer=True)

    def _dag(self, d: int, density: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        layers = min(draw_int(self.layers, rng), d)
        cuts = np.sort(rng.choice(np.arange(1, d), size=layers - 1, replace=False))
        layer = np.searchsorted(cuts, np.arange(d), side="right")  # layer of each node, 0..layers-1
        across = layer[:, None] < layer[None, :]
        p = min(1.0, density * d / max(int(across.sum()), 1))
        return across & (rng.random((d, d)) < p), {"layers": int(layers)}


GRAPH_FAMILIES: dict[str, type[GraphFamily]] = {
    cls.kind: cls for cls in (ErdosRenyi, ScaleFree, WattsStrogatz, StochasticBlock, Geometric, Layered)
}
