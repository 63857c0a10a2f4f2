"""What the order decoder is trained to emit: teacher orders, placed sets and next-sets, and the
pairwise relations (ancestors) that the auxiliary pair losses score with `pair_bce`.

A graph is (B, d, d) with graph[b, i, j] != 0 meaning i -> j. A prefix is (B, K) long,
the variables placed so far, causes first.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_topological_order(graph: Tensor, generator: torch.Generator) -> Tensor:
    """(B, d) long: a valid topological order per graph, each step a uniform pick among the
    current sources (randomized Kahn). Draws on `generator`'s device; raises on a cycle."""
    adjacency = graph.to(device=generator.device) != 0
    batch, d, _ = adjacency.shape
    placed = torch.zeros(batch, d, dtype=torch.bool, device=adjacency.device)
    rows = torch.arange(batch, device=adjacency.device)
    order = torch.empty(batch, d, dtype=torch.long, device=adjacency.device)
    for k in range(d):
        # A source has no parent that is still unplaced.
        blocked = (adjacency & ~placed[:, :, None]).any(dim=1)
        sources = ~placed & ~blocked
        if not bool(sources.any(dim=1).all()):
            raise ValueError("graph has a cycle: no topological order exists")
        noise = torch.rand(batch, d, generator=generator, device=adjacency.device)
        pick = noise.masked_fill(~sources, -1.0).argmax(dim=1)
        order[:, k] = pick
        placed[rows, pick] = True
    return order.to(graph.device)


def placed_before(prefix: Tensor, d: int) -> Tensor:
    """(B, K + 1, d) bool: row k marks the variables in prefix[:, :k] (row 0 is empty)."""
    counts = torch.nn.functional.one_hot(prefix, d).cumsum(dim=1)
    empty = counts.new_zeros(prefix.shape[0], 1, d)
    return torch.cat([empty, counts], dim=1) > 0


def ancestors(graph: Tensor) -> Tensor:
    """(B, d, d) bool: [b, i, j] is True when a directed path leads from i to j (i is an ancestor
    of j, so i comes before j in every topological order). Transitive closure by repeated squaring
    of reach-in-at-most-one-step."""
    d = graph.shape[-1]
    reach = (graph != 0).float()
    steps = 1
    while steps < d - 1:
        reach = ((reach + reach @ reach) > 0).float()
        steps *= 2
    return reach > 0


def pair_bce(logits: Tensor, target: Tensor) -> Tensor:
    """Mean binary cross-entropy of pairwise logits (B, d, d) against 0/1 targets, over the
    off-diagonal pairs only (a variable's pair with itself says nothing)."""
    off_diagonal = ~torch.eye(logits.shape[-1], dtype=torch.bool, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits[:, off_diagonal], target.float()[:, off_diagonal])


def next_sets(graph: Tensor, order: Tensor) -> Tensor:
    """(B, d, d) bool: row k marks the variables that may come at position k of a valid
    order whose first k entries are order[:, :k] — unplaced, with every parent placed."""
    d = graph.shape[-1]
    unplaced = ~placed_before(order[:, :-1], d)
    # unplaced_parents[b, k, j] = number of parents of j not yet placed before position k.
    unplaced_parents = unplaced.float() @ (graph != 0).float()
    return unplaced & (unplaced_parents == 0)
