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

`begin(state, pairs)` starts an incremental decode with the same logits (decoding.DecodeSteps):
what does not change between positions is computed once, so a greedy decode costs d
one-position steps instead of d passes over prefixes of length up to d.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from causal_amort.model.attention import Attention, FeedForward, float32_region
from causal_amort.config import ModelConfig
from causal_amort.model.decoding import mark_placed
from causal_amort.model.targets import placed_before


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

    def step(self, x: Tensor, past: "PositionCache", cross: tuple[Tensor, Tensor], cross_bias: Tensor) -> Tensor:
        """`forward` for one new position `x` (N, 1, dim): it attends to the positions in `past`
        and itself (what the causal mask leaves), and to the variables through their projected
        keys and values `cross`, with `cross_bias` (N, 1, 1, d) added to those logits (-inf on the
        placed variables: the additive form of `forward`'s mask, kept between steps)."""
        h = self.norm_self(x)
        k, v = past.add(*self.self_attn.project_kv(h))
        x = x + self.self_attn.attend(h, k, v)
        x = x + self.cross_attn.attend(self.norm_cross(x), *cross, bias=cross_bias)
        return x + self.ff(self.norm_ff(x))


class PositionCache:
    """Keys and values of the positions decoded so far in one layer's self-attention, in
    buffers of `capacity` positions allocated at the first write (in the dtype autocast gives)."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.length = capacity, 0
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def add(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append one position's (N, heads, 1, dh) keys and values; return all so far."""
        if self.k is None:
            n, heads, _, dh = k.shape
            self.k = k.new_empty(n, heads, self.capacity, dh)
            self.v = v.new_empty(n, heads, self.capacity, dh)
        self.k[:, :, self.length] = k[:, :, 0]
        self.v[:, :, self.length] = v[:, :, 0]
        self.length += 1
        return self.k[:, :, : self.length], self.v[:, :, : self.length]

    def select(self, rows: Tensor) -> None:
        """Keep rows `rows` (beam search's surviving parents)."""
        if self.k is not None:
            self.k, self.v = self.k[rows], self.v[rows]


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
            beliefs = self.must_precede(variables, pairs)
            waiting = (~placed).float() @ beliefs.transpose(1, 2)
            logits = self.pointer(out, self.pointer_keys(variables)) - F.softplus(self.gate) * waiting
            return logits.masked_fill(placed, float("-inf"))

    def pointer_keys(self, variables: Tensor) -> Tensor:
        """(B, h, d): what a position's query meets to score each variable (float32 region)."""
        return self.key(variables).transpose(1, 2)

    def pointer(self, out: Tensor, keys: Tensor) -> Tensor:
        """(B, L, d) pointer logits of positions `out` (B, L, h) against `keys` (float32 region)."""
        return self.query(out) @ keys * out.shape[-1] ** -0.5

    def must_precede(self, variables: Tensor, pairs: Tensor | None) -> Tensor:
        """(B, d, d) float: [b, j, i] is the belief that i must come before j (never j itself);
        `variables` normed and float32, in a float32 region."""
        d, h = variables.shape[1], variables.shape[2]
        precede_logit = (self.precede_query(variables) @ self.precede_key(variables).transpose(1, 2) * h**-0.5
                         + self.precede_bias)
        if pairs is not None and self.precede_pair is not None:
            # pairs[b, j, i] describes the ordered pair (j, i): read as "j waits for i".
            precede_logit = precede_logit + self.precede_pair(pairs.float()).squeeze(-1)
        return torch.sigmoid(precede_logit) * (1.0 - torch.eye(d, device=variables.device))

    def begin(self, state: Tensor, pairs: Tensor | None = None) -> "PointerSteps":
        """An incremental decode of `state` with the same logits as `logits`, one position a step."""
        return PointerSteps(self, state, pairs)


class PointerSteps:
    """DecodeSteps of a PointerDecoder with caches: the variables' cross-attention keys and values,
    their embeddings as placed positions, the pointer's query weights folded into its keys, the
    must-precede matrix, and each layer's keys and values of the positions placed so far. A step
    runs the decoder on one new position only, and the gate's "waiting" mass loses the placed
    variable's column instead of being summed again."""

    def __init__(self, decoder: PointerDecoder, state: Tensor, pairs: Tensor | None) -> None:
        n, d, h = state.shape
        self.decoder = decoder
        self.variables = decoder.norm_vars(state)
        self.cross = [layer.cross_attn.project_kv(self.variables) for layer in decoder.layers]
        self.past = [PositionCache(d) for _ in decoder.layers]
        self.x = decoder.start.expand(n, 1, h)
        self.placed = torch.zeros(n, d, dtype=torch.bool, device=state.device)
        # Cross-attention mask as an additive bias in the attention's dtype, updated as variables
        # are placed (a boolean mask would be converted on every call).
        self.cross_bias = torch.zeros(n, 1, 1, d, dtype=self.cross[0][0].dtype, device=state.device)
        self.rows = torch.arange(n, device=state.device)
        self.embedded = decoder.embed_placed(self.variables).float()  # what `advance` feeds the next step
        with float32_region(state):
            variables = self.variables.float()
            keys = decoder.pointer_keys(variables) * h**-0.5
            # pointer(out, keys) = (W out + b) @ keys: one product per step with W and b folded in.
            self.pointer_weight = decoder.query.weight.t().float() @ keys  # (N, h, d)
            self.pointer_bias = decoder.query.bias.float() @ keys  # (N, d)
            self.beliefs = decoder.must_precede(variables, pairs)
            # Nothing is placed yet: every variable counts towards what each one waits for.
            self.waiting = torch.ones(n, 1, d, device=state.device) @ self.beliefs.transpose(1, 2)
            self.gate = F.softplus(decoder.gate)

    def next_logits(self) -> Tensor:
        x = self.x
        for layer, past, cross in zip(self.decoder.layers, self.past, self.cross):
            x = layer.step(x, past, cross, self.cross_bias)
        out = self.decoder.norm_out(x)
        with float32_region(out):
            logits = torch.baddbmm(self.pointer_bias[:, None] - self.gate * self.waiting, out.float(),
                                   self.pointer_weight)
            return logits.squeeze(1).masked_fill(self.placed, float("-inf"))

    def advance(self, parent: Tensor | None, var: Tensor) -> None:
        if parent is not None:
            for past in self.past:
                past.select(parent)
            self.waiting = self.waiting[parent]
            self.cross_bias = self.cross_bias[parent]
        self.placed = mark_placed(self.placed, parent, var)
        self.cross_bias = self.cross_bias.masked_fill(self.placed[:, None, None], float("-inf"))
        self.waiting = self.waiting - self.beliefs[self.rows, :, var][:, None]
        self.x = self.embedded[self.rows, var][:, None]


class SortDecoder(nn.Module):
    """One score per variable; the same logits at every position (Plackett-Luce)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.score = nn.Sequential(
            nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, 1)
        )

    def logits(self, state: Tensor, prefix: Tensor, pairs: Tensor | None = None) -> Tensor:
        placed = placed_before(prefix, state.shape[1])
        return self.scores(state).unsqueeze(1).expand(placed.shape).masked_fill(placed, float("-inf"))

    def scores(self, state: Tensor) -> Tensor:
        """(B, d) float32: each variable's score."""
        with float32_region(state):
            return self.score(state.float()).squeeze(-1)

    def begin(self, state: Tensor, pairs: Tensor | None = None) -> "SortSteps":
        """An incremental decode: the scores once, then only the placed mask changes."""
        return SortSteps(self.scores(state))


class SortSteps:
    """DecodeSteps of a SortDecoder: fixed scores, placed variables masked."""

    def __init__(self, scores: Tensor) -> None:
        self.scores = scores
        self.placed = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)

    def next_logits(self) -> Tensor:
        return self.scores.masked_fill(self.placed, float("-inf"))

    def advance(self, parent: Tensor | None, var: Tensor) -> None:
        self.placed = mark_placed(self.placed, parent, var)


def build_decoder(cfg: ModelConfig) -> PointerDecoder | SortDecoder:
    """The decoder that `cfg.decoder` names."""
    return PointerDecoder(cfg) if cfg.decoder == "causal" else SortDecoder(cfg)
