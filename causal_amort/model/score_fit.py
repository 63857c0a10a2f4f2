"""The additive score-matching fit both score cues read (cues.score_matching_cues, leaf_cues.py),
solved once per call of `compute_cues` from the running sums."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from causal_amort.model.sufficient import RunningStats


def ridge_inverse_(cov: Tensor, ridge: Tensor) -> Tensor:
    """(cov + ridge I)^-1 for a batch of PSD matrices (B, m, m), ridge (B,), by Cholesky, in ``cov``'s
    own memory: the ridge added to its diagonal, then the factor and the inverse written over it (the
    same LAPACK calls; at m = 12,000 each new m x m matrix would be 576 MB)."""
    cov.diagonal(dim1=-2, dim2=-1).add_(ridge[:, None])
    torch.linalg.cholesky(cov, out=cov)
    return torch.cholesky_inverse(cov, out=cov)


def hessian_spread(w: Tensor, deriv_cov: Tensor) -> Tensor:
    """Var over rows of fitted Hessian entries w . phi'(z), from the derivatives' covariance: w
    (..., m, K) holds m fits that share deriv_cov (..., K, K), giving (..., m) (one product of m x
    K by K x K each, not m products of 1 x K); a single fit w (K,) gives a scalar."""
    return ((w @ deriv_cov) * w).sum(-1)


@dataclass
class ScoreFit:
    """The fit's float32 pieces: ``prec`` (B, dK, dK) the inverse of the ridged correlation of all
    basis features, feature-major (feature k of variable i at k d + i); per variable (B, d, K):
    ``inv_sd`` 1 / sd of its features (0 for a constant one, which drops out of the fit),
    ``deriv_mean`` their mean derivatives, ``target`` = deriv_mean * inv_sd (the standardized
    features' mean derivatives m_i), and ``deriv_cov`` (B, d, K, K) the derivatives' covariance."""

    prec: Tensor
    inv_sd: Tensor
    deriv_mean: Tensor
    target: Tensor
    deriv_cov: Tensor


def fit_score(stats: RunningStats) -> ScoreFit:
    """The score-matching fit on all variables: moments in float64 from the sums (they are exact there),
    then float32: the ridge keeps the solve well conditioned (float32 changes the signed-log cues by
    < 0.002 at d = 100), at half the cost of float64."""
    if stats.deriv_sums is None:
        raise ValueError("score-matching cues need running statistics that track derivatives")
    batch, d, k = stats.count.shape[0], stats.d, stats.k
    n = stats.count.clamp_min(1.0)[:, None]
    sd = stats.variances().clamp_min(0.0).sqrt()
    inv_sd = torch.where(sd > 1e-6, 1.0 / sd, 0.0).float()
    deriv_mean = stats.deriv_sums / n[:, :, None]
    deriv_cov = stats.deriv_gram / n[:, :, None, None] - deriv_mean[..., :, None] * deriv_mean[..., None, :]
    # The correlation in float32, filled a block of covariance rows at a time: the float64 covariance
    # is never whole (at d = 1000 it was 512 MB beside the Gram while this and its inverse were made).
    corr = stats.gram.new_empty(stats.gram.shape, dtype=torch.float32)
    for rows, block in stats.covariance_rows():
        corr[:, rows] = block.float().mul_(inv_sd[:, rows, None]).mul_(inv_sd[:, None, :])
    ridge = (1e-3 + 0.02 * (d * k) / n[:, 0].float()).clamp(max=1.0)
    inv_sd = inv_sd.view(batch, k, d).transpose(1, 2)
    deriv_mean = deriv_mean.float()
    return ScoreFit(ridge_inverse_(corr, ridge), inv_sd, deriv_mean, deriv_mean * inv_sd, deriv_cov.float())
