"""Random baseline: a uniformly random order, the chance level of every metric."""
from __future__ import annotations

import numpy as np
import torch

from causal_amort.baselines.base import Baseline


def _random_order(x: np.ndarray, rng: np.random.Generator, device: torch.device) -> np.ndarray:
    return rng.permutation(x.shape[1])


# No screening: chance level must not depend on which columns look degenerate.
BASELINE = Baseline("random", _random_order, screen=False, reads_data=False)
