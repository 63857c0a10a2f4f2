"""From order to DAG: pruning recovers sparse graphs given the true order, and never points backwards."""
import numpy as np
import pytest

from causal_amort.evaluation.metrics import precision_recall_f1, shd
from causal_amort.inference.pruning import prune_order
from simulators.core.errors import InputError
from test_baselines import anm_scm, linear_scm


def true_order(g: np.ndarray) -> np.ndarray:
    """A topological order of g (Kahn's algorithm, smallest index first)."""
    indeg, order = g.sum(axis=0).astype(int), []
    ready = sorted(np.flatnonzero(indeg == 0).tolist())
    while ready:
        v = ready.pop(0)
        order.append(v)
        for c in np.flatnonzero(g[v]):
            indeg[c] -= 1
            if indeg[c] == 0:
                ready = sorted(ready + [int(c)])
    return np.array(order)


@pytest.mark.parametrize("seed", range(3))
def test_lasso_recovers_a_sparse_linear_graph_from_the_true_order(seed):
    rng = np.random.default_rng(seed)
    x, g = linear_scm(8, 1000, rng, p=0.3, noise="gauss")
    pred = prune_order(x, true_order(g), method="lasso")
    assert pred.dtype == np.uint8 and pred.shape == (8, 8)
    assert shd(pred, g) == 0


@pytest.mark.parametrize("seed", range(3))
def test_cam_recovers_a_nonlinear_graph_that_lasso_misses(seed):
    rng = np.random.default_rng(seed)
    x, g = anm_scm(6, 800, rng, p=0.5)
    order = true_order(g)
    cam = prune_order(x, order, method="cam")
    assert shd(cam, g) <= 1
    assert precision_recall_f1(cam, g)[2] > precision_recall_f1(prune_order(x, order), g)[2]


@pytest.mark.parametrize("method", ["lasso", "cam"])
def test_edges_only_point_forward_in_the_given_order(method):
    rng = np.random.default_rng(7)
    x, _ = anm_scm(6, 400, rng, p=0.7)
    order = rng.permutation(6)
    pred = prune_order(x, order, method=method)
    pos = np.argsort(order)
    causes, effects = np.nonzero(pred)
    assert (pos[causes] < pos[effects]).all()


@pytest.mark.parametrize("method", ["lasso", "cam"])
def test_degenerate_columns_do_not_crash(method):
    rng = np.random.default_rng(1)
    x, _ = linear_scm(4, 300, rng)
    x = np.column_stack([np.full(300, 2.0), x, x[:, 0]])  # constant first, a duplicate last
    pred = prune_order(x, np.arange(6), method=method)
    assert pred[0].sum() == 0 and pred[:, 0].sum() == 0
    assert pred[1, 5] == 1  # the duplicate is explained by its twin
    tiny = prune_order(x[:5], np.arange(6), method=method)  # fewer rows than variables
    assert tiny.shape == (6, 6)


def test_cam_row_subsample_is_seeded():
    x, g = anm_scm(5, 900, np.random.default_rng(3))
    order = true_order(g)
    a = prune_order(x, order, method="cam", max_rows=300, seed=1)
    assert np.array_equal(a, prune_order(x, order, method="cam", max_rows=300, seed=1))


def test_bad_inputs():
    x = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(InputError, match="pruning method"):
        prune_order(x, np.arange(3), method="ridge")
    with pytest.raises(ValueError):
        prune_order(x, np.array([0, 0, 1]))
    x[3, 2] = np.inf
    with pytest.raises(InputError):
        prune_order(x, np.arange(3))
