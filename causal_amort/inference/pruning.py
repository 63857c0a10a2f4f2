"""From a causal order to a DAG: keep the predecessors that each variable really depends on.

The order implies the full DAG (every earlier variable is a candidate parent of every later
one). Each variable is regressed on its predecessors and only the selected ones stay:

- ``lasso``: adaptive lasso on standardized data; the supports along the LARS-lasso
  path are scored by BIC of their least-squares refit. Works from the Gram matrix, so the
  cost is one O(n d^2) pass plus tiny d x d problems.
- ``cam``: additive nonlinear regression as in CAM pruning (Buehlmann et al. 2014): one cubic
  spline block per candidate parent, all blocks fitted jointly by least squares, and a parent
  stays when the F-test of dropping its block rejects at ``cutoff``. Parents enter through
  their ranks, so outliers and heavy tails do not swallow the knots. Rows are subsampled to
  ``max_rows`` with a seeded generator.
"""
from __future__ import annotations

import numpy as np

from causal_amort.evaluation.metrics import check_order
from simulators.core.errors import InputError
from simulators.core.zscore import zscore

# Pruning methods and what each fits (the CLI's help is written from this table).
METHODS = {"lasso": "sparse linear", "cam": "additive splines"}


def describe_methods() -> str:
    """The methods as a phrase for help texts: "lasso (sparse linear) or cam (additive splines)"."""
    return " or ".join(f"{name} ({what})" for name, what in METHODS.items())
# Cubic splines on 4 uniform knots in rank space: 6 functions, 5 after centering.
_SPLINE_KNOTS = 4
# Fewer residual degrees of freedom than this make the F-test meaningless; such a target
# falls back to the lasso selection.
_MIN_RESIDUAL_DF = 10


def prune_order(x: np.ndarray, order: np.ndarray, method: str = "lasso", *, cutoff: float = 1e-3,
                max_rows: int = 2000, seed: int = 0) -> np.ndarray:
    """Prune the full DAG implied by ``order`` (causes first) to a sparse DAG (d, d) uint8.

    ``cutoff`` is the p-value below which ``cam`` keeps a parent; ``max_rows`` and ``seed``
    set the row subsample that ``cam`` uses when n is larger.
    """
    check_prune_method(method)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"data to prune must be a non-empty 2-D array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("data to prune contain NaN or infinite values")
    d = x.shape[1]
    order = check_order(order, d)
    z = zscore(x)
    gram = z.T @ z
    if method == "cam":
        if x.shape[0] > max_rows:
            x = x[np.sort(np.random.default_rng(seed).choice(x.shape[0], max_rows, replace=False))]
        blocks = [_spline_block(x[:, j]) for j in range(d)]
    graph = np.zeros((d, d), dtype=np.uint8)
    for k in range(1, d):
        target, preds = order[k], order[:k]
        parents = None
        if method == "cam":
            parents = _cam_parents([blocks[p] for p in preds], x[:, target], cutoff)
        if parents is None:
            parents = _lasso_parents(gram, preds, target, z.shape[0])
        graph[preds[parents], target] = 1
    return graph


def lingam_adjacency(x: np.ndarray, graph: np.ndarray, method: str) -> np.ndarray:
    """lingam's adjacency matrix (d, d) float64 of ``graph`` (`prune_order`'s, [cause, effect]) on the
    data ``x`` it was pruned on: at [effect, cause], for ``lasso`` the least-squares coefficient of the
    cause in the regression of the effect on all its parents (in the data's own units, as lingam's
    DirectLiNGAM gives), for ``cam``, whose fits are not linear, 1.0; zero where there is no edge."""
    check_prune_method(method)
    weights = graph.T.astype(np.float64)
    if method == "cam":
        return weights
    x = np.asarray(x, dtype=np.float64)
    z = zscore(x)
    gram = z.T @ z
    spread = x.std(axis=0)
    for target in np.flatnonzero(graph.any(axis=0)):
        parents = np.flatnonzero(graph[:, target])
        beta = np.linalg.lstsq(gram[np.ix_(parents, parents)], gram[parents, target], rcond=None)[0]
        weights[target, parents] = beta * spread[target] / spread[parents]
    return weights


def check_prune_method(method: str) -> None:
    """InputError unless `method` is one of METHODS."""
    if method not in METHODS:
        raise InputError(f"unknown pruning method {method!r}; choose from {', '.join(METHODS)}")


def _lasso_parents(gram: np.ndarray, preds: np.ndarray, target: int, n: int) -> np.ndarray:
    """Boolean mask over ``preds``: the BIC-best support along the adaptive-lasso path.

    Each support on the path is scored with its least-squares refit: the shrunken lasso fit
    inflates the RSS of the true support and makes BIC add spurious parents.
    """
    from sklearn.linear_model import lars_path_gram  # where used: it would cost every CLI start-up

    g = gram[np.ix_(preds, preds)]
    xy = gram[preds, target]
    yy = gram[target, target]
    best = np.zeros(preds.shape[0], dtype=bool)
    if yy == 0:  # a constant target depends on nothing
        return best
    # Adaptive lasso (Zou 2006): predictors weighted by their |OLS coefficient|, so that a
    # strong but redundant ancestor cannot enter the path ahead of the true parents.
    w = np.abs(np.linalg.lstsq(g, xy, rcond=None)[0])
    _, _, coefs = lars_path_gram(w * xy, w[:, None] * g * w[None, :], n_samples=n, method="lasso")
    best_bic = n * np.log(yy / n)  # the empty support
    seen: set[tuple[int, ...]] = {()}
    for c in coefs.T:
        support = tuple(np.flatnonzero(c))
        if support in seen:
            continue
        seen.add(support)
        s = list(support)
        beta = np.linalg.lstsq(g[np.ix_(s, s)], xy[s], rcond=None)[0]
        rss = max(yy - beta @ xy[s], 1e-12 * yy)  # ||y - X b||^2 from Gram quantities
        bic = n * np.log(rss / n) + len(s) * np.log(n)
        if bic < best_bic:
            best_bic = bic
            best = np.zeros(preds.shape[0], dtype=bool)
            best[s] = True
    return best


def _cam_parents(blocks: list[np.ndarray], y: np.ndarray, cutoff: float) -> np.ndarray | None:
    """Boolean mask over the candidate parents (one spline block each) kept by the F-tests.

    None when the rows cannot support the spline fit (the caller falls back to lasso).
    """
    from scipy import stats  # scipy and scikit-learn where used: they would cost every CLI start-up

    n, k = y.shape[0], len(blocks)
    sizes = np.array([b.shape[1] for b in blocks])
    design = np.hstack(blocks)
    y = y - y.mean()
    # Least squares through the eigendecomposition of X'X, which also gives the
    # (pseudo-)covariance of the coefficients for the per-block Wald/F statistics.
    evals, evecs = np.linalg.eigh(design.T @ design)
    keep = evals > max(evals.max(initial=0.0), 1e-300) * 1e-10
    rank = int(keep.sum())
    df_res = n - 1 - rank
    if df_res < _MIN_RESIDUAL_DF:
        return None
    cov = (evecs[:, keep] / evals[keep]) @ evecs[:, keep].T
    beta = cov @ (design.T @ y)
    sigma2 = float(np.sum((y - design @ beta) ** 2)) / df_res
    selected = np.zeros(k, dtype=bool)
    starts = np.cumsum(sizes) - sizes
    for j, (s, m) in enumerate(zip(starts, sizes)):
        b, v = beta[s:s + m], cov[s:s + m, s:s + m]
        q = np.linalg.matrix_rank(v) if m else 0
        if q == 0:
            continue
        if sigma2 <= 0:  # an exact fit: every block with a non-zero effect matters
            selected[j] = np.any(b != 0)
            continue
        wald = float(b @ np.linalg.pinv(v) @ b)
        selected[j] = stats.f.sf(wald / q / sigma2, q, df_res) < cutoff
    return selected


def _spline_block(col: np.ndarray) -> np.ndarray:
    """Centered, orthonormalized cubic-spline features of one parent (in rank space).

    Directions without variance (a constant or few-valued parent) are dropped, so the block
    has full column rank and its size is the test's degrees of freedom.
    """
    from scipy import stats
    from sklearn.preprocessing import SplineTransformer

    if np.ptp(col) == 0:
        return np.zeros((col.shape[0], 0))
    u = stats.rankdata(col)[:, None] / (col.shape[0] + 1)
    basis = SplineTransformer(n_knots=_SPLINE_KNOTS, degree=3).fit_transform(u)
    basis -= basis.mean(axis=0)
    left, sing, _ = np.linalg.svd(basis, full_matrices=False)
    return left[:, sing > sing.max() * 1e-8]
