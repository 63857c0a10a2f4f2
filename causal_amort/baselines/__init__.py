"""Classical order-finding baselines, by name: ``BASELINES[name].fit_order(x, rng)``."""
from __future__ import annotations

from causal_amort.baselines import direct_lingam, nogam, r2sort, random_order, score, varsort
from causal_amort.baselines.base import Baseline

BASELINES: dict[str, Baseline] = {
    m.BASELINE.name: m.BASELINE for m in (random_order, varsort, r2sort, direct_lingam, score, nogam)
}

__all__ = ["BASELINES", "Baseline"]
