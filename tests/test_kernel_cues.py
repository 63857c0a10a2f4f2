"""The row sample and the kernel score cues: a sample that does not depend on the chunking, SCORE's
order on it, the model's symmetries, and a network fine-tuned onto the cues that starts exactly as
its source (finite on hard data: test_stats_encoder, with the other cues)."""
import json

import numpy as np
import pytest
import torch

from causal_amort.baselines.score import _score_order
from causal_amort.config import ModelConfig, RunConfig, config_to_dict
from causal_amort.model import checkpoint as ckpt
from causal_amort.model.cues import cue_columns
from causal_amort.model.kernel_cues import KERNEL_VARIABLE_CUES, kernel_score_cues
from causal_amort.model.order_model import OrderModel
from causal_amort.model.sufficient import SAMPLE_CLIP, RunningStats
from simulators.core.errors import InputError

TOL = dict(rtol=1e-4, atol=1e-4)
SAMPLE_FIELDS = ("reservoir", "priority", "rows_seen")


def make_model(kernel_rows=64, **overrides):
    torch.manual_seed(0)
    cfg = ModelConfig(dim=32, heads=4, enc_layers=2, dec_layers=2, encoder="stats", pair_dim=8, state="none",
                      score_cues=True, kernel_rows=kernel_rows, **overrides)
    return OrderModel(cfg).eval()


def chain(batch=2, rows=300, d=5, seed=0):
    """A nonlinear chain with Gaussian noise (SCORE's premise), columns in a shuffled order, with
    different offsets and scales."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(batch, rows, d, generator=gen)
    x = torch.zeros(batch, rows, d)
    x[..., 0] = noise[..., 0]
    for j in range(1, d):
        x[..., j] = x[..., j - 1] + 0.3 * x[..., j - 1] ** 3 + 0.5 * noise[..., j]
    return x * torch.logspace(-1, 1, d) + torch.linspace(-5, 5, d)


def sampled(x, sizes, rows=64, mask=None):
    stats, start = RunningStats.start(x[:, :100], reservoir_rows=rows), 0
    for size in sizes:
        stats = stats.add(x[:, start:start + size], None if mask is None else mask[:, start:start + size])
        start += size
    return stats


def test_the_sample_does_not_depend_on_the_chunking_and_leaves_intervened_rows_out():
    x = chain(rows=300)
    mask = torch.zeros(x.shape, dtype=torch.bool)
    mask[:, 50:120, 3] = True
    chunked, one_pass = sampled(x, [100, 37, 163], mask=mask), sampled(x, [300], mask=mask)
    for field in SAMPLE_FIELDS:
        assert torch.equal(getattr(chunked, field), getattr(one_pass, field)), field
    assert chunked.rows_seen.tolist() == [300.0, 300.0]
    priority = chunked.priority[0]
    assert torch.isfinite(priority).all() and (priority[1:] > priority[:-1]).all()
    # Each kept row is a row of x that no intervention touched, stored as its clipped robust z-score.
    z = ((x[0].double() - chunked.center[0]) / chunked.scale[0]).float().clamp(-SAMPLE_CLIP, SAMPLE_CLIP)
    distance = (chunked.reservoir[0][:, None] - z[None]).abs().amax(dim=-1).min(dim=1)
    assert (distance.values < 1e-4).all() and (chunked.reservoir.abs() == SAMPLE_CLIP).any()
    assert not ((distance.indices >= 50) & (distance.indices < 120)).any()
    # Fewer rows than slots: the rest are empty (priority inf, zeros).
    few = RunningStats.start(x[:, :100], reservoir_rows=64).add(x[:, :20])
    assert torch.isfinite(few.priority).sum(dim=1).tolist() == [20, 20] and (few.reservoir[:, 20:] == 0).all()


def test_prefix_samples_equal_adding_the_chunks_one_by_one():
    x = chain(rows=300).view(2, 3, 100, 5)
    mask = torch.zeros(x.shape, dtype=torch.bool)
    mask[:, 1, 20:60, 2] = True
    start = RunningStats.start(x[:, 0], reservoir_rows=64)
    prefixes, running = start.prefixes(x, mask), start
    for t in range(3):
        running = running.add(x[:, t], mask[:, t])
        for field in SAMPLE_FIELDS:
            assert torch.equal(getattr(prefixes, field)[2 * t: 2 * t + 2], getattr(running, field)), field


def test_the_kernel_order_is_scores_order_on_the_sampled_rows():
    """With d <= 8 every kernel solve removes one leaf, exactly SCORE's procedure: the cue's order
    is the SCORE baseline's order on the same rows (and it finds this chain)."""
    x = chain(batch=1, rows=200)
    stats = sampled(x, [100, 100], rows=128)
    position = kernel_score_cues(stats)[0, :, 0]
    assert sorted(position.tolist()) == [0.0, 0.25, 0.5, 0.75, 1.0]
    rows = stats.reservoir[0].double().numpy()
    assert np.argsort(position.numpy()).tolist() == _score_order(rows, None, torch.device("cpu")).tolist()
    assert np.argsort(position.numpy()).tolist() == [0, 1, 2, 3, 4]


def test_at_large_d_the_positions_are_still_a_permutation():
    x = torch.randn(2, 300, 30, generator=torch.Generator().manual_seed(3))
    cues = kernel_score_cues(sampled(x, [300], rows=32))
    for b in range(2):
        assert sorted((cues[b, :, 0] * 29).round().long().tolist()) == list(range(30))
    assert (cues[..., 2] >= 0).all()  # a leaf's margin: the first variable kept has a larger spread


def test_kernel_cues_are_invariant_to_shift_scale_and_equivariant_to_permuting_variables():
    x = chain().double()
    cues = kernel_score_cues(sampled(x, [150, 150]))
    moved = x * torch.tensor([3.0, 0.01, 250.0, 1.0, 7.5]) - torch.tensor([1e3, -4.0, 0.5, 9.0, 2.0])
    torch.testing.assert_close(kernel_score_cues(sampled(moved, [150, 150])), cues, **TOL)
    perm = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(kernel_score_cues(sampled(x[..., perm], [150, 150])), cues[:, perm], **TOL)


def test_kernel_cues_need_a_row_sample():
    with pytest.raises(ValueError, match="row sample"):
        kernel_score_cues(RunningStats.start(chain()))
    assert cue_columns(True, True)[0][-3:] == list(KERNEL_VARIABLE_CUES)


def test_a_run_may_start_from_weights_without_the_kernel_cues_not_the_other_way_round(tmp_path):
    # That the network then starts as its source: test_leaf_cues (every ADDED_WEIGHTS block).
    source = make_model(kernel_rows=0)
    target = make_model(kernel_rows=64)
    for name, model in (("without", source), ("with", target)):
        ckpt.save_checkpoint(tmp_path / name, "best", model, RunConfig(model=model.cfg), 1)
    assert ckpt.init_checkpoint(tmp_path / "without", target.cfg).name == "best.json"
    with pytest.raises(InputError, match="model.kernel_rows is 64"):
        ckpt.init_checkpoint(tmp_path / "with", source.cfg)
    fresh = make_model(kernel_rows=128)
    ckpt.load_weights(fresh, tmp_path / "without" / "best.json", missing_ok=tuple(ckpt.ADDED_WEIGHTS.values()))
    with pytest.raises(InputError, match="do not fit"):
        ckpt.load_weights(make_model(kernel_rows=128), tmp_path / "without" / "best.json")
    assert json.loads((tmp_path / "with" / "best.json").read_text())["config"]["model"]["kernel_rows"] == 64
    assert config_to_dict(RunConfig())["model"]["kernel_rows"] == 0


def test_a_setting_that_shapes_an_added_block_is_free_only_where_the_source_lacks_the_block(tmp_path):
    """`checkpoint.ADDED_SHAPES`: lingam_reads_base may differ from a source without the sample LiNGAM
    embeddings, not from one whose embeddings it would reshape."""
    for name, rows in (("without", 0), ("with", 64)):
        model = make_model(kernel_rows=0, lingam_rows=rows)
        ckpt.save_checkpoint(tmp_path / name, "best", model, RunConfig(model=model.cfg), 1)
    narrow = make_model(kernel_rows=0, lingam_rows=64, lingam_reads_base=False).cfg
    assert ckpt.init_checkpoint(tmp_path / "without", narrow).name == "best.json"
    with pytest.raises(InputError, match="model.lingam_reads_base is True"):
        ckpt.init_checkpoint(tmp_path / "with", narrow)
