"""DirectLiNGAM's search on the streamed row sample (`model.lingam_rows`, sample_lingam.py)."""
import math
from dataclasses import replace

import pytest
import torch

from causal_amort.model.lingam_measure import max_entropy, negentropy
from causal_amort.model.sample_lingam import MIN_ROWS, _measure, _rerank, sample_lingam_cues
from causal_amort.model.sufficient import RunningStats


def linear_sem(seed: int, d: int = 6, rows: int = 2000, gaussian_below_root: bool = False,
               cauchy: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (1, rows, d), true order) of a linear SEM, dense in its order, with exponential noise and
    weights +-[0.5, 1.5], columns shuffled: DirectLiNGAM's premise. With ``gaussian_below_root`` every
    noise but the root's is Gaussian: the root passes a marginal Gaussianity test, but the order below
    it is not identifiable. With ``cauchy`` the noise is Cauchy and the weights +-[1, 2]: about 6% of each
    variable's robust z-scores lie past the row sample's clip."""
    gen = torch.Generator().manual_seed(seed)
    uniform = torch.rand(rows, d, generator=gen, dtype=torch.float64)
    noise = torch.tan(math.pi * (uniform - 0.5)) if cauchy else -torch.log(uniform)
    weights = (torch.rand(d, d, generator=gen, dtype=torch.float64) + (1.0 if cauchy else 0.5)) * torch.sign(
        torch.randn(d, d, generator=gen))
    perm = torch.randperm(d, generator=gen)  # column c holds variable perm[c]
    if gaussian_below_root:
        noise[:, 1:] = torch.randn(rows, d - 1, generator=gen, dtype=torch.float64)
    x = torch.zeros(rows, d, dtype=torch.float64)
    for j in range(d):  # variable j is the j-th of the order; each has every earlier one as a parent
        x[:, j] = x[:, :j] @ weights[:j, j] + noise[:, j]
    return x[:, perm][None].float(), perm.argsort()


def sampled(x: torch.Tensor, rows: int) -> RunningStats:
    stats = RunningStats.start(x[:, :250], reservoir_rows=rows)
    for chunk in x.split(250, dim=1):
        stats = stats.add(chunk)
    return stats


def test_the_search_finds_the_order_of_a_linear_non_gaussian_sem():
    for seed in range(3):
        x, order = linear_sem(seed)
        var, pair = sample_lingam_cues(sampled(x, 1024))
        position = var[0, :, 0]
        assert torch.equal(position.argsort(), order), seed
        assert torch.allclose(position.sort().values, torch.linspace(0, 1, x.shape[2]))
        assert torch.equal(pair[0, ..., 0], -pair[0, ..., 0].T) and (pair[0, order[0], order[1:], 0] == 1).all()


def test_the_measure_is_the_entropy_difference_of_the_explicit_residuals():
    """`_measure`'s moments of every pair's residual (matrix products and a binomial expansion) against
    the residual u_i - rho u_j formed row by row over the sampled rows; the rows outside the sample are
    zero, as `sample_lingam_cues` forms them, and the standardization is `_measure`'s own."""
    x, _ = linear_sem(4, d=4, rows=300)
    kept = x[:, :250]
    residual = (x - kept.mean(dim=1, keepdim=True)).double()
    residual[:, 250:] = 0.0
    sd = residual[:, :250].std(dim=1, unbiased=False, keepdim=True)
    got = _measure(residual, sd, torch.full((1, 1, 1), 250.0, dtype=torch.float64),
                   torch.empty(1, 300, 12, dtype=torch.float64))[0]
    u = residual[0, :250] / sd[0]

    def neg(r):
        r = (r - r.mean()) / r.std(unbiased=False)
        return negentropy((r**3).mean(), (r**4).mean() - 3.0)

    for i in range(4):
        for j in range(4):
            if i != j:
                rho = (u[:, i] * u[:, j]).mean()
                want = neg(u[:, i]) - neg(u[:, j]) - neg(u[:, i] - rho * u[:, j]) + neg(u[:, j] - rho * u[:, i])
                assert math.isclose(got[i, j].item(), want.item(), rel_tol=1e-6, abs_tol=1e-9), (i, j)


def test_a_batch_gives_each_task_what_it_gives_alone_and_permuting_variables_permutes_the_cues():
    tasks = [linear_sem(seed, d=5, rows=1000)[0] for seed in (5, 6, 7)]
    together = sample_lingam_cues(sampled(torch.cat(tasks), 512))
    for b, x in enumerate(tasks):
        alone = sample_lingam_cues(sampled(x, 512))
        torch.testing.assert_close(together[0][b : b + 1], alone[0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(together[1][b : b + 1], alone[1])
    perm = torch.tensor([3, 0, 4, 1, 2])
    var, pair = sample_lingam_cues(sampled(tasks[0][..., perm], 512))
    torch.testing.assert_close(var[0, :, 0], together[0][0, perm, 0])
    torch.testing.assert_close(pair[0, ..., 0], together[1][0][perm][:, perm][..., 0])


def test_rows_outside_the_sample_do_not_count():
    """A sample slot that holds no row (priority inf) may hold anything: the cues are the same."""
    x, _ = linear_sem(6, d=5, rows=500)
    stats = sampled(x, 1024)  # 500 rows seen: 524 empty slots
    empty = ~torch.isfinite(stats.priority)
    assert empty.sum() == 524
    garbage = stats.reservoir.clone()
    garbage[empty] = 1e3
    for got, want in zip(sample_lingam_cues(replace(stats, reservoir=garbage)), sample_lingam_cues(stats)):
        assert torch.equal(got, want)


def test_too_few_sampled_rows_give_zeros():
    x, _ = linear_sem(8, d=3, rows=MIN_ROWS - 1)
    stats = RunningStats.start(x, reservoir_rows=64).add(x)
    var, pair = sample_lingam_cues(stats)
    assert (var == 0).all() and (pair == 0).all()


def test_the_cost_model_prices_the_search():
    """`model.cost` adds the search's time (about d^3 over the sampled rows) and the sample's copies."""
    from causal_amort.config import ModelConfig
    from causal_amort.model.cost import model_cost

    plain = ModelConfig(encoder="stats", score_cues=True)
    with_search = ModelConfig(encoder="stats", score_cues=True, lingam_rows=1024)
    for d, n in ((30, 1000), (300, 2000)):
        (seconds, peak), (more_seconds, more_peak) = model_cost(plain, d, n), model_cost(with_search, d, n)
        assert more_seconds > seconds + 1e-10 * min(1024, n) * d**3 and more_peak > peak
    assert model_cost(with_search, 30, 100)[0] < model_cost(with_search, 30, 1000)[0]  # the sample holds n rows


@pytest.mark.parametrize("reads_base", [True, False])
def test_the_embeddings_read_their_columns_and_the_base_cues_where_set(reads_base):
    """With the tails' cues before them, the sample LiNGAM embeddings read their own last columns, after
    the base cues unless `lingam_reads_base` is off, and the tails' embeddings only theirs."""
    from causal_amort.config import ModelConfig
    from causal_amort.model.cues import compute_cues, num_cues
    from causal_amort.model.order_model import OrderModel

    model = OrderModel(ModelConfig(dim=32, heads=4, enc_layers=1, dec_layers=1, encoder="stats", pair_dim=8,
                                   state="none", score_cues=True, tail_cues=True, lingam_rows=64,
                                   lingam_reads_base=reads_base)).eval()
    x, _ = linear_sem(9, d=5, rows=500)
    stats = RunningStats.start(x[:, :250], True, reservoir_rows=64, tails=True)
    for chunk in x.split(250, dim=1):
        stats = stats.add(chunk)
    var_cues, pair_cues = compute_cues(stats, True, tails=True, lingam=True)
    seen = {}
    for name in ("lingam_in", "lingam_pair_in", "tail_in", "tail_pair_in"):
        getattr(model.encoder, name).register_forward_hook(lambda mod, args, out, name=name: seen.update({name: args[0]}))
    with torch.no_grad():
        model.encoder(torch.zeros(1, 5, 32), var_cues, pair_cues)
    (base_var, base_pair), (tail_var, tail_pair) = num_cues(True), num_cues(True, tails=True)
    read_var, read_pair = (base_var, base_pair) if reads_base else (0, 0)
    torch.testing.assert_close(seen["lingam_in"], torch.cat([var_cues[..., :read_var], var_cues[..., -2:]], dim=-1))
    torch.testing.assert_close(seen["lingam_pair_in"], torch.cat([pair_cues[..., :read_pair], pair_cues[..., -1:]], dim=-1))
    torch.testing.assert_close(seen["tail_in"], var_cues[..., base_var:tail_var])
    torch.testing.assert_close(seen["tail_pair_in"], pair_cues[..., base_pair:tail_pair])


def nonlinear_chain(seed: int, rows: int = 1000) -> torch.Tensor:
    """(1, rows, 6) a chain of quadratic and sine mechanisms with uniform noise: far from linear."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(rows, 6, generator=gen, dtype=torch.float64) - 0.5
    x = torch.zeros(rows, 6, dtype=torch.float64)
    x[:, 0] = 2 * noise[:, 0]
    for j in range(1, 6):
        x[:, j] = (x[:, j - 1] ** 2 if j % 2 else torch.sin(3 * x[:, j - 1])) + 0.3 * noise[:, j]
    return x[None].float()


def gated_pair() -> tuple[RunningStats, float]:
    """Sums (with a row sample) of a batch of two tasks, a linear SEM with exponential noise and a nonlinear
    chain, and a gate between their `nonlinearity`."""
    x = torch.cat([linear_sem(10, d=6, rows=1000)[0], nonlinear_chain(11)])
    return RunningStats.start(x[:, :250], True, reservoir_rows=256).add(x), 0.06


def test_the_gate_runs_the_search_only_where_the_data_look_linear():
    """`model.lingam_gate`: the linear task's search cues are what they are without the gate, bit for bit;
    the nonlinear task's are zeros; a gate of 0 runs the search on both."""
    from causal_amort.model.cues import VARIABLE_CUES, compute_cues, nonlinearity

    stats, gate = gated_pair()
    var, _ = compute_cues(stats, True)
    gain = var[..., VARIABLE_CUES.index("r2_additive_gain")]  # signed-log of the gain: the same sign and order
    assert gain[0].max() < math.log1p(gate) < gain[1].max()
    constant = torch.tensor([[False, True, False]])  # a constant column's gain does not count
    got = nonlinearity(torch.tensor([[0.2, 0.1, 0.5]]), torch.tensor([[0.3, 0.9, 0.55]]), constant)
    torch.testing.assert_close(got, torch.tensor([0.1]))
    always = compute_cues(stats, True, lingam=True)
    gated = compute_cues(stats, True, lingam=True, lingam_gate=gate)
    for everywhere, where_linear, columns in zip(always, gated, (2, 1)):
        assert torch.equal(where_linear[:1], everywhere[:1]) and everywhere[1, ..., -columns:].any()
        assert (where_linear[1, ..., -columns:] == 0).all()
        assert torch.equal(where_linear[1, ..., :-columns], everywhere[1, ..., :-columns])
    alone = compute_cues(replace(stats, **{k: v[1:] for k, v in vars(stats).items()
                                           if isinstance(v, torch.Tensor)}), True, lingam=True, lingam_gate=gate)
    assert all((cues[..., -columns:] == 0).all() for cues, columns in zip(alone, (2, 1)))


@pytest.mark.parametrize("grad", [False, True])
def test_a_closed_gate_leaves_the_network_its_source(grad):
    """Where the gate is closed the sample LiNGAM embeddings add nothing, whatever their weights, in
    inference and in training (where they run and are multiplied by zero); where it is open they count."""
    from causal_amort.config import ModelConfig
    from causal_amort.model.cues import compute_cues
    from causal_amort.model.order_model import OrderModel

    cfg = ModelConfig(dim=32, heads=4, enc_layers=1, dec_layers=1, encoder="stats", pair_dim=8, state="none",
                      score_cues=True, lingam_rows=256, lingam_reads_base=False, lingam_gate=0.06)
    torch.manual_seed(0)
    model = OrderModel(cfg).eval()
    stats, gate = gated_pair()
    var_cues, pair_cues = compute_cues(stats, True, lingam=True, lingam_gate=gate)
    outputs = []
    for scale in (0.5, 2.0):  # two sets of nonzero embedding weights
        for name in ("lingam_in", "lingam_pair_in"):
            for p in getattr(model.encoder, name).parameters():
                torch.nn.init.normal_(p, std=scale)
        with torch.set_grad_enabled(grad):
            outputs.append([t.detach() for t in model.encoder(torch.zeros(2, 6, 32), var_cues, pair_cues)])
    for first, second in zip(*outputs):
        assert torch.equal(first[1], second[1]) and not torch.equal(first[0], second[0])


def test_no_search_past_lingam_max_d():
    """`model.lingam_max_d`: on more variables than the cap the search's columns are zeros (and the cost model
    drops its time); up to the cap they are what they are without it."""
    from causal_amort.config import ModelConfig
    from causal_amort.model.cost import model_cost
    from causal_amort.model.cues import compute_cues

    stats = sampled(linear_sem(12, d=6, rows=500)[0], 256)
    free = compute_cues(stats, True, lingam=True)
    for cap, searched in ((6, True), (5, False)):
        capped = compute_cues(stats, True, lingam=True, lingam_max_d=cap)
        for got, want, columns in zip(capped, free, (2, 1)):
            assert torch.equal(got, want) if searched else ((got[..., -columns:] == 0).all() and want[..., -columns:].any())
    plain = ModelConfig(encoder="stats", score_cues=True, lingam_rows=1024)
    capped = ModelConfig(encoder="stats", score_cues=True, lingam_rows=1024, lingam_max_d=100)
    assert model_cost(capped, 100, 2000)[0] == model_cost(plain, 100, 2000)[0]
    assert model_cost(capped, 101, 2000)[0] < model_cost(plain, 101, 2000)[0]


def test_no_search_where_the_sample_looks_gaussian():
    """`model.lingam_min_negentropy`: a linear SEM with Gaussian noise gets zeros, one with exponential noise
    what it gets without the test; a constant column reads as Gaussian, not as far from it."""
    from causal_amort.model.cues import compute_cues
    from causal_amort.model.sample_lingam import sample_negentropy

    gen = torch.Generator().manual_seed(13)
    gaussian = torch.randn(1, 1000, 6, generator=gen) @ (torch.eye(6) + torch.triu(torch.ones(6, 6), 1) * 0.8)
    x = torch.cat([gaussian, linear_sem(14, d=6, rows=1000)[0]])
    stats = sampled(x, 512)
    measure = sample_negentropy(stats)
    assert measure[0] < 0.01 < measure[1]
    free = compute_cues(stats, True, lingam=True)
    tested = compute_cues(stats, True, lingam=True, lingam_min_negentropy=0.01)
    for got, want, columns in zip(tested, free, (2, 1)):
        assert torch.equal(got[1:], want[1:]) and (got[0, ..., -columns:] == 0).all() and want[0, ..., -columns:].any()
    constant = gaussian.clone()
    constant[..., 2] = 1.0
    assert sample_negentropy(sampled(constant, 512)) < 0.01


def test_the_gaussianity_test_reads_the_sample_only_where_the_gate_is_open(monkeypatch):
    """With both a gate and `model.lingam_min_negentropy`, a batch whose gate is shut everywhere does not
    pay for the sample's negentropy (it cannot open anything), and a batch with an open task gets the
    cues it got when the test always ran."""
    from causal_amort.model import cues as cues_module

    stats, gate = gated_pair()
    calls = []
    measure = cues_module.sample_negentropy

    def counted(s):
        calls.append(s.count.shape[0])
        return measure(s)

    monkeypatch.setattr(cues_module, "sample_negentropy", counted)
    both = cues_module.compute_cues(stats, True, lingam=True, lingam_gate=gate, lingam_min_negentropy=0.01)
    assert calls == [2]
    nonlinear = replace(stats, **{k: v[1:] for k, v in vars(stats).items() if isinstance(v, torch.Tensor)})
    shut = cues_module.compute_cues(nonlinear, True, lingam=True, lingam_gate=gate, lingam_min_negentropy=0.01)
    assert calls == [2]
    for got, want in zip(shut, both):
        assert torch.equal(got[0], want[1])
    monkeypatch.setattr(cues_module, "sample_negentropy", measure)
    alone = cues_module.compute_cues(stats, True, lingam=True, lingam_gate=gate)
    for got, want, columns in zip(both, alone, (2, 1)):
        assert torch.equal(got, want) and got[0, ..., -columns:].any()


def post_nonlinear_chain(seed: int, rows: int = 2000) -> torch.Tensor:
    """(1, rows, 6) each variable the cube of a linear function of the one before plus uniform noise
    (x = g(w x_prev + e), a post-nonlinear chain; DirectLiNGAM's premise fails)."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(rows, 6, generator=gen, dtype=torch.float64) - 0.5
    x = torch.zeros(rows, 6, dtype=torch.float64)
    x[:, 0] = noise[:, 0]
    for j in range(1, 6):
        inner = x[:, j - 1] / x[:, j - 1].std() + noise[:, j]
        x[:, j] = (inner / inner.std()) ** 3
    return x[None].float()


def test_the_search_heteroscedasticity_tells_a_distortion_after_the_sum():
    """`search_heteroscedasticity`: about 1 on a linear SEM searched in its order (the residuals are its
    noises), far above on a post-nonlinear chain (the spread of a residual grows with its fit); a batch
    gives each task what it gives alone; and `lingam_max_heteroscedasticity` drops the search's order
    (zeros) only where the statistic is above it, leaving the other task's cues bit for bit."""
    from causal_amort.model.cues import compute_cues
    from causal_amort.model.sample_lingam import _search_cues

    x = torch.cat([linear_sem(21, d=6, rows=2000)[0], post_nonlinear_chain(22)])
    stats = sampled(x, 1024)
    spread = _search_cues(stats.reservoir, stats.priority)[2]
    assert spread[0] < 4.0 and spread[1] > 20.0
    alone = _search_cues(stats.reservoir[1:], stats.priority[1:])[2]
    torch.testing.assert_close(alone, spread[1:])
    free = compute_cues(stats, True, lingam=True)
    limit = float(spread.mean())
    tested = compute_cues(stats, True, lingam=True, lingam_max_heteroscedasticity=limit)
    for got, want, columns in zip(tested, free, (2, 1)):
        assert torch.equal(got[0], want[0]) and want[1, ..., -columns:].any()
        assert (got[1, ..., -columns:] == 0).all() and torch.equal(got[1, ..., :-columns], want[1, ..., :-columns])


def test_the_residual_negentropy_tells_gaussian_noise_below_a_non_gaussian_root():
    """`residual_negentropy`: the median over the search's residuals is far above on a linear SEM with
    exponential noise, near 1 where every noise but the root's is Gaussian; NaN where the fit is constant
    (a root); a batch gives each task what it gives alone; and `lingam_min_residual_negentropy` drops
    the search's order (zeros) only where the median is below it, keeping the rest bit for bit."""
    from causal_amort.model.cues import compute_cues
    from causal_amort.model.sample_lingam import _search_cues, residual_negentropy

    x = torch.cat([linear_sem(23)[0], linear_sem(24, gaussian_below_root=True)[0]])
    stats = sampled(x, 1024)
    found = _search_cues(stats.reservoir, stats.priority, gaussianity=True)[3]
    assert found[0] > 50.0 and found[1] < 4.0
    root = x[:1, :1024, :1] - x[:1, :1024, :1].mean(dim=1, keepdim=True)
    assert torch.isnan(residual_negentropy(root, torch.zeros_like(root), torch.full((1, 1, 1), 1024.0))).all()
    assert torch.isnan(_search_cues(stats.reservoir, stats.priority)[3]).all()  # not computed unless asked
    alone = _search_cues(stats.reservoir[1:2], stats.priority[1:2], gaussianity=True)[3]
    torch.testing.assert_close(alone, found[1:2])
    free = compute_cues(stats, True, lingam=True)
    tested = compute_cues(stats, True, lingam=True, lingam_min_residual_negentropy=10.0)
    for got, want, columns in zip(tested, free, (2, 1)):
        assert torch.equal(got[0], want[0]) and want[1, ..., -columns:].any()
        assert (got[1, ..., -columns:] == 0).all() and torch.equal(got[1, ..., :-columns], want[1, ..., :-columns])


def test_the_residual_moments_are_the_noises_and_follow_the_search_cues():
    """`lingam_moments`: two more columns after the search's own, which stay bit for bit; each variable's
    residual skew (the true root's is its exponential noise's, about 2; below a non-Gaussian root with
    Gaussian noise the others' are near 0); and zeros wherever a test drops the search's order."""
    from causal_amort.model.cues import compute_cues, cue_columns
    from causal_amort.model.sample_lingam import SAMPLE_LINGAM_MOMENT_CUES

    (x, order), (y, y_order) = linear_sem(23), linear_sem(24, gaussian_below_root=True)
    stats = sampled(torch.cat([x, y]), 1024)
    plain = sample_lingam_cues(stats)
    var, pair = sample_lingam_cues(stats, moments=True)
    assert var.shape[-1] == 4 and torch.equal(var[..., :2], plain[0]) and torch.equal(pair, plain[1])
    skew = var[..., 2]
    assert abs(float(skew[0, order[0]]) - 2.0) < 0.5 and abs(float(skew[1, y_order[0]]) - 2.0) < 0.5
    below = [int(v) for v in y_order[1:]]
    assert skew[1, below].abs().max() < 0.3
    names = cue_columns(True, lingam=True, lingam_moments=True)[0]
    assert names[-2:] == list(SAMPLE_LINGAM_MOMENT_CUES)
    free = compute_cues(stats, True, lingam=True, lingam_moments=True)
    tested = compute_cues(stats, True, lingam=True, lingam_moments=True, lingam_min_residual_negentropy=10.0)
    assert torch.equal(tested[0][0], free[0][0]) and free[0][1, :, -4:].any() and (tested[0][1, :, -4:] == 0).all()
    with pytest.raises(ValueError, match="need the search"):
        compute_cues(stats, True, lingam_moments=True)


def test_the_residual_moments_block_starts_silent():
    """A network given `lingam_residual_moments` starts as its source (the block's output layer is zero)
    and reads exactly the moments' two columns."""
    from causal_amort.config import ModelConfig
    from causal_amort.model.cues import compute_cues
    from causal_amort.model.order_model import OrderModel

    common = dict(dim=32, heads=4, enc_layers=1, dec_layers=1, encoder="stats", pair_dim=8, state="none",
                  score_cues=True, lingam_rows=256, lingam_reads_base=False)
    torch.manual_seed(0)
    source = OrderModel(ModelConfig(**common)).eval()
    model = OrderModel(ModelConfig(**common, lingam_residual_moments=True)).eval()
    missing = model.load_state_dict(source.state_dict(), strict=False).missing_keys
    assert missing and all(key.startswith("encoder.lingam_moments_in.") for key in missing)
    stats = sampled(linear_sem(9, d=5, rows=1000)[0], 256)
    var_cues, pair_cues = compute_cues(stats, True, lingam=True)
    with_moments = compute_cues(stats, True, lingam=True, lingam_moments=True)
    seen = {}
    model.encoder.lingam_moments_in.register_forward_hook(lambda mod, args, out: seen.update(read=args[0]))
    with torch.no_grad():
        want = source.encoder(torch.zeros(1, 5, 32), var_cues, pair_cues)
        got = model.encoder(torch.zeros(1, 5, 32), *with_moments)
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    torch.testing.assert_close(seen["read"], with_moments[0][..., -2:])


def test_the_maximum_entropy_approximation_ranks_known_laws_and_ignores_zero_padding():
    """Standardized samples: Gaussian near its entropy (1 + log 2 pi) / 2, Laplace and uniform below it (true
    gaps 0.072 and 0.177; the approximation gives 0.08 and 0.06); zero rows declared as padding change nothing."""
    gen = torch.Generator().manual_seed(0)
    rows = 200_000
    gaussian = torch.randn(rows, generator=gen, dtype=torch.float64)
    half = torch.rand(rows, generator=gen, dtype=torch.float64) - 0.5
    laplace = -torch.sign(half) * torch.log1p(-2 * half.abs()) / math.sqrt(2.0)  # inverse CDF, variance 1
    uniform = (torch.rand(rows, generator=gen, dtype=torch.float64) - 0.5) * math.sqrt(12.0)
    h = [float(max_entropy(x, torch.tensor(float(rows)))) for x in (gaussian, laplace, uniform)]
    assert abs(h[0] - (1 + math.log(2 * math.pi)) / 2) < 0.005
    assert h[0] - 0.12 < h[1] < h[0] - 0.05 and h[0] - 0.10 < h[2] < h[0] - 0.03
    padded = torch.cat([laplace[:1000], torch.zeros(300, dtype=torch.float64)])
    kept = torch.tensor(1000.0)
    assert torch.allclose(max_entropy(padded, kept, 300.0), max_entropy(laplace[:1000], kept))


def test_the_reranking_picks_the_candidate_an_explicit_pairwise_loop_picks():
    """`_rerank` (batched over candidates and pairs) against DirectLiNGAM's score written pair by pair:
    for each candidate i, the sum over the other columns j of min(0, H(u_j) + H(r_i|j) - H(u_i) - H(r_j|i))^2."""
    x, _ = linear_sem(11, d=5, rows=600)
    u = x[0].double() - x[0].double().mean(0)
    u = u / u.square().mean(0).sqrt()
    rows = torch.tensor(600.0)

    def entropy(v):
        return float(max_entropy(v / v.square().mean().sqrt(), rows))

    loop = []
    for i in range(5):
        total = 0.0
        for j in range(5):
            if j != i:
                rho = float((u[:, i] * u[:, j]).mean())
                m = (entropy(u[:, j]) + entropy(u[:, i] - rho * u[:, j])
                     - entropy(u[:, i]) - entropy(u[:, j] - rho * u[:, i]))
                total += min(0.0, m) ** 2
        loop.append(total)
    loop = torch.tensor(loop)
    score = torch.tensor([[0.3, 0.1, 0.2, 0.5, 0.4]], dtype=torch.float64)  # candidates 1, 2, 0 with c = 3
    held, margin = _rerank(u[None], score, rows.view(1, 1, 1), 3)
    lowest = loop[[1, 2, 0]].sort()
    assert int(held) == [1, 2, 0][int(lowest.indices[0])]
    assert math.isclose(float(margin), math.log((lowest.values[1] + 1e-12) / (lowest.values[0] + 1e-12)), rel_tol=1e-6)


def test_the_reranked_search_orders_a_heavy_tailed_sem_and_padding_changes_nothing():
    """With every candidate re-ranked the search is DirectLiNGAM with the maximum-entropy approximation: it
    finds the order of linear SEMs with exponential noise; a sample with empty slots gives what the
    same rows give in a sample without any; a batch gives each task what it gives alone."""
    for seed in range(3):
        x, order = linear_sem(seed)
        var, _ = sample_lingam_cues(sampled(x, 2048), rerank=6)
        assert torch.equal(var[0, :, 0].argsort(), order), seed
    x, _ = linear_sem(12, d=5, rows=500)
    full, roomy = sampled(x, 500), sampled(x, 1024)  # the same 500 rows, 524 empty slots in the second
    for got, want in zip(sample_lingam_cues(roomy, rerank=3), sample_lingam_cues(full, rerank=3)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    tasks = [linear_sem(seed, d=5, rows=1000)[0] for seed in (5, 6)]
    together = sample_lingam_cues(sampled(torch.cat(tasks), 512), rerank=2)
    for b, x in enumerate(tasks):
        torch.testing.assert_close(together[0][b : b + 1], sample_lingam_cues(sampled(x, 512), rerank=2)[0],
                                   rtol=1e-4, atol=1e-5)


def test_the_search_curvature_tells_a_mean_that_bends_with_the_fit():
    """`search_curvature`: about 1 on a linear SEM searched in its order (its residuals are its noises), far
    above on a chain of quadratic and sine mechanisms (a residual's mean bends with its fit); a batch gives
    each task what it gives alone; and `lingam_max_curvature` drops the search's order (zeros) only where
    the statistic is above it, leaving the other task's cues bit for bit."""
    from causal_amort.model.cues import compute_cues
    from causal_amort.model.sample_lingam import _search_cues

    x = torch.cat([linear_sem(23, d=6, rows=2000)[0], nonlinear_chain(5, rows=2000)])
    stats = sampled(x, 1024)
    assert (_search_cues(stats.reservoir, stats.priority)[5] == 0).all()  # not computed unless asked
    curvature = _search_cues(stats.reservoir, stats.priority, curvature=True)[5]
    assert curvature[0] < 2.0 and curvature[1] > 10.0
    alone = _search_cues(stats.reservoir[1:], stats.priority[1:], curvature=True)[5]
    torch.testing.assert_close(alone, curvature[1:])
    free = compute_cues(stats, True, lingam=True)
    tested = compute_cues(stats, True, lingam=True, lingam_max_curvature=float(curvature.mean()))
    for got, want, columns in zip(tested, free, (2, 1)):
        assert torch.equal(got[0], want[0]) and want[1, ..., -columns:].any()
        assert (got[1, ..., -columns:] == 0).all() and torch.equal(got[1, ..., :-columns], want[1, ..., :-columns])


def test_the_search_skips_the_slots_no_task_has_filled():
    """`_held_slots` cuts a batch's sample after the last slot that holds a row in any task (the rest are
    zeros), keeps a full one whole, and the cues of a half-empty sample are those of the same rows alone."""
    from causal_amort.model.sample_lingam import _held_slots

    short, _ = linear_sem(13, d=5, rows=300)
    longer, _ = linear_sem(14, d=5, rows=700)
    batch = sampled(torch.cat([short, longer[:, :300]]), 1024)
    batch = replace(batch, priority=batch.priority.clone())
    batch.priority[1, 300:500] = 0.5  # the second task holds 500 rows
    reservoir, priority = _held_slots(batch.reservoir, batch.priority)
    assert reservoir.shape[1] == 500 and torch.equal(reservoir, batch.reservoir[:, :500])
    full = sampled(longer, 512)
    assert _held_slots(full.reservoir, full.priority)[0] is full.reservoir
    for got, want in zip(sample_lingam_cues(sampled(short, 1024), rerank=3, max_curvature=50.0),
                         sample_lingam_cues(sampled(short, 300), rerank=3, max_curvature=50.0)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_the_residual_tests_read_each_variable_given_those_placed_before_it():
    """The search's tests of its residuals are those of each variable's least-squares residual on every
    variable placed before it in the order found, computed here one variable at a time in float64 (the
    search keeps each residual as it places the variable, and tests them all in one pass at the end)."""
    from causal_amort.model.sample_lingam import (_centred_sample, _search_cues, _skew_kurtosis, _sd,
                                                  residual_negentropy, search_curvature, search_heteroscedasticity)

    x = torch.cat([linear_sem(25, d=6, rows=2000)[0], post_nonlinear_chain(26)])
    stats = sampled(x, 1024)
    var, _, spread, gaussianity, moments, curvature = _search_cues(
        stats.reservoir, stats.priority, gaussianity=True, moments=True, curvature=True)
    centred, weight, rows = _centred_sample(stats.reservoir, stats.priority, torch.float64)
    for task in range(2):
        c = centred[task]
        residual = c.clone()
        order = var[task, :, 0].argsort()
        for k in range(1, len(order)):
            before, j = c[:, order[:k]], order[k]
            residual[:, j] = c[:, j] - before @ torch.linalg.lstsq(before, c[:, j : j + 1]).solution[:, 0]
        one = slice(task, task + 1)
        left, fit = residual[None], (c - residual)[None]
        found = search_heteroscedasticity(left, fit, weight[one], rows[one])
        torch.testing.assert_close(spread[task].double(), found.sum() / (found > 0).sum(), rtol=1e-3, atol=1e-4)
        found = search_curvature(left, fit, weight[one], rows[one])
        torch.testing.assert_close(curvature[task].double(), found.sum() / (found > 0).sum(), rtol=1e-3, atol=1e-4)
        found = residual_negentropy(left, fit, rows[one]).nanmedian(dim=1).values[0]
        torch.testing.assert_close(gaussianity[task].double(), found, rtol=1e-3, atol=1e-4)
        want = torch.stack(_skew_kurtosis(left, _sd(left, rows[one]), rows[one]), dim=-1)[0]
        torch.testing.assert_close(moments[task].double(), want, rtol=1e-3, atol=1e-4)
    assert spread[1] > 5 * spread[0] > 0  # the post-nonlinear chain's spread: the tests were not all zero


def test_with_unclipped_rows_a_clipped_row_counts_as_an_empty_slot():
    """`sample_lingam_cues(unclipped=True)` reads what it reads with every row that holds a value at the
    sample's clip marked empty, whatever the other values of such a row; without it, those rows count."""
    from causal_amort.model.sufficient import SAMPLE_CLIP

    x, _ = linear_sem(31, d=5, rows=2000)
    stats = sampled(x, 1024)
    rows = torch.arange(0, 1024, 7)
    garbage = stats.reservoir.clone()
    garbage[0, rows] = 3.0 * torch.randn(len(rows), 5, generator=torch.Generator().manual_seed(0))
    garbage[0, rows, rows % 5] = SAMPLE_CLIP * torch.sign(torch.randn(len(rows)))
    clipped = replace(stats, reservoir=garbage)
    emptied = replace(clipped, priority=stats.priority.clone().index_fill_(1, rows, math.inf))
    for got, want in zip(sample_lingam_cues(clipped, unclipped=True), sample_lingam_cues(emptied)):
        assert torch.equal(got, want)
    assert not torch.equal(sample_lingam_cues(clipped)[0], sample_lingam_cues(emptied)[0])


def test_on_cauchy_noise_the_unclipped_rows_keep_the_right_order_the_tests_would_drop():
    """On linear SEMs with Cauchy noise the search's order on every sampled row is dropped by the
    heteroscedasticity test (the clip bends the relations in the tails); on the unclipped rows it passes
    the test and is the true order."""
    for seed in range(3):
        x, order = linear_sem(40 + seed, d=5, cauchy=True)
        stats = sampled(x, 2048)
        dropped = sample_lingam_cues(stats, max_heteroscedasticity=8.0, max_curvature=5.0, rerank=3)[0]
        kept = sample_lingam_cues(stats, max_heteroscedasticity=8.0, max_curvature=5.0, rerank=3, unclipped=True)[0]
        assert (dropped == 0).all(), seed
        assert torch.equal(kept[0, :, 0].argsort(), order), seed


def test_with_unclipped_rows_interventional_data_keep_every_sampled_row():
    """On data with a row intervened on, `unclipped` changes nothing (rule v72: the few rows of its sample
    are all needed); a task of the same batch with none is searched on its unclipped rows."""
    x, _ = linear_sem(43, d=5, cauchy=True)
    stats = sampled(torch.cat([x, x]), 2048)
    intervened = replace(stats, int_count=stats.int_count.clone())
    intervened.int_count[1, 0] = 5.0  # five rows of task 1 with variable 0 intervened on
    both = sample_lingam_cues(intervened, max_heteroscedasticity=8.0, rerank=3, unclipped=True)[0]
    plain = sample_lingam_cues(intervened, max_heteroscedasticity=8.0, rerank=3)[0]
    alone = sample_lingam_cues(sampled(x, 2048), max_heteroscedasticity=8.0, rerank=3, unclipped=True)[0]
    assert torch.equal(both[1], plain[1]) and (plain[1] == 0).all()
    torch.testing.assert_close(both[0], alone[0])
