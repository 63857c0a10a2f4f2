"""Beam search over orders (beam=1 is greedy); every result is a valid permutation."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

LogitsFn = Callable[[Tensor, Tensor, Tensor | None], Tensor]


def beam_search(logits_fn: LogitsFn, state: Tensor, beam: int = 1,
                pairs: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Orders (B, d) long and confidence (B, d) float: for each position, the model's
    probability of the chosen variable given the chosen prefix.

    `logits_fn(state, prefix, pairs)` returns (B, K + 1, d) logits with placed variables at -inf;
    only its last row is used. The best of `beam` hypotheses by total log-probability wins.
    """
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    batch, d, _ = state.shape
    states = state.repeat_interleave(beam, dim=0)
    pairs = None if pairs is None else pairs.repeat_interleave(beam, dim=0)
    prefix = torch.empty(batch * beam, 0, dtype=torch.long, device=state.device)
    step_logp = torch.empty(batch, beam, 0, device=state.device)
    # Only the first hypothesis is alive at the start, so the beam never holds duplicates of it.
    score = torch.full((batch, beam), float("-inf"), device=state.device)
    score[:, 0] = 0.0
    rows = torch.arange(batch, device=state.device)[:, None]
    for k in range(d):
        logp = torch.log_softmax(logits_fn(states, prefix, pairs)[:, -1].float(), dim=-1).view(batch, beam, d)
        top, flat = (score[:, :, None] + logp).view(batch, beam * d).topk(beam, dim=1)
        parent, var = flat // d, flat % d
        # With fewer live candidates than slots, a slot would hold an invalid extension;
        # it copies the best one instead and keeps -inf, so it can never win.
        dead = torch.isneginf(top)
        parent = torch.where(dead, parent[:, :1], parent)
        var = torch.where(dead, var[:, :1], var)
        chosen = logp[rows, parent, var]
        step_logp = torch.cat([step_logp[rows, parent], chosen[:, :, None]], dim=2)
        prefix = torch.cat([prefix.view(batch, beam, k)[rows, parent], var[:, :, None]], dim=2)
        prefix = prefix.view(batch * beam, k + 1)
        score = top
    best = score.argmax(dim=1)
    orders = prefix.view(batch, beam, d)[rows[:, 0], best]
    confidence = step_logp[rows[:, 0], best].exp()
    return orders, confidence
