"""Scores of a causal order and of a DAG against the true graph.

Convention everywhere: ``graph[i, j] != 0`` means the edge i -> j; an order is an array of
variable indices, causes first. Edge weights are ignored, only the support counts.
"""
from __future__ import annotations

import numpy as np


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
