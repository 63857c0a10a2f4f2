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

import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from causal_amort.model.attention import Attention, FeedForward, float32_region
from causal_amort.config import ModelConfig
from causal_amort.model.decoding import mark_placed
from causal_amort.model.targets import ancestors, pair_bce, placed_before


def _norm_args(norm: nn.LayerNorm) -> tuple:
    """What `torch.layer_norm` needs after its input: a decoding step calls it with these, read
    once per decode, instead of the module (module calls and attribute lookups cost microseconds,
    and a step makes seven)."""
    return norm.normalized_shape, norm.weight, norm.bias, norm.eps


def _batched(bias: Tensor, weight_t: Tensor, rows: int) -> tuple[Tensor, Tensor]:
    """(bias (1, 1, out), weight^T expanded to (rows, in, out)): a linear layer on positions
    (rows, 1, in) as one `torch.baddbmm`, the shape every product of a decoding step has."""
    return bias.view(1, 1, -1), weight_t.expand(rows, *weight_t.shape)


def _linear_t(linear: nn.Linear, scale: float = 1.0) -> tuple[Tensor, Tensor]:
    """(bias, weight^T) of a linear layer, both times ``scale``: what `_batched` takes."""
    if scale == 1.0:
        return linear.bias, linear.weight.t()
    return linear.bias * scale, linear.weight.t() * scale


def _head_outputs(attn: Attention) -> tuple[Tensor, Tensor]:
    """The output projection by heads: W_o,h^T (heads, dh, dim), which maps head h's attention
    output to the model's, and each head's share of its bias, b_o / heads (attention weights sum
    to 1 within each head, so rows that each carry b_o / heads add b_o once over the heads)."""
    dim, heads = attn.out.weight.shape[0], attn.heads
    return attn.out.weight.t().reshape(heads, -1, dim), attn.out.bias / heads


def _value_out(attn: Attention) -> tuple[Tensor, Tensor]:
    """Each head's value projection followed by its `_head_outputs`, as one linear map per head:
    (dim, heads * dim) weight^T and (heads * dim,) bias, head h's block x -> v_h W_o,h^T + b_o /
    heads, so that attention's weighted sum of these rows is its output."""
    dim, heads = attn.out.weight.shape[0], attn.heads
    w_v = attn.kv.weight[dim:].view(heads, -1, dim)  # head h's rows of the value projection
    b_v = attn.kv.bias[dim:].view(heads, 1, -1)
    out_t, bias_share = _head_outputs(attn)
    weight = w_v.transpose(1, 2) @ out_t  # (heads, dim, dim)
    bias = b_v @ out_t + bias_share  # (heads, 1, dim)
    return weight.transpose(0, 1).reshape(dim, heads * dim), bias.reshape(heads * dim)


class StepWeights(NamedTuple):
    """What a layer's `step` computes from its weights alone, as (bias, weight^T) pairs before `_batched`
    expands them: the self-attention's query, key and per-head value-output maps fused into one
    (`_value_out`; queries scaled by 1 / sqrt(head dim)), the cross-attention's scaled query, the
    feed-forward's two layers; the cross-attention's `_head_outputs`; the layer norms' arguments."""

    qkv: tuple[Tensor, Tensor]
    cross_q: tuple[Tensor, Tensor]
    ff_in: tuple[Tensor, Tensor]
    ff_out: tuple[Tensor, Tensor]
    cross_out: tuple[Tensor, Tensor]
    norms: tuple[tuple, tuple, tuple]


def _step_weights(layer: "DecoderLayer") -> StepWeights:
    """`StepWeights` of ``layer``, computed."""
    self_attn, cross_attn = layer.self_attn, layer.cross_attn
    dim = self_attn.out.weight.shape[0]
    scale = (dim // self_attn.heads) ** -0.5
    value_weight, value_bias = _value_out(self_attn)
    qkv = (torch.cat([self_attn.q.bias * scale, self_attn.kv.bias[:dim], value_bias]),
           torch.cat([self_attn.q.weight.t() * scale, self_attn.kv.weight[:dim].t(), value_weight], dim=1))
    ff_in, ff_out = (_linear_t(linear) for linear in layer.ff.linears)
    norms = tuple(_norm_args(norm) for norm in (layer.norm_self, layer.norm_cross, layer.norm_ff))
    return StepWeights(qkv, _linear_t(cross_attn.q, scale), ff_in, ff_out, _head_outputs(cross_attn), norms)


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

    def step_weights(self) -> StepWeights:
        """`StepWeights`, computed again only when they can differ from the last call's: a weight was
        changed or moved (each parameter's storage and version counter), or gradient, inference mode or
        autocast differ. Every decode begins with them, and they were a third of beginning one at d = 30;
        with gradient enabled they are computed afresh, so that they carry it."""
        if torch.is_grad_enabled():
            return _step_weights(self)
        device = self.norm_self.weight.device.type
        key = (tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in self.parameters()),
               torch.is_inference_mode_enabled(), torch.is_autocast_enabled(device), torch.get_autocast_dtype(device))
        kept = self.__dict__.get("_step_weights")
        if kept is None or kept[0] != key:
            kept = self.__dict__["_step_weights"] = (key, _step_weights(self))
        return kept[1]

    @staticmethod
    def step(x: Tensor, cache: "StepCache", write: Tensor, opened: Tensor, blocked: Tensor) -> Tensor:
        """`forward` for one new position `x` (N, 1, dim): it attends to the positions in `cache`
        and itself (`opened`, (1, 1, heads * capacity): 0 on the positions written so far, -inf on
        the rest) and to the variables not yet placed (`blocked`, (N, 1, heads * d): -inf on placed
        variables); `write` says where its keys and values go in the cache's buffer. Heads are
        blocks of block-diagonal key and value matrices, so each attention is two products over all
        heads at once, and the output projection and the residual fold into the second one: one
        position per call is a string of tiny ops, and each dispatch saved is time saved (decoding
        is inference: no dropout)."""
        n = x.shape[0]
        qkv = torch.baddbmm(cache.qkv[0], torch.layer_norm(x, *cache.norm_self), cache.qkv[1])
        memory = cache.memory if cache.memory is not None else cache.allocate(qkv)
        memory.index_copy_(2, write, qkv.narrow(2, cache.dim, cache.written))
        scores = torch.baddbmm(opened, qkv.narrow(2, 0, cache.dim), cache.keys)
        x = torch.baddbmm(x, torch.softmax(scores.view(n, cache.heads, -1), dim=-1).view(n, 1, -1), cache.values)
        q = torch.baddbmm(cache.cross_q[0], torch.layer_norm(x, *cache.norm_cross), cache.cross_q[1])
        scores = torch.baddbmm(blocked, q, cache.cross_keys)
        x = torch.baddbmm(x, torch.softmax(scores.view(n, cache.heads, -1), dim=-1).view(n, 1, -1),
                          cache.cross_values)
        hidden = F.gelu(torch.baddbmm(cache.ff_in[0], torch.layer_norm(x, *cache.norm_ff), cache.ff_in[1]))
        return torch.baddbmm(x, hidden, cache.ff_out[1]) + cache.ff_out[0]


class StepCache:
    """What a layer's `step` reuses between positions, for N rows over d variables: its
    `StepWeights` (the linear maps as `_batched` pairs), the variables' cross-attention keys as a
    block-diagonal (N, dim, heads * d) matrix (head h's keys in rows h * dh.., columns h * d..) and
    their values through the output projection (N, heads * d, dim), and the keys and values of the
    positions decoded so far laid out the same way over `capacity` positions, in one zeroed buffer
    (N, 1, .) allocated at the first write (in the dtype autocast gives) of which `keys` and
    `values` are views."""

    def __init__(self, layer: DecoderLayer, variables: Tensor, capacity: int) -> None:
        n, d, dim = variables.shape
        cross_attn = layer.cross_attn
        self.dim, self.heads, self.capacity = dim, cross_attn.heads, capacity
        weights = layer.step_weights()
        self.qkv, self.cross_q, self.ff_in, self.ff_out = (_batched(bias, weight_t, n) for bias, weight_t in
                                                           (weights.qkv, weights.cross_q, weights.ff_in, weights.ff_out))
        self.written = dim + self.heads * dim  # what a position adds to the buffer: its keys and values
        self.norm_self, self.norm_cross, self.norm_ff = weights.norms
        k, v = cross_attn.project_kv(variables)  # (N, heads, d, dh)
        self.cross_keys = k.new_zeros(n, dim, self.heads * d)
        torch.diagonal(self.cross_keys.view(n, self.heads, -1, self.heads, d), dim1=1, dim2=3).copy_(k.permute(0, 3, 2, 1))
        out_t, bias_share = weights.cross_out
        self.cross_values = (v @ out_t + bias_share).reshape(n, self.heads * d, dim)
        self.memory: Tensor | None = None
        self.keys = self.values = None

    def allocate(self, like: Tensor) -> Tensor:
        """The zeroed buffer of keys and values for `capacity` positions, in `like`'s dtype."""
        return self._use(like.new_zeros(like.shape[0], 1, 2 * self.dim * self.heads * self.capacity))

    def _use(self, memory: Tensor) -> Tensor:
        n, size = memory.shape[0], self.dim * self.heads * self.capacity
        self.memory = memory
        self.keys = memory.narrow(2, 0, size).view(n, self.dim, -1)
        self.values = memory.narrow(2, size, size).view(n, -1, self.dim)
        return memory

    def select(self, rows: Tensor) -> None:
        """Keep batch rows `rows` (beam search's surviving parents). The variables' keys and values
        stay: a parent is a row of the same batch element."""
        if self.memory is not None:
            self._use(self.memory[rows])


@functools.lru_cache(maxsize=16)
def _step_positions(dim: int, heads: int, capacity: int, device: torch.device) -> tuple[tuple[Tensor, ...], ...]:
    """Per position t: where its keys (dim) and per-head values (heads * dim), as the fused
    projection gives them, go in a `StepCache` buffer (key c of head h = c // dh at [c, h *
    capacity + t] of the (dim, heads * capacity) keys, value o of head h at [h * capacity + t, o]
    of the (heads * capacity, dim) values after them), and its entries in every head's block of
    the (1, 1, heads * capacity) mask over cached positions. Read-only, so kept between decodes."""
    keys = torch.arange(dim, device=device)
    key_at = keys * heads * capacity + keys // (dim // heads) * capacity
    head = torch.arange(heads, device=device)
    value_at = dim * heads * capacity + head.repeat_interleave(dim) * capacity * dim + keys.repeat(heads)
    base = torch.cat([key_at, value_at])
    stride = torch.cat([torch.ones_like(keys), torch.full_like(value_at, dim)])  # per position: 1 key, dim values on
    position = torch.arange(capacity, device=device)[:, None]
    return (base + position * stride).unbind(0), (head * capacity + position).unbind(0)


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
            return pair_bce(logits, ancestors(graph.to(logits.device)).transpose(1, 2))  # [b, j, i]: i before j

    def begin(self, state: Tensor, pairs: Tensor | None = None) -> "PointerSteps":
        """An incremental decode of `state` with the same logits as `logits`, one position a step."""
        return PointerSteps(self, state, pairs)


class PointerSteps:
    """DecodeSteps of a PointerDecoder with caches: each layer's `StepCache`, the variables'
    embeddings as placed positions, the pointer's query weights folded into its keys, and the
    logits' offset (the pointer bias minus the gate's "waiting" mass, -inf on placed variables).
    A step runs the decoder on one new position only, and placing a variable adds its column of
    gated must-precede beliefs back to the offset instead of summing the waiting mass again.
    The layers share the step's additive masks: `opened` over the cached positions (the same
    for every row) and `blocked` over the variables (-inf on placed ones, in every head's block)."""

    def __init__(self, decoder: PointerDecoder, state: Tensor, pairs: Tensor | None) -> None:
        n, d, h = state.shape
        device = state.device
        self.decoder, self.d, self.length = decoder, d, 0
        variables = decoder.norm_vars(state)
        self.caches = [StepCache(layer, variables, d) for layer in decoder.layers]
        heads = self.caches[0].heads
        self.writes, self.opens = _step_positions(h, heads, d, device)
        self.opened = torch.full((1, 1, heads * d), float("-inf"), device=device)
        self.blocked = torch.zeros(n, 1, heads * d, device=device)
        self.head_starts = torch.arange(0, heads * d, d, device=device).view(1, 1, heads)
        self.x = decoder.start.view(1, 1, h).expand(n, 1, h)
        self.norm_out = _norm_args(decoder.norm_out)
        # Row r's entry for variable v sits at r * d + v of the flattened per-variable tables below
        # (one index_select per step instead of advanced indexing).
        self.row_starts = torch.arange(n, device=device) * d
        self.embedded = decoder.embed_placed(variables).float().view(n * d, 1, h)  # what `advance` feeds the next step
        with float32_region(state):
            variables = variables.float()
            keys = decoder.pointer_keys(variables) * h**-0.5
            # pointer(out, keys) = (W out + b) @ keys: one product per step with W and b folded in.
            self.pointer_weight = decoder.query.weight.t().float() @ keys  # (N, h, d)
            beliefs = decoder.must_precede(variables, pairs)
            gate = F.softplus(decoder.gate)
            # released[b, i, j]: what placing i takes off j's waiting mass (gated), and -inf at j = i
            # (where the belief is 0): adding it also takes i itself off the candidates.
            released = (gate * beliefs).transpose(1, 2)
            released.diagonal(dim1=1, dim2=2).fill_(float("-inf"))
            self.released = released.reshape(n * d, 1, d)
            # Nothing is placed yet: every variable counts towards what each one waits for.
            self.offset = (decoder.query.bias.float() @ keys - gate * beliefs.sum(dim=2))[:, None]  # (N, 1, d)

    def next_logits(self) -> Tensor:
        write, opened, blocked = self.writes[self.length], self.opened, self.blocked
        opened.index_fill_(2, self.opens[self.length], 0.0)
        self.length += 1
        x = self.x
        for cache in self.caches:
            x = DecoderLayer.step(x, cache, write, opened, blocked)
        out = torch.layer_norm(x, *self.norm_out)
        with float32_region(out):
            return torch.baddbmm(self.offset, out.float(), self.pointer_weight).view(-1, self.d)

    def advance(self, parent: Tensor | None, var: Tensor) -> None:
        offset, blocked = self.offset, self.blocked
        if parent is not None:
            offset, blocked = offset[parent], blocked[parent]
            for cache in self.caches:
                cache.select(parent)
        entries = self.row_starts + var
        placed = var.view(-1, 1, 1)
        self.offset = offset + self.released.index_select(0, entries)
        self.blocked = blocked.scatter_(2, placed + self.head_starts, float("-inf"))
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
