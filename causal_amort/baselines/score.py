"""SCORE (Rolland et al. 2022): leaf removal by the Stein-estimated Hessian of log p.

In an additive-noise model with Gaussian noise, the diagonal entry of the Hessian of log p
that belongs to a leaf is constant (-1/sigma^2), while a non-leaf's varies with its
children. The leaf is therefore the variable whose estimated diagonal entry varies least
across samples; remove it and repeat. The kernel width is the median heuristic.
"""
from __future__ import annotations

import numpy as np
import torch

from causal_amort.baselines.base import Baseline
from causal_amort.baselines.stein import stein_hessian_diag, torch_dtype

ETA = 1e-3  # ridge of the Stein estimators, the reference value of the paper's code


def _score_order(x: np.ndarray, rng: np.random.Generator, device: torch.device) -> np.ndarray:
    data = torch.as_tensor(x, dtype=torch_dtype(device), device=device)
    active = list(range(x.shape[1]))
    leaves: list[int] = []
    while len(active) > 1:
        spread = stein_hessian_diag(data[:, active], ETA).var(dim=0)
        spread = torch.nan_to_num(spread, nan=float("inf"))
        leaves.append(active.pop(int(torch.argmin(spread))))
    return np.array(active + leaves[::-1], dtype=np.int64)


BASELINE = Baseline("score", _score_order, slow=True, uses_device=True)
