"""Var-sort (Reisach et al. 2021): order by increasing marginal variance.

Wins on raw-scale simulated data where variance accumulates down the graph, and is at
chance on standardized data; it measures how much a benchmark leaks through scale.
"""
from __future__ import annotations

import numpy as np
import torch

from causal_amort.baselines.base import Baseline


def _varsort_order(x: np.ndarray, rng: np.random.Generator, device: torch.device) -> np.ndarray:
    return np.argsort(x.var(axis=0), kind="stable")


BASELINE = Baseline("varsort", _varsort_order)
