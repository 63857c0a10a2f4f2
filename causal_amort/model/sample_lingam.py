"""DirectLiNGAM's search (Shimizu et al. 2011) run on the streamed row sample, as cues.

The streamed sums give pairwise LiNGAM measures on the marginals (cues.py), but DirectLiNGAM's
strength is its regress-out step: it takes the most exogenous variable, regresses it out of every
other one and measures again on the residuals. The residuals' higher moments need joint moments of
three and more variables, which no O((dK)^2) sum holds; the rows that `RunningStats` samples
(``reservoir_rows``, a fixed number whatever n is) do. Here the whole search runs, batched, on
them, and what DirectLiNGAM would answer becomes cues, as SEA (Wu et al. 2024) feeds classical
estimates to its network, which learns when to trust them (linear mechanisms with non-Gaussian
noise are DirectLiNGAM's premise).

The measure is DirectLiNGAM's pairwise one, the difference of two mutual informations written with
entropies, H(u_j) + H(r_i|j) - H(u_i) - H(r_j|i) (positive when i causes j), with each entropy in
its Gram-Charlier (moment) form (lingam_measure.py), so that the residual moments of every pair come
from two matrix products of the sample's powers per step (lingam's log-cosh form needs every pair's
residual row by row: 10-40 times the time). A variable's
score is lingam's, the sum over the others of min(0, measure)^2; the lowest is the next root. With
``rerank`` = c, the c lowest are scored again with Hyvarinen's maximum-entropy approximation
(lingam_measure.max_entropy; lingam's entropies are of that kind too), which a heavy tail sways less
than the moments, and the lowest of those is the next root: c residual columns against every other,
row by row, per step.

Per variable (``SAMPLE_LINGAM_VARIABLE_CUES``): its position in the order found (0 = first root,
1 = last) and the margin by which it was picked (log of the runner-up's score over its own, 0 for
the last one). Per pair (``SAMPLE_LINGAM_PAIR_CUES``, antisymmetric): +1 when i comes before j in
that order, -1 after. Zeros where the sample holds fewer than `MIN_ROWS` rows.

Three tests of the residuals the search leaves (each variable's residual given those placed before it)
can drop the order (zeros) where DirectLiNGAM's premise fails: `search_heteroscedasticity`, their
spread growing with their fits (a distortion after the sum), `residual_negentropy`, most of
them Gaussian (then the order below the non-Gaussian roots is arbitrary), and `search_curvature`,
their means bending with their fits (a nonlinear SCM the linearity gate let through).
"""
from __future__ import annotations

import torch
from torch import Tensor

from causal_amort.model.kernel_cues import MIN_ROWS  # the fewest sampled rows a cue of the sample reads
from causal_amort.model.lingam_measure import direct_lingam_measure, max_entropy, negentropy, residual_variance
from causal_amort.model.sufficient import SAMPLE_CLIP, RunningStats

SAMPLE_LINGAM_VARIABLE_CUES = ("sample_lingam_position", "sample_lingam_margin")
SAMPLE_LINGAM_PAIR_CUES = ("sample_lingam_precedes",)
# With ``model.lingam_residual_moments``: the skew and excess kurtosis of each variable's residual given those
# placed before it (its noise, if the order is right), which tell the embeddings what noise the search faced.
SAMPLE_LINGAM_MOMENT_CUES = ("sample_lingam_residual_skew", "sample_lingam_residual_kurtosis")
_TINY = 1e-12


def _measure(residual: Tensor, sd: Tensor, rows: Tensor, powers: Tensor) -> Tensor:
    """(B, k, k) DirectLiNGAM's pairwise measure [i, j] of the residual columns (B, m, k) standardized by
    ``sd`` (B, 1, k), positive when i causes j. Rows outside the sample are zero in ``residual``, so they
    add nothing; ``rows`` (B, 1, 1) counts the sampled ones; ``powers`` (B, m, 3k) is scratch space, whose
    first k columns hold the standardized residuals on return."""
    k = residual.shape[2]
    u, u2, u3 = powers[..., :k], powers[..., k : 2 * k], powers[..., 2 * k :]
    torch.div(residual, sd, out=u)
    torch.mul(u, u, out=u2)
    torch.mul(u2, u, out=u3)
    first = u.transpose(1, 2) @ powers / rows  # E[u_i u_j^p], p = 1, 2, 3
    rho, m12, m13 = first.chunk(3, dim=2)
    m22 = u2.transpose(1, 2) @ u2 / rows  # E[u_i^2 u_j^2]
    skew, c4 = m12.diagonal(dim1=1, dim2=2), m22.diagonal(dim1=1, dim2=2)  # E[u^3], E[u^4]
    eye = torch.eye(k, dtype=torch.bool, device=u.device)
    rho = torch.where(eye, 0.0, rho.clamp(-1.0, 1.0))
    # m12[i, j] = E[u_i u_j^2], so E[u_i^2 u_j] = m12[j, i]; likewise m13.
    return direct_lingam_measure(rho, skew, c4, m12.transpose(1, 2), m12, m13.transpose(1, 2), m13, m22)[2]


def _rerank(u: Tensor, score: Tensor, rows: Tensor, candidates: int) -> tuple[Tensor, Tensor]:
    """((B,) the held column picked, (B,) the log of the runner-up's score over its own): of the ``candidates``
    columns with the lowest moment ``score`` (B, k), the one with the lowest lingam score when each pair's
    measure takes its entropies from `max_entropy`, for standardized columns ``u`` (B, m, k) (zero outside
    the sample; ``rows`` (B, 1, 1) sampled rows)."""
    _, m, k = u.shape
    pick = score.topk(candidates, dim=1, largest=False).indices  # (B, c)
    columns = u.transpose(1, 2).contiguous()  # (B, k, m): rows last, so each entropy sums a contiguous run
    picked = columns.gather(1, pick[:, :, None].expand(-1, -1, m))  # (B, c, m)
    padded = m - rows  # (B, 1, 1) rows outside the sample, zero in every column
    entropy = max_entropy(columns, rows[:, 0], padded[:, 0])  # (B, k)
    rho = (picked @ u / rows).clamp_(-1.0, 1.0)  # (B, c, k)
    scale = residual_variance(rho).rsqrt_()  # (B, c, k)
    ahead, behind = picked[:, :, None, :], columns[:, None, :, :]  # (B, c, 1, m), (B, 1, k, m)
    rho = rho[..., None]
    # r_{i|j} and r_{j|i} of every candidate i and column j, written into one buffer so that one entropy
    # pass reads both (a dozen fewer small ops a step; the sums run over the same rows, so the same values).
    residuals = u.new_empty(u.shape[0], 2, candidates, k, m)
    torch.sub(ahead, rho * behind, out=residuals[:, 0])
    torch.sub(behind, rho * ahead, out=residuals[:, 1])
    given = max_entropy(residuals.mul_(scale[:, None, :, :, None]), rows[:, None], padded[:, None])  # (B, 2, c, k)
    # H(u_j) + H(r_{i|j}) - H(u_i) - H(r_{j|i}), positive when candidate i causes j.
    measure = entropy[:, None, :] + given[:, 0] - entropy.gather(1, pick)[:, :, None] - given[:, 1]
    itself = pick[:, :, None] == torch.arange(k, device=u.device)
    lingam = torch.nan_to_num_(measure, nan=0.0, posinf=0.0, neginf=0.0).masked_fill_(itself, 0.0)
    lingam = lingam.clamp_(max=0.0).square_().sum(dim=2)  # (B, c)
    low = lingam.topk(2, dim=1, largest=False)
    return pick.gather(1, low.indices[:, :1])[:, 0], torch.log((low.values[:, 1] + _TINY) / (low.values[:, 0] + _TINY))


def _held_slots(reservoir: Tensor, priority: Tensor) -> tuple[Tensor, Tensor]:
    """The row sample (B, m, d) and its priorities (B, m) without the slots past the last one that holds a row
    in any task (priority inf: zeros, which add nothing to the search's sums): while fewer rows than m have
    been seen, the search costs what the rows seen cost, not what the slots do."""
    positions = torch.arange(1, priority.shape[1] + 1, device=priority.device)
    held = int((torch.isfinite(priority) * positions).amax()) if priority.numel() else 0
    if held >= priority.shape[1] or held < MIN_ROWS:
        return reservoir, priority
    return reservoir[:, :held], priority[:, :held]


def _centred_sample(reservoir: Tensor, priority: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """(the sampled rows (B, m, d) minus their mean, zero outside the sample; weight (B, m, 1), 1 on a sampled
    row; rows (B, 1, 1), their count) of a row sample and its priorities, in ``dtype``."""
    x = reservoir.to(dtype)
    weight = torch.isfinite(priority).to(dtype)[:, :, None]
    rows = weight.sum(dim=1, keepdim=True).clamp_min(1.0)
    return (x - (x * weight).sum(dim=1, keepdim=True) / rows) * weight, weight, rows


def sample_negentropy(stats: RunningStats) -> Tensor:
    """(B,) the largest moment negentropy (lingam_measure.negentropy) of a variable over the sampled rows,
    0 for a constant column: near 0 when every variable is Gaussian, where DirectLiNGAM's order is arbitrary.
    The sample keeps the tails (z clipped at 10) that the sums' soft clip flattens (on the soft-clipped
    values Laplace noise reads as more Gaussian than Gaussian noise does)."""
    if stats.reservoir is None:
        raise ValueError("the sample's negentropy needs statistics that keep a row sample (reservoir_rows > 0)")
    centred, _, rows = _centred_sample(stats.reservoir, stats.priority, torch.float64)
    rows = rows[:, 0]  # (B, 1)
    sd = (centred.square().sum(dim=1) / rows).sqrt()  # (B, d)
    u = centred / torch.where(sd > 1e-6, sd, 1.0)[:, None]
    measure = negentropy(u.pow(3).sum(dim=1) / rows, u.pow(4).sum(dim=1) / rows - 3.0)
    return torch.where(sd > 1e-6, measure, 0.0).amax(dim=1)


def sample_lingam_cues(stats: RunningStats, opened: Tensor | None = None, max_heteroscedasticity: float = 0.0,
                       min_residual_negentropy: float = 0.0, moments: bool = False,
                       rerank: int = 0, max_curvature: float = 0.0, unclipped: bool = False) -> tuple[Tensor, Tensor]:
    """((B, d, 2), (B, d, d, 1)) cues of DirectLiNGAM's search on the sampled rows (module docstring), with
    ``moments`` (B, d, 4): the `SAMPLE_LINGAM_MOMENT_CUES` after them; with ``opened`` (B,) bool, the search
    runs on those tasks only and the others get zeros. With ``max_heteroscedasticity`` > 0, a task whose
    `search_heteroscedasticity` is above it gets zeros too; with ``min_residual_negentropy`` > 0, so does a
    task whose median `residual_negentropy` is below it, and with ``max_curvature`` > 0, a task whose mean
    `search_curvature` is above it. ``rerank`` (0, or at least 2): the search's pick among that many
    candidates by maximum-entropy approximations (module docstring). With ``unclipped``, on data with no row
    intervened on, the search and its tests read only the sampled rows where no variable reached the sample's
    clip (|z| = `SAMPLE_CLIP`): a clipped value bends a linear relation in the tails (on Cauchy noise a few
    percent of each variable's values), which the tests take for a nonlinear SCM; where fewer than `MIN_ROWS`
    such rows are left the cues are zeros. On interventional data the sample holds only the rows nothing was
    intervened on, often a few hundred, and without its clipped rows the tests let wrong orders through
    (rule v72), so there every sampled row counts."""
    if stats.reservoir is None:
        raise ValueError("the sample LiNGAM cues need statistics that keep a row sample (reservoir_rows > 0)")
    batch, _, d = stats.reservoir.shape
    if opened is None:
        opened = torch.ones(batch, dtype=torch.bool, device=stats.reservoir.device)
    var = stats.reservoir.new_zeros(batch, d, len(SAMPLE_LINGAM_VARIABLE_CUES) + moments * len(SAMPLE_LINGAM_MOMENT_CUES))
    pair = stats.reservoir.new_zeros(batch, d, d, len(SAMPLE_LINGAM_PAIR_CUES))
    if not bool(opened.any()):
        return var, pair
    everywhere = bool(opened.all())
    reservoir, priority = (stats.reservoir, stats.priority) if everywhere else (stats.reservoir[opened], stats.priority[opened])
    if unclipped:  # a clipped row becomes an empty slot (priority inf), which the search reads as zeros
        intervened = (stats.int_count if everywhere else stats.int_count[opened]).sum(dim=1) > 0
        dropped = (reservoir.abs() >= SAMPLE_CLIP).any(dim=2) & ~intervened[:, None]
        priority = torch.where(dropped, torch.inf, priority)
    reservoir, priority = _held_slots(reservoir, priority)
    found_var, found_pair, spread, gaussianity, found_moments, curvature = _search_cues(
        reservoir, priority, spread=max_heteroscedasticity > 0, gaussianity=min_residual_negentropy > 0, moments=moments,
        rerank=rerank, curvature=max_curvature > 0)
    if moments:
        found_var = torch.cat([found_var, found_moments], dim=-1)
    if max_heteroscedasticity > 0 or min_residual_negentropy > 0 or max_curvature > 0:
        trusted = torch.ones_like(spread, dtype=torch.bool)
        if max_heteroscedasticity > 0:
            trusted &= spread <= max_heteroscedasticity
        if max_curvature > 0:
            trusted &= curvature <= max_curvature
        if min_residual_negentropy > 0:
            trusted &= ~(gaussianity < min_residual_negentropy)  # NaN (nothing explained): no evidence, kept
        trusted = trusted[:, None, None]
        found_var, found_pair = found_var * trusted, found_pair * trusted[..., None]
    if everywhere:
        return found_var, found_pair
    var[opened], pair[opened] = found_var, found_pair
    return var, pair


def search_heteroscedasticity(residual: Tensor, fit: Tensor, weight: Tensor, rows: Tensor) -> Tensor:
    """(B, k) m times the mean square of two correlations between a residual's and its linear fit's
    sizes over the sampled rows: of |r| with |f|, and of tanh(r / sd)^2 with tanh(f / sd)^2, for columns
    ``residual`` and ``fit`` (B, m, k) (zero outside the sample; ``weight`` (B, m, 1) 1 on a sampled row,
    ``rows`` (B, 1, 1) their count). About 1 where the residual is independent of what it was regressed
    on, as in a linear SEM in its causal order; far above where its spread grows with the fit, as when a
    monotone distortion acts after the sum (a post-nonlinear model, where DirectLiNGAM's order misleads).
    0 where the fit is (nearly) constant: a root, or a variable its predecessors do not explain."""
    sd_r, sd_f = _sd(residual, rows), _sd(fit, rows)
    z_r, z_f = residual / sd_r.clamp_min(_TINY), fit / sd_f.clamp_min(_TINY)
    square = (_corr(residual.abs(), fit.abs(), weight, rows).square()
              + _corr(torch.tanh(z_r).square(), torch.tanh(z_f).square(), weight, rows).square())
    return torch.where(_explained(sd_r, sd_f), square / 2, 0.0) * rows[:, 0]


def search_curvature(residual: Tensor, fit: Tensor, weight: Tensor, rows: Tensor) -> Tensor:
    """(B, k) m times the mean square of two correlations over the sampled rows between a residual and
    curved functions of its linear fit's z-score z: z^2, and tanh(z)^2 (bounded, for heavy tails), for
    columns as `search_heteroscedasticity`'s (Ramsey's RESET test of a linear regression's form). About 1
    where the residual is independent of what it was regressed on, as in a linear SEM in its causal
    order; far above where the mean of the variable bends with its predecessors, as in a nonlinear SCM
    that the linearity gate let through (sigmoids near their linear range), where the order misleads.
    0 where the fit is (nearly) constant."""
    sd_r, sd_f = _sd(residual, rows), _sd(fit, rows)
    z_f = fit / sd_f.clamp_min(_TINY)
    square = (_corr(residual, z_f.square(), weight, rows).square()
              + _corr(residual, torch.tanh(z_f).square(), weight, rows).square())
    return torch.where(_explained(sd_r, sd_f), square / 2, 0.0) * rows[:, 0]


def _corr(a: Tensor, b: Tensor, weight: Tensor, rows: Tensor) -> Tensor:
    """(B, k) correlation over the sampled rows (``weight`` (B, m, 1) 1 on a sampled row, ``rows`` (B, 1, 1)
    their count) of columns ``a`` and ``b`` (B, m, k)."""
    mean_a, mean_b = (a * weight).sum(1) / rows[:, 0], (b * weight).sum(1) / rows[:, 0]
    cov = (a * b * weight).sum(1) / rows[:, 0] - mean_a * mean_b
    var_a = ((a * a * weight).sum(1) / rows[:, 0] - mean_a**2).clamp_min(0.0)
    var_b = ((b * b * weight).sum(1) / rows[:, 0] - mean_b**2).clamp_min(0.0)
    return cov / (var_a * var_b).sqrt().clamp_min(_TINY)


def residual_negentropy(residual: Tensor, fit: Tensor, rows: Tensor) -> Tensor:
    """(B, k) m times the moment negentropy (lingam_measure.negentropy) of residual columns (B, m, k), centred and
    zero outside the sample (``rows`` (B, 1, 1) sampled rows), NaN where the linear ``fit`` is (nearly) constant.
    About Exp(1) where the residual is Gaussian (m skew^2 / 6 and m kurtosis^2 / 24 are each about chi-square(1)),
    far above for the non-Gaussian noise that DirectLiNGAM's order needs: where most residuals the search leaves
    are Gaussian, as in a linear SEM with Gaussian noise and non-Gaussian roots, its order is arbitrary."""
    sd_r = _sd(residual, rows)
    skew, kurtosis = _skew_kurtosis(residual, sd_r, rows)
    return torch.where(_explained(sd_r, _sd(fit, rows)), negentropy(skew, kurtosis) * rows[:, 0], torch.nan)


def _skew_kurtosis(residual: Tensor, sd: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """(B, k) skew and excess kurtosis over the sampled rows of centred columns (B, m, k), zero outside the
    sample, with root mean squares ``sd`` (B, 1, k); 0 and -3 for a constant column."""
    u = residual / sd.clamp_min(_TINY)
    return u.pow(3).sum(1) / rows[:, 0], u.pow(4).sum(1) / rows[:, 0] - 3.0


def _sd(columns: Tensor, rows: Tensor) -> Tensor:
    """(B, 1, k) root mean square over the sampled rows of columns (B, m, k), zero outside the sample."""
    return (columns.square().sum(1, keepdim=True) / rows).sqrt()


def _explained(sd_residual: Tensor, sd_fit: Tensor) -> Tensor:
    """(B, k) whether a linear fit explains any of its variable: its spread (B, 1, k) is not negligible beside the
    residual's; false for a root and for a variable its predecessors do not explain."""
    return (sd_fit > 1e-3 * (sd_residual + sd_fit))[:, 0]


def _search_cues(reservoir: Tensor, priority: Tensor, spread: bool = True, gaussianity: bool = False,
                 moments: bool = False, rerank: int = 0,
                 curvature: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """`sample_lingam_cues` of every task of the sample ``reservoir`` (B, m, d) and its ``priority`` (B, m),
    and (B,) tests of the residuals the search leaves (each variable regressed on all those placed
    before it), over the variables with a non-constant fit: the mean `search_heteroscedasticity` (zeros,
    not computed, with ``spread`` false: only `lingam_max_heteroscedasticity` reads it) and the median
    (the lower one of an even count) `residual_negentropy` (NaN where no fit is non-constant; NaN, not
    computed, with ``gaussianity`` false: only `lingam_min_residual_negentropy` reads it); and (B, d, 2) the
    skew and excess kurtosis of every variable's residual, roots included (`SAMPLE_LINGAM_MOMENT_CUES`;
    zeros, not computed, with ``moments`` false); last, (B,) the mean `search_curvature` over the variables
    with a non-constant fit (zeros, not computed, with ``curvature`` false). ``rerank``: `sample_lingam_cues`'s."""
    # Zero on the rows outside the sample, and it stays so (each update subtracts a multiple of a
    # residual column): `_measure` sums over all m rows.
    residual, weight, rows = _centred_sample(reservoir, priority, torch.float32)
    original = residual  # each variable's centred column; a residual's fit is the difference
    batch, m, d = residual.shape
    picked_rows = torch.arange(batch, device=residual.device)
    position = torch.ones(batch, d, device=residual.device)  # the last one left stays at 1
    margin = torch.zeros(batch, d, device=residual.device)
    # The variable of each residual column still held. A placed variable's column is dropped (its
    # residual given itself is zero), so the products shrink with the variables left: at d = 30, a
    # third of the search's time, and at d = 100 less than half, against keeping placed columns.
    columns = torch.arange(d, device=residual.device).expand(batch, d)
    # Each variable's residual given those placed before it, kept as it is placed and tested once at the end
    # (the tests are column by column, so one batched pass answers what a pass per step would).
    tested = spread or gaussianity or moments or curvature
    left_over = torch.zeros_like(residual) if tested else None

    for step in range(d - 1):
        left = d - step  # columns held
        sd = (residual.square().sum(dim=1, keepdim=True) / rows).sqrt_()
        powers = residual.new_empty(batch, m, 3 * left)  # [..., :left]: the standardized residuals
        measure = _measure(residual, torch.where(sd > 1e-6, sd, torch.inf), rows, powers)
        measure = torch.nan_to_num_(measure, nan=0.0, posinf=0.0, neginf=0.0)
        score = measure.clamp_(max=0.0).square_().sum(dim=2)
        if rerank:
            held, found_margin = _rerank(powers[..., :left], score, rows, min(rerank, left))
        else:
            low = score.topk(2, dim=1, largest=False)  # lingam: the least evidence against i as a root
            held, found_margin = low.indices[:, 0], torch.log((low.values[:, 1] + _TINY) / (low.values[:, 0] + _TINY))
        root = columns[picked_rows, held]
        position[picked_rows, root] = step / (d - 1)
        margin[picked_rows, root] = found_margin
        root_col = residual[picked_rows, :, held][:, :, None]  # (B, m, 1)
        # Its residual now is what is left of it given every variable placed before it (sequential
        # regressions on orthogonal residuals are one regression on all of them).
        if tested:
            left_over[picked_rows, :, root] = root_col[:, :, 0]
        # Regress the root out of every other column held, and drop its own.
        keep = (torch.arange(left, device=residual.device) != held[:, None]).nonzero()[:, 1].view(batch, left - 1)
        residual = residual.gather(2, keep[:, None, :].expand(-1, m, -1))
        coef = (residual * root_col).sum(dim=1, keepdim=True) / root_col.square().sum(dim=1, keepdim=True).clamp_min(_TINY)
        residual = residual - coef * root_col
        columns = columns.gather(1, keep)
    # The last variable left: its residual given all the others.
    if tested:
        left_over[picked_rows, :, columns[:, 0]] = residual[:, :, 0]
    spread_mean, gaussianity_median, residual_moments, curvature_mean = _residual_tests(
        left_over, original, weight, rows, spread=spread, gaussianity=gaussianity, moments=moments, curvature=curvature)
    precedes = torch.sign(position[:, None, :] - position[:, :, None])[..., None]
    enough = (weight.sum(dim=(1, 2)) >= MIN_ROWS)[:, None, None]
    return (torch.where(enough, torch.stack([position, margin], dim=-1), 0.0),
            torch.where(enough[..., None], precedes, 0.0), spread_mean, gaussianity_median,
            torch.where(enough, residual_moments, 0.0), curvature_mean)


def _residual_tests(left_over: Tensor | None, original: Tensor, weight: Tensor, rows: Tensor, *, spread: bool,
                    gaussianity: bool, moments: bool, curvature: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """`_search_cues`'s tests of the residuals ``left_over`` (B, m, d) the search leaves (None: none asked), whose
    fits are ``original`` (B, m, d) minus them: (B,) the mean heteroscedasticity and curvature over the variables
    with a non-constant fit (zeros where not asked), (B,) the median (the lower of an even count) residual
    negentropy (NaN where not asked or no fit is non-constant), (B, d, 2) the residuals' skew and kurtosis."""
    batch, _, d = original.shape
    zeros = original.new_zeros(batch)
    spread_mean, curvature_mean = zeros, zeros
    gaussianity_median = original.new_full((batch,), torch.nan)
    residual_moments = original.new_zeros(batch, d, len(SAMPLE_LINGAM_MOMENT_CUES))
    if left_over is None:
        return spread_mean, gaussianity_median, residual_moments, curvature_mean
    fit = original - left_over

    def mean_over_explained(found: Tensor) -> Tensor:  # 0 marks a variable whose fit is constant
        return found.sum(dim=1) / (found > 0).sum(dim=1).clamp_min(1).to(found.dtype)

    if spread:
        spread_mean = mean_over_explained(search_heteroscedasticity(left_over, fit, weight, rows))
    if curvature:
        curvature_mean = mean_over_explained(search_curvature(left_over, fit, weight, rows))
    if gaussianity:
        gaussianity_median = residual_negentropy(left_over, fit, rows).nanmedian(dim=1).values
    if moments:
        residual_moments = torch.stack(_skew_kurtosis(left_over, _sd(left_over, rows), rows), dim=-1)
    return spread_mean, gaussianity_median, residual_moments, curvature_mean
