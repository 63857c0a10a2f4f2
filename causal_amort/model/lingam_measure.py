"""DirectLiNGAM's pairwise measure (Shimizu et al. 2011, eq. 18) in moment form: one home for the
cues of the streamed sums (cues.py) and of the row sample (sample_lingam.py); and Hyvarinen's
maximum-entropy approximation of entropy, for the search's re-ranking step (sample_lingam.py)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

# Hyvarinen's (1998) maximum-entropy approximation with G1 = u exp(-u^2 / 2) and G2 = exp(-u^2 / 2) (his eq. 16
# with k1 and k2b; lingam uses log cosh for G2, which costs two more passes per column and ordered the search's
# likeliest roots as well on the training prior), and E[G2(nu)] = sqrt(1/2) of a standard Gaussian nu.
_K1, _K2, _GAUSSIAN_G2 = 36.0 / (8.0 * math.sqrt(3.0) - 9.0), 24.0 / (16.0 * math.sqrt(3.0) - 27.0), math.sqrt(0.5)
_GAUSSIAN_ENTROPY = (1.0 + math.log(2.0 * math.pi)) / 2.0


def negentropy(skew: Tensor, excess_kurtosis: Tensor) -> Tensor:
    """Gram-Charlier approximation of negentropy, skew^2 / 12 + kurt^2 / 48 (Hyvarinen et al. 2001, 5.35)."""
    return skew.square() / 12.0 + excess_kurtosis.square() / 48.0


def residual_variance(rho: Tensor) -> Tensor:
    """Var(r_{i|j}) = 1 - rho^2 of the standardized linear residual, floored at 1e-3 (the divisor of the
    residual's standardized moments, here and in the streamed cues)."""
    return (1.0 - rho**2).clamp_min(1e-3)


def direct_lingam_measure(rho: Tensor, skew: Tensor, c4: Tensor, u21: Tensor, u12: Tensor, u31: Tensor,
                          u13: Tensor, u22: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(negentropy (B, d), residual negentropy [i, j] of r_{i|j} = u_i - rho u_j, the measure [i, j]) of
    standardized u: ``rho`` (B, d, d) correlations, ``skew`` and ``c4`` (B, d) E[u^3] and E[u^4], ``uab``
    (B, d, d) the joint E[u_i^a u_j^b]. The measure [H(u_j) + H(r_{i|j})] - [H(u_i) + H(r_{j|i})], with
    H ~ const - negentropy, is positive when i causes j."""
    v = residual_variance(rho)
    skew_i, skew_j = skew[:, :, None], skew[:, None, :]
    m4_i, m4_j = c4[:, :, None], c4[:, None, :]
    r3 = skew_i - 3 * rho * u21 + 3 * rho**2 * u12 - rho**3 * skew_j
    r4 = m4_i - 4 * rho * u31 + 6 * rho**2 * u22 - 4 * rho**3 * u13 + rho**4 * m4_j
    residual_negentropy = negentropy(r3 / v**1.5, r4 / v**2 - 3.0)
    marginal = negentropy(skew, c4 - 3.0)
    direct = (marginal[:, :, None] + residual_negentropy.transpose(1, 2)
              - marginal[:, None, :] - residual_negentropy)
    return marginal, residual_negentropy, direct


def max_entropy(u: Tensor, rows: Tensor, padded: Tensor | float = 0.0, dim: int = -1) -> Tensor:
    """Differential entropy of standardized columns ``u`` over ``dim`` by Hyvarinen's maximum-entropy
    approximation (module constants): H(nu) - k1 E[u exp(-u^2/2)]^2 - k2 (E[exp(-u^2/2)] - sqrt(1/2))^2, the sums
    divided by ``rows``, where ``padded`` more rows are exactly zero (each adds exp(0) = 1 to the second sum,
    taken off; broadcast against the result, as ``rows``). Less swayed by a few large values than the moment
    form, whose kurtosis a heavy tail dominates."""
    bump = u.square().mul_(-0.5).exp_()
    even = (bump.sum(dim) - padded) / rows - _GAUSSIAN_G2
    odd = bump.mul_(u).sum(dim) / rows
    return _GAUSSIAN_ENTROPY - _K1 * odd**2 - _K2 * even**2
