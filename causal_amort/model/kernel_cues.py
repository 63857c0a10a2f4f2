"""Kernel score cues: SCORE's leaf removal (Rolland et al. 2022) run on the streamed row sample.

The streamed score-matching cues (cues.score_matching_cues) fit the score with an additive basis,
so they cannot see a mechanism where parents interact (a GP draw over all parents jointly, say).
SCORE's kernel (Stein) estimate of the Hessian diagonal of log p is nonparametric: here it runs,
batched, on the rows that `RunningStats` samples (``reservoir_rows``), and what SCORE would
answer becomes per-variable cues, as SEA (Wu et al. 2024) feeds classical estimates to its
network: the network learns when to trust them (Gaussian noise is SCORE's premise).

Per variable (``KERNEL_VARIABLE_CUES``): its position in SCORE's order on the sample (0 = first
cause, 1 = last leaf), the log of its Hessian-diagonal spread over all variables relative to
the median variable's (a leaf's is smallest), and the margin by which it was picked as a leaf
when it was removed (log of the spread of the first variable kept over its own; 0 for the last
one left). To bound the cost, each kernel solve removes the lowest eighth of the variables left
(`REMOVE_FRACTION`, at least one; SCORE removes one per solve). Zeros where the sample holds
fewer than `MIN_ROWS` rows.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from causal_amort.baselines.score import ETA
from causal_amort.baselines.stein import stein_hessian_diag, torch_dtype
from causal_amort.model.sufficient import RunningStats

KERNEL_VARIABLE_CUES = ("kernel_score_position", "kernel_score_spread", "kernel_score_margin")
MIN_ROWS = 16
# Leaves removed per kernel solve, as a fraction of the variables left (at least one): SCORE removes
# one, which costs d solves; an eighth costs about 8 ln d + 8 (14 at d = 30, 24 at d = 100).
REMOVE_FRACTION = 0.125
_TINY = 1e-12


def kernel_score_cues(stats: RunningStats) -> Tensor:
    """(B, d, 3) cues of SCORE's leaf removal on the sampled rows (see the module docstring)."""
    if stats.reservoir is None:
        raise ValueError("the kernel score cues need statistics that keep a row sample (reservoir_rows > 0)")
    dtype = torch_dtype(stats.reservoir.device)
    x, weight = stats.reservoir.to(dtype), torch.isfinite(stats.priority).to(dtype)
    batch, _, d = x.shape
    rows = weight.sum(dim=1).clamp_min(1.0)[:, None]
    picked_rows = torch.arange(batch, device=x.device)[:, None]
    active = torch.ones(batch, d, dtype=torch.bool, device=x.device)
    position, margin = torch.zeros(batch, d, dtype=dtype, device=x.device), torch.zeros_like(x[:, 0])
    spread_all, left = None, d
    while left > 1:
        index = active.nonzero()[:, 1].view(batch, left)  # the variables still in, ascending
        hess = stein_hessian_diag(x.gather(2, index[:, None, :].expand(-1, x.shape[1], -1)), ETA, weight)
        mean = (hess * weight[:, :, None]).sum(dim=1) / rows
        spread = torch.nan_to_num(((hess - mean[:, None]) ** 2 * weight[:, :, None]).sum(dim=1) / rows, nan=torch.inf)
        if spread_all is None:
            spread_all = spread
        # The `removed` lowest spreads are the next leaves, the lowest one last in the order.
        removed = math.ceil(left * REMOVE_FRACTION)
        low = spread.topk(removed + 1, dim=1, largest=False)
        leaves = index.gather(1, low.indices[:, :removed])
        position[picked_rows, leaves] = (left - 1 - torch.arange(removed, dtype=dtype, device=x.device)) / (d - 1)
        margin[picked_rows, leaves] = torch.log((low.values[:, removed:] + _TINY) / (low.values[:, :removed] + _TINY))
        active[picked_rows, leaves] = False
        left -= removed
    finite = torch.isfinite(spread_all)
    median = torch.where(finite, spread_all, torch.nan).nanmedian(dim=1, keepdim=True).values
    relative = torch.where(finite, torch.log((spread_all + _TINY) / (median + _TINY)), 0.0)
    cues = torch.nan_to_num(torch.stack([position, relative, margin], dim=-1), nan=0.0, posinf=0.0, neginf=0.0)
    enough = (weight.sum(dim=1) >= MIN_ROWS)[:, None, None]
    return torch.where(enough, cues, 0.0)
