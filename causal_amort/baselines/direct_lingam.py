"""DirectLiNGAM (Shimizu et al. 2011) from the ``lingam`` package: identifies the order of
linear SCMs with non-Gaussian noise by repeatedly picking the most exogenous variable.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from causal_amort.baselines.base import Baseline


@functools.cache
def _order_only_direct_lingam() -> type:
    """DirectLiNGAM without its adaptive-lasso weight estimation, which the order does not need
    and which fails when n <= d + 1 (pruning is done separately, by ``causal_amort.inference.pruning``).

    Built on first use: importing lingam pulls in semopy, statsmodels and matplotlib (seconds),
    which every other command (predict, train) would otherwise pay at start-up."""
    from lingam import DirectLiNGAM

    class OrderOnlyDirectLiNGAM(DirectLiNGAM):
        def _estimate_adjacency_matrix(self, X, prior_knowledge=None):  # noqa: N803 (lingam's name)
            return self

    return OrderOnlyDirectLiNGAM


def _lingam_order(x: np.ndarray, rng: np.random.Generator, device: torch.device) -> np.ndarray:
    model = _order_only_direct_lingam()()
    # A residual that vanishes (a near-deterministic relation) gives 0/0 in lingam's entropy
    # estimate; the NaN only decides an argmax, the order stays a valid permutation.
    with np.errstate(all="ignore"):
        model.fit(x)
    return np.asarray(model.causal_order_, dtype=np.int64)


BASELINE = Baseline("lingam", _lingam_order, slow=True)
