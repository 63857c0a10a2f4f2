"""The baseline interface: a named method that maps data to a causal order.

``Baseline.fit_order`` is the one entry point. It checks the data, shuffles the columns with
the caller's generator (so that no method can profit from variable indices that happen to
follow the causal order, and exact ties break at random), sets aside columns that carry no
order information (constant ones and exact affine copies of another column), runs the
method on the rest and maps the answer back to a permutation of the original indices.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from causal_amort.evaluation.metrics import check_order
from simulators.core.copies import copy_groups
from simulators.core.errors import InputError

# order_fn(x, rng, device): x is float64 (n, d) with d >= 2, no constant and no duplicated
# columns; returns an order of range(d), causes first.
OrderFn = Callable[[np.ndarray, np.random.Generator, torch.device], np.ndarray]

@dataclass(frozen=True)
class Baseline:
    """A classical order-finding method.

    ``slow`` marks methods whose cost grows fast with n (the harness subsamples rows for
    them); ``uses_device`` marks torch methods that honor ``device``; ``screen`` sets aside
    degenerate columns before ``order_fn`` runs (constants go last, copies right after
    their twin); ``reads_data`` is False for a method whose order ignores the values;
    ``reads_masks`` marks a method that needs the intervention mask, which its ``order_fn`` takes
    as a fourth argument (and which sees every column: no screening).
    """

    name: str
    order_fn: OrderFn
    slow: bool = False
    uses_device: bool = False
    screen: bool = True
    reads_data: bool = True
    reads_masks: bool = False

    def fit_order(self, x: np.ndarray, rng: np.random.Generator, *,
                  device: str | torch.device = "cpu", mask: np.ndarray | None = None) -> np.ndarray:
        """A causal order of the columns of ``x`` (n, d): a permutation of range(d), causes first.
        ``mask`` (n, d) bool marks intervened cells; only a method that `reads_masks` reads it."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise InputError(f"{self.name}: data must be a non-empty 2-D array, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise InputError(f"{self.name}: data contain NaN or infinite values")
        perm = rng.permutation(x.shape[1])
        xp = x[:, perm]
        dev = torch.device(device)
        if self.reads_masks:
            if mask is None:
                raise InputError(f"{self.name} needs intervention masks, and these data have none")
            mask = np.asarray(mask)
            if mask.shape != x.shape or mask.dtype != np.bool_:
                raise InputError(f"{self.name}: the mask must be bool of the data's shape {x.shape}, got "
                                 f"{mask.dtype} {mask.shape}")
            order = self.order_fn(xp, rng, dev, mask[:, perm])
        else:
            order = _screened(self.order_fn, xp, rng, dev) if self.screen else self.order_fn(xp, rng, dev)
        return perm[check_order(order, x.shape[1])]


def _screened(order_fn: OrderFn, x: np.ndarray, rng: np.random.Generator, device: torch.device) -> np.ndarray:
    """Run ``order_fn`` on the informative columns only and place the others around them."""
    groups = copy_groups(x)  # each: a kept column, then the columns that copy it
    kept = np.array([g[0] for g in groups], dtype=np.int64)
    if len(kept) >= 2:
        core = kept[check_order(order_fn(x[:, kept], rng, device), len(kept))]
    else:
        core = kept
    copies = {g[0]: g[1:] for g in groups}
    order = [p for k in core for p in [k, *copies[k]]]
    constant = np.flatnonzero(np.ptp(x, axis=0) == 0)
    return np.array(order + constant.tolist(), dtype=np.int64)
