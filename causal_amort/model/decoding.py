"""Beam search over orders (beam=1 is greedy); every result is a valid permutation, and one
consistent with the must-precede constraints when they are given.

A decoder takes part through `DecodeSteps`: the logits of the next position for every
hypothesis, then one step that places a variable in each. The decoders cache what does not
change between positions (decoder.py), so a greedy decode costs d one-position steps;
`Recompute` runs any full-prefix logits function instead, the reference the caches are
tested against.
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch
from torch import Tensor

LogitsFn = Callable[[Tensor, Tensor, Tensor | None], Tensor]


class DecodeSteps(Protocol):
    """A decode in progress over N hypotheses (rows): `next_logits`, then `advance`, d times
    (a cached decoder runs the new position in `next_logits`)."""

    def next_logits(self) -> Tensor:
        """(N, d) logits of the next position, placed variables at -inf."""

    def advance(self, parent: Tensor | None, var: Tensor) -> None:
        """Row r becomes row ``parent[r]`` (None: unchanged) with variable ``var[r]`` placed next.
        A parent is always a row of the same batch element, so whatever follows from the state
        alone needs no reordering."""


StartFn = Callable[[Tensor, Tensor | None], DecodeSteps]


class BiasedSteps:
    """`DecodeSteps` whose logits get a fixed (N, d) bias per row: a row's bias depends on its batch
    element only, and a parent is always a row of the same element, so it never needs reordering."""

    def __init__(self, inner: DecodeSteps, bias: Tensor) -> None:
        self.inner, self.bias = inner, bias

    def next_logits(self) -> Tensor:
        return self.inner.next_logits() + self.bias

    def advance(self, parent: Tensor | None, var: Tensor) -> None:
        self.inner.advance(parent, var)


def biased_start(start: StartFn, bias: Tensor) -> StartFn:
    """A `beam_search` start function: ``start``'s steps with ``bias`` (B, d) added to every step's logits
    (repeated for the B * beam rows the search begins with)."""

    def begin(state: Tensor, pairs: Tensor | None) -> BiasedSteps:
        return BiasedSteps(start(state, pairs), bias.repeat_interleave(state.shape[0] // bias.shape[0], dim=0))

    return begin


def mark_placed(placed: Tensor, parent: Tensor | None, var: Tensor) -> Tensor:
    """(N, d) bool: rows `parent` of `placed`, each with `var` placed too (a new tensor)."""
    placed = placed.clone() if parent is None else placed[parent]
    return placed.scatter_(1, var[:, None], True)


class Recompute:
    """DecodeSteps that run ``logits_fn(state, prefix, pairs)`` over the whole prefix at every
    position: d passes of length up to d. The reference for the decoders' caches."""

    def __init__(self, logits_fn: LogitsFn, state: Tensor, pairs: Tensor | None) -> None:
        self.logits_fn, self.state, self.pairs = logits_fn, state, pairs
        self.prefix = torch.empty(state.shape[0], 0, dtype=torch.long, device=state.device)

    def next_logits(self) -> Tensor:
        return self.logits_fn(self.state, self.prefix, self.pairs)[:, -1]

    def advance(self, parent: Tensor | None, var: Tensor) -> None:
        prefix = self.prefix if parent is None else self.prefix[parent]
        self.prefix = torch.cat([prefix, var[:, None]], dim=1)


def recompute(logits_fn: LogitsFn) -> StartFn:
    """A `beam_search` start function that decodes by `Recompute` over `logits_fn`."""
    return lambda state, pairs: Recompute(logits_fn, state, pairs)


def beam_search(start: StartFn, state: Tensor, beam: int = 1, pairs: Tensor | None = None,
                precede: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Orders (B, d) long and confidence (B, d) float: for each position, the model's
    probability of the chosen variable given the chosen prefix.

    ``start(state, pairs)`` begins a `DecodeSteps` over the B * beam hypotheses. ``precede``
    (d, d) or (B, d, d) bool, True at [i, j] when i must come before j, keeps a variable off
    the candidates while one of its required predecessors is unplaced; the probabilities are
    then those among the variables the constraints allow. The constraints must be acyclic
    (causal_amort.inference.constraints checks that). The best of `beam` hypotheses by total
    log-probability wins.
    """
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    if beam == 1:
        return _greedy(start, state, pairs, precede)
    batch, d, _ = state.shape
    device = state.device
    states = state.repeat_interleave(beam, dim=0)
    pairs = None if pairs is None else pairs.repeat_interleave(beam, dim=0)
    steps = start(states, pairs)
    hyps = torch.arange(batch * beam, device=device)
    pending = None
    if precede is not None:
        precede = precede.to(device=device, dtype=torch.bool).expand(batch, d, d).repeat_interleave(beam, dim=0)
        # pending[r, j]: required predecessors of j still unplaced in hypothesis r.
        pending = precede.sum(dim=1)
    prefix = torch.empty(batch, beam, 0, dtype=torch.long, device=device)
    step_logp = torch.empty(batch, beam, 0, device=device)
    # Only the first hypothesis is alive at the start, so the beam never holds duplicates of it.
    # float64: a float32 running total of d log-probabilities (about -d log d) rounds away the
    # gaps between close candidates, and greedy would then miss the argmax at large d.
    score = torch.full((batch, beam), float("-inf"), dtype=torch.float64, device=device)
    score[:, 0] = 0.0
    rows = torch.arange(batch, device=device)[:, None]
    for k in range(d):
        logits = steps.next_logits().float()
        if pending is not None:
            logits = _constrained(logits, pending)
        logp = torch.log_softmax(logits, dim=-1).view(batch, beam, d)
        top, flat = (score[:, :, None] + logp.double()).view(batch, beam * d).topk(beam, dim=1)
        parent, var = flat // d, flat % d
        # With fewer live candidates than slots, a slot would hold an invalid extension;
        # it copies the best one instead and keeps -inf, so it can never win.
        dead = torch.isneginf(top)
        parent = torch.where(dead, parent[:, :1], parent)
        var = torch.where(dead, var[:, :1], var)
        chosen = logp[rows, parent, var]
        step_logp = torch.cat([step_logp[rows, parent], chosen[:, :, None]], dim=2)
        prefix = torch.cat([prefix[rows, parent], var[:, :, None]], dim=2)
        score = top
        # Greedy keeps every row where it is: nothing to reorder.
        keep = None if beam == 1 else (rows * beam + parent).view(-1)
        placed_var = var.view(-1)
        steps.advance(keep, placed_var)
        if pending is not None:
            pending = (pending if keep is None else pending[keep]) - precede[hyps, placed_var].long()
    best = score.argmax(dim=1)
    orders = prefix[rows[:, 0], best]
    confidence = step_logp[rows[:, 0], best].exp()
    return orders, confidence


def _constrained(logits: Tensor, pending: Tensor) -> Tensor:
    """``logits`` with the variables whose required predecessors are unplaced at -inf."""
    logits = logits.masked_fill(pending > 0, float("-inf"))
    if bool(torch.isneginf(logits).all(dim=-1).any()):
        raise ValueError("the must-precede constraints leave no variable to place: they hold a cycle")
    return logits


def _greedy(start: StartFn, state: Tensor, pairs: Tensor | None, precede: Tensor | None) -> tuple[Tensor, Tensor]:
    """`beam_search` with beam 1: the argmax at every position, with none of the beam's bookkeeping
    (each step of a greedy decode is a handful of tiny ops, so the bookkeeping was a fifth of it).
    The last position needs no network pass: one variable is left, with probability 1."""
    batch, d, _ = state.shape
    device = state.device
    steps = start(state, pairs)
    rows = torch.arange(batch, device=device)
    pending = None
    if precede is not None:
        precede = precede.to(device=device, dtype=torch.bool).expand(batch, d, d)
        pending = precede.sum(dim=1)
    picks, step_logits = [], []
    for _ in range(d - 1):
        logits = steps.next_logits().float()
        if pending is not None:
            logits = _constrained(logits, pending)
        var = logits.argmax(dim=-1)  # the argmax of the log-probabilities, which come at the end
        picks.append(var)
        step_logits.append(logits)
        steps.advance(None, var)
        if pending is not None:
            pending = pending - precede[rows, var].long()
    # Gathered once at the end: per-step indexing and normalizing were a sizeable share of a step.
    first = torch.stack(picks, dim=1) if picks else torch.empty(batch, 0, dtype=torch.long, device=device)
    last = d * (d - 1) // 2 - first.sum(dim=1, keepdim=True)  # the one variable left
    orders = torch.cat([first, last], dim=1)
    chosen = (torch.log_softmax(torch.stack(step_logits, dim=1), dim=-1).gather(2, first[:, :, None])[..., 0]
              if picks else first.float())
    step_logp = torch.cat([chosen, torch.zeros(batch, 1, device=device)], dim=1)
    return orders, step_logp.exp()
