"""The leaf-removal cues: the Schur downdates give what refitting on the variables left gives, the
removal orders a nonlinear chain, the cues need the score fit, and a network fine-tuned onto them
starts as its source, as onto the kernel cues (symmetries and hard data: test_stats_encoder)."""
import math

import pytest
import torch

from causal_amort.config import ModelConfig, load_config
from causal_amort.model import checkpoint as ckpt
from causal_amort.model.cues import compute_cues, cue_columns
from causal_amort.model.leaf_cues import LEAF_VARIABLE_CUES, REMOVE_FRACTION, leaf_removal_cues
from causal_amort.model.order_model import OrderModel
from causal_amort.model.score_fit import fit_score, hessian_spread
from causal_amort.model.sufficient import RunningStats
from simulators.core.errors import InputError


def streamed(x: torch.Tensor, chunk: int = 250) -> RunningStats:
    stats = RunningStats.start(x[:, :chunk])
    for block in x.split(chunk, dim=1):
        stats = stats.add(block)
    return stats


def nonlinear(batch: int, d: int, seed: int, rows: int = 1500) -> torch.Tensor:
    """Each variable a bounded nonlinear function of up to two earlier ones plus Gaussian noise,
    columns shuffled per dataset."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(batch, rows, d)
    for j in range(d):
        x[..., j] = 0.5 * torch.randn(batch, rows, generator=gen)
        for i in range(max(0, j - 2), j):
            x[..., j] += 1.5 * torch.tanh(2 * x[..., i] + float(i % 3))
    return torch.stack([row[:, torch.randperm(d, generator=gen)] for row in x])


def refitted_cues(fit, b: int) -> torch.Tensor:
    """The removal with each fit solved from scratch: the inverse of the ridged correlation's block of
    the variables left, float64 (the ridged correlation is the inverse of the fit's precision)."""
    d, k = fit.inv_sd.shape[1:]
    ridged = torch.linalg.inv(fit.prec[b].double())
    cues, left = torch.zeros(d, 3, dtype=torch.float64), list(range(d))
    while len(left) > 1:
        features = torch.tensor([f * d + i for f in range(k) for i in left])
        prec = torch.linalg.inv(ridged[features][:, features]).view(k, len(left), k, len(left))
        spread = torch.stack([hessian_spread(-(prec[:, a, :, a] @ fit.target[b, i].double()) * fit.inv_sd[b, i].double(),
                                             fit.deriv_cov[b, i].double()) for a, i in enumerate(left)])
        removed = math.ceil(len(left) * REMOVE_FRACTION)
        ranked = torch.argsort(spread, descending=True, stable=True).tolist()
        for rank in range(len(left) - removed, len(left)):
            cues[left[ranked[rank]], 0] = rank / (d - 1)
        left = [left[r] for r in ranked[: len(left) - removed]]
    return cues


@pytest.mark.parametrize("d", [5, 12])
def test_downdated_removal_equals_refitting_on_the_variables_left(d):
    fit = fit_score(streamed(nonlinear(3, d, seed=d)))
    cues = leaf_removal_cues(fit)
    assert cues.shape == (3, d, 3) and torch.isfinite(cues).all()
    for b in range(3):
        torch.testing.assert_close(cues[b, :, 0].double(), refitted_cues(fit, b)[:, 0])
        assert sorted((cues[b, :, 0] * (d - 1)).round().int().tolist()) == list(range(d))
    assert (cues[..., 2] >= 0).all()  # a leaf's spread is at most the lowest one kept


def test_leaf_removal_orders_a_nonlinear_chain():
    """x0 -> x1 -> x2 -> x3, nonlinear with Gaussian noise, columns stored as [x2, x0, x3, x1]: the
    removal puts them in causal order, where the first fit alone (the score cue) need not."""
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(2000, 4, generator=g)
        x0 = noise[:, 0]
        x1 = 1.5 * torch.tanh(2 * x0) + 0.3 * noise[:, 1]
        x2 = 2 * torch.sin(x1) + 0.3 * noise[:, 2]
        x3 = x2**2 / 2 + 0.3 * noise[:, 3]
        position = leaf_removal_cues(fit_score(streamed(torch.stack([x2, x0, x3, x1], dim=1)[None])))[0, :, 0]
        assert torch.argsort(position).tolist() == [1, 3, 0, 2]


def test_leaf_cues_need_the_score_fit_and_come_last():
    stats = RunningStats.start(nonlinear(1, 4, seed=0), derivatives=False).add(nonlinear(1, 4, seed=0))
    with pytest.raises(ValueError, match="score = True"):
        compute_cues(stats, score=False, leaf=True)
    assert cue_columns(True, True, True)[0][-3:] == list(LEAF_VARIABLE_CUES)
    with pytest.raises(InputError, match="model.leaf_cues needs"):
        load_config("default-cpu", {"model.leaf_cues": True, "model.score_cues": False})


@pytest.mark.parametrize("setting, value", [("leaf_cues", True), ("kernel_rows", 64), ("tail_cues", True),
                                            ("conditional_head", True), ("lingam_rows", 64)])
def test_a_network_fine_tuned_onto_added_cues_starts_as_its_source(setting, value):
    """Every `checkpoint.ADDED_WEIGHTS` block starts at zero output: loaded with the weights of a
    network without it, the network reads exactly as its source."""
    def make(**added):
        torch.manual_seed(0)
        return OrderModel(ModelConfig(dim=32, heads=4, enc_layers=2, dec_layers=2, encoder="stats", pair_dim=8,
                                      state="none", score_cues=True, **added)).eval()

    source, target = make(), make(**{setting: value})
    missing, unexpected = target.load_state_dict(source.state_dict(), strict=False)
    assert not unexpected and missing and all(name.startswith(ckpt.ADDED_WEIGHTS[setting]) for name in missing)
    x = nonlinear(1, 6, seed=1, rows=300)
    with torch.no_grad():
        reads = []
        for model in (source, target):
            memory = model.init_memory(1, 6, "cpu")
            for chunk in x.split(100, dim=1):
                memory = model.advance(memory, chunk)
            reads.append(memory.state)
    torch.testing.assert_close(reads[1], reads[0])
