"""Chunk encoder: one chunk of samples plus the per-variable state -> the state's update.

Tokens form a grid (B, b + 1, d, h): b sample rows of embedded cells and one row holding
the state S_{t-1}. Layers alternate attention across variables (within a row) and across
rows (within a variable), as in AVICI. Nothing marks a variable's or a sample's index, so
the update is equivariant to permuting variables and invariant to permuting samples; the
per-chunk standardization makes it invariant to per-variable shift and positive scale.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from causal_amort.model.attention import SelfBlock
from causal_amort.config import ModelConfig


def standardize_chunk(x: Tensor) -> Tensor:
    """Per-variable z-scores over the rows of each chunk; constant columns (and 1-row chunks) -> 0.

    x: (B, b, d). Computed in float32 whatever autocast is doing. Each column is first
    shifted by its first row and divided by its largest magnitude, so a constant column is
    exactly zero (no round-off gets blown up) and squares neither overflow nor underflow
    for values anywhere in float32's range. A column with any spread then has std of at
    least 1 / sqrt(2b), so the division is safe.
    """
    x = x.float()
    x = x - x[:, :1]
    scale = x.abs().amax(dim=1, keepdim=True)
    constant = scale == 0
    x = x / torch.where(constant, 1.0, scale)
    centred = x - x.mean(dim=1, keepdim=True)
    std = centred.square().mean(dim=1, keepdim=True).sqrt()
    return torch.where(constant, 0.0, centred / torch.where(constant, 1.0, std))


class AxialLayer(nn.Module):
    """Attention across variables, then across rows, each with its feed-forward."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.across_variables = SelfBlock(cfg.dim, cfg.heads, cfg.ff_mult, cfg.dropout)
        self.across_rows = SelfBlock(cfg.dim, cfg.heads, cfg.ff_mult, cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        batch, rows, d, h = x.shape
        x = self.across_variables(x.reshape(batch * rows, d, h)).view(batch, rows, d, h)
        x = x.transpose(1, 2).reshape(batch * d, rows, h)
        return self.across_rows(x).view(batch, d, rows, h).transpose(1, 2)


class ChunkEncoder(nn.Module):
    """U(S_{t-1}, B_t): returns the updated state row, S_{t-1} + U, of shape (B, d, h)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.value = nn.Linear(1, cfg.dim)
        # Added to intervened cells only, so observational data use no extra parameter.
        self.intervened = nn.Parameter(0.02 * torch.randn(cfg.dim))
        self.layers = nn.ModuleList(AxialLayer(cfg) for _ in range(cfg.enc_layers))

    def forward(self, state: Tensor, chunk: Tensor, mask: Tensor | None = None) -> Tensor:
        """state (B, d, h), chunk (B, b, d) raw values, mask (B, b, d) bool or None."""
        # The residual stream stays float32 under autocast; only the matmuls run in bf16.
        cells = self.value(standardize_chunk(chunk).unsqueeze(-1)).float()
        if mask is not None:
            cells = cells + mask.unsqueeze(-1).float() * self.intervened
        # The state row joins as row 0; pre-LN residual layers add the update onto it.
        x = torch.cat([state.unsqueeze(1).float(), cells], dim=1)
        for layer in self.layers:
            x = layer(x)
        return x[:, 0]
