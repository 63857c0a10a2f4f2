"""Conditional decoding (model.conditional_head): the residual variances are the regressions they
claim to be, the decode's incremental factors give the teacher-forced features, a head at zero
changes nothing, and a trained head reaches the loss."""
import dataclasses

import torch

from causal_amort.config import ModelConfig
from causal_amort.model.conditional import _prefix_residuals, conditional_start, correlations, prefix_features
from causal_amort.model.decoding import beam_search, recompute
from causal_amort.model.order_model import OrderModel
from causal_amort.model.sufficient import RunningStats

CFG = ModelConfig(dim=32, heads=4, enc_layers=2, dec_layers=2, encoder="stats", pair_dim=8, state="none",
                  score_cues=True)


def chain_data(batch=2, rows=600, d=6, seed=0):
    """Nonlinear additive chains with Laplace noise, columns in a different order per dataset."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.empty(batch, rows, d).exponential_(generator=gen) - torch.empty(batch, rows, d).exponential_(generator=gen)
    x = torch.empty(batch, rows, d)
    x[..., 0] = noise[..., 0]
    for j in range(1, d):
        x[..., j] = torch.tanh(1.5 * x[..., j - 1]) + 0.3 * x[..., j - 1] + 0.5 * noise[..., j]
    return torch.stack([x[b][:, torch.randperm(d, generator=gen)] for b in range(batch)])


def read(model, x):
    memory = model.init_memory(x.shape[0], x.shape[2], "cpu")
    with torch.no_grad():
        for chunk in x.split(200, dim=1):
            memory = model.advance(memory, chunk)
    return memory


def with_head(seed=0):
    torch.manual_seed(seed)
    source = OrderModel(CFG).eval()
    target = OrderModel(dataclasses.replace(CFG, conditional_head=True)).eval()
    missing, unexpected = target.load_state_dict(source.state_dict(), strict=False)
    assert not unexpected and missing and all(name.startswith("conditional.") for name in missing)
    return source, target


def test_residuals_are_the_ridge_regressions_on_the_placed_variables():
    x = chain_data()
    stats = RunningStats.start(x).add(x)
    corr, lin = correlations(stats)
    k = stats.k
    order = torch.stack([torch.randperm(6, generator=torch.Generator().manual_seed(b)) for b in range(2)])
    residual = _prefix_residuals(corr, order, k)
    for b in range(2):
        for t in (1, 3, 5):
            placed = torch.cat([torch.arange(v * k, v * k + k) for v in order[b, :t].tolist()])
            for v in order[b, t:].tolist():  # unplaced: 1 - R^2 of s_v on every feature of the placed
                target = corr[b, placed, v * k]
                r2 = target @ torch.linalg.solve(corr[b][placed][:, placed], target)
                torch.testing.assert_close(residual[b, t, v], 1.0 - r2, rtol=1e-9, atol=1e-9)
    # nothing placed: unit variance; each placement: never more residual for a variable still unplaced
    assert torch.allclose(residual[:, 0], torch.ones(2, 6, dtype=residual.dtype))
    position = order.argsort(dim=1)  # [b, v]: where v is placed
    for b in range(2):
        for v in range(6):
            before = residual[b, : position[b, v] + 1, v]
            assert (before[1:] <= before[:-1] + 1e-12).all() and before[-1] < 1.0 or position[b, v] == 0
    lin_res = _prefix_residuals(lin, order, 1)
    for b in range(2):
        first = order[b, 0].item()
        for v in order[b, 1:].tolist():
            torch.testing.assert_close(lin_res[b, 1, v], 1.0 - lin[b, v, first] ** 2)


def test_decoding_grows_the_teacher_forced_features_and_a_zero_head_changes_nothing():
    source, target = with_head()
    x = chain_data()
    base, memory = read(source, x), read(target, x)
    orders, confidence = source.decode(base)
    got_orders, got_confidence = target.decode(memory)
    assert torch.equal(orders, got_orders) and torch.equal(confidence, got_confidence)
    with torch.no_grad():
        for p in target.conditional.mlp.parameters():
            p.normal_(0.0, 1.0)
    orders, _ = target.decode(memory)
    steps = conditional_start(target.decoder.begin, target.conditional, memory.stats)(memory.state, memory.pairs)
    rows = []
    for t in range(6):
        rows.append(steps.next_logits())
        steps.advance(None, orders[:, t])
    with torch.no_grad():
        features = prefix_features(memory.stats, orders)
        reference = (target.decoder.logits(memory.state, orders[:, :-1], memory.pairs)
                     + target.conditional(features, target.conditional.tokens(memory.state)))
    got = torch.stack(rows, dim=1)
    finite = torch.isfinite(reference)
    assert torch.equal(finite, torch.isfinite(got)) and finite.sum() == 2 * (6 + 5 + 4 + 3 + 2 + 1)
    torch.testing.assert_close(got[finite], reference[finite], rtol=1e-4, atol=1e-4)
    assert features[:, 1:].abs().sum() > 0 and (features[:, 0, :, 2:] == 0).all()  # no drop before the first

    def full_prefix_logits(state, prefix, pairs):
        """The teacher-forced logits of a partial prefix: completed by the unplaced variables, rows up to it."""
        rest = [torch.tensor([v for v in range(6) if v not in row.tolist()]) for row in prefix]
        order = torch.cat([prefix, torch.stack(rest)], dim=1)
        n = state.shape[0] // memory.state.shape[0]
        stats = memory.stats
        stats = dataclasses.replace(stats, **{name: value.repeat_interleave(n, dim=0) for name, value in
                                              stats._sums().items() if value is not None})
        added = target.conditional(prefix_features(stats, order), target.conditional.tokens(state))
        return (target.decoder.logits(state, prefix, pairs) + added[:, : prefix.shape[1] + 1])

    with torch.no_grad():
        for beam in (1, 3):
            fast, _ = beam_search(conditional_start(target.decoder.begin, target.conditional, memory.stats),
                                  memory.state, beam, memory.pairs)
            slow, _ = beam_search(recompute(full_prefix_logits), memory.state, beam, memory.pairs)
            assert torch.equal(fast, slow)


def test_the_order_loss_trains_the_head():
    _, target = with_head()
    target.train()
    x = chain_data()
    graph = torch.ones(6, 6).triu(1).expand(2, 6, 6)  # one valid order: every position has a wrong pick
    memory = read(target, x)
    loss = target.order_loss(memory, graph, torch.Generator().manual_seed(0))
    loss.backward()
    assert target.conditional.mlp[-1].weight.grad.abs().sum() > 0
    assert torch.isfinite(loss)


def test_the_cost_model_counts_the_conditional_factor_and_the_tails_sums():
    """`model.cost` (what the memory check and the estimates read) prices both options: the factor per
    hypothesis of a beam, and the tails' Gram per row."""
    from causal_amort.model.cost import model_cost

    plain = dataclasses.replace(CFG, dim=64)
    for beam in (1, 4):
        seconds, peak = model_cost(plain, 300, 2000, beam=beam)
        more_seconds, more_peak = model_cost(dataclasses.replace(plain, conditional_head=True), 300, 2000, beam=beam)
        assert more_seconds > 2 * seconds and more_peak > peak
    seconds, peak = model_cost(plain, 300, 100_000)
    tail_seconds, tail_peak = model_cost(dataclasses.replace(plain, tail_cues=True), 300, 100_000)
    assert 1.1 * seconds < tail_seconds < 1.2 * seconds and tail_peak > peak
