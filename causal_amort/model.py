"""OrderModel: reads data chunk by chunk into a per-variable state, decodes a causal order.

One interface serves training and inference in every ablation:

    memory = model.init_memory(batch, d, device)
    for chunk in chunks:                      # (B, b, d) raw values
        memory = model.advance(memory, chunk)
        loss = model.order_loss(model.readout(memory), graph, generator)   # training
        orders, confidence = model.decode(model.readout(memory))           # inference
        memory = model.detach(memory)         # stop-gradient into earlier chunks

Time and memory of one step depend on the chunk size b and on d, never on the number of
rows seen so far.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from causal_amort.attention import float32_region
from causal_amort.config import ModelConfig
from causal_amort.decoder import build_decoder
from causal_amort.decoding import beam_search
from causal_amort.encoder import ChunkEncoder
from causal_amort.targets import next_sets, random_topological_order


@dataclass(frozen=True)
class Memory:
    """What the model carries from chunk to chunk: the state (B, d, h) and chunks seen."""

    state: Tensor
    steps: int


class OrderModel(nn.Module):
    """Chunk encoder + iterative state + order decoder (`cfg.decoder`: causal or sort)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # S_0 is one vector shared by all variables, so no variable is told apart a priori.
        self.s0 = nn.Parameter(0.02 * torch.randn(cfg.dim))
        self.encoder = ChunkEncoder(cfg)
        self.decoder = build_decoder(cfg)

    def init_memory(self, batch: int, d: int, device: torch.device | str) -> Memory:
        """The memory before any data: S_0 for every variable."""
        return Memory(self.s0.to(device).expand(batch, d, -1), 0)

    def advance(self, memory: Memory, chunk: Tensor, mask: Tensor | None = None) -> Memory:
        """Read one chunk (B, b, d) of raw values; `mask` (B, b, d) bool marks intervened cells.

        The chunk is standardized on its own rows. With S^(t) = S + U(S, B_t) one encoder pass:
        - "carry": S_t = S^(t) from S = S_{t-1}; the state accumulates evidence.
        - "none": S_t = S^(t) from S = S_0; the prediction uses only the latest chunk
          (with a single chunk this is the one-shot model).
        - "average": S_t = (1/t) * sum_{s<=t} S^(s), each S^(s) from S = S_0; the decoder reads
          the running mean of independent per-chunk states.
        """
        batch, d, _ = memory.state.shape
        if chunk.ndim != 3 or chunk.shape[0] != batch or chunk.shape[2] != d:
            raise ValueError(f"chunk must be ({batch}, b, {d}), got {tuple(chunk.shape)}")
        if mask is not None and mask.shape != chunk.shape:
            raise ValueError(f"mask must match chunk {tuple(chunk.shape)}, got {tuple(mask.shape)}")
        steps = memory.steps + 1
        if self.cfg.state == "carry":
            return Memory(self.encoder(memory.state, chunk, mask), steps)
        fresh = self.encoder(self.init_memory(batch, d, chunk.device).state, chunk, mask)
        if self.cfg.state == "none":
            return Memory(fresh, steps)
        return Memory(memory.state + (fresh - memory.state) / steps, steps)

    def readout(self, memory: Memory) -> Tensor:
        """(B, d, h): what the decoder reads."""
        return memory.state

    def detach(self, memory: Memory) -> Memory:
        """The same memory with no gradient path into earlier chunks."""
        return Memory(memory.state.detach(), memory.steps)

    def order_loss(self, state: Tensor, graph: Tensor, generator: torch.Generator) -> Tensor:
        """Mean over positions and batch of -log P(next variable lies in the next-set).

        Teacher forcing on one random valid topological order per graph (drawn with
        `generator`); the next-set at position k holds the unplaced variables whose parents
        are all placed, so every valid order of the graph scores a loss of zero at best.
        """
        batch, d, _ = state.shape
        if graph.shape != (batch, d, d):
            raise ValueError(f"graph must be ({batch}, {d}, {d}), got {tuple(graph.shape)}")
        order = random_topological_order(graph, generator).to(state.device)
        logits = self.decoder.logits(state, order[:, :-1])
        allowed = next_sets(graph.to(state.device), order)
        with float32_region(logits):
            logits = logits.float()
            mass_all = torch.logsumexp(logits, dim=-1)
            mass_next = torch.logsumexp(logits.masked_fill(~allowed, float("-inf")), dim=-1)
            return (mass_all - mass_next).mean()

    @torch.no_grad()
    def decode(self, state: Tensor, beam: int = 1) -> tuple[Tensor, Tensor]:
        """Orders (B, d) long, causes first, and the per-position probability of each pick."""
        return beam_search(self.decoder.logits, state, beam)
