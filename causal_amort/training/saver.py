"""The checkpoint policy of a training run, after timm's CheckpointSaver.

``last``: a step checkpoint (weights, optimizer state, step) every ``train.checkpoint_every``
steps, at the last step and when a stop signal arrives; the newest ``train.keep_checkpoints``
are kept. ``best``: the weights with the lowest validation error so far, a separate copy that
pruning never removes. The file format is causal_amort.model.checkpoint's.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from causal_amort.config import RunConfig
from causal_amort.model import checkpoint as ckpt
from causal_amort.training import run_folder
from simulators.core.errors import InputError


def last_checkpoint(out: Path) -> Path | None:
    """The newest complete step checkpoint of run folder ``out`` (its JSON), if any."""
    steps = ckpt.step_checkpoints(out / run_folder.CHECKPOINTS)
    return steps[-1] if steps else None


def discard_best(out: Path) -> None:
    """Delete the ``best`` checkpoint of run folder ``out``: a run started from scratch must not
    inherit one from an earlier run."""
    for stale in (out / run_folder.CHECKPOINTS).glob(f"{ckpt.BEST}.*"):
        stale.unlink()


class CheckpointSaver:
    """Writes a run's ``last`` and ``best`` checkpoints, and restores a run from ``last``."""

    def __init__(self, out: Path, cfg: RunConfig, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 world_size: int = 1) -> None:
        self.folder = out / run_folder.CHECKPOINTS
        self.cfg, self.model, self.optimizer, self.world_size = cfg, model, optimizer, world_size
        self.best = math.inf  # lowest validation fraction of reversed edges so far

    def restore(self, path: Path, device: torch.device | str) -> tuple[int, float]:
        """Load the weights, optimizer state and best validation score of step checkpoint ``path``;
        return its step and the training seconds before it. InputError when it is corrupted."""
        state = ckpt.read_checkpoint(path, train_state=True)
        ckpt.load_weights(self.model, state.json_path, device)
        try:
            self.optimizer.load_state_dict(state.train_state["optimizer"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise InputError(f"checkpoint {path} has a corrupted optimizer state ({exc})") from None
        best = state.metrics.get("best_val_frac_reversed")
        self.best = math.inf if best is None else best  # None: not validated yet
        return state.step, state.metrics.get("elapsed_s", 0.0)

    def due(self, step: int, *, last: bool, stopping: bool) -> bool:
        """Whether step ``step`` ends with a ``last`` checkpoint (every rank must agree)."""
        every = self.cfg.train.checkpoint_every
        return stopping or last or (every > 0 and step % every == 0)

    def save_last(self, step: int, elapsed_s: float) -> Path:
        """Write the step checkpoint that a resumed run continues from, then prune old ones."""
        best = self.best if self.best < math.inf else None
        path = ckpt.save_checkpoint(
            self.folder, ckpt.step_stem(step), self.model, self.cfg, step,
            metrics={"best_val_frac_reversed": best, "elapsed_s": elapsed_s, "world_size": self.world_size},
            train_state={"optimizer": self.optimizer.state_dict()})
        ckpt.prune_checkpoints(self.folder, self.cfg.train.keep_checkpoints)
        return path

    def save_best(self, step: int, frac_reversed: float, frac_reversed_first: float) -> Path | None:
        """Write ``best`` when this validation beats every earlier one; its path, or None."""
        if not frac_reversed < self.best:  # NaN (no edges to reverse) never counts as better
            return None
        self.best = frac_reversed
        return ckpt.save_checkpoint(self.folder, ckpt.BEST, self.model, self.cfg, step,
                                    metrics={"val_frac_reversed": frac_reversed,
                                             "val_frac_reversed_first": frac_reversed_first})
