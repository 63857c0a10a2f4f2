"""Conditional decoding (``model.conditional_head``): at every position, how much of each unplaced
variable the placed ones explain, from the running sums alone.

DirectLiNGAM regresses each variable it has placed out of the rest and measures again; the streamed
sums give the second-order part of that step for free. The residual variance of a variable's s given
the placed variables' features is a Schur complement of the feature correlation matrix, and placing
variables in order is a Cholesky factorization in that order: one factor gives the residual of every
variable given every prefix at once (training, teacher-forced), and adding one placed variable is one
block column of the factor (decoding, `ConditionalSteps`). Per (position, variable) the head reads
the log residual variance of s given all K features of the placed variables (an additive
regression) and given their s alone (a linear one), and how much each fell with the last placement
(large when the variable just placed is a parent), beside a projection of the variable's token; its
output is added to the decoder's logits and starts at zero, so a network fine-tuned onto it starts
as its source.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from causal_amort.model.decoding import DecodeSteps, StartFn
from causal_amort.model.sufficient import S, RunningStats

FEATURES = 4  # log residual (additive, linear) and their drops at the last placement
_FLOOR = 1e-6  # residual variances are at least this (a placed variable's own is about 0)


def correlations(stats: RunningStats) -> tuple[Tensor, Tensor]:
    """(B, dK, dK) variable-major ([i * K + k]) correlation of all features and (B, d, d) of the s's,
    float64, each shrunk towards the identity (ridge 0.01 + 0.1 dK / n: it grows with the features per row)."""
    batch, d, k = stats.count.shape[0], stats.d, stats.k
    n = stats.count.clamp_min(1.0)
    cov = stats.covariance().view(batch, k, d, k, d).permute(0, 2, 1, 4, 3).reshape(batch, d * k, d * k)
    sd = torch.diagonal(cov, dim1=1, dim2=2).clamp_min(0.0).sqrt()
    live = sd > 1e-6
    sd = torch.where(live, sd, 1.0)
    corr = cov / sd[:, :, None] / sd[:, None, :]
    both = live[:, :, None] & live[:, None, :]
    eye = torch.eye(d * k, dtype=torch.bool, device=cov.device)
    corr = torch.where(both & ~eye, corr, 0.0) + eye  # a constant feature: uncorrelated, unit variance
    ridge = (1e-2 + 0.1 * k * d / n).clamp(max=1.0)[:, None, None]
    corr = (corr + ridge * eye) / (1.0 + ridge)
    lin = corr.view(batch, d, k, d, k)[:, :, S, :, S]
    return corr, lin.contiguous()


def _blocks(order: Tensor, k: int) -> Tensor:
    """(B, d * k) feature indices of variable-major matrices, variables in ``order`` (B, d)."""
    return (order[:, :, None] * k + torch.arange(k, device=order.device)).flatten(1)


def _prefix_residuals(corr: Tensor, order: Tensor, k: int) -> Tensor:
    """(B, d, d): [t, v] the residual variance of feature S of variable v given all k features of the
    first t variables of ``order`` (for t up to v's own position; later rows are not meaningful)."""
    batch, d = order.shape
    idx = _blocks(order, k)
    permuted = corr.gather(1, idx[:, :, None].expand(-1, -1, d * k)).gather(2, idx[:, None, :].expand(-1, d * k, -1))
    factor = torch.linalg.cholesky(permuted)
    rows = factor[:, S::k]  # (B, d positions, d * k): the row of each variable's s
    explained = rows.square().view(batch, d, d, k).sum(dim=-1).cumsum(dim=-1)  # [p, t]: by blocks 0..t
    explained = torch.cat([torch.zeros_like(explained[..., :1]), explained[..., :-1]], dim=-1)  # blocks < t
    residual_by_position = 1.0 - explained  # unit variance before anything is placed
    out = torch.empty_like(residual_by_position)
    out.scatter_(1, order[:, :, None].expand(-1, -1, d), residual_by_position)  # [v, t]
    return out.transpose(1, 2)


def _features(additive: Tensor, linear: Tensor) -> Tensor:
    """(..., L, d, FEATURES) from residual variances (..., L, d) along positions L."""
    log_add, log_lin = additive.clamp_min(_FLOOR).log(), linear.clamp_min(_FLOOR).log()
    drops = [torch.cat([torch.zeros_like(x[..., :1, :]), x[..., :-1, :] - x[..., 1:, :]], dim=-2)
             for x in (log_add, log_lin)]
    return torch.stack([log_add, log_lin, *drops], dim=-1)


def prefix_features(stats: RunningStats, order: Tensor) -> Tensor:
    """(B, d, d, FEATURES) float32: the head's inputs at every position t (row t: after placing
    order[:, :t]) for every variable, teacher-forced on ``order`` (B, d)."""
    corr, lin = correlations(stats)
    additive = _prefix_residuals(corr, order, stats.k)
    linear = _prefix_residuals(lin, order, 1)
    return _features(additive, linear).float()


class ConditionalHead(nn.Module):
    """Per (position, variable): an MLP of `FEATURES` conditional features and a projection of the
    variable's token, added to the logits; its output layer starts at zero."""

    def __init__(self, dim: int, hidden: int = 32, token_dim: int = 8) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.token = nn.Linear(dim, token_dim)
        self.mlp = nn.Sequential(nn.Linear(FEATURES + token_dim, hidden), nn.GELU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def tokens(self, state: Tensor) -> Tensor:
        """(B, d, token_dim): what the head reads of each variable's token."""
        return self.token(self.norm(state.float()))

    def forward(self, features: Tensor, tokens: Tensor) -> Tensor:
        """(B, L, d) from features (B, L, d, FEATURES) and `tokens` (B, d, token_dim)."""
        tokens = tokens[:, None].expand(-1, features.shape[1], -1, -1)
        return self.mlp(torch.cat([features, tokens], dim=-1)).squeeze(-1)


class _Factor:
    """A Cholesky factor of a (N, m, m) matrix built one block column of ``k`` at a time, in the
    order the variables are placed, and the residual variance of each variable's first feature."""

    def __init__(self, corr: Tensor, k: int) -> None:
        n, m, _ = corr.shape
        self.corr, self.k, self.t = corr, k, 0
        self.columns = corr.new_zeros(n, m, m)
        self.residual = torch.ones(n, m // k, dtype=corr.dtype, device=corr.device)

    def select(self, rows: Tensor) -> None:
        self.corr, self.columns, self.residual = self.corr[rows], self.columns[rows], self.residual[rows]

    def place(self, var: Tensor) -> None:
        n, m, _ = self.corr.shape
        k, done = self.k, self.t * self.k
        block = (var[:, None] * k + torch.arange(k, device=var.device))  # (N, k)
        fresh = self.corr.gather(2, block[:, None, :].expand(-1, m, -1))  # (N, m, k)
        if done:
            left = self.columns[:, :, :done]
            fresh = fresh - left @ left.gather(1, block[:, :, None].expand(-1, -1, done)).transpose(1, 2)
        pivot = fresh.gather(1, block[:, :, None].expand(-1, -1, k))  # (N, k, k)
        lower = torch.linalg.cholesky(pivot)
        new = torch.linalg.solve_triangular(lower, fresh.transpose(1, 2), upper=False).transpose(1, 2)
        self.columns[:, :, done : done + k] = new
        self.residual = self.residual - new[:, S::k].square().sum(dim=-1)
        self.t += 1


class ConditionalSteps:
    """`DecodeSteps` that add the head's output to another decode's logits, with the factors grown
    as variables are placed (the same residuals as `prefix_features`, up to rounding)."""

    def __init__(self, inner: DecodeSteps, head: ConditionalHead, tokens: Tensor, corr: Tensor, lin: Tensor,
                 k: int) -> None:
        self.inner, self.head, self.tokens = inner, head, tokens
        self.additive, self.linear = _Factor(corr, k), _Factor(lin, 1)
        self.previous = None

    def _residuals(self) -> Tensor:
        return torch.stack([self.additive.residual, self.linear.residual], dim=1)  # (N, 2, d)

    def next_logits(self) -> Tensor:
        now = self._residuals()
        before = now if self.previous is None else self.previous
        feats = _features(torch.stack([before[:, 0], now[:, 0]], dim=1), torch.stack([before[:, 1], now[:, 1]], dim=1))
        with torch.no_grad():
            added = self.head(feats[:, 1:].float(), self.tokens)[:, 0]
        return self.inner.next_logits() + added

    def advance(self, parent: Tensor | None, var: Tensor) -> None:
        self.inner.advance(parent, var)
        self.previous = self._residuals()
        if parent is not None:
            self.additive.select(parent)
            self.linear.select(parent)
            self.tokens = self.tokens[parent]
            self.previous = self.previous[parent]
        self.additive.place(var)
        self.linear.place(var)


def conditional_start(start: StartFn, head: ConditionalHead, stats: RunningStats) -> StartFn:
    """A `beam_search` start function: ``start``'s steps with the head added (the context repeated for
    the B * beam rows the search begins with)."""
    corr, lin = correlations(stats)
    batch = corr.shape[0]

    def begin(state: Tensor, pairs: Tensor | None) -> ConditionalSteps:
        beam = state.shape[0] // batch
        c, l = (x.repeat_interleave(beam, dim=0) for x in (corr, lin))
        return ConditionalSteps(start(state, pairs), head, head.tokens(state), c, l, stats.k)

    return begin
