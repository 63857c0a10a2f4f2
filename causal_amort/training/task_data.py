"""Training batches: tasks simulated on the fly from a preset, or drawn from a suite; one d per batch.

Every batch is a pure function of (seed, step, rank): its randomness comes from
``np.random.SeedSequence([seed, step, rank])``. So the batch stream does not depend on how
many DataLoader workers make it, and a resumed run sees exactly the batches it would have.
"""
from __future__ import annotations

import functools
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from causal_amort.config import DataConfig, TrainConfig
from simulators.core.dataset import Dataset
from simulators.core.errors import InputError
from simulators.prior.graphs import is_acyclic
from simulators.storage.io import iter_datasets
from simulators.prior.sample import sample_dataset
from simulators.prior.spec import Spec, load_spec

VAL_PRESET = "test-in"
# The validation suite's entropy is [seed, lo, hi] of this 64-bit salt; a training batch's is
# [seed, step, rank]. They differ unless rank == hi (~7.7 million), so the suites are disjoint.
VAL_SALT = 0x76616C_6964617465  # b"validate"
_RESIMULATE = 10  # an SCM whose values overflow is redrawn (deterministically) this many times


@dataclass
class TaskBatch:
    """One training batch: ``x`` (B, n, d) float32, ``graph`` (B, d, d) uint8, ``mask`` (B, n, d) bool or None.

    ``n`` is a whole number of chunks; ``step`` is the optimizer step the batch is for.
    """

    step: int
    x: torch.Tensor
    graph: torch.Tensor
    mask: torch.Tensor | None

    def pin_memory(self) -> "TaskBatch":
        """Page-locked copies, so that the copy to a GPU overlaps compute (DataLoader calls this)."""
        return TaskBatch(self.step, self.x.pin_memory(), self.graph.pin_memory(),
                         None if self.mask is None else self.mask.pin_memory())


def step_seeds(seed: int, step: int, rank: int) -> tuple[np.random.SeedSequence, int]:
    """The data's SeedSequence and the torch seed (teacher orders, dropout) of one step on one rank."""
    data, model = np.random.SeedSequence([seed, step, rank]).spawn(2)
    return data, int(model.generate_state(1, np.uint64)[0] >> 1)  # torch seeds must fit in int64


def _stack_batch(step: int, datasets: list[Dataset]) -> TaskBatch:
    """Stack datasets of equal shape into a batch (no mask unless one of them has one)."""
    x = torch.from_numpy(np.stack([ds.x for ds in datasets]).astype(np.float32, copy=False))
    graph = torch.from_numpy(np.stack([ds.graph for ds in datasets]).astype(np.uint8, copy=False))
    mask = None
    if any(ds.mask is not None for ds in datasets):
        mask = torch.from_numpy(np.stack([ds.mask if ds.mask is not None else np.zeros(ds.x.shape, bool)
                                          for ds in datasets]))
    return TaskBatch(step, x, graph, mask)


class SimulatedTasks:
    """Batches simulated from a spec: d from [d_min, d_max] (uniform or log-uniform) and a chunk count from
    [chunks_min, chunks_max] per batch, ``batch_size`` fresh SCMs of chunks * chunk_size rows."""

    def __init__(self, spec: Spec, data: DataConfig, seed: int) -> None:
        for d in range(data.d_min, data.d_max + 1):
            spec.check_d(d)  # refuse at start, not in a worker hours later
        self.spec, self.data, self.seed = spec, data, seed

    def _targets(self, d: int, rng: np.random.Generator) -> int:
        """How many variables a task's SCM has intervened on: 0, or with chance ``intervention_prob``
        K uniform in 1..d. No draw at all when the chance is 0, so observational runs replay exactly."""
        if self.data.intervention_prob == 0.0 or rng.random() >= self.data.intervention_prob:
            return 0
        return int(rng.integers(1, d + 1))

    def batch(self, step: int, rank: int) -> TaskBatch:
        """The batch of ``step`` on ``rank``."""
        rng = np.random.default_rng(step_seeds(self.seed, step, rank)[0])
        c = self.data
        if c.d_dist == "loguniform":
            d = int(np.exp(rng.uniform(np.log(c.d_min), np.log(c.d_max + 1))))
        else:
            d = int(rng.integers(c.d_min, c.d_max + 1))
        n = int(rng.integers(c.chunks_min, c.chunks_max + 1)) * c.chunk_size
        tasks = [_simulate(self.spec, d, n, rng, c.standardize, self._targets(d, rng)) for _ in range(c.batch_size)]
        return _stack_batch(step, tasks)


class SuiteTasks:
    """Batches drawn from a stored suite (or CSV folder with known graphs): a d weighted by how many
    datasets have it, ``batch_size`` of them with replacement, the same random rows and chunk count
    for all (capped by the shortest), and a fresh random relabeling of the variables per draw,
    because a suite repeats its datasets."""

    def __init__(self, path: str, data: DataConfig, seed: int) -> None:
        by_d: dict[int, list[Dataset]] = {}
        for ds in iter_datasets(Path(path)):
            if ds.graph is None:
                raise InputError(f"dataset {ds.name} in {path} has no true graph; training needs one")
            if not is_acyclic(ds.graph):
                raise InputError(f"dataset {ds.name} in {path}: the true graph has a directed cycle; training "
                                 "needs a DAG (amort eval accepts cyclic truths)")
            if ds.n < data.chunk_size:
                raise InputError(f"dataset {ds.name} in {path} has {ds.n} rows, fewer than one chunk "
                                 f"({data.chunk_size}); lower data.chunk_size")
            by_d.setdefault(ds.d, []).append(ds)
        if not by_d:
            raise InputError(f"{path} holds no datasets")
        self.ds_by_d = [by_d[d] for d in sorted(by_d)]
        self.data, self.seed = data, seed

    def batch(self, step: int, rank: int) -> TaskBatch:
        """The batch of ``step`` on ``rank``."""
        rng = np.random.default_rng(step_seeds(self.seed, step, rank)[0])
        sizes = np.array([len(group) for group in self.ds_by_d], dtype=float)
        group = self.ds_by_d[int(rng.choice(len(sizes), p=sizes / sizes.sum()))]
        picked = [group[int(i)] for i in rng.integers(0, len(group), size=self.data.batch_size)]
        c = self.data
        chunks = min(int(rng.integers(c.chunks_min, c.chunks_max + 1)), min(ds.n for ds in picked) // c.chunk_size)
        return _stack_batch(step, [_draw_rows(ds, chunks * c.chunk_size, rng) for ds in picked])


def _draw_rows(ds: Dataset, n: int, rng: np.random.Generator) -> Dataset:
    """n random rows of ``ds`` with its variables relabeled at random."""
    rows = rng.permutation(ds.n)[:n]
    perm = rng.permutation(ds.d)
    mask = None if ds.mask is None else ds.mask[np.ix_(rows, perm)]
    return Dataset(ds.name, ds.x[np.ix_(rows, perm)], ds.graph[np.ix_(perm, perm)], [ds.names[i] for i in perm], mask)


def _simulate(spec: Spec, d: int, n: int, rng: np.random.Generator, standardize: bool,
              interventions: int = 0) -> Dataset:
    """One SCM from ``spec`` (``interventions`` targets); an SCM whose values overflow is redrawn from
    ``rng`` (still deterministic)."""
    for attempt in range(_RESIMULATE):
        try:
            return sample_dataset(spec, d, n, rng, standardize=standardize, interventions=interventions)
        except InputError:
            if attempt == _RESIMULATE - 1:
                raise
    raise AssertionError("unreachable")


def task_source(data: DataConfig, seed: int) -> SimulatedTasks | SuiteTasks:
    """The batch maker the config asks for: ``data.suite`` when set, else the ``data.preset`` simulator."""
    if data.suite:
        return SuiteTasks(data.suite, data, seed)
    return SimulatedTasks(load_spec(data.preset), data, seed)


def validation_batch(train: TrainConfig, data: DataConfig) -> TaskBatch:
    """The fixed held-out suite: ``val_datasets`` SCMs from the test-in preset, d = val_d, n = val_n,
    made once per run from ``SeedSequence([seed, VAL_SALT])`` (disjoint from every training seed)."""
    spec = load_spec(VAL_PRESET)
    spec.check_d(train.val_d)
    rng = np.random.default_rng(np.random.SeedSequence([train.seed, VAL_SALT]))
    tasks = [_simulate(spec, train.val_d, train.val_n, rng, data.standardize) for _ in range(train.val_datasets)]
    return _stack_batch(-1, tasks)


class TaskStream(IterableDataset):
    """Batches for steps [start, stop) on ``rank``. With W workers, worker w makes the steps
    congruent to w mod W; the DataLoader takes from the workers in turn, so batches arrive in
    step order."""

    def __init__(self, source: SimulatedTasks | SuiteTasks, start: int, stop: int, rank: int) -> None:
        super().__init__()
        self.source, self.start, self.stop, self.rank = source, start, stop, rank

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for step in range(self.start + worker, self.stop, workers):
            yield self.source.batch(step, self.rank)


def _ignore_signals(signals: tuple[int, ...], _worker: int) -> None:
    """Workers leave the stop signals to the main process, which checkpoints and then shuts them down.

    SLURM signals every process of a job step, and Ctrl-C every process of the terminal's
    foreground group; a worker killed by either would crash the loader."""
    for sig in signals:
        signal.signal(sig, signal.SIG_IGN)


def task_loader(source: SimulatedTasks | SuiteTasks, start: int, stop: int, rank: int, *,
                workers: int, pin_memory: bool, ignore_signals: tuple[int, ...] = ()) -> DataLoader:
    """A DataLoader over TaskStream (batches are made whole by the source, hence batch_size=None);
    its worker processes ignore ``ignore_signals``."""
    init = functools.partial(_ignore_signals, tuple(ignore_signals)) if workers and ignore_signals else None
    return DataLoader(TaskStream(source, start, stop, rank), batch_size=None, num_workers=workers,
                      pin_memory=pin_memory, worker_init_fn=init,
                      prefetch_factor=4 if workers else None, persistent_workers=False)
