"""The statistics encoder: exact streamed sums, cues with the model's symmetries, finite on hard data,
interventions honoured, and every state mode (the causal one included) consistent when streamed."""
import threading

import numpy as np
import pytest
import torch

from simulators.core.errors import InputError

from causal_amort.config import ModelConfig, RunConfig
from causal_amort.model.checkpoint import init_checkpoint, save_checkpoint
from causal_amort.model.cues import CUE_GROUPS, TAIL_VARIABLE_CUES, VARIABLE_CUES, compute_cues, cue_columns, num_cues
from causal_amort.model.kernel_cues import KERNEL_VARIABLE_CUES
from causal_amort.model.leaf_cues import LEAF_VARIABLE_CUES
from causal_amort.model.order_model import OrderModel
from causal_amort.model.sample_lingam import SAMPLE_LINGAM_VARIABLE_CUES
from causal_amort.inference.stream import chunk_array, stream_orders
from causal_amort.model import sufficient
from causal_amort.model.sufficient import BASES, RunningStats, basis_features, robust_center_scale, thread_scratch

TOL = dict(rtol=1e-4, atol=1e-4)
STATES = ["carry", "none", "average", "causal"]


def make_model(**overrides):
    torch.manual_seed(0)
    cfg = ModelConfig(dim=32, heads=4, enc_layers=2, dec_layers=2, encoder="stats", pair_dim=8, **overrides)
    return OrderModel(cfg).eval()


def skewed(batch=2, rows=200, d=5, seed=0):
    """Correlated, skewed columns with different offsets and scales, like real measurements."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(batch, rows, d, generator=gen).exp()
    mixed = base + 0.7 * base.roll(1, dims=-1)
    return mixed * torch.logspace(-2, 2, d) + torch.linspace(-50, 50, d)


def stream_stats(x, sizes, mask=None, basis="base", reservoir_rows=0, tails=False):
    stats, start = RunningStats.start(x[:, : sizes[0]], basis=basis, reservoir_rows=reservoir_rows, tails=tails), 0
    for size in sizes:
        rows = slice(start, start + size)
        stats = stats.add(x[:, rows], None if mask is None else mask[:, rows])
        start += size
    return stats


def pair_cue(pairs, name, tails=False):
    return pairs[..., cue_columns(score=True, tails=tails)[1].index(name)]


def variable_cue(var_cues, name, tails=False):
    return var_cues[..., cue_columns(score=True, tails=tails)[0].index(name)]


SUMS = ("count", "sums", "gram", "deriv_sums", "deriv_gram", "int_count", "int_sums", "tail_sums", "tail_gram")


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("rows, d", [(300, 5), (1200, 20)])  # the long one-pass chunk takes the blocked Gram
def test_chunk_sums_equal_one_pass_over_all_rows(basis, rows, d):
    x = skewed(rows=rows, d=d)
    mask = torch.zeros(x.shape, dtype=torch.bool)
    mask[:, 200:260, 1] = True
    chunked = stream_stats(x, [100, 37, 163] + [250] * ((rows - 300) // 250) + [(rows - 300) % 250], mask, basis,
                           tails=True)
    one_pass = RunningStats.start(x[:, :100], basis=basis, tails=True).add(x, mask)
    for field in SUMS:
        torch.testing.assert_close(getattr(chunked, field), getattr(one_pass, field), rtol=1e-4, atol=1e-4)
    k = len(BASES[basis])
    assert chunked.gram.shape == (2, d * k, d * k) and chunked.gram.dtype == torch.float64 and chunked.k == k
    torch.testing.assert_close(one_pass.gram, one_pass.gram.transpose(1, 2), rtol=1e-6, atol=1e-6)
    assert chunked.count.tolist() == [rows - 60.0] * 2 and chunked.int_count[:, 1].tolist() == [60.0, 60.0]


def test_chunks_of_one_size_reuse_the_feature_buffers_and_the_sums_never_share_them():
    x = skewed(rows=300)
    first = RunningStats.start(x[:, :100]).add(x[:, :100])
    buffers = {name: t.data_ptr() for name, t in first.scratch.items()}
    before = {name: t.clone() for name, t in first._sums().items() if t is not None}
    second = first.add(x[:, 100:200])
    assert second.scratch is first.scratch and set(buffers) == {"features", "derivatives"}
    assert {name: t.data_ptr() for name, t in second.scratch.items()} == buffers  # reused, not new
    for name, value in before.items():  # what the first add returned was not overwritten
        assert torch.equal(getattr(first, name), value), name
    with torch.inference_mode():  # a buffer made in inference mode is never written outside it
        third = second.add(x[:, 200:])
    fourth = third.add(x[:, :100])
    one_pass = RunningStats.start(x[:, :100]).add(torch.cat([x, x[:, :100]], dim=1))
    torch.testing.assert_close(fourth.gram, one_pass.gram, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fourth.deriv_gram, one_pass.deriv_gram, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("basis", BASES)
def test_feature_derivatives_are_the_derivatives_in_the_z_score(basis):
    """What the score-matching cues read as d phi / dz, against central differences of phi."""
    x = skewed(batch=1, rows=64, d=3).double()
    center, scale = robust_center_scale(x)
    eps = 1e-3
    phi, deriv = basis_features(x, center, scale, True, basis)
    up, _ = basis_features(x + eps * scale, center, scale, False, basis)
    down, _ = basis_features(x - eps * scale, center, scale, False, basis)
    numeric = ((up - down) / (2 * eps)).double()  # (B, K, d, b), in z units
    assert phi.shape[1] == len(BASES[basis]) and deriv.shape == (1, 3, len(BASES[basis]), 64)
    torch.testing.assert_close(deriv.double().permute(0, 2, 1, 3), numeric, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("score,basis,leaf,tails", [(False, "base", False, False), (True, "base", True, False),
                                                   (True, "wide", False, False), (True, "base", False, True)])
def test_cues_are_invariant_to_shift_scale_and_row_order(score, basis, leaf, tails):
    x = skewed().double()  # so that the moved copy below is exact up to float64 rounding
    var_cues, pair_cues = compute_cues(stream_stats(x, [100, 100], basis=basis, tails=tails), score, leaf=leaf, tails=tails)
    assert (var_cues.shape[-1], pair_cues.shape[-1]) == num_cues(score, leaf=leaf, tails=tails)
    assert var_cues.shape[:-1] == (2, 5) and pair_cues.shape[:-1] == (2, 5, 5)
    moved = x * torch.tensor([3.0, 0.01, 250.0, 1.0, 7.5]) - torch.tensor([1e3, -4.0, 0.5, 9.0, 2.0])
    for other in (moved, torch.cat([x[:, :100].flip(1), x[:, 100:][:, torch.randperm(100)]], dim=1)):
        v, p = compute_cues(stream_stats(other, [100, 100], basis=basis, tails=tails), score, leaf=leaf, tails=tails)
        torch.testing.assert_close(v, var_cues, **TOL)
        torch.testing.assert_close(p, pair_cues, **TOL)


@pytest.mark.parametrize("state,basis", [(s, "base") for s in STATES] + [("none", "wide")])
def test_permuting_variables_permutes_cues_state_and_order(state, basis):
    model = make_model(state=state, score_cues=state == "none", basis=basis)
    x = skewed()
    perm = torch.tensor([3, 0, 4, 1, 2])
    v, p = compute_cues(stream_stats(x, [100, 100], basis=basis, tails=True), True, leaf=True, tails=True)
    vp, pp = compute_cues(stream_stats(x[..., perm], [100, 100], basis=basis, tails=True), True, leaf=True, tails=True)
    torch.testing.assert_close(vp, v[:, perm], **TOL)
    torch.testing.assert_close(pp, p[:, perm][:, :, perm], **TOL)
    with torch.no_grad():
        reads = []
        for data in (x, x[..., perm]):
            memory = model.init_memory(2, 5, "cpu")
            for chunk in data.split(100, dim=1):
                memory = model.advance(memory, chunk)
            reads.append(memory)
        torch.testing.assert_close(reads[1].state, reads[0].state[:, perm], **TOL)
        torch.testing.assert_close(reads[1].pairs, reads[0].pairs[:, perm][:, :, perm], **TOL)
        order, _ = model.decode(reads[0])
        order_perm, _ = model.decode(reads[1])
        assert torch.equal(perm[order_perm], order)


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("case", ["cauchy", "constant", "d2", "few_rows", "discrete"])
def test_cues_and_orders_are_finite_on_hard_data(case, basis):
    gen = torch.Generator().manual_seed(1)
    x = torch.distributions.Cauchy(0.0, 1.0).sample((1, 400, 4)) * 1e20 if case == "cauchy" else \
        torch.randn(1, 400, 4, generator=gen)
    if case == "constant":
        x[..., 2] = 5.0
    if case == "d2":
        x = x[..., :2]
    if case == "few_rows":
        x = x[:, :3]
    if case == "discrete":
        x = (x > 1.5).float()  # MAD of 0: the scale falls back to the mean absolute deviation
    v, p = compute_cues(stream_stats(x, [x.shape[1]], basis=basis, reservoir_rows=64, tails=True), True, kernel=True,
                        leaf=True, tails=True, lingam=True)
    assert torch.isfinite(v).all() and torch.isfinite(p).all()
    names = cue_columns(True, kernel=True, leaf=True, tails=True, lingam=True)[0]
    of_sample = v[..., [names.index(name) for name in KERNEL_VARIABLE_CUES + SAMPLE_LINGAM_VARIABLE_CUES]]
    if case == "constant":
        assert v[0, 2, VARIABLE_CUES.index("constant")] > 0 and (p[0, 2] == 0).all() and (p[0, :, 2] == 0).all()
        assert variable_cue(v, "score_hess_var")[0, 2] == 0 and (of_sample[0, 2] == 0).all()
        assert (v[0, 2, [names.index(name) for name in LEAF_VARIABLE_CUES + TAIL_VARIABLE_CUES]] == 0).all()
    if case == "few_rows":
        assert (of_sample == 0).all()  # fewer sampled rows than MIN_ROWS: no kernel estimate, no LiNGAM search
    for rows in ({"kernel_rows": 64}, {"lingam_rows": 64}):
        model = make_model(score_cues=True, basis=basis, leaf_cues=True, tail_cues=True, **rows)
        steps = list(stream_orders(model, chunk_array(x[0].numpy(), 100), device="cpu"))
        assert sorted(steps[-1].order.tolist()) == list(range(x.shape[2]))
        assert np.isfinite(steps[-1].confidence).all()


def test_direction_cues_separate_cause_and_effect():
    """Linear x -> y with Laplace noise: the cumulant (Hyvarinen & Smith) and DirectLiNGAM measures
    are antisymmetric and point from cause to effect for every seed; a noiseless nonlinear function
    is explained by the basis regression in its own direction only."""
    for seed in range(4):
        torch.manual_seed(seed)
        laplace = torch.distributions.Laplace(0.0, 1.0)
        cause = laplace.sample((1, 2000))
        effect = 0.8 * cause + 0.6 * laplace.sample((1, 2000))
        _, p = compute_cues(stream_stats(torch.stack([cause, effect], dim=-1), [500] * 4))
        for name in ("lingam_cumulant", "direct_lingam"):
            measure = pair_cue(p, name)[0]
            assert measure[0, 1] == pytest.approx(-measure[1, 0].item())
            assert measure[0, 1] > 0.02
    gen = torch.Generator().manual_seed(0)
    u = torch.rand(1, 1000, generator=gen) * 4 - 2
    _, p = compute_cues(stream_stats(torch.stack([u, u.square()], dim=-1), [1000]))
    r2 = pair_cue(p, "r2_basis[i,j]")[0]  # signed log of R^2 of i on the basis of j
    assert r2[1, 0] > 0.5 and r2[0, 1] < 0.1  # u^2 from u: yes; u from u^2: sign lost


def test_the_tails_clip_keeps_the_kurtosis_that_the_main_clip_erases():
    """Laplace noise (excess kurtosis 3): the main clip's kurtosis is about 0, the tails' keeps most of
    it; in a linear Laplace pair the signed cumulant measure on the tails points from cause to effect."""
    torch.manual_seed(0)
    laplace = torch.distributions.Laplace(0.0, 1.0)
    cause = laplace.sample((1, 20000))
    effect = 0.8 * cause + 0.6 * laplace.sample((1, 20000))
    v, p = compute_cues(stream_stats(torch.stack([cause, effect], dim=-1), [5000] * 4, tails=True), True, tails=True)
    kurtosis = torch.expm1(v.abs()) * v.sign()  # the cues are sign(x) log(1 + |x|)
    assert abs(variable_cue(kurtosis, "excess_kurtosis", tails=True)[0, 0]) < 0.5
    assert variable_cue(kurtosis, "tail_kurtosis", tails=True)[0, 0] > 2.0
    signed = pair_cue(p, "tail_cumulant_signed", tails=True)[0]
    assert signed[0, 1] > 0.02 and signed[0, 1] == pytest.approx(-signed[1, 0].item())


def test_interventions_are_kept_out_of_the_observational_sums_and_shift_the_children():
    gen = torch.Generator().manual_seed(0)
    parent = torch.randn(1, 600, generator=gen)
    child = parent + 0.3 * torch.randn(1, 600, generator=gen)
    x = torch.stack([parent, child], dim=-1)
    mask = torch.zeros(1, 600, 2, dtype=torch.bool)
    x[:, 400:, 0] = 3.0  # do(parent = 3) on the last rows; the child follows
    x[:, 400:, 1] = 3.0 + 0.3 * torch.randn(1, 200, generator=gen)
    mask[:, 400:, 0] = True
    stats = stream_stats(x, [200, 200, 200], mask)
    assert stats.count.item() == 400 and stats.int_count.tolist() == [[200.0, 0.0]]
    v, p = compute_cues(stats)
    shift = pair_cue(p, "shift_mean_under_do[i,j]")[0]
    assert shift[1, 0] > 1.0 and shift[0, 1] == 0  # the child moves under do(parent); not the reverse
    assert v[0, 0, VARIABLE_CUES.index("intervened_fraction")] > 0


@pytest.mark.parametrize("state", STATES)
def test_streaming_matches_running_each_prefix_alone(state):
    """After chunk t the memory gives exactly what a fresh run on the first t chunks gives
    (for "causal": the cache of past chunk tokens is exact)."""
    model = make_model(state=state)
    chunks = skewed(batch=1, rows=300).split(100, dim=1)
    with torch.no_grad():
        memory = model.init_memory(1, 5, "cpu")
        streamed = []
        for chunk in chunks:
            memory = model.advance(memory, chunk)
            streamed.append(memory)
        for t in range(1, 4):
            alone = model.init_memory(1, 5, "cpu")
            for chunk in chunks[:t]:
                alone = model.advance(alone, chunk)
            torch.testing.assert_close(alone.state, streamed[t - 1].state)
    if state == "causal":
        assert memory.history.shape == (1, 3, 5, 32)


@pytest.mark.parametrize("basis", BASES)
def test_prefix_sums_equal_adding_the_chunks_one_by_one(basis):
    x = skewed(rows=300).view(2, 3, 100, 5)
    mask = torch.zeros(x.shape, dtype=torch.bool)
    mask[:, 1, 20:60, 2] = True
    start = RunningStats.start(x[:, 0], basis=basis, tails=True)
    prefixes, running = start.prefixes(x, mask), start
    for t in range(3):
        running = running.add(x[:, t], mask[:, t])
        for field in SUMS:
            torch.testing.assert_close(getattr(prefixes, field)[2 * t: 2 * t + 2], getattr(running, field), **TOL)


def test_causal_state_trains_every_prefix_in_one_pass_as_chunk_by_chunk():
    """One pass over all prefixes gives each prefix's memory, loss and gradient (through every
    earlier chunk's token) as the chunk-by-chunk loop without detaching does."""
    x = skewed(rows=300).view(2, 3, 100, 5)
    graph = torch.ones(5, 5).triu(1).expand(2, 5, 5)  # one topological order: the teacher is fixed
    model = make_model(state="causal").train()
    one_pass = model.advance_prefixes(x)
    model.order_loss(one_pass, graph.repeat(3, 1, 1), torch.Generator()).backward()
    fast = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    memory, loss = model.init_memory(2, 5, "cpu"), 0.0
    for t in range(3):
        memory = model.advance(memory, x[:, t])
        torch.testing.assert_close(one_pass.state[2 * t: 2 * t + 2], memory.state, **TOL)
        torch.testing.assert_close(one_pass.pairs[2 * t: 2 * t + 2], memory.pairs, **TOL)
        loss = loss + model.order_loss(memory, graph, torch.Generator()) / 3
    loss.backward()
    assert fast.keys() == {name for name, p in model.named_parameters() if p.grad is not None}
    assert model.time_mixer.attn.kv.weight.grad.abs().sum() > 0  # past tokens take part
    for name, p in model.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(fast[name], p.grad, **TOL, msg=name)
    with pytest.raises(ValueError, match="state 'causal'"):
        make_model(state="carry").advance_prefixes(x)


def test_every_cue_but_bookkeeping_has_one_group_and_a_dropped_group_reads_as_zeros():
    variable, every_pair = cue_columns(score=True, kernel=True, leaf=True, tails=True)
    assert (len(variable), len(every_pair)) == num_cues(True, True, True, True)
    members = [cue for group in CUE_GROUPS.values() for cue in group]
    assert len(members) == len(set(members))
    assert {name.split("[")[0] for name in variable + every_pair} - set(members) == {"log_rows", "constant"}
    pair = cue_columns(score=True)[1]
    x = skewed(batch=1)
    full, ablated = make_model(score_cues=True), make_model(score_cues=True, drop_cues="lingam, score")
    stats = RunningStats.start(x).add(x)
    (v, p), (v_cut, p_cut) = full._cues(stats), ablated._cues(stats)
    gone = [k for k, name in enumerate(pair) if name.split("[")[0] in CUE_GROUPS["lingam"] + CUE_GROUPS["score"]]
    assert (p_cut[..., gone] == 0).all() and p[..., gone].abs().sum() > 0
    kept = [k for k in range(len(pair)) if k not in gone]
    torch.testing.assert_close(p_cut[..., kept], p[..., kept])
    assert ablated.state_dict().keys() == full.state_dict().keys()  # same network, same checkpoints


def test_cue_dropout_zeroes_whole_groups_per_task_in_training_only():
    """model.cue_dropout: in training each task loses whole cue groups (all of a group's columns or
    none, different tasks differently, the bookkeeping columns never); evaluation reads every cue."""
    x = skewed(batch=64, d=4)
    stats = RunningStats.start(x).add(x)
    full = make_model(score_cues=True)
    dropping = make_model(score_cues=True, cue_dropout=0.5)
    v, p = full._cues(stats)
    torch.testing.assert_close(dropping._cues(stats), (v, p))  # eval mode: nothing dropped
    torch.manual_seed(1)
    v_drop, p_drop = dropping.train()._cues(stats)
    variable, pair = cue_columns(score=True)
    lost_per_group = []
    for group in CUE_GROUPS:
        cols = [k for k, name in enumerate(pair) if name.split("[")[0] in CUE_GROUPS[group]]
        if not cols or (p[..., cols] == 0).all():  # (no interventions: those cues are zero anyway)
            continue
        zero = (p_drop[..., cols] == 0).flatten(1).all(dim=1)  # per task: the group's columns all zero
        kept = (p_drop[..., cols] == p[..., cols]).flatten(1).all(dim=1)
        assert (zero | kept).all(), group
        lost_per_group.append(zero.float().mean().item())
    assert all(0.25 < share < 0.75 for share in lost_per_group), lost_per_group
    bookkeeping = [k for k, name in enumerate(variable) if name in ("log_rows", "constant")]
    torch.testing.assert_close(v_drop[..., bookkeeping], v[..., bookkeeping])


def test_cue_dropout_keep_never_drops_its_groups():
    """model.cue_dropout_keep: the named groups read every cue in every task; the others still drop."""
    x = skewed(batch=64, d=4)
    stats = RunningStats.start(x).add(x)
    v, p = make_model(score_cues=True)._cues(stats)
    torch.manual_seed(2)
    keeping = make_model(score_cues=True, cue_dropout=0.9, cue_dropout_keep="moments, lingam")
    v_drop, p_drop = keeping.train()._cues(stats)
    variable, pair = cue_columns(score=True)
    for names, cues, dropped in ((variable, v, v_drop), (pair, p, p_drop)):
        for group, members in CUE_GROUPS.items():
            cols = [k for k, name in enumerate(names) if name.split("[")[0] in members]
            if not cols or (cues[..., cols] == 0).all():
                continue
            same = (dropped[..., cols] == cues[..., cols]).flatten(1).all(dim=1)
            if group in ("moments", "lingam"):
                assert same.all(), group
            else:
                assert same.float().mean() < 0.5, group


def test_a_run_with_cue_dropout_may_start_from_weights_trained_without(tmp_path):
    source = make_model(score_cues=True)
    save_checkpoint(tmp_path, "best", source, RunConfig(model=source.cfg), 1)
    assert init_checkpoint(tmp_path, make_model(score_cues=True, cue_dropout=0.2).cfg).name == "best.json"
    with pytest.raises(InputError, match="model.score_cues"):
        init_checkpoint(tmp_path, make_model(cue_dropout=0.2).cfg)


def test_state_none_skips_the_network_on_chunks_nobody_decodes(monkeypatch):
    model = make_model(state="none")
    assert not model.needs_every_chunk and make_model(state="carry").needs_every_chunk
    chunks = skewed(batch=1, rows=300).split(100, dim=1)
    with torch.no_grad():
        every, lazy = model.init_memory(1, 5, "cpu"), model.init_memory(1, 5, "cpu")
        for t, chunk in enumerate(chunks):
            every = model.advance(every, chunk)
            lazy = model.advance(lazy, chunk, encode=t == len(chunks) - 1)
        torch.testing.assert_close(lazy.state, every.state)
        torch.testing.assert_close(lazy.pairs, every.pairs)
        # The feature buffers are this thread's, kept for the next chunk and the next dataset; a decoded
        # chunk frees them before its cues only when they are large.
        kept = model.advance(model.init_memory(1, 5, "cpu"), chunks[0], encode=False)
        assert "features" in kept.stats.scratch and kept.stats.scratch is thread_scratch()
        buffer = kept.stats.scratch["features"].data_ptr()
        decoded = model.advance(kept, chunks[1])
        assert decoded.stats.scratch["features"].data_ptr() == buffer
        again = model.advance(model.init_memory(1, 5, "cpu"), chunks[1], encode=False)
        assert again.stats.scratch["features"].data_ptr() == buffer  # the next dataset writes the same pages
        monkeypatch.setattr(sufficient, "KEEP_SCRATCH_BYTES", 0)
        assert model.advance(again, chunks[2]).stats.scratch == {}
        other: list[dict] = []
        worker = threading.Thread(target=lambda: other.append(thread_scratch()))
        worker.start()
        worker.join()
        assert other[0] is not thread_scratch()  # threads never share buffers


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("decoder", ["causal", "sort"])
def test_every_stats_arm_trains_a_step_and_decodes_permutations(state, decoder):
    model = make_model(state=state, decoder=decoder).train()
    gen = torch.Generator().manual_seed(0)
    graph = torch.diag(torch.ones(4), 1).expand(2, 5, 5)
    memory = model.init_memory(2, 5, "cpu")
    for chunk in skewed().split(100, dim=1):
        memory = model.advance(memory, chunk)
        loss = model.order_loss(memory, graph, gen)
        loss.backward()
        memory = model.detach(memory)
        assert torch.isfinite(loss)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    orders, _ = model.decode(memory, beam=3)
    assert torch.equal(orders.sort(dim=1).values, torch.arange(5).expand(2, 5))


def test_score_matching_cues_find_the_leaf_and_the_child_that_hides_it():
    """A nonlinear additive-noise chain x0 -> x1 -> x2 with Gaussian noise: the streamed SCORE
    statistic (variance of the fitted Hessian diagonal) is smallest at the leaf x2 for every seed,
    with x2 left out of the fit it is smallest at x1 (SCORE's next leaf), and the fitted Fisher
    information -E[d s_i / d z_i] is positive."""
    for seed in range(4):
        gen = torch.Generator().manual_seed(seed)
        noise = torch.randn(1, 4000, 3, generator=gen)
        x0 = noise[..., 0]
        x1 = torch.tanh(1.5 * x0) + 0.4 * noise[..., 1]
        x2 = x1**2 + 0.4 * noise[..., 2]
        v, p = compute_cues(stream_stats(torch.stack([x0, x1, x2], dim=-1), [1000] * 4), True)
        hess_var = variable_cue(v, "score_hess_var")[0]
        assert int(hess_var.argmin()) == 2 and (variable_cue(v, "score_hess_mean") > 0).all()
        # Cues are signed logs: undo them for the product var_i * (var_i without j) / var_i.
        unlog = lambda t: torch.sign(t) * torch.expm1(t.abs())  # noqa: E731
        without_leaf = unlog(hess_var[:2]) * torch.exp(unlog(pair_cue(p, "score_hess_var_without[i,j]")[0, :2, 2]))
        assert int(without_leaf.argmin()) == 1
        assert torch.equal(pair_cue(p, "score_hess_var_without[j,i]")[0], pair_cue(p, "score_hess_var_without[i,j]")[0].T)


def test_leaving_a_variable_out_equals_refitting_without_it():
    """The block downdate of the inverse gives what a fit on the other variables' sums gives."""
    from dataclasses import replace

    from causal_amort.model.cues import score_matching_cues
    from causal_amort.model.score_fit import fit_score
    x = skewed(batch=1, rows=20000, d=4).double()
    stats = stream_stats(x, [5000] * 4)
    v, p = score_matching_cues(fit_score(stats))
    for j in range(4):
        keep = [i for i in range(4) if i != j]
        idx = torch.tensor([k * 4 + i for k in range(stats.k) for i in keep])
        sub = replace(stats, center=stats.center[..., keep], scale=stats.scale[..., keep], sums=stats.sums[:, keep],
                      gram=stats.gram[:, idx][:, :, idx], deriv_sums=stats.deriv_sums[:, keep],
                      deriv_gram=stats.deriv_gram[:, keep],
                      int_count=stats.int_count[:, keep], int_sums=stats.int_sums[:, keep][:, :, keep])
        refit, _ = score_matching_cues(fit_score(sub))
        # The ridge depends on the number of features (1e-3 + 0.02 dK / n), so they agree to ~1%.
        downdated = (v[0, keep, 0] + 1e-6) * torch.exp(p[0, keep, j, 0]) - 1e-6
        torch.testing.assert_close(downdated, refit[0, :, 0], rtol=2e-2, atol=1e-4)


def test_statistics_without_derivatives_give_the_same_base_cues_and_refuse_the_score_cues():
    """A model without the score-matching cues skips the derivative sums; nothing else changes."""
    from causal_amort.model.score_fit import fit_score
    x = skewed()
    full = stream_stats(x, [100, 100])
    lean = RunningStats.start(x[:, :100], derivatives=False)
    for chunk in x.split(100, dim=1):
        lean = lean.add(chunk)
    assert lean.deriv_sums is None and lean.deriv_gram is None and lean.fresh().deriv_gram is None
    for got, want in zip(compute_cues(lean), compute_cues(full)):
        torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="track derivatives"):
        fit_score(lean)
    memory = make_model(score_cues=False).init_memory(2, 5, "cpu")
    assert make_model(score_cues=False).advance(memory, x[:, :100]).stats.deriv_sums is None


def test_covariance_by_row_blocks_and_the_blocked_score_fit_are_exactly_the_whole():
    """`covariance_rows` and `variances` (which keep the score fit from holding a whole float64
    covariance) give bit for bit what the one-piece formula gives, and so does the fit built on them."""
    from causal_amort.model.score_fit import fit_score
    x = skewed(batch=2, rows=600, d=70)  # dK = 560: more than one block of 512 rows
    stats = stream_stats(x, [300, 300])
    n = stats.count[:, None, None]
    mean = (stats.sums / n).transpose(1, 2).reshape(2, -1)
    whole = stats.gram / n - mean[:, :, None] * mean[:, None, :]
    assert torch.equal(stats.covariance(), whole)
    assert torch.equal(torch.cat([block for _, block in stats.covariance_rows(rows=97)], dim=1), whole)
    assert torch.equal(stats.variances(), torch.diagonal(whole, dim1=1, dim2=2))
    sd = torch.diagonal(whole, dim1=1, dim2=2).clamp_min(0.0).sqrt()
    inv_sd = torch.where(sd > 1e-6, 1.0 / sd, 0.0).float()
    corr = whole.float() * inv_sd[:, :, None] * inv_sd[:, None, :]
    ridge = (1e-3 + 0.02 * stats.gram.shape[1] / stats.count.float()).clamp(max=1.0)
    expected = torch.cholesky_inverse(torch.linalg.cholesky(corr + ridge[:, None, None] * torch.eye(corr.shape[1])))
    torch.testing.assert_close(fit_score(stats).prec, expected, rtol=0, atol=0)
