"""SCORE's leaf removal on the model's own running sums: the additive score-matching fit of
`cues.score_matching_cues` (K bounded basis features per variable), refitted after each removal
on the sub-block of the remaining variables' features, so no new statistics and no second pass.

The model reads only the first fit (one variance per variable: a static sort); SCORE (Rolland et
al. 2022) iterates: the variable whose fitted Hessian diagonal varies least is a leaf, goes last,
and the score of what is left is fitted again. This prints both orders' fraction of reversed edges.

    python scripts/basis_leaf_order.py runs/select-v5/test-in-d20 [more suites] [--chunk 250]

A measurement for the next design step (not yet a model cue); run it on selection suites only.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from causal_amort.evaluation.metrics import frac_reversed
from causal_amort.model.cues import score_fit_moments, score_fit_ridge
from causal_amort.model.sufficient import RunningStats
from causal_amort.runtime.threads import apply_threads
from simulators.storage.io import iter_datasets


class ScoreFit:
    """The moments `score_matching_cues` fits the score from (one dataset: batch row 0), float64, read
    once; `leaf_variances` refits on any subset of the variables."""

    def __init__(self, stats: RunningStats) -> None:
        n, cov, inv_sd, self.deriv_mean, self.deriv_cov = (t[0] for t in score_fit_moments(stats))
        self.d, self.k, self.n = stats.d, stats.k, n
        self.corr = cov * inv_sd[:, None] * inv_sd[None, :]
        self.inv_sd = inv_sd.view(self.k, self.d).T  # (d, K)

    def leaf_variances(self, left: list[int]) -> torch.Tensor:
        """Var over rows of each variable's fitted Hessian diagonal, the score fitted on the features
        of the variables `left` only, with `score_matching_cues`' scaling and ridge."""
        k = self.k
        features = torch.tensor([f * self.d + i for f in range(k) for i in left])  # feature-major
        size = len(features)
        eye = torch.eye(size, dtype=self.corr.dtype)
        prec = torch.linalg.inv(self.corr[features][:, features] + score_fit_ridge(size, self.n) * eye)
        prec = prec.view(k, len(left), k, len(left))
        variances = []
        for a, i in enumerate(left):
            w = -(prec[:, a, :, a] @ (self.deriv_mean[i] * self.inv_sd[i])) * self.inv_sd[i]  # the fit's block on i
            variances.append(w @ self.deriv_cov[i] @ w)
        return torch.stack(variances)


def leaf_removal_orders(stats: RunningStats) -> tuple[list[int], list[int]]:
    """(iterative, static) orders, causes first: SCORE's removal, and one fit sorted by variance."""
    fit = ScoreFit(stats)
    left, removed, static = list(range(stats.d)), [], None
    while len(left) > 1:
        variances = fit.leaf_variances(left)
        if static is None:
            static = [left[j] for j in torch.argsort(variances, descending=True, stable=True).tolist()]
        leaf = left[int(torch.argmin(variances))]
        removed.append(leaf)
        left.remove(leaf)
    return left + removed[::-1], static if static is not None else list(left)


def streamed(x: np.ndarray, chunk: int) -> RunningStats:
    """The running sums of one dataset read in chunks of `chunk` rows."""
    rows = torch.as_tensor(x, dtype=torch.float32)[None]
    stats = RunningStats.start(rows[:, :chunk])
    for block in rows.split(chunk, dim=1):
        stats = stats.add(block)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+")
    parser.add_argument("--chunk", type=int, default=250)
    args = parser.parse_args()
    apply_threads(1)
    for suite in args.suites:
        iterative, static = [], []
        for data in iter_datasets(suite):
            orders = leaf_removal_orders(streamed(data.x, args.chunk))
            iterative.append(frac_reversed(np.asarray(orders[0]), data.graph))
            static.append(frac_reversed(np.asarray(orders[1]), data.graph))
        print(f"{suite}: mean fraction of reversed edges, leaf removal {np.mean(iterative):.3f}, "
              f"one fit sorted {np.mean(static):.3f} ({len(iterative)} datasets)")


if __name__ == "__main__":
    main()
