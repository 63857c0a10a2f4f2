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
from causal_amort.model.targets import ancestors, placed_before


def _norm_args(norm: nn.LayerNorm) -> tuple:
    """What `torch.layer_norm` needs after its input: a decoding step calls it with these, read
    once per decode, instead of the module (module calls and attribute lookups cost microseconds,
    and a step makes seven)."""
    return norm.normalized_shape, norm.weight, norm.bias, norm.eps


def _affine(x: Tensor, bias_weight_t: tuple[Tensor, Tensor]) -> Tensor:
    """A linear layer on rows x (N, in) from its bias and transposed weight: one addmm."""
    return torch.addmm(bias_weight_t[0], x, bias_weight_t[1])


def _transposed(linear: nn.Linear, scale: float = 1.0) -> tuple[Tensor, Tensor]:
    """(bias, weight^T) of a linear layer, both times ``scale``, for `_affine`."""
    return linear.bias * scale, (linear.weight * scale).t() if scale != 1.0 else linear.weight.t()


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

    def step(self, x: Tensor, cache: "StepCache") -> Tensor:
        """`forward` for one new position `x` (N, dim): it attends to the positions in `cache` and
        itself (what the causal mask leaves), and to the variables not yet placed. Functional calls
        on 2-d rows with the cache's transposed weights, and batched products instead of modules
        and `Attention`'s general path: one position per call is a string of tiny ops, so each
        dispatch saved is time saved (decoding is inference: no dropout)."""
        n, dim = x.shape
        heads = cache.heads
        q, k, v = _affine(torch.layer_norm(x, *cache.norm_self), cache.qkv).view(n, 3, heads, -1).unbind(dim=1)
        keys_t, values = cache.add(k.reshape(n * heads, -1), v.reshape(n * heads, -1))
        scores = torch.bmm(q.reshape(n * heads, 1, -1), keys_t)
        x = x + _affine(torch.bmm(torch.softmax(scores, dim=-1), values).view(n, dim), cache.self_out)
        q = _affine(torch.layer_norm(x, *cache.norm_cross), cache.cross_q).view(n * heads, 1, -1)
        scores = torch.baddbmm(cache.blocked_rows, q, cache.cross_keys_t)
        x = x + _affine(torch.bmm(torch.softmax(scores, dim=-1), cache.cross_values).view(n, dim), cache.cross_out)
        return x + _affine(F.gelu(_affine(torch.layer_norm(x, *cache.norm_ff), cache.ff_in)), cache.ff_out)

    def start_cache(self, variables: Tensor, capacity: int, blocked: Tensor) -> "StepCache":
        """A `StepCache` for decoding over `variables` (N, d, dim), normed."""
        return StepCache(self, variables, capacity, blocked)


class StepCache:
    """What a layer's `step` reuses between positions: its linear layers as (bias, transposed
    weight) and its layer norms' arguments, the attention's query weights scaled by 1 / sqrt(head
    dim) (fused with the key-value weights for the self-attention), the variables' cross-attention
    keys (transposed) and values, the shared additive mask `blocked` (N, heads, 1, d; -inf on
    placed variables; a view with heads folded into rows, `blocked_rows`), and the keys
    (transposed) and values of the positions decoded so far, in buffers of `capacity` positions
    allocated at the first write (in the dtype autocast gives). Heads are folded into the batch:
    (N * heads, ...)."""

    def __init__(self, layer: DecoderLayer, variables: Tensor, capacity: int, blocked: Tensor) -> None:
        n, d, dim = variables.shape
        self_attn, cross_attn = layer.self_attn, layer.cross_attn
        self.heads = self_attn.heads
        scale = (dim // self.heads) ** -0.5
        self.qkv = (torch.cat([self_attn.q.bias * scale, self_attn.kv.bias]),
                    torch.cat([self_attn.q.weight * scale, self_attn.kv.weight]).t())
        self.cross_q = _transposed(cross_attn.q, scale)
        self.self_out, self.cross_out = _transposed(self_attn.out), _transposed(cross_attn.out)
        self.ff_in, self.ff_out = (_transposed(linear) for linear in layer.ff.linears)
        self.norm_self, self.norm_cross, self.norm_ff = (_norm_args(norm) for norm in
                                                         (layer.norm_self, layer.norm_cross, layer.norm_ff))
        k, v = cross_attn.project_kv(variables)  # (N, heads, d, dh)
        self.cross_keys_t = k.transpose(-1, -2).reshape(n * self.heads, -1, d)
        self.cross_values = v.reshape(n * self.heads, d, -1)
        self.blocked, self.blocked_rows = blocked, blocked.view(n * self.heads, 1, d)
        self.capacity, self.length = capacity, 0
        self.keys_t: Tensor | None = None
        self.values: Tensor | None = None

    def add(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append one position's (N * heads, dh) keys and values; return all so far, keys transposed."""
        if self.keys_t is None:
            rows, dh = k.shape
            self.keys_t = k.new_empty(rows, dh, self.capacity)
            self.values = v.new_empty(rows, self.capacity, dh)
        self.keys_t.select(2, self.length).copy_(k)  # (select / narrow: no index parsing)
        self.values.select(1, self.length).copy_(v)
        self.length += 1
        return self.keys_t.narrow(2, 0, self.length), self.values.narrow(1, 0, self.length)

    def select(self, rows: Tensor, blocked: Tensor) -> None:
        """Keep batch rows `rows` (beam search's surviving parents), with their new mask `blocked`.
        The variables' keys and values stay: a parent is a row of the same batch element."""
        if self.keys_t is not None:
            self.keys_t = self.keys_t.view(-1, self.heads, *self.keys_t.shape[1:])[rows].flatten(0, 1)
            self.values = self.values.view(-1, self.heads, *self.values.shape[1:])[rows].flatten(0, 1)
        self.blocked, self.blocked_rows = blocked, blocked.view(-1, 1, blocked.shape[-1])


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

    def precede_logits(self, variables: Tensor, pairs: Tensor | None) -> Tensor:
        """(B, d, d) float: [b, j, i] is the logit of the belief that i must come before j (the
        diagonal is meaningless); `variables` normed and float32, in a float32 region."""
        h = variables.shape[2]
        logits = self.precede_query(variables) @ self.precede_key(variables).transpose(1, 2) * h**-0.5 + self.precede_bias
        if pairs is not None and self.precede_pair is not None:
            # pairs[b, j, i] describes the ordered pair (j, i): read as "j waits for i".
            logits = logits + self.precede_pair(pairs.float()).squeeze(-1)
        return logits

    def must_precede(self, variables: Tensor, pairs: Tensor | None) -> Tensor:
        """(B, d, d) float: [b, j, i] is the belief that i must come before j (never j itself);
        `variables` normed and float32, in a float32 region."""
        d = variables.shape[1]
        return torch.sigmoid(self.precede_logits(variables, pairs)) * (1.0 - torch.eye(d, device=variables.device))

    def precede_loss(self, state: Tensor, pairs: Tensor | None, graph: Tensor) -> Tensor:
        """Mean binary cross-entropy of the must-precede beliefs against the truth: i must come
        before j exactly when i is an ancestor of j in `graph` (B, d, d); off-diagonal pairs only."""
        variables = self.norm_vars(state)
        with float32_region(variables):
            logits = self.precede_logits(variables.float(), pairs)
            target = ancestors(graph.to(logits.device)).transpose(1, 2).float()  # [b, j, i]: i before j
            off_diagonal = ~torch.eye(logits.shape[-1], dtype=torch.bool, device=logits.device)
            return F.binary_cross_entropy_with_logits(logits[:, off_diagonal], target[:, off_diagonal])

    def begin(self, state: Tensor, pairs: Tensor | None = None) -> "PointerSteps":
        """An incremental decode of `state` with the same logits as `logits`, one position a step."""
        return PointerSteps(self, state, pairs)


class PointerSteps:
    """DecodeSteps of a PointerDecoder with caches: each layer's `StepCache`, the variables'
    embeddings as placed positions, the pointer's query weights folded into its keys, and the
    logits' offset (the pointer bias minus the gate's "waiting" mass, -inf on placed variables).
    A step runs the decoder on one new position only, and placing a variable adds its column of
    gated must-precede beliefs back to the offset instead of summing the waiting mass again."""

    def __init__(self, decoder: PointerDecoder, state: Tensor, pairs: Tensor | None) -> None:
        n, d, h = state.shape
        self.decoder = decoder
        variables = decoder.norm_vars(state)
        # The cross-attention mask as an additive bias shared by the layers, updated in place.
        blocked = torch.zeros(n, decoder.layers[0].cross_attn.heads, 1, d, device=state.device)
        self.caches = [layer.start_cache(variables, d, blocked) for layer in decoder.layers]
        self.x = decoder.start.expand(n, h)
        self.norm_out = _norm_args(decoder.norm_out)
        # Row r's entry for variable v sits at r * d + v of the flattened per-variable tables below
        # (one index_select per step instead of advanced indexing).
        self.row_starts = torch.arange(n, device=state.device) * d
        self.embedded = decoder.embed_placed(variables).float().view(n * d, h)  # what `advance` feeds the next step
        with float32_region(state):
            variables = variables.float()
            keys = decoder.pointer_keys(variables) * h**-0.5
            # pointer(out, keys) = (W out + b) @ keys: one product per step with W and b folded in.
            self.pointer_weight = decoder.query.weight.t().float() @ keys  # (N, h, d)
            beliefs = decoder.must_precede(variables, pairs)
            gate = F.softplus(decoder.gate)
            # released[b, i, j]: what placing i takes off j's waiting mass (gated).
            self.released = (gate * beliefs).transpose(1, 2).reshape(n * d, d)
            # Nothing is placed yet: every variable counts towards what each one waits for.
            self.offset = (decoder.query.bias.float() @ keys - gate * beliefs.sum(dim=2))[:, None]  # (N, 1, d)

    def next_logits(self) -> Tensor:
        x = self.x
        for layer, cache in zip(self.decoder.layers, self.caches):
            x = layer.step(x, cache)
        out = torch.layer_norm(x, *self.norm_out)
        with float32_region(out):
            return torch.baddbmm(self.offset, out.float()[:, None], self.pointer_weight).squeeze(1)

    def advance(self, parent: Tensor | None, var: Tensor) -> None:
        offset, blocked = self.offset, self.caches[0].blocked
        if parent is not None:
            offset, blocked = offset[parent], blocked[parent]
            for cache in self.caches:
                cache.select(parent, blocked)
        entries = self.row_starts + var
        self.offset = offset + self.released.index_select(0, entries)[:, None]
        self.offset.scatter_(2, var.view(-1, 1, 1), float("-inf"))
        blocked.scatter_(3, var.view(-1, 1, 1, 1).expand(-1, blocked.shape[1], 1, 1), float("-inf"))
        self.x = self.embedded.index_select(0, entries)


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
