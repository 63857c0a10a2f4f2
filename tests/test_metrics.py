"""Order and graph metrics, checked on cases small enough to count by hand."""
import itertools
import math

import numpy as np
import pytest

from causal_amort.evaluation.metrics import (EXACT_MIN_NODES, check_order, frac_reversed, is_perfect, min_reversed,
                                  order_agreement, order_divergence, precision_recall_f1, shd)


def graph(d: int, edges: list[tuple[int, int]]) -> np.ndarray:
    g = np.zeros((d, d), dtype=np.uint8)
    for i, j in edges:
        g[i, j] = 1
    return g


CHAIN = graph(3, [(0, 1), (1, 2)])  # 0 -> 1 -> 2


@pytest.mark.parametrize("order, expected", [
    ([0, 1, 2], 0),
    ([0, 2, 1], 1),   # 2 placed before its cause 1
    ([1, 0, 2], 1),   # 1 placed before its cause 0
    ([2, 1, 0], 2),   # fully reversed
])
def test_order_divergence_on_a_chain(order, expected):
    assert order_divergence(np.array(order), CHAIN) == expected
    assert frac_reversed(np.array(order), CHAIN) == pytest.approx(expected / 2)
    assert is_perfect(np.array(order), CHAIN) == (expected == 0)


def test_order_divergence_counts_every_contradicted_edge():
    g = graph(4, [(0, 1), (0, 2), (1, 3), (2, 3)])
    # 3 first contradicts 1->3 and 2->3; 2 before 0 contradicts 0->2.
    assert order_divergence(np.array([3, 2, 0, 1]), g) == 3
    # Weighted graphs count by support only.
    assert order_divergence(np.array([3, 2, 0, 1]), g * 0.7) == 3


def test_empty_graph_has_no_reversed_fraction_and_every_order_is_perfect():
    g = np.zeros((3, 3))
    assert order_divergence(np.array([2, 0, 1]), g) == 0
    assert math.isnan(frac_reversed(np.array([2, 0, 1]), g))
    assert is_perfect(np.array([2, 0, 1]), g)


@pytest.mark.parametrize("seed", range(5))
def test_topological_orders_are_perfect_and_their_reverse_contradicts_every_edge(seed):
    rng = np.random.default_rng(seed)
    d = 7
    perm = rng.permutation(d)
    upper = np.triu(rng.random((d, d)) < 0.4, 1)
    g = np.zeros((d, d), dtype=np.uint8)
    g[np.ix_(perm, perm)] = upper  # perm is a topological order of g
    assert order_divergence(perm, g) == 0
    assert order_divergence(perm[::-1], g) == int(g.sum())


def test_shd_counts_reversed_missing_and_extra_edges_once_each():
    true = CHAIN
    assert shd(true, true) == 0
    assert shd(graph(3, [(1, 0), (1, 2)]), true) == 1            # reversed 0->1
    assert shd(graph(3, [(0, 1)]), true) == 1                    # missing 1->2
    assert shd(graph(3, [(0, 1), (1, 2), (0, 2)]), true) == 1    # extra 0->2
    assert shd(graph(3, [(1, 0), (0, 2)]), true) == 3            # all three at once
    assert shd(graph(3, [(0, 1), (1, 0), (1, 2)]), true) == 1    # bidirected pair counts once
    assert shd(np.zeros((3, 3)), true) == 2
    a = graph(3, [(1, 0), (0, 2)])
    assert shd(a, true) == shd(true, a)


def test_precision_recall_f1_by_hand():
    true = graph(4, [(0, 1), (1, 2), (2, 3)])
    # TP {0->1}; FP {2->1 (reversed), 0->3 (extra)}; FN {1->2, 2->3}.
    pred = graph(4, [(0, 1), (2, 1), (0, 3)])
    p, r, f = precision_recall_f1(pred, true)
    assert (p, r, f) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    p, r, f = precision_recall_f1(graph(4, [(0, 1)]), true)
    assert (p, r, f) == pytest.approx((1.0, 1 / 3, 0.5))
    assert precision_recall_f1(true, true) == (1.0, 1.0, 1.0)


def test_precision_recall_f1_with_empty_graphs():
    true = CHAIN
    p, r, f = precision_recall_f1(np.zeros((3, 3)), true)
    assert math.isnan(p) and r == 0.0 and f == 0.0
    p, r, f = precision_recall_f1(true, np.zeros((3, 3)))
    assert p == 0.0 and math.isnan(r) and f == 0.0
    assert all(math.isnan(v) for v in precision_recall_f1(np.zeros((3, 3)), np.zeros((3, 3))))


@pytest.mark.parametrize("order", [[0, 1, 1], [0, 1], [0, 1, 3], [0.0, 1.0, 2.0], [[0, 1, 2]]])
def test_invalid_orders_are_rejected(order):
    with pytest.raises(ValueError):
        order_divergence(np.array(order), CHAIN)


def test_check_order_returns_int64():
    out = check_order(np.array([2, 0, 1], dtype=np.int32), 3)
    assert out.dtype == np.int64 and out.tolist() == [2, 0, 1]


def test_malformed_graphs_are_rejected():
    with pytest.raises(ValueError, match="self-loops"):
        shd(np.eye(3), CHAIN)
    with pytest.raises(ValueError):
        shd(np.zeros((2, 2)), CHAIN)
    with pytest.raises(ValueError):
        order_divergence(np.array([0, 1, 2]), np.zeros((3, 2)))


def test_min_reversed_is_zero_on_a_dag_and_exact_on_small_cyclic_graphs():
    assert min_reversed(CHAIN) == (0, True)
    assert min_reversed(graph(3, [(0, 1), (1, 0), (1, 2)])) == (1, True)
    rng = np.random.default_rng(0)
    for _ in range(100):
        d = int(rng.integers(2, 7))
        g = (rng.random((d, d)) < rng.uniform(0.2, 0.7)).astype(np.uint8)
        np.fill_diagonal(g, 0)
        brute = min(order_divergence(np.array(o), g) for o in itertools.permutations(range(d)))
        assert min_reversed(g) == (brute, True)


def test_min_reversed_of_a_large_component_is_a_bound():
    d = EXACT_MIN_NODES + 10
    ring = graph(d, [(i, (i + 1) % d) for i in range(d)] + [(i, (i + 2) % d) for i in range(0, d, 3)])
    fewest, exact = min_reversed(ring)
    assert (fewest, exact) == (1, False)  # a bound, here tight: the order 0, 1, ... reverses only d-1 -> 0
    # Components are handled apart: two small cycles in a larger graph stay exact.
    two = graph(40, [(0, 1), (1, 0), (5, 6), (6, 7), (7, 5), *[(i, i + 1) for i in range(10, 39)]])
    assert min_reversed(two) == (2, True)


def test_order_agreement_counts_pairs_in_the_same_direction():
    assert order_agreement(np.arange(4), np.arange(4)) == 1.0
    assert order_agreement(np.arange(4), np.arange(4)[::-1]) == pytest.approx(0.0)
    assert order_agreement(np.array([1, 0, 2]), np.arange(3)) == pytest.approx(2 / 3)  # one pair of three flipped
