"""Statistics encoder: cues of the running sufficient statistics -> variable tokens and a pair channel.

A transformer over the d variables (no positional ids: equivariant to permuting them). Its
inputs are the per-variable cues (plus the carried state) and the pair cues of cues.py. In
every layer the pair channel biases the attention logits, one bias per head, as FoundCause
injects pairwise statistics; the variable tokens read the row and column means of the pair
channel; and the pair channel is updated from its own value and the two tokens it joins. The
cost is O(d^2) per layer whatever the number of rows.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from causal_amort.model.attention import Attention, FeedForward
from causal_amort.config import ModelConfig
from causal_amort.model.cues import CUE_GROUPS, group_columns, num_cues


def _mlp(inputs: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, out))


def _added_embedding(inputs: int, dim: int) -> nn.Sequential:
    """An embedding of cues added to a network: its output starts at zero."""
    mlp = _mlp(inputs, dim, dim)
    nn.init.zeros_(mlp[-1].weight)
    nn.init.zeros_(mlp[-1].bias)
    return mlp


def _silent_embedding(inputs: int, out: int) -> nn.Sequential:
    """An MLP with no biases whose output layer starts at zero: its output is exactly zero on an input
    of zeros, whatever its weights (GELU(0) = 0), so it adds nothing to data that lack its cues."""
    mlp = nn.Sequential(nn.Linear(inputs, out, bias=False), nn.GELU(), nn.Linear(out, out, bias=False))
    nn.init.zeros_(mlp[-1].weight)
    return mlp


class InterventionHead(nn.Module):
    """The interventional cues (``CUE_GROUPS["interventions"]``: the share of rows in which a variable
    is intervened on, and how i's mean and variance move when j is) read by their own bias-free
    embeddings (``model.intervention_head``), while the rest of the encoder reads those columns as
    zeros. On observational data the cues are zero, so a network with the head gives bitwise the
    outputs of the same network without it: a head fine-tuned alone (``train.train_only``) teaches an
    observational model to use intervention masks and leaves its observational orders as they were."""

    def __init__(self, cue_flags: dict[str, bool], dim: int, pair_dim: int) -> None:
        super().__init__()
        group = list(CUE_GROUPS).index("interventions")
        var_member, pair_member = (members[group] > 0 for members in group_columns(**cue_flags))
        self.register_buffer("var_columns", var_member.nonzero()[:, 0], persistent=False)
        self.register_buffer("pair_columns", pair_member.nonzero()[:, 0], persistent=False)
        self.register_buffer("keep_var", (~var_member).float(), persistent=False)
        self.register_buffer("keep_pair", (~pair_member).float(), persistent=False)
        self.var_in = _silent_embedding(len(self.var_columns), dim)
        self.pair_in = _silent_embedding(len(self.pair_columns), pair_dim)

    def split_var(self, var_cues: Tensor) -> tuple[Tensor, Tensor | None]:
        """(the cues with the interventional columns zeroed, the head's token term; see `_split`)."""
        return _split(var_cues, self.var_columns, self.keep_var, self.var_in)

    def split_pair(self, pair_cues: Tensor) -> tuple[Tensor, Tensor | None]:
        """(the pair cues with the interventional columns zeroed, the head's pair-channel term)."""
        return _split(pair_cues, self.pair_columns, self.keep_pair, self.pair_in)


def _split(cues: Tensor, columns: Tensor, keep: Tensor, embedding: nn.Sequential) -> tuple[Tensor, Tensor | None]:
    """(``cues`` with ``columns`` zeroed, ``embedding`` of those columns). Without gradient and with the
    columns all zero (nothing intervened on) that is (``cues``, None) as is: the embedding would add
    exactly zero, and skipping it and the masking was 0.5% of ordering a d = 30 dataset."""
    head = cues.index_select(-1, columns)
    if not torch.is_grad_enabled() and not bool(head.any()):
        return cues, None
    return cues * keep, embedding(head)


def _add_embedded(total: Tensor, encoder: nn.Module, added: list[tuple[str, int, bool, bool]], cues: Tensor,
                  base: int) -> Tensor:
    """``total`` plus each optional group's embedding (each (name, its columns, reads the base cues too,
    gated)) of ``cues``, whose first ``base`` columns are the base cues and the groups' follow in order. A
    gated group's embedding adds nothing to a task whose columns of the group are all zero (its cues were
    not computed there), so such a task's ``total`` is what it would be without the group, bit for bit."""
    start = base
    for name, width, reads_base, gated in added:
        own = cues[..., start : start + width]
        start += width
        present = own.flatten(1).any(dim=1) if gated else None
        if present is not None and not torch.is_grad_enabled() and not bool(present.any()):
            continue  # adds exactly zero; skipping it saves the embedding's time
        term = getattr(encoder, name)(torch.cat([cues[..., :base], own], dim=-1) if reads_base else own)
        if present is not None:
            term = term * present.to(term.dtype).view(-1, *[1] * (term.ndim - 1))
        total = total + term
    return total


class PairBiasedLayer(nn.Module):
    """Pair-biased self-attention over variables, pooled pair evidence, feed-forward, pair update."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h, hp = cfg.dim, cfg.pair_dim
        self.heads = cfg.heads
        self.norm_pair_bias = nn.LayerNorm(hp)
        self.pair_bias = nn.Linear(hp, cfg.heads)
        self.norm_attn = nn.LayerNorm(h)
        self.attn = Attention(h, cfg.heads, cfg.dropout)
        self.pool = nn.Linear(2 * hp, h)
        self.norm_ff = nn.LayerNorm(h)
        self.ff = FeedForward(h, cfg.ff_mult, cfg.dropout)
        self.norm_tokens = nn.LayerNorm(h)
        self.to_row = nn.Linear(h, hp)
        self.to_col = nn.Linear(h, hp)
        self.norm_pair = nn.LayerNorm(hp)
        self.pair_ff = _mlp(hp, 2 * hp, hp)

    def forward(self, x: Tensor, pairs: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, d, h) variable tokens, pairs (B, d, d, hp); both updated residually."""
        normed_pairs = self.norm_pair_bias(pairs)
        bias = self.pair_bias(normed_pairs).permute(0, 3, 1, 2).to(x.dtype)  # (B, heads, d, d)
        x = x + self.attn(self.norm_attn(x), bias=bias)
        # What a variable looks like as a cause (its row) and as an effect (its column) of all others.
        x = x + self.pool(torch.cat([normed_pairs.mean(dim=2), normed_pairs.mean(dim=1)], dim=-1))
        x = x + self.ff(self.norm_ff(x))
        t = self.norm_tokens(x)
        joined = self.norm_pair(pairs) + self.to_row(t)[:, :, None] + self.to_col(t)[:, None, :]
        return x, pairs + self.pair_ff(joined)


class TimeMixer(nn.Module):
    """Causal attention of each variable's newest chunk token over its tokens of all chunks so far
    (the "causal" state): the query is the last token only, so a cache of past tokens is exact."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.dim)
        self.attn = Attention(cfg.dim, cfg.heads, cfg.dropout)

    def forward(self, history: Tensor) -> Tensor:
        """history (B, t, d, h), oldest first -> (B, d, h) summary for the newest chunk."""
        batch, steps, d, h = history.shape
        seq = self.norm(history.transpose(1, 2).reshape(batch * d, steps, h))
        out = self.attn(seq[:, -1:], seq)
        return out.view(batch, d, h)

    def every_prefix(self, history: Tensor) -> Tensor:
        """history (B, T, d, h) -> (B, T, d, h): entry t is `forward` of history[:, :t + 1], all T
        at once under a causal mask over chunks (how training scores every prefix in one pass)."""
        batch, steps, d, h = history.shape
        seq = self.norm(history.transpose(1, 2).reshape(batch * d, steps, h))
        out = self.attn(seq, causal=True)
        return out.view(batch, d, steps, h).transpose(1, 2)


class StatsEncoder(nn.Module):
    """U(S, cues): returns variable tokens (B, d, h) (the state plus its update) and the pair channel."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        var_cues, pair_cues = num_cues(cfg.score_cues)
        self.var_in = _mlp(var_cues, cfg.dim, cfg.dim)
        # Each optional cue group's columns come after the base ones, in `cue_columns`' order, and get
        # their own embeddings whose output layer starts at zero: a network fine-tuned onto them starts
        # as its source. Per group: (the flag, the variable embedding's name, the pair embedding's, whether
        # it reads the base cues too). The sample LiNGAM order is right where the data are linear with
        # non-Gaussian noise and says little elsewhere, so its embeddings also see the cues that tell
        # (linear against additive R^2, the moments, the pairwise measures), unless lingam_reads_base is off;
        # with any of the search's gates set (`ModelConfig.lingam_gated`) they are gated (`_add_embedded`): silent where it did not run.
        added = (("kernel", "kernel_in", None, False), ("leaf", "leaf_in", None, False),
                 ("tails", "tail_in", "tail_pair_in", False),
                 ("lingam", "lingam_in", "lingam_pair_in", cfg.lingam_reads_base),
                 ("lingam_moments", "lingam_moments_in", None, False))
        gated = {"lingam": cfg.lingam_gated, "lingam_moments": cfg.lingam_gated}
        # (name, its columns, reads the base cues too, gated), in column order
        self.var_added, self.pair_added = [], []
        for flag, var_name, pair_name, reads_base in added:
            if not cfg.cue_flags[flag]:
                continue
            var_own, pair_own = (with_group - base for with_group, base in
                                 zip(num_cues(cfg.score_cues, **{flag: True}), (var_cues, pair_cues)))
            setattr(self, var_name, _added_embedding(var_own + reads_base * var_cues, cfg.dim))
            self.var_added.append((var_name, var_own, reads_base, gated.get(flag, False)))
            if pair_name is not None:
                setattr(self, pair_name, _added_embedding(pair_own + reads_base * pair_cues, cfg.pair_dim))
                self.pair_added.append((pair_name, pair_own, reads_base, gated.get(flag, False)))
        # Built after the optional embeddings, as before there was a loop: the same draws initialize each.
        self.pair_in = _mlp(pair_cues, 2 * cfg.pair_dim, cfg.pair_dim)
        self.intervention = (InterventionHead(cfg.cue_flags, cfg.dim, cfg.pair_dim) if cfg.intervention_head else None)
        self.layers = nn.ModuleList(PairBiasedLayer(cfg) for _ in range(cfg.enc_layers))

    def embed(self, var_cues: Tensor) -> Tensor:
        """(B, d, h) token of the per-variable cues."""
        start = self.var_in[0].in_features
        extra = None
        if self.intervention is not None:
            var_cues, extra = self.intervention.split_var(var_cues)
        token = self.var_in(var_cues[..., :start])
        if extra is not None:
            token = token + extra
        return _add_embedded(token, self, self.var_added, var_cues, start)

    def forward(self, state: Tensor, var_cues: Tensor, pair_cues: Tensor) -> tuple[Tensor, Tensor]:
        x = state.float() + self.embed(var_cues)
        extra = None
        if self.intervention is not None:
            pair_cues, extra = self.intervention.split_pair(pair_cues)
        start = self.pair_in[0].in_features  # the optional groups' columns, if any, come after
        pairs = self.pair_in(pair_cues[..., :start])
        pairs = _add_embedded(pairs, self, self.pair_added, pair_cues, start)
        if extra is not None:
            pairs = pairs + extra
        for layer in self.layers:
            x, pairs = layer(x, pairs)
        return x, pairs
