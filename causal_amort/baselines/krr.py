"""Cross-fitted Gaussian kernel ridge regression for a batch of problems, in torch.

Each sample is predicted by a model that never saw it (K-fold cross-fitting), so residuals
and prediction errors are honest. Inputs are standardized on the training rows and the
kernel width is the median heuristic, so no tuning depends on the data's scale.
"""
from __future__ import annotations

import torch

from causal_amort.baselines.stein import median_sq_width, ridge_solve, sq_distances

# Kernel matrices per solve are batch x n_train x n_train; keep each block near this many
# entries so memory stays bounded for large n or d.
_MAX_BLOCK_ENTRIES = 2**24


def crossfit_predict(inputs: torch.Tensor, targets: torch.Tensor, folds: torch.Tensor, *,
                     alpha: float = 1e-2) -> torch.Tensor:
    """Out-of-fold predictions of targets (B, n) from inputs (B, n, p); folds (n,) fold ids."""
    out = torch.empty_like(targets)
    for fold in torch.unique(folds):
        test = folds == fold
        train = ~test
        n_train = int(train.sum())
        step = max(1, _MAX_BLOCK_ENTRIES // max(n_train * n_train, 1))
        for b in range(0, inputs.shape[0], step):
            xin, y = inputs[b:b + step], targets[b:b + step]
            out[b:b + step, test] = _fit_predict(xin[:, train], y[:, train], xin[:, test], alpha)
    return out


def _fit_predict(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                 alpha: float) -> torch.Tensor:
    mean = x_train.mean(dim=1, keepdim=True)
    std = x_train.std(dim=1, keepdim=True, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    sq = sq_distances(x_train, x_train)
    width = 2 * median_sq_width(sq)[:, None, None]
    y_mean = y_train.mean(dim=1, keepdim=True)
    # In-place kernels: these are the largest tensors, allocation dominates their cost.
    dual = ridge_solve(sq.div_(-width).exp_(), alpha, (y_train - y_mean)[..., None])
    return (sq_distances(x_test, x_train).div_(-width).exp_() @ dual)[..., 0] + y_mean
