"""The intervention head (model.intervention_head), training only some parameters (train.train_only),
interventional training tasks (data.intervention_prob), and rule v50's draw and score scripts."""
import dataclasses
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch

from causal_amort.config import load_config
from causal_amort.model.order_model import OrderModel
from causal_amort.training.task_data import task_source
from causal_amort.training.train import train_run
from simulators.core.errors import InputError
from simulators.prior.sample import sample_dataset
from simulators.prior.spec import load_spec

SMALL = {"model.encoder": "stats", "model.state": "none", "model.score_cues": True, "model.dim": 16,
         "model.heads": 2, "model.enc_layers": 1, "model.dec_layers": 1, "model.pair_dim": 8,
         "data.batch_size": 3, "data.d_min": 3, "data.d_max": 5, "data.chunk_size": 16, "data.chunks_min": 1,
         "data.chunks_max": 3, "data.workers": 0, "train.steps": 2, "train.warmup_steps": 0,
         "train.loss_chunks": "last", "train.val_every": 0, "train.checkpoint_every": 2, "train.device": "cpu"}
DRAW = Path(__file__).resolve().parents[1] / "scripts" / "intervention_draw.sh"


def small_cfg(**overrides):
    return load_config("tiny", {**SMALL, **overrides})


def _read(model, ds):
    """(state, pairs, orders, confidence) of one dataset read in one chunk, masks as it has them."""
    model.eval()
    x = torch.as_tensor(ds.x)[None]
    mask = None if ds.mask is None else torch.as_tensor(ds.mask)[None]
    with torch.inference_mode():
        memory = model.advance(model.init_memory(1, ds.x.shape[1], "cpu"), x, mask)
        return (memory.state, memory.pairs, *model.decode(memory))


def _with_head():
    """A stats model and the same network with an intervention head of random (non-zero) weights."""
    cfg = small_cfg().model
    torch.manual_seed(0)
    base = OrderModel(cfg)
    headed = OrderModel(dataclasses.replace(cfg, intervention_head=True))
    missing, unexpected = headed.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(name.startswith("encoder.intervention.") for name in missing)
    for param in headed.encoder.intervention.parameters():
        torch.nn.init.normal_(param)
    return base, headed


def test_the_head_adds_exactly_nothing_on_observational_data():
    base, headed = _with_head()
    for seed, d in ((1, 6), (2, 12)):
        ds = sample_dataset(load_spec("train"), d, 300, np.random.default_rng(seed))
        for a, b in zip(_read(base, ds), _read(headed, ds)):
            assert torch.equal(a, b)  # bitwise: state, pair channel, orders and confidences


def test_the_head_reads_what_the_masks_say():
    base, headed = _with_head()
    ds = sample_dataset(load_spec("train"), 8, 300, np.random.default_rng(3), interventions=4)
    state, pairs, *_ = _read(headed, ds)
    base_state, base_pairs, *_ = _read(base, ds)
    assert not torch.allclose(state, base_state) and not torch.allclose(pairs, base_pairs)
    # The head's share: zeroing its output layer leaves the network reading those cue columns as zeros.
    with torch.no_grad():
        headed.encoder.intervention.var_in[2].weight.zero_()
        headed.encoder.intervention.pair_in[2].weight.zero_()
        base.encoder.var_in[0].weight[:, headed.encoder.intervention.var_columns] = 0.0
        base.encoder.pair_in[0].weight[:, headed.encoder.intervention.pair_columns] = 0.0
    for a, b in zip(_read(base, ds)[:2], _read(headed, ds)[:2]):
        assert torch.allclose(a, b, atol=1e-6)


def test_pooled_sums_read_every_row_and_a_silent_head_then_reads_as_the_pooled_rows_do():
    base, headed = _with_head()
    headed.cfg = dataclasses.replace(headed.cfg, pooled_sums=True)
    ds = sample_dataset(load_spec("train"), 8, 300, np.random.default_rng(3), interventions=4)
    bare = dataclasses.replace(ds, mask=None)
    x, mask = torch.as_tensor(ds.x)[None], torch.as_tensor(ds.mask)[None]
    pooled = headed._start_stats(x).add(x, mask)
    plain = base._start_stats(x).add(x)
    for name in ("count", "sums", "gram", "deriv_sums", "deriv_gram"):
        assert torch.equal(getattr(pooled, name), getattr(plain, name)), name
    masked = base._start_stats(x).add(x, mask)
    assert torch.equal(pooled.int_sums, masked.int_sums) and not torch.equal(pooled.gram, masked.gram)
    with torch.no_grad():  # a head that has learned nothing yet: the pooled reading, exactly
        headed.encoder.intervention.var_in[2].weight.zero_()
        headed.encoder.intervention.pair_in[2].weight.zero_()
    for a, b in zip(_read(headed, ds), _read(base, bare)):
        assert torch.equal(a, b)
    with pytest.raises(InputError, match="pooled_sums needs model.encoder = stats"):
        load_config("tiny", {"model.pooled_sums": True})


def test_the_shipped_default_reads_masks_and_is_its_network_without_the_head_on_observational_data():
    from causal_amort.model.checkpoint import load_model

    shipped, cfg = load_model("default", "cpu")
    assert cfg.model.intervention_head and cfg.model.pooled_sums
    plain = OrderModel(dataclasses.replace(cfg.model, intervention_head=False, pooled_sums=False))
    missing, unexpected = plain.load_state_dict(shipped.state_dict(), strict=False)
    assert not missing and unexpected and all(name.startswith("encoder.intervention.") for name in unexpected)
    ds = sample_dataset(load_spec("test-out"), 12, 500, np.random.default_rng(7))
    for a, b in zip(_read(shipped, ds), _read(plain, ds)):
        assert torch.equal(a, b)
    masked = sample_dataset(load_spec("test-in"), 12, 500, np.random.default_rng(7), interventions=6)
    assert not torch.equal(_read(shipped, masked)[1], _read(plain, masked)[1])


def test_the_head_needs_the_stats_encoder():
    with pytest.raises(InputError, match="intervention_head needs model.encoder = stats"):
        load_config("tiny", {"model.intervention_head": True})


def test_interventional_tasks_come_with_masks_and_observational_runs_replay_unchanged():
    source = task_source(small_cfg(**{"data.intervention_prob": 1.0}).data, seed=4)
    for step in range(4):
        batch = source.batch(step, 0)
        assert batch.mask is not None
        per_task = batch.mask.any(dim=1)  # (B, d): which variables each task intervened on
        assert bool((per_task.sum(dim=1) >= 1).all())
    plain = task_source(small_cfg().data, seed=4).batch(0, 0)
    never = task_source(small_cfg(**{"data.intervention_prob": 0.0}).data, seed=4).batch(0, 0)
    assert plain.mask is None and torch.equal(plain.x, never.x)
    for bad, message in ((1.5, "must be in \\[0, 1\\]"), (-0.1, "must be in \\[0, 1\\]")):
        with pytest.raises(InputError, match=message):
            small_cfg(**{"data.intervention_prob": bad})
    with pytest.raises(InputError, match="needs simulated tasks"):
        small_cfg(**{"data.intervention_prob": 0.5, "data.suite": "runs/x"})


def test_train_only_moves_the_head_and_nothing_else(tmp_path):
    list(train_run(small_cfg(), tmp_path / "base"))
    base = safetensors.torch.load_file(str(tmp_path / "base/checkpoints/step-00000002.safetensors"))
    tune = {"model.intervention_head": True, "data.intervention_prob": 1.0, "train.lr": 1e-2,
            "train.train_only": "encoder.intervention.", "train.init": str(tmp_path / "base")}
    events = list(train_run(small_cfg(**tune), tmp_path / "head"))
    assert events[0].parameters == sum(p.numel() for p in OrderModel(small_cfg(**tune).model)
                                       .encoder.intervention.parameters())
    tuned = safetensors.torch.load_file(str(tmp_path / "head/checkpoints/step-00000002.safetensors"))
    assert set(tuned) - set(base) == {name for name in tuned if name.startswith("encoder.intervention.")}
    assert all(torch.equal(tuned[name], base[name]) for name in base)  # frozen bit for bit
    assert tuned["encoder.intervention.pair_in.2.weight"].abs().sum() > 0  # it left its zero start


def test_a_head_only_run_resumes_bit_exactly(tmp_path):
    list(train_run(small_cfg(), tmp_path / "base"))
    tune = {"model.intervention_head": True, "data.intervention_prob": 1.0, "train.steps": 4, "train.log_every": 1,
            "train.train_only": "encoder.intervention.", "train.init": str(tmp_path / "base")}
    list(train_run(small_cfg(**tune), tmp_path / "whole"))
    run = train_run(small_cfg(**tune), tmp_path / "split")
    for event in run:  # stop after the step-2 checkpoint, as a crash would
        if getattr(event, "step", 0) == 3:
            break
    run.close()
    resumed = list(train_run(small_cfg(**tune), tmp_path / "split", resume=True))
    assert resumed[0].resumed and resumed[0].step == 2
    whole, split = (safetensors.torch.load_file(str(tmp_path / name / "checkpoints/step-00000004.safetensors"))
                    for name in ("whole", "split"))
    assert whole.keys() == split.keys() and all(torch.equal(whole[k], split[k]) for k in whole)


def test_train_only_refuses_a_prefix_that_names_nothing(tmp_path):
    with pytest.raises(InputError, match="'encoder.nothing.' names no parameter"):
        list(train_run(small_cfg(**{"train.train_only": "encoder.nothing."}), tmp_path / "run"))
    assert not (tmp_path / "run").exists()


STAND_IN = """#!/usr/bin/env bash
echo "amort $*"
out=${@: -1}
mkdir -p "$out"
touch "$out/a-0.csv" "$out/a-0.edges.csv" "$out/a-0.mask.csv" "$out/manifest.json"
"""


def test_the_draw_writes_each_suite_with_masks_and_its_pooled_twin(tmp_path):
    amort = tmp_path / "amort"
    amort.write_text(STAND_IN)
    amort.chmod(0o755)
    out = tmp_path / "draw"
    done = subprocess.run(["bash", str(DRAW), "4268", str(out)], env={**os.environ, "AMORT": str(amort)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    commands = [line.split() for line in done.stdout.splitlines()]
    suites = {"train-d20-k5": ("train", "20", "5"), "train-d20-k20": ("train", "20", "20"),
              "train-d50-k10": ("train", "50", "10"), "select-out-d20-k10": ("select-out", "20", "10"),
              "select-shift-d20-k10": ("select-shift", "20", "10"), "select-noise-d20-k10": ("select-noise", "20", "10")}
    assert sorted(Path(c[-1]).name for c in commands) == sorted(suites)
    for c in commands:
        name = Path(c[-1]).name
        assert tuple(c[c.index(flag) + 1] for flag in ("--preset", "--d", "--interventions")) == suites[name]
        assert c[c.index("--seed") + 1] == "4268" and c[c.index("--format") + 1] == "csv"
        assert sorted(p.name for p in (out / "pooled" / name).iterdir()) == ["a-0.csv", "a-0.edges.csv"]
    again = subprocess.run(["bash", str(DRAW), "4268", str(out)], env={**os.environ, "AMORT": str(amort)},
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "exists" in again.stderr


def test_the_score_pairs_masked_and_pooled_results(tmp_path, script_module):
    module = script_module("intervention_score")
    columns = ["suite", "dataset", "method", "status", "frac_reversed"]
    masked = [(s, f"{s}-{k}", m, "ok", v) for s in ("a", "b") for k in range(6)
              for m, v in (("G", 0.4), ("I", 0.1 if k < 5 else 0.4))]
    pooled = [(s, f"{s}-{k}", "G", "ok", 0.3) for s in ("a", "b") for k in range(6)]
    for name, rows in (("masked", masked + [("a", "a-0", "I", "failed", 0.9)]), ("pooled", pooled)):
        (tmp_path / name).mkdir()
        pd.DataFrame(rows, columns=columns).to_csv(tmp_path / name / "results.csv", index=False)
    rows = module.results(tmp_path / "masked", tmp_path / "pooled")
    table = module.score_table(rows)
    assert table.loc["interventional score", "G/pooled"] == pytest.approx(0.3)
    assert table.loc["interventional score", "I"] == pytest.approx((5 * 0.1 + 0.4) / 6)
    by_suite, p = module.paired(rows, "G/pooled", "I")
    assert by_suite.loc["a"].tolist() == [6, 5, 1, pytest.approx((5 * -0.2 + 0.1) / 6)]
    assert p < 0.05


def test_the_head_is_skipped_only_where_it_would_add_zero():
    _, headed = _with_head()
    head = headed.encoder.intervention
    cues = torch.randn(2, 5, 5, head.keep_pair.numel())
    cues[..., head.pair_columns] = 0.0
    with torch.no_grad():
        kept, extra = head.split_pair(cues)
        assert extra is None and kept is cues  # observational: neither masked nor embedded
        cues[0, 1, 2, head.pair_columns[0]] = 0.5
        kept, extra = head.split_pair(cues)
        assert extra is not None and extra.abs().sum() > 0 and (kept[..., head.pair_columns] == 0).all()
    cues[..., head.pair_columns] = 0.0
    kept, extra = head.split_pair(cues)  # with gradient: run, so that training sees the head
    assert extra is not None and torch.equal(extra, torch.zeros_like(extra))
