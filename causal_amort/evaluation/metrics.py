"""Scores of a causal order and of a DAG against the true graph.

Convention everywhere: ``graph[i, j] != 0`` means the edge i -> j; an order is an array of
variable indices, causes first. Edge weights are ignored, only the support counts.
"""
from __future__ import annotations

import numpy as np

# Strongly connected components up to this size get the exact minimum (2^k subsets, ~1 s at 20).
EXACT_MIN_NODES = 20


def check_order(order: np.ndarray, d: int) -> np.ndarray:
    """Return ``order`` as an int64 array after checking that it is a permutation of range(d)."""
    arr = np.asarray(order)
    if arr.ndim != 1 or arr.shape[0] != d or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"an order must be a 1-D integer array of length {d}, got shape {arr.shape} {arr.dtype}")
    arr = arr.astype(np.int64)
    if not np.array_equal(np.sort(arr), np.arange(d)):
        raise ValueError(f"order is not a permutation of range({d}): {arr.tolist()}")
    return arr


def _support(graph: np.ndarray, d: int | None = None) -> np.ndarray:
    """Boolean adjacency of a square graph without self-loops."""
    g = np.asarray(graph)
    if g.ndim != 2 or g.shape[0] != g.shape[1] or (d is not None and g.shape[0] != d):
        want = f"({d}, {d})" if d is not None else "square"
        raise ValueError(f"graph must be {want}, got shape {g.shape}")
    g = g != 0
    if g.diagonal().any():
        raise ValueError("graph has self-loops; a DAG has none")
    return g


def order_divergence(order: np.ndarray, graph: np.ndarray) -> int:
    """D_top: number of true edges i -> j that the order contradicts (j placed before i)."""
    g = _support(graph)
    order = check_order(order, g.shape[0])
    pos = np.empty_like(order)
    pos[order] = np.arange(order.shape[0])
    causes, effects = np.nonzero(g)
    return int(np.count_nonzero(pos[effects] < pos[causes]))


def frac_reversed(order: np.ndarray, graph: np.ndarray) -> float:
    """D_top as a fraction of the number of true edges; NaN when the graph has no edges."""
    n_edges = int(np.count_nonzero(_support(graph)))
    if n_edges == 0:
        return float("nan")
    return order_divergence(order, graph) / n_edges


def min_reversed(graph: np.ndarray) -> tuple[int, bool]:
    """The fewest true edges that any order reverses (a minimum feedback arc set), and whether
    that number is exact; 0 for a DAG.

    Edges between strongly connected components can all point forward, so the minimum is the
    sum over components. It is exact (dynamic programming over subsets) for components of up
    to EXACT_MIN_NODES nodes; a larger component contributes the reversals of the greedy order
    of Eades, Lin & Smyth (1993), an upper bound on its minimum (then ``exact`` is False).
    """
    g = _support(graph)
    from scipy.sparse import csr_matrix  # scipy where used: it would cost every CLI start-up
    from scipy.sparse.csgraph import connected_components

    count, labels = connected_components(csr_matrix(g), directed=True, connection="strong")
    total, exact = 0, True
    for label in np.flatnonzero(np.bincount(labels, minlength=count) > 1):
        members = np.flatnonzero(labels == label)
        sub = g[np.ix_(members, members)]
        if members.size <= EXACT_MIN_NODES:
            total += _exact_min_reversed(sub)
        else:
            total += order_divergence(_sifted(_greedy_order(sub), sub), sub)
            exact = False
    return total, exact


def _exact_min_reversed(g: np.ndarray) -> int:
    """Minimum feedback arc set of a small graph: best[S] is the fewest reversals among the
    nodes of S when S is placed first; placing v last in S reverses v's edges into the rest of S."""
    k = g.shape[0]
    states = np.arange(1 << k, dtype=np.int64)
    size = np.bitwise_count(states)
    by_size = np.argsort(size, kind="stable")
    starts = np.searchsorted(size[by_size], np.arange(k + 2))
    into = [int(np.sum(1 << np.flatnonzero(g[v]))) for v in range(k)]  # bitmask of v's children
    best = np.full(1 << k, np.iinfo(np.int32).max, dtype=np.int32)
    best[0] = 0
    for layer in range(1, k + 1):
        sets = by_size[starts[layer]: starts[layer + 1]]
        for v in range(k):
            with_v = sets[(sets >> v) & 1 == 1]
            before = with_v ^ (1 << v)
            best[with_v] = np.minimum(best[with_v], best[before] + np.bitwise_count(before & into[v]))
    return int(best[-1])


def _greedy_order(g: np.ndarray) -> np.ndarray:
    """Eades-Lin-Smyth: sinks go last, sources first, else the node with the largest
    out-degree minus in-degree goes first; degrees count the remaining nodes only."""
    remaining = np.ones(g.shape[0], dtype=bool)
    indegree, outdegree = g.sum(axis=0).astype(np.int64), g.sum(axis=1).astype(np.int64)
    head, tail = [], []
    while remaining.any():
        sinks = np.flatnonzero(remaining & (outdegree == 0))
        sources = np.flatnonzero(remaining & (indegree == 0))
        if sinks.size:
            v = int(sinks[0])
            tail.append(v)
        else:
            candidates = sources if sources.size else np.flatnonzero(remaining)
            v = int(candidates[np.argmax(outdegree[candidates] - indegree[candidates])])
            head.append(v)
        remaining[v] = False
        indegree[g[v]] -= 1
        outdegree[g[:, v]] -= 1
    return np.array(head + tail[::-1], dtype=np.int64)


def _sifted(order: np.ndarray, g: np.ndarray, passes: int = 10) -> np.ndarray:
    """Local search from ``order``: move each node in turn to the position where it reverses
    the fewest of its edges, until a pass changes nothing (or ``passes`` passes)."""
    order = list(order)
    for _ in range(passes):
        moved = False
        for v in list(order):
            rest = np.array([u for u in order if u != v], dtype=np.int64)
            # Inserted before rest[p]: its children among rest[:p] and its parents among rest[p:] are reversed.
            children = np.concatenate([[0], np.cumsum(g[v, rest])])
            parents = np.concatenate([[0], np.cumsum(g[rest, v])])
            cost = children + parents[-1] - parents
            now = order.index(v)
            best = int(np.argmin(cost))
            if cost[best] < cost[now]:
                order = [*rest[:best].tolist(), v, *rest[best:].tolist()]
                moved = True
        if not moved:
            break
    return np.array(order, dtype=np.int64)


def order_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of variable pairs that two orders put the same way round: 1 for the same order,
    0 for reversed ones, 0.5 expected between unrelated orders; (1 + Kendall's tau) / 2."""
    a = check_order(a, len(a))
    b = check_order(b, len(a))
    if a.size < 2:
        return float("nan")
    pos_a, pos_b = np.empty_like(a), np.empty_like(b)
    pos_a[a] = np.arange(a.size)
    pos_b[b] = np.arange(b.size)
    from scipy.stats import kendalltau  # scipy where used: it would cost every CLI start-up

    return float((1.0 + kendalltau(pos_a, pos_b).statistic) / 2.0)


def is_perfect(order: np.ndarray, graph: np.ndarray) -> bool:
    """True when the order is a topological order of the graph (D_top == 0)."""
    return order_divergence(order, graph) == 0


def shd(pred: np.ndarray, true: np.ndarray) -> int:
    """Structural Hamming distance: variable pairs whose edge state differs.

    Each unordered pair counts at most once, so a reversed edge costs 1 like a missing or an
    extra one.
    """
    t = _support(true)
    p = _support(pred, t.shape[0])
    differs = (p != t) | (p.T != t.T)
    return int(np.count_nonzero(np.triu(differs, k=1)))


def precision_recall_f1(pred: np.ndarray, true: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of the directed edges of ``pred`` against ``true``.

    A reversed edge is both a false positive and a false negative. Precision is NaN when
    ``pred`` has no edges, recall NaN when ``true`` has none; F1 = 2 TP / (|pred| + |true|),
    NaN only when both are empty.
    """
    t = _support(true)
    p = _support(pred, t.shape[0])
    tp = int(np.count_nonzero(p & t))
    n_pred, n_true = int(np.count_nonzero(p)), int(np.count_nonzero(t))
    precision = tp / n_pred if n_pred else float("nan")
    recall = tp / n_true if n_true else float("nan")
    f1 = 2 * tp / (n_pred + n_true) if n_pred + n_true else float("nan")
    return precision, recall, f1
