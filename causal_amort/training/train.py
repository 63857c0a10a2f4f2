"""Training: one readable loop, top to bottom (in the spirit of nanoGPT's train.py).

Per optimizer step, a batch of tasks (one d, n = K chunks) streams through the model chunk by
chunk, as at inference. Following the seed paper (arXiv 2510.11471, iterative amortized
inference), a loss is taken after every chunk and, by default (``train.tbptt = 1``), the state
is detached after each chunk and each chunk's loss is backpropagated at once: gradients never
reach earlier chunks and memory stays flat in K. With ``tbptt = T`` gradients flow back through
T chunks. The chunk losses are averaged, so the gradient scale does not depend on K.

Everything random in a step is drawn from (seed, step, rank): the batch (see task_data), the
teacher orders and dropout (torch.manual_seed per step). A checkpoint therefore needs only the
weights, the optimizer state and the step for a resumed run to continue bit for bit; the
learning rate is a pure function of the step.

Multi-GPU / multi-node: launched by ``torchrun``, each rank trains on its own batches and the
gradients are averaged with one all-reduce per optimizer step before clipping and the update,
which is DistributedDataParallel's arithmetic. DDP's wrapper itself does not fit: it expects
one forward() per backward with every parameter used, while a step here runs K forward and
backward passes through init_memory/advance/order_loss, and S_0 only sees the first chunk.
Rank 0 alone logs, validates and writes checkpoints (when and which: saver.CheckpointSaver).
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist

from causal_amort.model import checkpoint as ckpt
from causal_amort.training import run_folder
from causal_amort.config import RunConfig, TrainConfig, config_to_dict
from causal_amort.evaluation.metrics import frac_reversed
from causal_amort.model.order_model import OrderModel
from causal_amort.runtime.devices import resolve_device
from causal_amort.training.saver import CheckpointSaver, discard_best, last_checkpoint
from causal_amort.training.task_data import TaskBatch, step_seeds, task_loader, task_source, validation_batch
from simulators.core.errors import InputError

# SLURM preemption (SIGTERM, SIGUSR1) and Ctrl-C all checkpoint at the next step boundary.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
# Config keys a resumed run may change: they change neither the math of the steps already
# taken nor the batches to come. (steps changes the cosine schedule from here on: extending
# a finished run is a deliberate choice.)
RESUMABLE_CHANGES = {"train.steps", "train.device", "train.log_every", "train.val_every",
                     "train.checkpoint_every", "train.keep_checkpoints", "data.workers"}


# --- events: the library yields these, the CLI renders them --------------------------------
@dataclass(frozen=True)
class Started:
    step: int  # steps already done (0, or the checkpoint a run resumes from)
    steps: int
    device: str
    world_size: int
    parameters: int
    resumed: bool


@dataclass(frozen=True)
class Logged:
    """A metrics.csv row; the val fields are None unless validation ran at this step."""

    step: int
    steps: int
    loss: float
    lr: float
    tasks_per_s: float
    samples_per_s: float
    elapsed_s: float
    val_frac_reversed: float | None = None
    val_frac_reversed_first: float | None = None


@dataclass(frozen=True)
class Saved:
    step: int
    path: Path
    best: bool


@dataclass(frozen=True)
class Finished:
    step: int
    preempted: bool  # True: stopped by a STOP_SIGNALS signal after checkpointing; rerun with --resume
    signum: int | None = None  # the signal this process received (None: finished, or another rank's)


TrainEvent = Started | Logged | Saved | Finished


def lr_at(step: int, t: TrainConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to lr / 10 at the last step."""
    if step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    progress = (step - t.warmup_steps) / max(1, t.steps - t.warmup_steps)
    return t.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def train_run(cfg: RunConfig, out_dir: str | Path, *, resume: bool = False, force: bool = False,
              device: str | None = None) -> Iterator[TrainEvent]:
    """Train per ``cfg`` into run folder ``out_dir``, yielding events (on rank 0 of a torchrun job,
    or alone). ``device`` defaults to ``cfg.train.device`` (``auto``: cuda if available); under
    torchrun with CUDA each rank takes the GPU of its LOCAL_RANK. InputError on a refused start."""
    out = Path(out_dir)
    t, data = cfg.train, cfg.data
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    dev = torch.device(resolve_device(device or t.device))
    dev, votes = _init_distributed(dev) if world > 1 else (dev, None)
    stop = _StopFlag()
    try:
        stop.install()  # before setup, so that a signal during setup still ends in a checkpoint
        init = ckpt.init_checkpoint(t.init, cfg.model) if t.init else None  # refuse before touching the run folder
        trainable = trained_prefixes(OrderModel(cfg.model), t.train_only) if t.train_only else ()  # likewise
        latest = _start_point(out, cfg, resume=resume, force=force, rank=rank, world=world, group=votes)
        source = task_source(data, t.seed)  # reads and checks the spec or suite: refuse early

        # --- model, optimizer, checkpoints ----------------------------------------------
        torch.manual_seed(t.seed)
        model = OrderModel(cfg.model).to(dev)
        if init is not None and latest is None:  # fine-tuning; a resumed run has its own weights
            ckpt.load_weights(model, init, dev, missing_ok=tuple(ckpt.ADDED_WEIGHTS.values()))
        if trainable:
            for name, param in model.named_parameters():
                param.requires_grad_(name.startswith(trainable))
        optimizer, flat_grad = build_optimizer(model, t)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        saver = CheckpointSaver(out, cfg, model, optimizer, world)
        start, elapsed_before = saver.restore(latest, dev) if latest is not None else (0, 0.0)
        if world > 1:
            for tensor in model.state_dict().values():
                dist.broadcast(tensor, 0)  # identical weights everywhere, whatever each rank did
        validating = bool(t.val_every and t.val_datasets)
        val = validation_batch(t, data) if validating and rank == 0 else None
        use_bf16 = t.bf16 and dev.type == "cuda"
        metrics = run_folder.MetricsLog(out)
        if rank == 0:
            yield Started(start, t.steps, str(dev), world, sum(p.numel() for p in params), latest is not None)

        # --- the loop ---------------------------------------------------------------------
        loader = task_loader(source, start, t.steps, rank, workers=data.workers, pin_memory=dev.type == "cuda",
                             ignore_signals=STOP_SIGNALS)
        model.train()
        done, stopping = start, False
        t0 = clock = time.perf_counter()
        loss_sum, tasks, samples, since = torch.zeros((), dtype=torch.float64, device=dev), 0, 0, 0
        for batch in loader:
            step = batch.step
            lr = lr_at(step, t)
            for group in optimizer.param_groups:
                group["lr"] = lr
            torch_seed = step_seeds(t.seed, step, rank)[1]
            torch.manual_seed(torch_seed)  # dropout; the teacher orders get their own generator
            teacher = torch.Generator().manual_seed(torch_seed)
            loss_sum += train_step(model, batch, dev, data.chunk_size, t.tbptt, teacher, use_bf16,
                                   last_only=t.loss_chunks == "last", precede_weight=t.precede_loss,
                                   edge_weight=t.edge_loss)
            if world > 1:
                dist.all_reduce(flat_grad)
                flat_grad /= world
            if t.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, t.grad_clip)
            optimizer.step()
            flat_grad.zero_()
            done = step + 1
            tasks += batch.x.shape[0] * world
            samples += batch.x.shape[0] * batch.x.shape[1] * world
            since += 1

            # Every rank must take the same branches below, or a collective hangs.
            stopping = stop.raised
            if world > 1:
                flag = torch.tensor([int(stopping)])
                dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=votes)
                stopping = bool(flag.item())
            last = done == t.steps
            validate = validating and (done % t.val_every == 0 or last)
            checkpoint = saver.due(done, last=last, stopping=stopping)
            # Validation and checkpoints get a metrics row too, so that throughput excludes their time.
            log = done % t.log_every == 0 or last or validate or checkpoint
            if log:
                mean_loss = loss_sum / since
                if world > 1:
                    dist.all_reduce(mean_loss)
                    mean_loss /= world
                now = time.perf_counter()
                tasks_per_s, samples_per_s = tasks / (now - clock), samples / (now - clock)
                loss_sum.zero_()
                tasks, samples, since = 0, 0, 0
            if rank == 0:
                # --- rank 0: validation, metrics, checkpoints -------------------------------
                frac_first = frac_last = None
                if validate:
                    frac_first, frac_last = validate_orders(model, val, data.chunk_size, dev, use_bf16)
                    model.train()
                elapsed = elapsed_before + time.perf_counter() - t0
                if log:
                    event = Logged(done, t.steps, float(mean_loss), lr, tasks_per_s, samples_per_s, elapsed,
                                   frac_last, frac_first)
                    metrics.append({"step": done, "loss": event.loss, "lr": lr, "tasks_per_s": tasks_per_s,
                                    "samples_per_s": samples_per_s, "val_frac_reversed": frac_last,
                                    "val_frac_reversed_first": frac_first, "elapsed_s": elapsed})
                    yield event
                if validate and (path := saver.save_best(done, frac_last, frac_first)) is not None:
                    yield Saved(done, path, best=True)
                if checkpoint:
                    yield Saved(done, saver.save_last(done, elapsed), best=False)
                if log:
                    clock = time.perf_counter()  # throughput excludes validation and checkpoint time
            if stopping:
                break
        if rank == 0:
            yield Finished(done, preempted=stopping, signum=stop.signum)
    finally:
        stop.uninstall()
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _init_distributed(dev: torch.device) -> tuple[torch.device, dist.ProcessGroup]:
    """Join the torchrun job: this rank's device, and the gloo group for control messages."""
    # nccl between GPUs, gloo between CPU processes.
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    # Control messages (start verdict, the per-step "stop?" vote) go over gloo on the CPU:
    # over NCCL the host would wait for the GPU every step.
    return dev, dist.new_group(backend="gloo")


def trained_prefixes(model: OrderModel, train_only: str) -> tuple[str, ...]:
    """The parameter-name prefixes of ``train.train_only`` (empty: train everything); InputError when
    one names no parameter of ``model``."""
    prefixes = tuple(p.strip() for p in train_only.split(",") if p.strip())
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in names):
            roots = sorted({name.split(".")[0] + "." for name in names})
            raise InputError(f"train.train_only: {prefix!r} names no parameter of this model (they start with "
                             f"{', '.join(roots)})")
    return prefixes


def build_optimizer(model: OrderModel, t: TrainConfig) -> tuple[torch.optim.AdamW, torch.Tensor]:
    """AdamW over the model's parameters, and the flat buffer that holds all their gradients.

    Every gradient is a view into that buffer: the DDP all-reduce is one call, and a parameter
    that a batch does not touch (the intervention embedding without masks) gets a zero
    gradient on every rank alike. Weight decay applies to matrices only, as usual.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    flat_grad = torch.zeros(sum(p.numel() for p in params), device=params[0].device)
    offset = 0
    for p in params:
        p.grad = flat_grad[offset: offset + p.numel()].view_as(p)
        offset += p.numel()
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": t.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=t.lr, betas=(0.9, 0.95)), flat_grad


def train_step(model: OrderModel, batch: TaskBatch, device: torch.device, chunk_size: int, tbptt: int,
                teacher: torch.Generator, bf16: bool, last_only: bool = False,
                precede_weight: float = 0.0, edge_weight: float = 0.0) -> torch.Tensor:
    """Forward and backward over the chunks of one batch (gradients accumulate); the mean chunk loss,
    left on the device so that the loop does not wait for the GPU every step. ``precede_weight``
    (train.precede_loss) adds the decoder's must-precede loss to each chunk's order loss, ``edge_weight``
    (train.edge_loss) the edge head's loss.

    ``last_only`` (train.loss_chunks = "last") scores only the last chunk: earlier chunks are read
    without gradient, and a model whose state is a function of its running statistics skips their
    network pass altogether, so a step costs one pass whatever the number of chunks."""
    x = batch.x.to(device, non_blocking=True)
    graph = batch.graph  # stays on the CPU: teacher orders are drawn there (a CPU generator)
    mask = None if batch.mask is None else batch.mask.to(device, non_blocking=True)
    size, n, d = x.shape
    chunks = n // chunk_size
    scored_chunks = 1 if last_only else chunks
    if model.cfg.state == "causal" and not last_only and tbptt >= chunks:  # (causal implies the stats encoder)
        # The causal state scores the prediction after every prefix of chunks in one pass, the
        # gradient reaching every earlier chunk (the loop below would give the same loss, chunk by chunk).
        rows = x[:, : chunks * chunk_size].view(size, chunks, chunk_size, d)
        rows_mask = None if mask is None else mask[:, : chunks * chunk_size].view(size, chunks, chunk_size, d)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            memory = model.advance_prefixes(rows, rows_mask)
            loss = model.order_loss(memory, graph.repeat(chunks, 1, 1), teacher, precede_weight, edge_weight)
        loss.backward()
        return loss.detach().double()
    memory = model.init_memory(size, d, device)
    segment, total = 0.0, torch.zeros((), dtype=torch.float64, device=device)
    for k in range(chunks):
        rows = slice(k * chunk_size, (k + 1) * chunk_size)
        chunk_mask = None if mask is None else mask[:, rows]
        if last_only and k < chunks - 1:
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                memory = model.advance(memory, x[:, rows], chunk_mask, encode=False)
            continue
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            memory = model.advance(memory, x[:, rows], chunk_mask)
            loss = model.order_loss(memory, graph, teacher, precede_weight, edge_weight)
        segment = segment + loss / scored_chunks
        total += loss.detach()
        if (k + 1) % tbptt == 0 or k == chunks - 1:
            # Backward now frees this segment's activations; detaching stops the gradient here.
            segment.backward()
            memory = model.detach(memory)
            segment = 0.0
    return total / scored_chunks


@torch.no_grad()
def validate_orders(model: OrderModel, val: TaskBatch, chunk_size: int, device: torch.device,
                    bf16: bool = False) -> tuple[float, float]:
    """Mean fraction of true edges that the greedy order reverses, after the first and the last chunk."""
    model.eval()
    x = val.x.to(device)
    memory = model.init_memory(x.shape[0], x.shape[2], device)
    first = None
    for start in range(0, x.shape[1], chunk_size):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            memory = model.advance(memory, x[:, start: start + chunk_size])
            if first is None:
                first = model.decode(memory)[0]
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        last = model.decode(memory)[0]
    graphs = val.graph.numpy()

    def mean_frac(orders: torch.Tensor) -> float:
        fracs = [frac_reversed(o, g) for o, g in zip(orders.cpu().numpy(), graphs)]
        return float(np.nanmean(fracs)) if not all(np.isnan(fracs)) else math.nan

    return mean_frac(first), mean_frac(last)


def _start_point(out: Path, cfg: RunConfig, *, resume: bool, force: bool, rank: int, world: int,
                 group: dist.ProcessGroup | None) -> Path | None:
    """The checkpoint to resume from, if any, after rank 0 has prepared the run folder.

    Under torchrun the other ranks wait for rank 0's verdict; they read the same shared folder."""
    refusal, latest = None, None
    if rank == 0:
        try:
            latest = _prepare(out, cfg, resume=resume, force=force)
        except InputError as exc:
            refusal = exc
    if world > 1:
        ok = torch.tensor([refusal is None], dtype=torch.int32)
        dist.broadcast(ok, 0, group=group)
        if not ok.item() and rank != 0:
            raise InputError("rank 0 refused to start (see its message)")
        if rank != 0 and resume:
            latest = last_checkpoint(out)
    if refusal is not None:
        raise refusal
    return latest


def _prepare(out: Path, cfg: RunConfig, *, resume: bool, force: bool) -> Path | None:
    """Prepare the run folder and save the config and provenance; the checkpoint to resume from, if any."""
    resuming = run_folder.prepare_run_folder(out, resume=resume, force=force)
    latest = None
    if resuming:
        saved = run_folder.read_config(out)
        changed = _changed_keys(saved, cfg) - RESUMABLE_CHANGES
        if changed:
            raise InputError(f"cannot resume {out} with a different {sorted(changed)[0]} "
                             f"(changeable on resume: {', '.join(sorted(RESUMABLE_CHANGES))})")
        latest = last_checkpoint(out)
    step = ckpt.read_checkpoint(latest).step if latest is not None else 0
    # Rows logged after the checkpoint are logged again by the resumed run.
    run_folder.MetricsLog(out).truncate_after(step)
    if latest is None:
        discard_best(out)  # a start from scratch (also --resume before any checkpoint)
    run_folder.write_config(out, cfg)
    run_folder.record_provenance(out, step)
    return latest


def _changed_keys(a: RunConfig, b: RunConfig) -> set[str]:
    """Dotted keys whose values differ between two configs."""
    da, db = config_to_dict(a), config_to_dict(b)
    return {f"{s}.{k}" for s in da for k in da[s] if da[s][k] != db[s][k]}


class _StopFlag:
    """Records STOP_SIGNALS so that the loop checkpoints and stops at the next step boundary,
    instead of dying mid-step. A second Ctrl-C stops at once (the last checkpoint stays)."""

    def __init__(self) -> None:
        self.raised = False
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.raised and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.raised = True
        self.signum = self.signum or signum

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread: no handlers, no graceful stop
                self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
