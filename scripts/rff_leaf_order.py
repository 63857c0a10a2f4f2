"""How well a streamable SCORE leaf removal orders variables on its own, next to SCORE itself.

SCORE (Rolland et al. 2022) removes, one at a time, the variable whose Hessian diagonal of log p
varies least over the rows (a leaf, in an additive-noise model with Gaussian noise), refitting the
score of what is left each time, with a kernel estimator on all n x n row pairs. Here the score is
fitted by score matching on random Fourier features cos(w . z + b), each on ONE or TWO variables
of the robust z-scores: the fit needs only the features' Gram matrix and their mean derivatives,
and the Hessian diagonal's variance needs the Gram of the matching sines, so all of it is exact
running sums over chunks (any n, constant memory). Removing a leaf drops every feature that
touches it: each step's fit is a sub-block of the one streamed Gram, no second pass. Pair features
let the fit see interactions of two parents, which the model's additive basis cannot.

    python scripts/rff_leaf_order.py runs/select-v5/test-in-d20 --num 16 [--pairs 1024 --singles 16]

A measurement for the next design step (not yet a model cue); run it on selection suites only.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from causal_amort.evaluation.metrics import frac_reversed
from causal_amort.model.sufficient import robust_center_scale
from causal_amort.runtime.threads import apply_threads
from simulators.storage.io import iter_datasets


def draw_features(d: int, pairs: int, singles: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Frequencies (d, K) and phases (K,): `pairs` features on random pairs of variables (scale
    1/sqrt(2) per coordinate), then `singles` features on each variable alone (scale 1)."""
    pair_freq = torch.zeros(d, pairs if d >= 2 else 0, dtype=torch.float64)
    for k in range(pair_freq.shape[1]):
        support = torch.randperm(d, generator=gen)[:2]
        pair_freq[support, k] = torch.randn(2, generator=gen, dtype=torch.float64) / 2**0.5
    single_freq = torch.zeros(d, d * singles, dtype=torch.float64)
    for j in range(d):
        single_freq[j, j * singles : (j + 1) * singles] = torch.randn(singles, generator=gen, dtype=torch.float64)
    freq = torch.cat([pair_freq, single_freq], dim=1)
    return freq, torch.rand(freq.shape[1], generator=gen, dtype=torch.float64) * 2 * torch.pi


class FourierSums:
    """Running sums over rows of the cosine and sine features: count, both Gram matrices, sine sums."""

    def __init__(self, freq: torch.Tensor, phase: torch.Tensor, center: torch.Tensor, scale: torch.Tensor) -> None:
        self.freq, self.phase, self.center, self.scale = freq, phase, center, scale
        k = freq.shape[1]
        self.count = 0
        self.cos_gram = torch.zeros(k, k, dtype=torch.float64)
        self.sin_gram = torch.zeros(k, k, dtype=torch.float64)
        self.sin_sum = torch.zeros(k, dtype=torch.float64)

    def add(self, chunk: np.ndarray) -> None:
        z = (torch.as_tensor(chunk, dtype=torch.float64) - self.center) / self.scale
        angle = z @ self.freq + self.phase
        cos, sin = torch.cos(angle), torch.sin(angle)
        self.count += len(chunk)
        self.cos_gram += cos.T @ cos
        self.sin_gram += sin.T @ sin
        self.sin_sum += sin.sum(dim=0)


def leaf_removal_order(sums: FourierSums, ridge: float = 1e-3) -> list[int]:
    """Causes first: repeatedly the variable whose fitted Hessian diagonal varies least goes last."""
    n, d = sums.count, sums.freq.shape[0]
    gram, sin_mean = sums.cos_gram / n, sums.sin_sum / n
    sin_cov = sums.sin_gram / n - torch.outer(sin_mean, sin_mean)
    left, removed = list(range(d)), []
    while len(left) > 1:
        gone = [j for j in range(d) if j not in left]
        keep = (sums.freq[gone] == 0).all(dim=0).nonzero()[:, 0]  # features touching no removed variable
        freq = sums.freq[left][:, keep]  # (|left|, K')
        # Score matching, s_j = phi . w_j: w_j = -(G + ridge)^-1 E[d phi / d z_j], E[d phi_k / d z_j] = -freq_jk E[sin_k].
        mean_deriv = -freq * sin_mean[keep]
        weights = -torch.linalg.solve(gram[keep][:, keep] + ridge * torch.eye(len(keep), dtype=gram.dtype), mean_deriv.T)
        # d s_j / d z_j = sum_k w_kj (-freq_jk) sin_k: its variance over rows from the sine covariance.
        hess = -(weights * freq.T)  # (K', |left|)
        variance = (hess * (sin_cov[keep][:, keep] @ hess)).sum(dim=0)
        leaf = left[int(torch.argmin(variance))]
        removed.append(leaf)
        left.remove(leaf)
    return left + removed[::-1]


def stream_order(x: np.ndarray, pairs: int, singles: int, seed: int, chunk: int = 250) -> list[int]:
    """The order of one dataset, its rows read in chunks (standardized by the first chunk)."""
    center, scale = robust_center_scale(torch.as_tensor(x[:chunk], dtype=torch.float64)[None])
    scale = torch.where(scale > 0, scale, 1.0)[0, 0]
    freq, phase = draw_features(x.shape[1], pairs, singles, torch.Generator().manual_seed(seed))
    sums = FourierSums(freq, phase, center[0, 0], scale)
    for start in range(0, len(x), chunk):
        sums.add(x[start : start + chunk])
    return leaf_removal_order(sums)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--num", type=int, default=16, help="first NUM datasets of the suite")
    parser.add_argument("--pairs", type=int, default=1024, help="pair features")
    parser.add_argument("--singles", type=int, default=16, help="features per single variable")
    args = parser.parse_args()
    apply_threads(1)
    start, errors = time.perf_counter(), []
    for index, data in enumerate(list(iter_datasets(args.suite))[: args.num]):
        order = stream_order(data.x, args.pairs, args.singles, seed=index)
        errors.append(frac_reversed(np.asarray(order), data.graph))
    print(f"{args.suite}: pairs {args.pairs}, singles {args.singles}: mean fraction of reversed edges "
          f"{np.mean(errors):.3f} over {len(errors)} datasets ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
