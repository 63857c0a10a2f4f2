"""Order decoders: per-position logits over the variables, given the state and a prefix.

Both decoders map state (B, d, h) and a prefix (B, K) of placed variables to float32
logits (B, K + 1, d): row k scores the candidates for position k given prefix[:, :k],
with already placed variables at -inf. Row k never depends on prefix[:, k:], so training
scores every position of a teacher order in one pass. Neither uses a position embedding,
so a model trained on small d runs at any d.

- `PointerDecoder` ("causal"): a transformer over positions with causally masked
  self-attention, cross-attention to the variables not yet placed, and pointer logits.
  A learned pairwise "must precede" matrix adds a gate to the logits: a variable whose
  likely predecessors are still unplaced is pushed down, which is exactly the rule that
  defines the next-set and it holds for every d. With the stats encoder the gate also reads
  the pair channel.
- `SortDecoder` ("sort"): one score per variable, independent of the position; decoding
  is sorting, and the next-set loss over these logits is a listwise Plackett-Luce loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from causal_amort.attention import Attention, FeedForward, float32_region
from causal_amort.config import ModelConfig
from causal_amort.targets import placed_before


class DecoderLayer(nn.Module):
    """Causal self-attention over positions, cross-attention to unplaced variables, feed-forward."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(cfg.dim)
        self.self_attn = Attention(cfg.dim, cfg.heads, cfg.dropout)
        self.norm_cross = nn.LayerNorm(cfg.dim)
        self.cross_attn = Attention(cfg.dim, cfg.heads, cfg.dropout)
        self.norm_ff = nn.LayerNorm(cfg.dim)
        self.ff = FeedForward(cfg.dim, cfg.ff_mult, cfg.dropout)

    def forward(self, x: Tensor, variables: Tensor, unplaced: Tensor) -> Tensor:
        x = x + self.self_attn(self.norm_self(x), causal=True)
        x = x + self.cross_attn(self.norm_cross(x), variables, mask=unplaced)
        return x + self.ff(self.norm_ff(x))


class PointerDecoder(nn.Module):
    """Causally masked pointer decoder with a must-precede gate."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h = cfg.dim
        self.norm_vars = nn.LayerNorm(h)
        self.start = nn.Parameter(0.02 * torch.randn(h))
        self.embed_placed = nn.Linear(h, h)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.dec_layers))
        self.norm_out = nn.LayerNorm(h)
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.precede_query = nn.Linear(h, h)
        self.precede_key = nn.Linear(h, h)
        # Start with a weak gate and sparse "must precede" beliefs; training sharpens both.
        self.precede_bias = nn.Parameter(torch.tensor(-2.0))
        self.gate = nn.Parameter(torch.tensor(0.0))
        self.precede_pair = nn.Linear(cfg.pair_dim, 1) if cfg.encoder == "stats" else None

    def logits(self, state: Tensor, prefix: Tensor, pairs: Tensor | None = None) -> Tensor:
        batch, d, h = state.shape
        variables = self.norm_vars(state)
        placed = placed_before(prefix, d)
        picked = variables.gather(1, prefix.unsqueeze(-1).expand(-1, -1, h))
        x = torch.cat([self.start.expand(batch, 1, h), self.embed_placed(picked).float()], dim=1)
        for layer in self.layers:
            x = layer(x, variables, ~placed)
        out = self.norm_out(x)
        with float32_region(out):
            out, variables = out.float(), variables.float()
            scale = h**-0.5
            pointer = self.query(out) @ self.key(variables).transpose(1, 2) * scale
            # precede[b, j, i]: belief that i must come before j (never j itself).
            precede_logit = (self.precede_query(variables) @ self.precede_key(variables).transpose(1, 2) * scale
                             + self.precede_bias)
            if pairs is not None and self.precede_pair is not None:
                # pairs[b, j, i] describes the ordered pair (j, i): read as "j waits for i".
                precede_logit = precede_logit + self.precede_pair(pairs.float()).squeeze(-1)
            precede = torch.sigmoid(precede_logit) * (1.0 - torch.eye(d, device=state.device))
            waiting = (~placed).float() @ precede.transpose(1, 2)
            logits = pointer - F.softplus(self.gate) * waiting
            return logits.masked_fill(placed, float("-inf"))


class SortDecoder(nn.Module):
    """One score per variable; the same logits at every position (Plackett-Luce)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.score = nn.Sequential(
            nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, 1)
        )

    def logits(self, state: Tensor, prefix: Tensor, pairs: Tensor | None = None) -> Tensor:
        placed = placed_before(prefix, state.shape[1])
        with float32_region(state):
            scores = self.score(state.float()).squeeze(-1)
        return scores.unsqueeze(1).expand(placed.shape).masked_fill(placed, float("-inf"))


def build_decoder(cfg: ModelConfig) -> PointerDecoder | SortDecoder:
    """The decoder that `cfg.decoder` names."""
    return PointerDecoder(cfg) if cfg.decoder == "causal" else SortDecoder(cfg)
