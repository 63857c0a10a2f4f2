"""Cues from streamed sufficient statistics: what each classical method looks at, in batched torch.

Everything here is a function of `RunningStats` alone (no data pass): moments up to order 6
come from the Gram matrix of the powers s, s^2, s^3 in the basis, regressions from blocks of
the feature covariance. Each cue is named after the method that relies on it. Notation: s is
a variable's soft-clipped robust z-score (see sufficient.py), u = (s - mean) / sd its exact
standardization, rho the correlation of u_i and u_j, r_{i|j} = u_i - rho u_j the residual of
the linear regression of i on j.

Per-variable cues (``VARIABLE_CUES``) are (B, d, F_v); pair cues are (B, d, d, F_p) with entry
[i, j] describing the ordered pair (i, j). All outputs are finite: constant columns, d = 2 and
a handful of rows give zeros or bounded values, never NaN.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from causal_amort.model.kernel_cues import KERNEL_VARIABLE_CUES, kernel_score_cues
from causal_amort.model.lingam_measure import direct_lingam_measure, residual_variance
from causal_amort.model.leaf_cues import LEAF_VARIABLE_CUES, leaf_removal_cues
from causal_amort.model.sample_lingam import (SAMPLE_LINGAM_MOMENT_CUES, SAMPLE_LINGAM_PAIR_CUES,
                                             SAMPLE_LINGAM_VARIABLE_CUES, sample_lingam_cues, sample_negentropy)
from causal_amort.model.score_fit import ScoreFit, fit_score, hessian_spread, ridge_inverse_
from causal_amort.model.sufficient import GAUSS1, LOGCOSH, S, S2, TANH, RunningStats

_EPS = 1e-9
VARIABLE_CUES = ("skew", "excess_kurtosis", "negentropy", "mean_logcosh", "mean_gauss1", "r2_linear",
                 "r2_additive", "r2_additive_gain", "intervened_fraction", "log_rows", "constant")
# Directional pair cues [i, j] (the model also sees each one's transpose [j, i]).
DIRECTED_PAIR_CUES = ("r2_basis", "r2_basis_gain", "hetero_mean", "hetero_var", "residual_negentropy",
                      "shift_mean_under_do", "shift_var_under_do")
# Cues that are symmetric, or antisymmetric (their transpose is their negative).
PLAIN_PAIR_CUES = ("corr", "abs_corr", "partial_corr", "lingam_cumulant", "lingam_skew", "lingam_tanh",
                   "direct_lingam")
# The streamed score-matching leaf test (``model.score_cues``), appended after the cues above.
SCORE_VARIABLE_CUES = ("score_hess_var", "score_hess_mean")
SCORE_PAIR_CUES = ("score_hess_var_without", "score_cross_var")  # directed, like DIRECTED_PAIR_CUES
# The moment cues again on the tails' milder clip (``model.tail_cues``, `tail_cues`), appended last.
TAIL_VARIABLE_CUES = ("tail_skew", "tail_kurtosis", "tail_negentropy")
TAIL_DIRECTED_PAIR_CUES = ("tail_residual_negentropy", "tail_hetero_var")
TAIL_PLAIN_PAIR_CUES = ("tail_cumulant", "tail_cumulant_signed", "tail_lingam_skew", "tail_direct_lingam")


# Every cue but the bookkeeping ones (log_rows, constant) by the classical method it comes from:
# the groups an ablation can switch off (``model.drop_cues``) to measure what each adds.
CUE_GROUPS = {
    "moments": ("skew", "excess_kurtosis", "negentropy", "mean_logcosh", "mean_gauss1"),
    "regression": ("r2_linear", "r2_additive", "r2_additive_gain", "r2_basis", "r2_basis_gain"),
    "heteroscedasticity": ("hetero_mean", "hetero_var"),
    "lingam": ("residual_negentropy", "lingam_cumulant", "lingam_skew", "lingam_tanh", "direct_lingam"),
    "correlation": ("corr", "abs_corr", "partial_corr"),
    "interventions": ("intervened_fraction", "shift_mean_under_do", "shift_var_under_do"),
    "score": SCORE_VARIABLE_CUES + SCORE_PAIR_CUES,
    "kernel_score": KERNEL_VARIABLE_CUES,
    "leaf_removal": LEAF_VARIABLE_CUES,
    "tails": TAIL_VARIABLE_CUES + TAIL_DIRECTED_PAIR_CUES + TAIL_PLAIN_PAIR_CUES,
    "sample_lingam": SAMPLE_LINGAM_VARIABLE_CUES + SAMPLE_LINGAM_PAIR_CUES,
    "sample_lingam_moments": SAMPLE_LINGAM_MOMENT_CUES,
}


def _directed(names: tuple[str, ...]) -> list[str]:
    """The columns of directed pair cues: each as [i, j], then each as [j, i]."""
    return [f"{c}[i,j]" for c in names] + [f"{c}[j,i]" for c in names]


def cue_columns(score: bool, kernel: bool = False, leaf: bool = False, tails: bool = False, lingam: bool = False,
                lingam_moments: bool = False) -> tuple[list[str], list[str]]:
    """The cue of each column of the per-variable and the pair cues (directed ones as name[i,j], name[j,i]);
    ``score`` / ``kernel`` / ``leaf`` / ``tails`` / ``lingam`` / ``lingam_moments``: with the streamed
    score-matching / the kernel score / the leaf-removal / the tails' / the sample LiNGAM cues / the moments
    of the sample search's residuals (columns in that order, after the others)."""
    variable = list(VARIABLE_CUES) + (list(SCORE_VARIABLE_CUES) if score else [])
    variable += list(KERNEL_VARIABLE_CUES) if kernel else []
    variable += list(LEAF_VARIABLE_CUES) if leaf else []
    variable += list(TAIL_VARIABLE_CUES) if tails else []
    variable += list(SAMPLE_LINGAM_VARIABLE_CUES) if lingam else []
    variable += list(SAMPLE_LINGAM_MOMENT_CUES) if lingam_moments else []
    pair = _directed(DIRECTED_PAIR_CUES) + list(PLAIN_PAIR_CUES)
    pair += _directed(SCORE_PAIR_CUES) if score else []
    pair += _directed(TAIL_DIRECTED_PAIR_CUES) + list(TAIL_PLAIN_PAIR_CUES) if tails else []
    pair += list(SAMPLE_LINGAM_PAIR_CUES) if lingam else []
    return variable, pair


def group_columns(score: bool, kernel: bool = False, leaf: bool = False, tails: bool = False,
                  lingam: bool = False, lingam_moments: bool = False) -> tuple[Tensor, Tensor]:
    """Float memberships (G, F_v) and (G, F_p): 1 where a column's cue is in group g of CUE_GROUPS
    (in that order); the bookkeeping columns belong to none."""
    return tuple(torch.tensor([[float(name.split("[")[0] in CUE_GROUPS[group]) for name in names]
                               for group in CUE_GROUPS])
                 for names in cue_columns(score, kernel, leaf, tails, lingam, lingam_moments))


def kept_columns(dropped_groups: tuple[str, ...], score: bool, kernel: bool = False, leaf: bool = False,
                 tails: bool = False, lingam: bool = False, lingam_moments: bool = False) -> tuple[Tensor, Tensor]:
    """Float masks (F_v,) and (F_p,): 0 on the columns of the cue groups dropped, 1 elsewhere."""
    dropped = torch.tensor([float(group in dropped_groups) for group in CUE_GROUPS])
    return tuple(1.0 - (dropped @ members).clamp(max=1.0)
                 for members in group_columns(score, kernel, leaf, tails, lingam, lingam_moments))


def num_cues(score: bool, kernel: bool = False, leaf: bool = False, tails: bool = False,
             lingam: bool = False, lingam_moments: bool = False) -> tuple[int, int]:
    """(per-variable, pair) cue counts the encoder reads, with or without the score-matching, the
    kernel score, the leaf-removal, the tails' and the sample LiNGAM cues and its residuals' moments."""
    variable, pair = cue_columns(score, kernel, leaf, tails, lingam, lingam_moments)
    return len(variable), len(pair)


# The binomial expansion's 4 x 4 pattern: C(a, p) on and below the diagonal, and which power of -mu
# each entry takes (a - p; 0 above the diagonal, where C is 0).
_BINOMIAL = torch.tensor([[math.comb(a, p) if p <= a else 0.0 for p in range(4)] for a in range(4)],
                         dtype=torch.float64)
_POWER_OF = torch.tensor([[max(a - p, 0) for p in range(4)] for a in range(4)])


def _signed_log(x: Tensor) -> Tensor:
    """sign(x) log(1 + |x|) in float32, after NaN/inf are zeroed: heavy-valued cues on a scale a network
    likes. By blocks of dim 1 (about 2M entries of each dataset), so that the float64 temporaries are a
    block's: the pair cues (B, d, d, F) are the largest tensor of the cues (200 MB at d = 1000)."""
    out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    step = max(1, (2 << 20) // max(1, x[:1, :1].numel()))
    for start in range(0, x.shape[1], step):
        block = torch.nan_to_num(x[:, start : start + step], nan=0.0, posinf=1e6, neginf=-1e6)
        out[:, start : start + step] = torch.sign(block) * torch.log1p(block.abs())
    return out


def _diag(m: Tensor) -> Tensor:
    return torch.diagonal(m, dim1=-2, dim2=-1)


class PowerMoments(NamedTuple):
    """What the moment cues read of one clip's powers s, s^2, s^3 (`_power_moments`): per variable the
    variance of s, skewness, excess kurtosis, E[u^4] and the scale (1 where constant); per pair rho =
    E[u_i u_j] (0 on the diagonal and for constant columns) and the joint E[u_i^a u_j^b] the cues read,
    keyed (a, b)."""

    var: Tensor
    skew: Tensor
    kurt: Tensor
    c4: Tensor
    rho: Tensor
    sd: Tensor
    constant: Tensor
    eye: Tensor
    u: dict


def _power_moments(gram5: Tensor, mean: Tensor, n: Tensor) -> PowerMoments:
    """Moments of u = (s - mean) / sd, s one clip's z-score, from sums whose first three features are
    s, s^2, s^3: ``gram5`` the Gram matrix viewed [i, k, j, l] (B, d, K, d, K), ``mean`` the feature
    means (B, d, K), ``n`` (B,) the rows."""
    batch, d = mean.shape[:2]
    # Raw second moments of the three powers, E[s_i^p s_j^q] for p, q = 1..3; each variable's own give
    # E[s^2] and E[s^4] (the entry of s^2 with itself).
    joint_raw = gram5[:, :, :3, :, :3] / n.view(batch, 1, 1, 1, 1)
    own = torch.diagonal(joint_raw, dim1=1, dim2=3)  # (B, 3, 3, d)
    mu = mean[..., 0]
    var = (own[:, 0, 0] - mu * mu).clamp_min(0.0)
    # raw_pow[a][i] = E[s_i^a] for a = 0..4.
    raw_pow = [torch.ones_like(mu), mu, mean[..., 1], mean[..., 2], own[:, 1, 1]]
    constant = var <= 1e-12
    sd = torch.where(constant, 1.0, var.sqrt())
    # Joint raw moments R[p, q] = E[s_i^p s_j^q], p, q = 0..3, laid out [i, p, j, q]: the Gram entries of
    # s, s^2, s^3 and, where one power is 0, the univariate moments.
    raw = torch.empty(batch, d, 4, d, 4, dtype=mu.dtype, device=mu.device)
    raw[:, :, 1:, :, 1:] = joint_raw
    raw[:, :, 0] = torch.stack(raw_pow[:4], dim=-1)[:, None]
    raw[:, :, 1:, :, 0] = torch.stack(raw_pow[1:4], dim=-1)[:, :, :, None]
    # Central moments by the binomial expansion, all (a, b) at once: E[(s_i - mu_i)^a (s_j - mu_j)^b]
    # = sum_pq C(a, p) (-mu_i)^(a - p) C(b, q) (-mu_j)^(b - q) R[p, q] = (A_i R A_j^T)[a, b], as two
    # batched products over 4 x 4 matrices A (no Python loop over moments).
    # A[a, p] = C(a, p) (-mu)^(a - p) for p <= a (0 above the diagonal): powers of -mu gathered by a - p.
    powers = (-mu)[..., None] ** torch.arange(4, dtype=mu.dtype, device=mu.device)  # (B, d, 4)
    expand = powers[..., _POWER_OF.flatten()].view(batch, d, 4, 4) * _BINOMIAL.to(mu.device, mu.dtype)
    left = (expand @ raw.view(batch, d, 4, 4 * d)).view(batch, 4 * d, d, 4).transpose(1, 2)  # [j, (i, a), q]
    central = (left @ expand.transpose(-1, -2)).view(batch, d, d, 4, 4).transpose(1, 2)  # [i, j, a, b]
    sd_pow = sd[..., None] ** torch.arange(4, dtype=sd.dtype, device=sd.device)  # (B, d, 4)
    # E[u_i^a u_j^b] = central moment over sd_i^a sd_j^b, every (a, b) at once; the cues read seven.
    joint = central / (sd_pow[:, :, None, :, None] * sd_pow[:, None, :, None, :])
    # The seven are copied out, so that the (d, d, 4, 4) intermediates go now (288 MB each at d = 1500).
    u = {(a, b): joint[..., a, b].clone() for a, b in ((1, 1), (2, 1), (1, 2), (3, 1), (1, 3), (2, 2), (3, 0))}
    del raw, left, central, joint
    skew = _diag(u[3, 0])
    # E[u^4] by the same expansion from raw moments up to order 4.
    c4 = (raw_pow[4] - 4 * mu * raw_pow[3] + 6 * mu**2 * raw_pow[2] - 3 * mu**4) / sd**4
    rho = u[1, 1].clamp(-1.0, 1.0)
    eye = torch.eye(d, dtype=torch.bool, device=mu.device)
    rho = torch.where(eye, 0.0, rho)  # a variable is not its own neighbour
    rho = torch.where(constant[:, :, None] | constant[:, None, :], 0.0, rho)
    return PowerMoments(var, skew, c4 - 3.0, c4, rho, sd, constant, eye, u)


class LingamMeasures(NamedTuple):
    """The moment-based measures of `_lingam_measures`: per variable the negentropy; per pair [i, j]."""

    negentropy: Tensor
    residual_negentropy: Tensor
    direct: Tensor
    hetero_mean: Tensor
    hetero_var: Tensor
    cumulant: Tensor
    skew: Tensor


def _lingam_measures(m: PowerMoments) -> LingamMeasures:
    """The pairwise direction measures that moments up to order 4 give, from `_power_moments`."""
    rho, u, skew, c4 = m.rho, m.u, m.skew, m.c4
    # The linear residual r_{i|j} = u_i - rho u_j: its negentropy, and DirectLiNGAM's pairwise measure.
    negentropy, residual_negentropy, direct = direct_lingam_measure(rho, skew, c4, u[2, 1], u[1, 2], u[3, 1],
                                                                    u[1, 3], u[2, 2])
    v = residual_variance(rho)
    skew_j, m4_j = skew[:, None, :], c4[:, None, :]
    # Heteroscedasticity (the variance of the residual changes with the regressor): an additive-noise
    # model in the true direction has none (RESIT, Peters et al. 2014; Var(r | x) is constant).
    hetero_mean = (u[2, 1] - 2 * rho * u[1, 2] + rho**2 * skew_j) / v
    hetero_var = (u[2, 2] - 2 * rho * u[1, 3] + rho**2 * m4_j - v) / v
    # Pairwise likelihood-ratio measures of Hyvarinen & Smith (2013): cumulant and skew forms.
    cumulant = rho * (u[3, 1] - u[1, 3])
    skew_measure = rho * (u[2, 1] - u[1, 2])
    return LingamMeasures(negentropy, residual_negentropy, direct, hetero_mean, hetero_var, cumulant, skew_measure)


def score_matching_cues(fit: ScoreFit) -> tuple[Tensor, Tensor]:
    """SCORE's leaf test (Rolland et al. 2022) in streamed form: (B, d, 2) and (B, d, d, 2) float32, unscaled.

    The score grad log p(z) of the z-scores is fitted by score matching (Hyvarinen 2005) as an
    additive function of all variables' basis features: for a linear-in-parameters model the
    objective E[s^2 / 2 + ds/dz_i] is a quadratic whose minimiser needs only the feature covariance
    (the Gram matrix) and the mean feature derivatives, so the fit is one ridge solve on the sums.
    In an additive-noise model a leaf's score is additive in (z_i, parents), and its Hessian entry
    d s_i / d z_i is constant for Gaussian noise; a variable with children has interaction terms,
    and the additive fit's entry varies with z_i. Per variable: Var and -E of that entry (SCORE
    removes the variable of least variance as a leaf). Per ordered pair [i, j]: the variance for i
    once j is left out of the fit (a block downdate of the inverse; removing i's only child makes
    i look like a leaf), and the variance of the cross entry d s_i / d z_j (its nonlinear
    interaction with j, the edge signal DAS reads off the Hessian).
    """
    batch, d, K = fit.inv_sd.shape
    prec, inv_sd, deriv_mean, deriv_cov, target = fit.prec, fit.inv_sd, fit.deriv_mean, fit.deriv_cov, fit.target
    p5 = prec.view(batch, K, d, K, d)  # P[(k, i), (l, j)] as [k, i, l, j]

    # The fit of s_i has coefficients theta_i = -P m_i; its block on variable j is -P[j, i] m_i, and
    # the Hessian entry d s_i / d z_j = sum_k theta_(k, j), i phi'_k(z_j) / sd_(k, j) = w_ij . phi'(z_j).
    coef = torch.einsum("bkjli,bil->bjik", p5, target)  # [j, i]: P[j, i] m_i
    own_coef = torch.diagonal(coef, dim1=1, dim2=2).transpose(1, 2)  # (B, d, K): P[i, i] m_i
    w_own = -own_coef * inv_sd
    hess_var = hessian_spread(w_own[..., None, :], deriv_cov)[..., 0]
    hess_mean = -(w_own * deriv_mean).sum(-1)  # = m_i' P m_i >= 0, the fitted Fisher information
    # Leaving j out: P'[i, i] = P[i, i] - P[i, j] P[j, j]^-1 P[j, i] (the inverse of the sub-matrix).
    own = torch.diagonal(p5, dim1=2, dim2=4).permute(0, 3, 1, 2)  # (B, d, K, K): P[j, j]
    eye_k = torch.eye(K, dtype=prec.dtype, device=prec.device)
    solved = torch.linalg.solve(own + 1e-9 * eye_k, coef.transpose(2, 3)).transpose(2, 3)  # [j, i]: P[j, j]^-1 P[j, i] m_i
    downdate = torch.einsum("bkilj,bjil->bijk", p5, solved)  # [i, j]: P[i, j] P[j, j]^-1 P[j, i] m_i
    hess_var_without = hessian_spread(-(own_coef[:, :, None] - downdate) * inv_sd[:, :, None], deriv_cov)
    cross_var = hessian_spread(-coef * inv_sd[:, :, None], deriv_cov).transpose(1, 2)  # fits of s_i on z_j, by j
    per_variable = torch.stack([hess_var, hess_mean], dim=-1)
    pairs = torch.stack([torch.log((hess_var_without + 1e-6) / (hess_var[:, :, None] + 1e-6)), cross_var], dim=-1)
    return per_variable, pairs


def tail_cues(stats: RunningStats) -> tuple[Tensor, Tensor]:
    """The moment cues on the milder clip t (``RunningStats.tail_sums``; Hyvarinen & Smith 2013,
    DirectLiNGAM's measure, RESIT's heteroscedasticity): per variable (B, d, 3) ``TAIL_VARIABLE_CUES``,
    per pair (B, d, d, 8) ``TAIL_DIRECTED_PAIR_CUES`` as [i, j] and [j, i], then ``TAIL_PLAIN_PAIR_CUES``,
    float64, before `compute_cues` masks and compresses them. The main clip bounds s by 4, which takes
    the excess kurtosis of Laplace, Gumbel or exponential noise to about 0, and with it the sign the
    cumulant measure needs (``tail_cumulant_signed``: the measure times the sign of the pair's kurtosis,
    Hyvarinen & Smith's form for noise of either sign)."""
    if stats.tail_sums is None:
        raise ValueError("the tails' cues need running statistics started with tails=True")
    batch, d = stats.count.shape[0], stats.d
    n = stats.count.clamp_min(1.0)
    m = _power_moments(stats.tail_gram.view(batch, 3, d, 3, d).permute(0, 2, 1, 4, 3),
                       stats.tail_sums / n[:, None, None], n)
    lingam = _lingam_measures(m)
    signed = lingam.cumulant * torch.sign(m.kurt[:, :, None] + m.kurt[:, None, :])
    per_variable = torch.where(m.constant[..., None], 0.0, torch.stack([m.skew, m.kurt, lingam.negentropy], dim=-1))
    directed = torch.stack([lingam.residual_negentropy, lingam.hetero_var], dim=-1)
    plain = torch.stack([lingam.cumulant, signed, lingam.skew, lingam.direct], dim=-1)
    return per_variable, torch.cat([directed, directed.transpose(1, 2), plain], dim=-1)


def nonlinearity(r2_linear: Tensor, r2_additive: Tensor, constant: Tensor) -> Tensor:
    """(B,) the largest gain of a variable's additive R^2 over its linear R^2 (the cue r2_additive_gain; 0
    for a constant column): near 0 when every variable is linear in the others, as in a linear SEM."""
    return torch.where(constant, 0.0, r2_additive - r2_linear).amax(dim=1)


def compute_cues(stats: RunningStats, score: bool = False, kernel: bool = False,
                 leaf: bool = False, tails: bool = False, lingam: bool = False, lingam_moments: bool = False,
                 lingam_gate: float = 0.0, lingam_max_d: int = 0,
                 lingam_min_negentropy: float = 0.0,
                 lingam_max_heteroscedasticity: float = 0.0,
                 lingam_min_residual_negentropy: float = 0.0, lingam_rerank: int = 0,
                 lingam_max_curvature: float = 0.0, lingam_unclipped_rows: bool = False) -> tuple[Tensor, Tensor]:
    """Per-variable cues (B, d, F_v) and pair cues (B, d, d, F_p), float32, from the running sums;
    ``score`` appends the score-matching cues (`score_matching_cues`), ``kernel`` the kernel score
    cues of the row sample (kernel_cues.py), ``leaf`` the leaf-removal cues (leaf_cues.py; they
    refit the score cues' fit, so they need ``score``), ``tails`` the tails' moment cues (`tail_cues`),
    ``lingam`` DirectLiNGAM's search on the row sample (sample_lingam.py), run only on the tasks whose
    `nonlinearity` is at most ``lingam_gate`` when that is > 0 and whose sample's negentropy
    (`sample_negentropy`) is above ``lingam_min_negentropy`` when that is > 0, and not at all on more than
    ``lingam_max_d`` variables when that is > 0 (where it does not run its cues are zeros); with
    ``lingam_max_heteroscedasticity`` > 0, its order is also dropped (zeros) where the residuals it leaves
    are above that (`sample_lingam.search_heteroscedasticity`), and with ``lingam_min_residual_negentropy`` > 0
    where the median non-Gaussianity of those residuals is below that (`sample_lingam.residual_negentropy`);
    ``lingam_rerank`` re-ranks the search's likeliest roots at each step (`sample_lingam.sample_lingam_cues`),
    and with ``lingam_max_curvature`` > 0 its order is dropped where its residuals' means bend with their fits
    above that (`sample_lingam.search_curvature`); with ``lingam_unclipped_rows``, on data with no row
    intervened on, the search reads only the sampled rows where no variable reached the sample's clip;
    ``lingam_moments`` (needs ``lingam``) appends the search's residuals' moments, zeros wherever its order is."""
    if lingam_moments and not lingam:
        raise ValueError("the moments of the search's residuals need the search: lingam = True")
    if leaf and not score:
        raise ValueError("the leaf-removal cues refit the score cues' fit: they need score = True")
    # The score fit's cues first, while no other cue's intermediates are held: the fit's correlation,
    # Cholesky factor and inverse are (dK)^2 each (768 MB at d = 1000), the largest step of the cues.
    if score:
        fit = fit_score(stats)
        score_var, score_pairs = score_matching_cues(fit)
        leaf_var = leaf_removal_cues(fit) if leaf else None
        del fit
    batch, d, K = stats.count.shape[0], stats.d, stats.k
    n = stats.count.clamp_min(1.0)
    mean = stats.sums / n[:, None, None]  # (B, d, K) feature means
    # The feature-major Gram as [i, k, j, l] (a view). Raw second moments are the blocks a cue reads
    # divided by n there: dividing all (dK)^2 entries first copied the Gram (512 MB at d = 1000).
    gram5 = stats.gram.view(batch, K, d, K, d).permute(0, 2, 1, 4, 3)

    def moments(ki: slice | int, kj: slice | int) -> Tensor:
        """Raw second moments [i, ki, j, kj] of the features."""
        block = gram5[:, :, ki, :, kj]
        return block / n.view(batch, *[1] * (block.ndim - 1))

    def cov(ki: slice | int, kj: slice | int) -> Tensor:
        """Covariance block [i, ki, j, kj] of the features, formed only where a cue needs it."""
        mi, mj = mean[:, :, ki], mean[:, :, kj]
        if isinstance(ki, slice):
            return moments(ki, kj) - mi[:, :, :, None, None] * mj[:, None, None, :, :]
        return moments(ki, kj) - mi[:, :, None] * mj[:, None, :]

    # Each variable's own K x K block of raw moments (B, d, K, K).
    own_raw = (torch.diagonal(gram5, dim1=1, dim2=3) / n[:, None, None, None]).permute(0, 3, 1, 2)
    # The moments of s read the powers s, s^2, s^3: the basis's first three features.
    m = _power_moments(gram5, mean, n)
    mu, var = mean[..., S], m.var
    skew, kurt, rho, sd, constant, eye = m.skew, m.kurt, m.rho, m.sd, m.constant, m.eye
    measures = _lingam_measures(m)
    tanh_s = cov(TANH, S)  # [i, j] = Cov(tanh s_i, s_j)
    lingam_tanh = rho * (tanh_s / sd[:, None, :] - tanh_s.transpose(1, 2) / sd[:, :, None])

    # --- regressions from the feature covariance, on the correlation scale -------------------------------
    feat_var = torch.diagonal(own_raw, dim1=2, dim2=3) - mean**2  # (B, d, K)
    feat_sd = feat_var.clamp_min(0.0).sqrt()
    feat_sd = torch.where(feat_sd > 1e-6, feat_sd, math.inf)  # a constant feature: zero correlations

    def corr(ki: slice, kj: slice) -> Tensor:
        """Correlation block [i, ki, j, kj] (B, d, ki, d, kj)."""
        return cov(ki, kj) / feat_sd[:, :, ki, None, None] / feat_sd[:, None, None, :, kj]

    # Basis regression of s_i on the K features of x_j (additive-noise / RESIT style fit of i on j),
    # as an adjusted R^2; its gain over rho^2 is the nonlinear part.
    all_k = slice(0, K)
    own = (own_raw - mean[:, :, :, None] * mean[:, :, None, :]) / feat_sd[:, :, :, None] / feat_sd[:, :, None, :]
    target = corr(all_k, slice(S, S + 1))[..., 0]  # (B, d_j, K, d_i): Corr(phi_k(x_j), s_i)
    eye_k = torch.eye(K, dtype=mean.dtype, device=mean.device)
    beta = torch.linalg.solve(own + 1e-3 * eye_k, target)
    r2_basis = (target * beta).sum(dim=2).transpose(1, 2)  # [i, j]
    adjust = ((n - 1) / (n - K - 1).clamp_min(1.0))[:, None, None]
    r2_basis = (1 - (1 - r2_basis.clamp(0.0, 1.0)) * adjust).clamp(0.0, 1.0)
    r2_basis = torch.where(eye, 0.0, r2_basis)
    # Linear precision of the s's (ridge grows with d / n): partial correlations and R^2 on all others
    # (R^2-sortability, Reisach et al. 2023).
    ridge_lin = (1e-2 + d / n).clamp(max=1.0)
    lin_corr = torch.where(eye, 1.0, rho)
    prec = ridge_inverse_(lin_corr, ridge_lin)
    pdiag = _diag(prec)
    partial_corr = torch.where(eye, 0.0, -prec / torch.sqrt(pdiag[:, :, None] * pdiag[:, None, :]))
    r2_linear = (1 - 1 / (pdiag * (1 + ridge_lin[:, None]))).clamp(0.0, 1.0)
    # Additive R^2 of s_i on the cubic basis (s, s^2, s^3) of all other variables: the residual
    # covariance of block i given the rest is the inverse of block i of the precision matrix (Schur
    # complement). The cubic sub-basis keeps the one (3d x 3d) inverse cheap at large d.
    ridge_full = (1e-2 + 3 * d / n).clamp(max=1.0)
    full = corr(slice(0, 3), slice(0, 3)).reshape(batch, 3 * d, 3 * d)
    full = full.masked_fill_(~torch.isfinite(full), 0.0)
    blocks = torch.diagonal(ridge_inverse_(full, ridge_full).view(batch, d, 3, d, 3), dim1=1, dim2=3)
    residual = torch.linalg.inv(blocks.permute(0, 3, 1, 2))[:, :, S, S]
    del full, blocks  # (3d)^2 each, the matrix and its inverse: 162 MB at d = 1500
    r2_additive = (1 - residual / (1 + ridge_full[:, None])).clamp(0.0, 1.0)

    # --- interventions: how variable i moves when j is intervened on ------------------------------------
    int_n = stats.int_count.clamp_min(1.0)  # (B, d_j)
    int_mean = stats.int_sums / int_n[:, :, None, None]  # (B, d_j, d_i, K)
    seen = (stats.int_count > 0)[:, :, None]
    shift_mean = torch.where(seen, (int_mean[..., S] - mu[:, None, :]) / sd[:, None, :], 0.0)
    shift_var = torch.where(seen, int_mean[..., S2] - int_mean[..., S] ** 2 - var[:, None, :], 0.0) / sd[:, None, :] ** 2
    shift_mean = torch.where(eye, 0.0, shift_mean).transpose(1, 2)  # [i, j]: i under do(j)
    shift_var = torch.where(eye, 0.0, shift_var).transpose(1, 2)

    rows_total = n if stats.pooled else n + stats.int_count.sum(dim=1)  # pooled: n counts every row already
    measured = torch.stack([skew, kurt, measures.negentropy, mean[..., LOGCOSH], mean[..., GAUSS1], r2_linear, r2_additive,
                            r2_additive - r2_linear, stats.int_count / rows_total[:, None]], dim=-1)
    per_variable = [torch.where(constant[..., None], 0.0, measured),
                    (torch.log(rows_total) / 10.0)[:, None, None].expand(batch, d, 1), constant.to(mean.dtype)[..., None]]
    directed = torch.stack([r2_basis, r2_basis - rho**2, measures.hetero_mean, measures.hetero_var,
                            measures.residual_negentropy, shift_mean, shift_var], dim=-1)
    plain = torch.stack([rho, rho.abs(), partial_corr, measures.cumulant, measures.skew, lingam_tanh, measures.direct],
                        dim=-1)
    pairs = [directed, directed.transpose(1, 2), plain]
    if score:
        per_variable.append(torch.where(constant[..., None], 0.0, score_var))
        pairs += [score_pairs, score_pairs.transpose(1, 2)]
    if kernel:
        per_variable.append(torch.where(constant[..., None], 0.0, kernel_score_cues(stats).to(mean.dtype)))
    if leaf:
        per_variable.append(torch.where(constant[..., None], 0.0, leaf_var.to(mean.dtype)))
    if tails:
        tail_var, tail_pairs = tail_cues(stats)
        per_variable.append(tail_var)
        pairs.append(tail_pairs)
    if lingam:
        if 0 < lingam_max_d < d:
            opened = torch.zeros(batch, dtype=torch.bool, device=mean.device)
        else:
            opened = nonlinearity(r2_linear, r2_additive, constant) <= lingam_gate if lingam_gate > 0 else None
            # The Gaussianity test reads the sample (a pass over its rows): not where the gate is already shut.
            if lingam_min_negentropy > 0 and (opened is None or bool(opened.any())):
                non_gaussian = sample_negentropy(stats) > lingam_min_negentropy
                opened = non_gaussian if opened is None else opened & non_gaussian
        lingam_var, lingam_pairs = sample_lingam_cues(stats, opened, lingam_max_heteroscedasticity,
                                                      lingam_min_residual_negentropy, moments=lingam_moments,
                                                      rerank=lingam_rerank, max_curvature=lingam_max_curvature,
                                                      unclipped=lingam_unclipped_rows)
        per_variable.append(torch.where(constant[..., None], 0.0, lingam_var.to(mean.dtype)))
        pairs.append(lingam_pairs.to(mean.dtype))
    not_self = (~eye)[None, :, :, None]
    dead = (constant[:, :, None] | constant[:, None, :])[..., None]
    pairs = torch.cat(pairs, dim=-1).mul_(not_self).masked_fill_(dead, 0.0)
    return _signed_log(torch.cat(per_variable, dim=-1)), _signed_log(pairs)
