"""Training loop: exact resume, the batch stream, DDP on two gloo processes, metrics and config files."""
import csv
import math
import os
import socket

import numpy as np
import pytest
import safetensors.torch
import torch
import torch.multiprocessing as mp

from causal_amort.model import checkpoint as ckpt
from causal_amort.config import load_config
from causal_amort.training.task_data import TaskStream, task_loader, task_source
from causal_amort.model.order_model import OrderModel
from causal_amort.training.train import Finished, Logged, Started, build_optimizer, lr_at, train_run, train_step

# A model and tasks small enough that a step takes tens of milliseconds on one core.
SMALL = {"model.dim": 16, "model.heads": 2, "model.enc_layers": 1, "model.dec_layers": 1,
         "data.batch_size": 3, "data.d_min": 3, "data.d_max": 5, "data.chunk_size": 16,
         "data.chunks_min": 1, "data.chunks_max": 3, "data.workers": 0,
         "train.steps": 6, "train.warmup_steps": 2, "train.log_every": 2, "train.val_every": 3,
         "train.val_datasets": 3, "train.val_d": 4, "train.val_n": 32, "train.checkpoint_every": 3,
         "train.device": "cpu"}


def small_cfg(**overrides):
    return load_config("tiny", {**SMALL, **overrides})


def weights(path):
    return safetensors.torch.load_file(str(path))


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_continues_bit_exactly(tmp_path):
    cfg = small_cfg()
    events = list(train_run(cfg, tmp_path / "whole"))
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished) and events[-1].step == 6
    whole = weights(tmp_path / "whole/checkpoints/step-00000006.safetensors")

    # Die after logging step 4, past the checkpoint at step 3, as a crash would; then resume.
    run = train_run(cfg, tmp_path / "split")
    for event in run:
        if isinstance(event, Logged) and event.step == 4:
            break
    run.close()
    assert not (tmp_path / "split/checkpoints/step-00000006.json").exists()
    resumed = list(train_run(cfg, tmp_path / "split", resume=True))
    assert resumed[0].resumed and resumed[0].step == 3
    assert_same_weights(whole, weights(tmp_path / "split/checkpoints/step-00000006.safetensors"))

    # metrics.csv has each logging step once, in order, though rows after step 3 were logged twice.
    with open(tmp_path / "split/metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [2, 3, 4, 6]
    assert all(float(r["loss"]) > 0 for r in rows)
    assert rows[1]["val_frac_reversed"] != "" and rows[0]["val_frac_reversed"] == ""


def test_training_changes_weights_and_keeps_the_best(tmp_path):
    cfg = small_cfg()
    list(train_run(cfg, tmp_path / "run"))
    model, loaded_cfg = ckpt.load_model(tmp_path / "run", "cpu")
    assert loaded_cfg == cfg
    best = ckpt.read_checkpoint(tmp_path / "run/checkpoints/best.json")
    assert best.step in (3, 6) and 0.0 <= best.metrics["val_frac_reversed"] <= 1.0
    torch.manual_seed(cfg.train.seed)
    fresh = OrderModel(cfg.model).state_dict()
    trained = weights(tmp_path / "run/checkpoints/step-00000006.safetensors")
    assert any(not torch.equal(fresh[k], trained[k]) for k in fresh)
    # keep_checkpoints (3) bounds the step checkpoints; here both fit.
    assert [p.stem for p in ckpt.step_checkpoints(tmp_path / "run/checkpoints")] == ["step-00000003", "step-00000006"]


@pytest.mark.parametrize("tbptt", [1, 3])
def test_causal_state_trains_with_a_loss_after_every_chunk(tmp_path, tbptt):
    """tbptt >= the chunks of a task: one pass over every prefix; below it, chunk by chunk."""
    cfg = small_cfg(**{"model.encoder": "stats", "model.state": "causal", "train.loss_chunks": "all",
                       "train.tbptt": tbptt, "data.chunks_min": 3, "train.steps": 2, "train.val_every": 0})
    events = list(train_run(cfg, tmp_path / "run"))
    losses = [e.loss for e in events if isinstance(e, Logged)]
    assert losses and all(math.isfinite(v) and v > 0 for v in losses)


def test_init_starts_a_fresh_run_from_given_weights(tmp_path):
    list(train_run(small_cfg(), tmp_path / "base"))
    base = weights(tmp_path / "base/checkpoints/best.safetensors")  # what a run folder stands for
    # One step at a negligible learning rate: a run started from the base keeps its weights, while
    # a run from random weights (same seed) does not have them.
    tune = {"train.steps": 1, "train.warmup_steps": 0, "train.lr": 1e-12, "train.val_every": 0}
    list(train_run(small_cfg(**tune, **{"train.init": str(tmp_path / "base")}), tmp_path / "tuned"))
    list(train_run(small_cfg(**tune), tmp_path / "fresh"))
    tuned = weights(tmp_path / "tuned/checkpoints/step-00000001.safetensors")
    fresh = weights(tmp_path / "fresh/checkpoints/step-00000001.safetensors")
    assert all(torch.allclose(tuned[k], base[k], atol=1e-6) for k in base)
    assert not all(torch.allclose(fresh[k], base[k], atol=1e-3) for k in base)


def test_init_from_another_network_is_refused_before_the_run_folder_is_made(tmp_path):
    list(train_run(small_cfg(**{"train.steps": 1, "train.val_every": 0}), tmp_path / "base"))
    cfg = small_cfg(**{"model.dim": 32, "train.init": str(tmp_path / "base")})
    with pytest.raises(ckpt.InputError, match="model.dim is 16, this run's is 32"):
        list(train_run(cfg, tmp_path / "other"))
    assert not (tmp_path / "other").exists()


def test_init_may_change_what_the_network_reads_but_not_its_weights(tmp_path):
    """Fine-tuning onto another basis (or with cue groups dropped) keeps every weight's shape."""
    list(train_run(small_cfg(**{"model.encoder": "stats", "train.steps": 1, "train.val_every": 0}), tmp_path / "base"))
    wide = {"model.encoder": "stats", "model.basis": "wide", "train.steps": 1, "train.val_every": 0,
            "train.init": str(tmp_path / "base")}
    events = list(train_run(small_cfg(**wide), tmp_path / "wide"))
    assert [e.loss for e in events if isinstance(e, Logged)]


def test_training_with_tbptt_2_learns_and_ends_elsewhere_than_tbptt_1(tmp_path):
    def trained(tbptt):
        cfg = small_cfg(**{"train.tbptt": tbptt, "data.chunks_min": 2, "train.steps": 3, "train.val_every": 0})
        losses = [e.loss for e in train_run(cfg, tmp_path / f"tbptt{tbptt}") if isinstance(e, Logged)]
        assert losses and all(math.isfinite(loss) and loss > 0 for loss in losses)
        return weights(tmp_path / f"tbptt{tbptt}/checkpoints/step-00000003.safetensors")

    torch.manual_seed(0)
    fresh = OrderModel(small_cfg().model).state_dict()
    two, one = trained(2), trained(1)
    assert any(not torch.equal(fresh[k], two[k]) for k in fresh)
    assert any(not torch.equal(one[k], two[k]) for k in one)  # same seed, same batches


def _step_gradient(cfg, tbptt):
    """The loss and the gradient of one training step (no update) on a fixed batch."""
    torch.manual_seed(0)
    model = OrderModel(cfg.model)
    _, flat_grad = build_optimizer(model, cfg.train)
    batch = task_source(cfg.data, seed=0).batch(0, 0)
    loss = train_step(model, batch, torch.device("cpu"), cfg.data.chunk_size, tbptt,
                      torch.Generator().manual_seed(0), bf16=False)
    return loss, flat_grad.clone()


def _stepped(cfg, **weights):
    """(loss, model) after one training step's backward (no update) on a fixed batch, last chunk only."""
    torch.manual_seed(0)
    model = OrderModel(cfg.model)
    batch = task_source(cfg.data, seed=0).batch(0, 0)
    loss = train_step(model, batch, torch.device("cpu"), cfg.data.chunk_size, 1,
                      torch.Generator().manual_seed(0), bf16=False, last_only=True, **weights)
    return loss.item(), model


def test_precede_loss_reaches_the_must_precede_weights_through_a_training_step():
    cfg = small_cfg(**{"model.encoder": "stats", "train.loss_chunks": "last"})
    (loss_off, off), (loss_on, on) = (_stepped(cfg, precede_weight=weight) for weight in (0.0, 1.0))
    assert loss_on > loss_off  # the loss adds a positive cross-entropy
    assert not torch.allclose(on.decoder.precede_pair.weight.grad, off.decoder.precede_pair.weight.grad)


def test_edge_loss_trains_the_edge_head_and_the_pair_channel_through_a_training_step():
    cfg = small_cfg(**{"model.encoder": "stats", "model.edge_head": True, "train.loss_chunks": "last"})
    (loss_off, off), (loss_on, on) = (_stepped(cfg, edge_weight=weight) for weight in (0.0, 1.0))
    assert loss_on > loss_off  # the loss adds a positive cross-entropy
    assert off.edge_head.weight.grad is None and on.edge_head.weight.grad.abs().sum() > 0  # only it reaches the head
    # ... and it reaches the pair channel below the head
    assert not torch.allclose(on.encoder.pair_in[0].weight.grad, off.encoder.pair_in[0].weight.grad)


def test_edge_loss_is_low_when_the_head_reads_the_true_graph():
    cfg = small_cfg(**{"model.encoder": "stats", "model.edge_head": True})
    model = OrderModel(cfg.model)
    graph = torch.tensor([[[0, 1, 1], [0, 0, 1], [0, 0, 0]]], dtype=torch.float32)
    pairs = torch.zeros(1, 3, 3, cfg.model.pair_dim)
    pairs[..., 0] = 2 * graph - 1  # channel 0 says "edge i -> j" at [i, j]
    with torch.no_grad():
        model.edge_head.weight.zero_()
        model.edge_head.bias.zero_()
        chance = model.edge_loss(pairs, graph).item()
        model.edge_head.weight[0, 0] = 10.0
        informed = model.edge_loss(pairs, graph).item()
        model.edge_head.weight[0, 0] = -10.0
        reversed_ = model.edge_loss(pairs, graph).item()
    assert abs(chance - math.log(2)) < 1e-6 and informed < 1e-3 and reversed_ > 5


def test_init_adds_an_edge_head_to_weights_without_one(tmp_path):
    list(train_run(small_cfg(**{"model.encoder": "stats", "train.steps": 1, "train.val_every": 0}), tmp_path / "base"))
    base = weights(tmp_path / "base/checkpoints/step-00000001.safetensors")
    tune = {"model.encoder": "stats", "model.edge_head": True, "train.edge_loss": 1.0, "train.steps": 1,
            "train.warmup_steps": 0, "train.lr": 1e-12, "train.val_every": 0, "train.init": str(tmp_path / "base")}
    events = list(train_run(small_cfg(**tune), tmp_path / "edge"))
    assert [e.loss for e in events if isinstance(e, Logged)]
    tuned = weights(tmp_path / "edge/checkpoints/step-00000001.safetensors")
    assert set(tuned) - set(base) == {"edge_head.weight", "edge_head.bias"}
    assert all(torch.allclose(tuned[k], base[k], atol=1e-6) for k in base)


@pytest.mark.parametrize("state, linked", [("carry", True), ("none", False)])
def test_tbptt_2_sends_the_gradient_back_into_the_earlier_chunk(state, linked):
    # "carry" feeds chunk 1's state into chunk 2's pass; under "none" nothing links the chunks.
    cfg = small_cfg(**{"model.state": state, "data.chunks_min": 2, "data.chunks_max": 2})
    loss_1, grad_1 = _step_gradient(cfg, tbptt=1)
    loss_2, grad_2 = _step_gradient(cfg, tbptt=2)
    assert torch.equal(loss_1, loss_2) and grad_1.abs().sum() > 0  # the same forward pass
    assert torch.allclose(grad_1, grad_2, rtol=1e-5, atol=1e-8) is not linked


def test_batch_stream_is_the_same_for_any_number_of_workers():
    cfg = small_cfg()
    source = task_source(cfg.data, seed=7)
    alone = list(TaskStream(source, 2, 7, rank=0))
    pooled = list(task_loader(source, 2, 7, 0, workers=2, pin_memory=False))
    assert [b.step for b in pooled] == [2, 3, 4, 5, 6]
    for a, b in zip(alone, pooled):
        assert torch.equal(a.x, b.x) and torch.equal(a.graph, b.graph)
    # Another rank, another step: other tasks; d varies across batches within [d_min, d_max].
    assert not torch.equal(source.batch(2, 1).x, alone[0].x)
    ds = {b.x.shape[2] for b in (source.batch(s, 0) for s in range(20))}
    assert len(ds) > 1 and ds <= {3, 4, 5}


def test_learning_rate_warms_up_then_decays():
    t = small_cfg(**{"train.steps": 100, "train.warmup_steps": 10}).train
    lrs = np.array([lr_at(s, t) for s in range(100)])
    assert np.all(np.diff(lrs[:10]) > 0) and lrs[9] == pytest.approx(t.lr)
    assert np.all(np.diff(lrs[10:]) <= 0) and lrs[-1] == pytest.approx(0.1 * t.lr, rel=0.01)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_rank(rank, world, port, out, cfg):
    """One rank of a gloo job: train, then save this rank's final weights for comparison."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    import causal_amort.training.train as train_module

    built = []
    model_class = train_module.OrderModel

    def recording_model(model_cfg):
        built.append(model_class(model_cfg))
        return built[-1]

    train_module.OrderModel = recording_model
    list(train_run(cfg, out))
    safetensors.torch.save_file({k: v.contiguous() for k, v in built[0].state_dict().items()},
                                str(out.parent / f"rank{rank}.safetensors"))


def test_two_gloo_ranks_keep_identical_weights(tmp_path):
    cfg = small_cfg(**{"train.steps": 3, "train.val_every": 0})
    # fork, not spawn: the children skip re-importing torch, which is most of this test's time.
    mp.start_processes(_ddp_rank, args=(2, _free_port(), tmp_path / "run", cfg), nprocs=2, start_method="fork")
    rank0, rank1 = weights(tmp_path / "rank0.safetensors"), weights(tmp_path / "rank1.safetensors")
    assert_same_weights(rank0, rank1)
    # Rank 0 alone wrote the run folder, and its checkpoint holds the shared weights.
    assert_same_weights(rank0, weights(tmp_path / "run/checkpoints/step-00000003.safetensors"))
    # Both ranks' batches counted: the logged throughput is per job, the loss averaged over ranks.
    with open(tmp_path / "run/metrics.csv", newline="") as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [2, 3]
    # The ranks trained on different batches: a single process ends elsewhere.
    list(train_run(cfg, tmp_path / "single"))
    single = weights(tmp_path / "single/checkpoints/step-00000003.safetensors")
    assert any(not torch.equal(rank0[k], single[k]) for k in single)


def test_logged_events_match_metrics_rows(tmp_path):
    events = [e for e in train_run(small_cfg(), tmp_path / "run") if isinstance(e, Logged)]
    with open(tmp_path / "run/metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [e.step for e in events] == [int(r["step"]) for r in rows]
    assert all(e.tasks_per_s > 0 and e.samples_per_s >= e.tasks_per_s * 16 for e in events)


def test_suite_batches_relabel_variables_consistently(tmp_path):
    from simulators.storage.csvio import write_csv_dataset
    from simulators.core.dataset import Dataset

    # Column j holds 10 * j + noise, so a batch's column means reveal which variable it is (noise wide
    # enough that no column is far from zero for its spread, which a reader would offset to keep digits).
    rng = np.random.default_rng(0)
    for i, (n, d) in enumerate([(40, 4), (50, 4), (45, 3)]):
        x = (10.0 * np.arange(d) + 0.5 * rng.standard_normal((n, d))).astype(np.float32)
        graph = np.eye(d, k=1, dtype=np.uint8)  # chain 0 -> 1 -> ... -> d-1
        write_csv_dataset(tmp_path, Dataset(f"ds{i}", x, graph, [f"V{j}" for j in range(d)]))
    cfg = small_cfg(**{"data.suite": str(tmp_path), "data.chunks_max": 4, "data.batch_size": 5})
    source = task_source(cfg.data, seed=0)
    relabeled = False
    for step in range(8):
        batch = source.batch(step, 0)
        size, n, d = batch.x.shape
        # Chunk counts are capped by the shortest dataset of the batch (40 or 45 rows: 2 chunks).
        assert size == 5 and d in (3, 4) and n in (16, 32)
        for x, graph in zip(batch.x.numpy(), batch.graph.numpy()):
            label = np.rint(x.mean(axis=0) / 10).astype(int)  # original index of each column
            assert sorted(label) == list(range(d))
            relabeled |= not np.array_equal(label, np.arange(d))
            original = np.zeros_like(graph)
            original[np.ix_(label, label)] = graph
            assert np.array_equal(original, np.eye(d, k=1))
    assert relabeled
    # The same folder trains end to end.
    assert isinstance(list(train_run(small_cfg(**{"data.suite": str(tmp_path), "train.steps": 2}),
                                     tmp_path / "run"))[-1], Finished)
