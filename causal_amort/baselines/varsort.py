"""Var-sort (Reisach et al. 2021): order by increasing marginal variance.

Wins on raw-scale simulated data where variance accumulates down the graph, and is at
chance on standardized data; it measures how much a benchmark leaks through scale.
"""
from __future__ import annotations

import numpy as np
import torch

from causal_amort.baselines.base import Baseline


def _varsort_order(x: np.ndarray, rng: np.random.Generator, device: torch.device) -> np.ndarray:
    # Variances equal to float32 precision are ties: after standardization they differ only
    # by rounding residue (~1e-8), which must not pass for a signal. The caller's column
    # shuffle breaks the ties at random.
    log_var = np.round(np.log(x.var(axis=0)), 6)
    return np.argsort(log_var, kind="stable")


BASELINE = Baseline("varsort", _varsort_order)
