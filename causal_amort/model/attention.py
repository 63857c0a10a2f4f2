"""Transformer building blocks shared by the encoder and the decoder.

Attention goes through `F.scaled_dot_product_attention`, so a GPU picks a fused kernel
and bf16 autocast works. Blocks are pre-LayerNorm with residuals: the residual stream
keeps its scale, which the iterative state relies on (S_t = S_{t-1} + U).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Attention(nn.Module):
    """Multi-head attention of `x` (N, L, dim) over `context` (N, S, dim), default self."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(
        self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None, causal: bool = False,
        bias: Tensor | None = None,
    ) -> Tensor:
        """`mask` (N, L, S) bool, True where a query may attend; `causal` masks later positions;
        `bias` (N, heads, L, S) is added to the attention logits (instead of a mask)."""
        k, v = self.project_kv(x if context is None else context)
        return self.attend(x, k, v, mask=mask, causal=causal, bias=bias)

    def project_kv(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values (N, heads, S, dim / heads) of `context` (N, S, dim): what a decoding
        cache keeps, since they do not change while queries are added."""
        n, length, _ = context.shape
        k, v = self.kv(context).view(n, length, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        return k, v

    def attend(self, x: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False,
               bias: Tensor | None = None) -> Tensor:
        """Queries from `x` (N, L, dim) over projected keys and values (see `project_kv`)."""
        n, length, dim = x.shape
        q = self.q(x).view(n, length, self.heads, -1).transpose(1, 2)
        y = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=bias if mask is None else mask[:, None],
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal,
        )
        return self.out(y.transpose(1, 2).reshape(n, length, dim))


class FeedForward(nn.Module):
    """Position-wise MLP with GELU."""

    def __init__(self, dim: int, mult: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, mult * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mult * dim, dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    @property
    def linears(self) -> tuple[nn.Linear, nn.Linear]:
        """The two linear layers (a decoding step applies them without the module calls)."""
        return self.net[0], self.net[3]


class SelfBlock(nn.Module):
    """Pre-LN self-attention then feed-forward, both residual, over the middle axis of (N, L, dim)."""

    def __init__(self, dim: int, heads: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, ff_mult, dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm_attn(x))
        return x + self.ff(self.norm_ff(x))


def float32_region(x: Tensor) -> contextlib.AbstractContextManager:
    """Context that turns autocast off on `x`'s device: logits and losses stay float32. Where
    autocast is off already it does nothing, and costs nothing (entering torch.autocast costs
    microseconds, and a decoding step enters this once)."""
    if not torch.is_autocast_enabled(x.device.type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=x.device.type, enabled=False)
