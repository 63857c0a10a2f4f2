"""NoGAM (Montagna et al. 2023): leaf removal for additive-noise models with any noise.

For a leaf j, the score entry d/dx_j log p(x) is a function of j's noise alone, so it can be
predicted from the residual of regressing x_j on the other variables; for a non-leaf it
cannot. Each round estimates the score with the Stein estimator, the residuals with
cross-fitted kernel ridge regression, predicts each score entry from its residual (again
cross-fitted) and removes the variable with the smallest prediction error.
"""
from __future__ import annotations

import numpy as np
import torch

from causal_amort.baselines.base import Baseline
from causal_amort.baselines.krr import crossfit_predict
from causal_amort.baselines.stein import stein_score, torch_dtype

ETA = 1e-3    # ridge of the Stein score estimator
N_FOLDS = 2   # cross-fitting folds; the reference uses 5, 2 keeps the cost modest
ALPHA = 1e-2  # ridge of the kernel regressions, as in the reference implementation


def _nogam_order(x: np.ndarray, rng: np.random.Generator, device: torch.device) -> np.ndarray:
    n, d = x.shape
    data = torch.as_tensor(x, dtype=torch_dtype(device), device=device)
    folds = torch.as_tensor(rng.permutation(n) % min(N_FOLDS, n), device=device)
    active = list(range(d))
    leaves: list[int] = []
    while len(active) > 1:
        xa = data[:, active]
        m = len(active)
        score = stein_score(xa, ETA).T                                    # (m, n)
        others = torch.tensor([[k for k in range(m) if k != j] for j in range(m)], device=device)
        residual = xa.T - crossfit_predict(xa[:, others].permute(1, 0, 2), xa.T, folds, alpha=ALPHA)
        predicted = crossfit_predict(residual[..., None], score, folds, alpha=ALPHA)
        err = torch.nan_to_num(((score - predicted) ** 2).mean(dim=1), nan=float("inf"))
        leaves.append(active.pop(int(torch.argmin(err))))
    return np.array(active + leaves[::-1], dtype=np.int64)


BASELINE = Baseline("nogam", _nogam_order, slow=True, uses_device=True)
