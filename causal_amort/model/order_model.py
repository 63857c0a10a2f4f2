"""OrderModel: reads data chunk by chunk into a per-variable state, decodes a causal order.

One interface serves training and inference in every ablation:

    memory = model.init_memory(batch, d, device)
    for chunk in chunks:                                  # (B, b, d) raw values
        memory = model.advance(memory, chunk)
        loss = model.order_loss(memory, graph, generator)   # training
        orders, confidence = model.decode(memory)           # inference
        memory = model.detach(memory)                     # stop-gradient into earlier chunks

The decoder reads the memory's state (variable tokens) and, from the stats encoder, its pair
channel; `order_loss` and `decode` also take bare tokens (B, d, h), as when testing a decoder.

Two encoders (``cfg.encoder``): "cells" embeds every value of the chunk (cells_encoder.py); "stats"
adds the chunk to exact running sufficient statistics (sufficient.py) and reads their cues
(cues.py) with a pair-biased transformer (stats_encoder.py). Time and memory of one step depend
on the chunk size b and on d, never on the number of rows seen so far.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from causal_amort.model.attention import float32_region
from causal_amort.config import ModelConfig
from causal_amort.model.conditional import ConditionalHead, conditional_start, prefix_features
from causal_amort.model.cues import CUE_GROUPS, compute_cues, cue_columns, group_columns, kept_columns
from causal_amort.model.decoder import build_decoder
from causal_amort.model.decoding import beam_search, biased_start
from causal_amort.model.cells_encoder import ChunkEncoder
from causal_amort.model.sample_lingam import SAMPLE_LINGAM_VARIABLE_CUES
from causal_amort.model.stats_encoder import StatsEncoder, TimeMixer
from causal_amort.model.sufficient import RunningStats, release_scratch, thread_scratch
from causal_amort.model.targets import next_sets, pair_bce, random_topological_order


@dataclass(frozen=True)
class Memory:
    """What the model carries from chunk to chunk: the state (B, d, h), the chunks seen, and for
    the stats encoder the running statistics, the latest pair channel (B, d, d, hp) and (state
    "causal") the per-chunk tokens so far (B, t, d, h). The decoder reads the state and the pair
    channel, which its must-precede gate uses."""

    state: Tensor
    steps: int
    stats: RunningStats | None = None
    pairs: Tensor | None = None
    history: Tensor | None = None
    order_bias: Tensor | None = None  # (B, d) added to the decoder's logits (model.lingam_order_bias)


def _detached(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.detach()


def _decoder_inputs(memory: Memory | Tensor) -> tuple[Tensor, Tensor | None]:
    """The variable tokens and pair channel that the decoder reads (bare tokens: no pair channel)."""
    return (memory.state, memory.pairs) if isinstance(memory, Memory) else (memory, None)


class OrderModel(nn.Module):
    """Chunk encoder + iterative state + order decoder (`cfg.decoder`: causal or sort)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # S_0 is one vector shared by all variables, so no variable is told apart a priori.
        self.s0 = nn.Parameter(0.02 * torch.randn(cfg.dim))
        self.encoder = StatsEncoder(cfg) if cfg.encoder == "stats" else ChunkEncoder(cfg)
        self.time_mixer = TimeMixer(cfg) if cfg.state == "causal" else None
        self.decoder = build_decoder(cfg)
        # Direct-edge beliefs read off the pair channel, for the edge loss only (decoding ignores them).
        self.edge_head = nn.Linear(cfg.pair_dim, 1) if cfg.edge_head else None
        # Conditional decoding (conditional.py): what the placed variables explain of the others.
        self.conditional = ConditionalHead(cfg.dim) if cfg.conditional_head else None
        if cfg.encoder == "stats":
            # Cue groups an ablation drops read as zeros (not saved: the config says which).
            keep_var, keep_pair = kept_columns(cfg.dropped_cue_groups, **cfg.cue_flags)
            self.register_buffer("keep_var", keep_var, persistent=False)
            self.register_buffer("keep_pair", keep_pair, persistent=False)
            group_var, group_pair = group_columns(**cfg.cue_flags)  # for model.cue_dropout
            # Groups that cue dropout keeps take part in no draw: their rows never drop a column.
            kept = torch.tensor([[float(g not in cfg.undroppable_cue_groups)] for g in CUE_GROUPS])
            group_var, group_pair = group_var * kept, group_pair * kept
            self.register_buffer("group_var", group_var, persistent=False)
            self.register_buffer("group_pair", group_pair, persistent=False)
            # The search's own columns, which model.lingam_order_bias reads at decoding.
            variable = cue_columns(**cfg.cue_flags)[0]
            self.search_columns = [variable.index(c) for c in SAMPLE_LINGAM_VARIABLE_CUES] if cfg.lingam_rows else []

    def ensure_eval(self) -> None:
        """Put every module in eval mode, at the cost of a glance when all already are: the flags are
        read from a flat list of the modules kept from the first call (the tree does not change after
        construction), because walking it (`modules()`) took 0.3 ms, 2% of ordering a d = 30 dataset,
        and `eval()` walks it again to set them."""
        flat = self.__dict__.get("_flat_modules")
        if flat is None:
            flat = self.__dict__["_flat_modules"] = tuple(self.modules())
        if any(module.training for module in flat):
            self.eval()

    def init_memory(self, batch: int, d: int, device: torch.device | str) -> Memory:
        """The memory before any data: S_0 for every variable."""
        return Memory(self.s0.to(device).expand(batch, d, -1), 0)

    @property
    def needs_every_chunk(self) -> bool:
        """False when the state after a chunk is a function of the running statistics alone (stats
        encoder, state "none"): then chunks that nobody decodes need no network pass."""
        return not (self.cfg.encoder == "stats" and self.cfg.state == "none")

    def advance(self, memory: Memory, chunk: Tensor, mask: Tensor | None = None, *, encode: bool = True) -> Memory:
        """Read one chunk (B, b, d) of raw values; `mask` (B, b, d) bool marks intervened cells.

        ``encode=False`` only adds the chunk to the running statistics where `needs_every_chunk` is
        False (elsewhere it is ignored); the state and pair channel are then stale until a chunk is
        read with ``encode=True``, so decode only after such a chunk.

        With S^(t) = S + U(S, evidence_t) one encoder pass:
        - "carry": S_t = S^(t) from S = S_{t-1}; the state accumulates evidence.
        - "none": S_t = S^(t) from S = S_0. Cells: only the latest chunk (with a single chunk, the
          one-shot model). Stats: the running statistics of all rows so far, with no learned state.
        - "average": S_t = (1/t) * sum_{s<=t} S^(s), each S^(s) from S = S_0 and chunk s alone
          (for stats: the statistics of chunk s alone); the decoder reads the running mean.
        - "causal" (stats): S = S_0 + attention of this chunk's token over the tokens of all
          chunks so far (a causal mask over chunks; the past tokens are the memory's cache).
        Evidence for the cells encoder is the chunk standardized on its own rows; for the stats
        encoder, the cues of the running statistics.
        """
        batch, d, _ = memory.state.shape
        if chunk.ndim != 3 or chunk.shape[0] != batch or chunk.shape[2] != d:
            raise ValueError(f"chunk must be ({batch}, b, {d}), got {tuple(chunk.shape)}")
        if mask is not None and mask.shape != chunk.shape:
            raise ValueError(f"mask must match chunk {tuple(chunk.shape)}, got {tuple(mask.shape)}")
        steps = memory.steps + 1
        s0 = self.init_memory(batch, d, chunk.device).state
        if self.cfg.encoder == "stats":
            return self._advance_stats(memory, chunk, mask, s0, steps, encode)
        if self.cfg.state == "carry":
            return Memory(self.encoder(memory.state, chunk, mask), steps)
        fresh = self.encoder(s0, chunk, mask)
        if self.cfg.state == "none":
            return Memory(fresh, steps)
        return Memory(memory.state + (fresh - memory.state) / steps, steps)

    def _advance_stats(self, memory: Memory, chunk: Tensor, mask: Tensor | None, s0: Tensor, steps: int,
                       encode: bool) -> Memory:
        stats = memory.stats if memory.stats is not None else self._start_stats(chunk)
        stats = stats.add(chunk, mask)
        if not encode and not self.needs_every_chunk:
            return replace(memory, steps=steps, stats=stats)
        # Large feature buffers go before the cues, which need the memory more; small ones stay.
        release_scratch(stats.scratch)
        mode = self.cfg.state
        # Cues are data, not parameters: no gradient, and float32 whatever autocast does.
        with torch.no_grad(), float32_region(chunk):
            evidence = stats.fresh().add(chunk, mask) if mode == "average" else stats
            var_cues, pair_cues = self._cues(evidence)
        history = None
        if mode == "carry":
            base = memory.state
        elif mode == "causal":
            token = self.encoder.embed(var_cues)[:, None]
            history = token if memory.history is None else torch.cat([memory.history, token], dim=1)
            base = s0 + self.time_mixer(history)
        else:
            base = s0
        tokens, pairs = self.encoder(base, var_cues, pair_cues)
        if mode == "average" and memory.pairs is not None:
            tokens = memory.state + (tokens - memory.state) / steps
            pairs = memory.pairs + (pairs - memory.pairs) / steps
        return Memory(tokens, steps, stats, pairs, history, self._order_bias(var_cues, stats))

    def advance_prefixes(self, chunks: Tensor, mask: Tensor | None = None) -> Memory:
        """The memory after every prefix of ``chunks`` (B, T, b, d) in one pass (state "causal"): a
        batch of T * B whose row t * B + i is what `advance` over chunks 0..t of task i gives, with
        the gradient reaching every earlier chunk's token. The causal mask over chunks makes this
        one pass, as the seed paper trains; its `order_loss` takes the graphs repeated T times. For
        scoring and decoding: it holds no chunk history, so it is not advanced further."""
        if self.cfg.encoder != "stats" or self.cfg.state != "causal":
            raise ValueError("advance_prefixes needs the stats encoder with state 'causal'")
        batch, steps, _, d = chunks.shape
        stats = self._start_stats(chunks[:, 0]).prefixes(chunks, mask)
        with torch.no_grad(), float32_region(chunks):
            var_cues, pair_cues = self._cues(stats)
        tokens = self.encoder.embed(var_cues).view(steps, batch, d, -1)
        mixed = self.time_mixer.every_prefix(tokens.transpose(0, 1)).transpose(0, 1)
        base = self.s0 + mixed.reshape(steps * batch, d, -1)
        state, pairs = self.encoder(base, var_cues, pair_cues)
        return Memory(state, steps, stats, pairs, order_bias=self._order_bias(var_cues, stats))

    def standardize(self, memory: Memory, first_chunk: Tensor) -> Memory:
        """`memory` with empty running statistics standardized by ``first_chunk`` (B, b, d), as
        `advance` starts them on its first chunk: for a caller that reads the rows in other blocks
        (the stats encoder; the chunk's rows are not added)."""
        return replace(memory, stats=self._start_stats(first_chunk))

    def _start_stats(self, first_chunk: Tensor) -> RunningStats:
        """Empty running statistics, standardized by the first chunk, tracking what the cues read."""
        return RunningStats.start(first_chunk, self.cfg.score_cues, self.cfg.basis, self.cfg.reservoir_rows,
                                  self.cfg.pooled_sums, thread_scratch(), tails=self.cfg.tail_cues)

    def _cues(self, stats: RunningStats) -> tuple[Tensor, Tensor]:
        """The cues the encoder reads (those of dropped groups zeroed); call without gradient."""
        var_cues, pair_cues = compute_cues(stats, **self.cfg.cue_flags, lingam_gate=self.cfg.lingam_gate,
                                           lingam_max_d=self.cfg.lingam_max_d,
                                           lingam_min_negentropy=self.cfg.lingam_min_negentropy,
                                           lingam_max_heteroscedasticity=self.cfg.lingam_max_heteroscedasticity,
                                           lingam_min_residual_negentropy=self.cfg.lingam_min_residual_negentropy,
                                           lingam_rerank=self.cfg.lingam_rerank,
                                           lingam_max_curvature=self.cfg.lingam_max_curvature,
                                           lingam_unclipped_rows=self.cfg.lingam_unclipped_rows)
        if self.cfg.drop_cues:
            var_cues, pair_cues = var_cues * self.keep_var, pair_cues * self.keep_pair
        if self.training and self.cfg.cue_dropout > 0:
            # Each task loses each cue group with this chance (torch's seeded generator, as dropout):
            # the network learns to order with whatever cues are left, not to lean on one family that
            # can mislead out of distribution.
            lost = (torch.rand(var_cues.shape[0], len(self.group_var), device=var_cues.device)
                    < self.cfg.cue_dropout).to(var_cues.dtype)
            var_cues = var_cues * (1.0 - (lost @ self.group_var).clamp(max=1.0))[:, None, :]
            pair_cues = pair_cues * (1.0 - (lost @ self.group_pair).clamp(max=1.0))[:, None, None, :]
        return var_cues, pair_cues

    def _order_bias(self, var_cues: Tensor, stats: RunningStats) -> Tensor | None:
        """(B, d): minus ``model.lingam_order_bias`` times each variable's rank in the search's order where the
        search's cues are there (not gated off or dropped by a test) and no row was intervened on, zeros
        elsewhere; None when the setting is 0, d is below ``model.lingam_order_min_d`` or no task has such an
        order (then decoding adds nothing).
        The row sample holds only rows where nothing was intervened on, so on interventional data the
        search sees fewer rows than the network, which also reads the masks."""
        if self.cfg.lingam_order_bias == 0 or var_cues.shape[1] < self.cfg.lingam_order_min_d:
            return None
        search = var_cues[..., self.search_columns]  # position (step / (d - 1)), margin
        found = (search.abs().sum(dim=(1, 2)) > 0) & (stats.int_count.sum(dim=1) == 0)
        if not bool(found.any()):
            return None
        rank = search[..., 0] * (var_cues.shape[1] - 1)
        return torch.where(found[:, None], -self.cfg.lingam_order_bias * rank, 0.0)

    def detach(self, memory: Memory) -> Memory:
        """The same memory with no gradient path into earlier chunks."""
        return replace(memory, state=memory.state.detach(), pairs=_detached(memory.pairs),
                       history=_detached(memory.history))

    def order_loss(self, memory: Memory | Tensor, graph: Tensor, generator: torch.Generator,
                   precede_weight: float = 0.0, edge_weight: float = 0.0) -> Tensor:
        """Mean over positions and batch of -log P(next variable lies in the next-set).

        Teacher forcing on one random valid topological order per graph (drawn with
        `generator`); the next-set at position k holds the unplaced variables whose parents
        are all placed, so every valid order of the graph scores a loss of zero at best.
        With ``precede_weight`` > 0 (causal decoder only), plus that weight times the decoder's
        must-precede loss (`PointerDecoder.precede_loss`: its pairwise beliefs against the true
        ancestor relation); with ``edge_weight`` > 0 (``model.edge_head``), plus that weight times
        `edge_loss`.
        """
        state, pairs = _decoder_inputs(memory)
        batch, d, _ = state.shape
        if graph.shape != (batch, d, d):
            raise ValueError(f"graph must be ({batch}, {d}, {d}), got {tuple(graph.shape)}")
        order = random_topological_order(graph, generator).to(state.device)
        logits = self.decoder.logits(state, order[:, :-1], pairs)
        if self.conditional is not None:
            with torch.no_grad():
                features = prefix_features(memory.stats, order)
            logits = logits + self.conditional(features, self.conditional.tokens(state))
        allowed = next_sets(graph.to(state.device), order)
        with float32_region(logits):
            logits = logits.float()
            mass_all = torch.logsumexp(logits, dim=-1)
            mass_next = torch.logsumexp(logits.masked_fill(~allowed, float("-inf")), dim=-1)
            loss = (mass_all - mass_next).mean()
        if precede_weight > 0:
            loss = loss + precede_weight * self.decoder.precede_loss(state, pairs, graph)
        if edge_weight > 0:
            loss = loss + edge_weight * self.edge_loss(pairs, graph)
        return loss

    def edge_loss(self, pairs: Tensor, graph: Tensor) -> Tensor:
        """Mean binary cross-entropy of the edge head's beliefs, entry [b, i, j] of the pair channel
        read as "i -> j", against `graph` (B, d, d); off-diagonal pairs only."""
        if self.edge_head is None or pairs is None:
            raise ValueError("the edge loss needs model.edge_head and the stats encoder's pair channel")
        with float32_region(pairs):
            logits = self.edge_head(pairs.float()).squeeze(-1)
            return pair_bce(logits, graph.to(logits.device))

    @torch.no_grad()
    def decode(self, memory: Memory | Tensor, beam: int = 1,
               precede: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Orders (B, d) long, causes first, and the per-position probability of each pick.

        ``precede`` (d, d) or (B, d, d) bool, True at [i, j] when i must come before j, is prior
        knowledge that every order honours (see causal_amort.inference.constraints)."""
        state, pairs = _decoder_inputs(memory)
        start = self.decoder.begin
        if self.conditional is not None:
            start = conditional_start(start, self.conditional, memory.stats)
        if isinstance(memory, Memory) and memory.order_bias is not None:
            start = biased_start(start, memory.order_bias)
        return beam_search(start, state, beam, pairs, precede)
