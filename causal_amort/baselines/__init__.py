"""Classical order-finding baselines, by name: ``BASELINES[name].fit_order(x, rng)``.

The registry is built on first use (a module ``__getattr__``, PEP 562): importing the package or
`FAST_BASELINES` loads no baseline and so not torch, which keeps `amort --help` and `amort simulate`
from spending a second importing it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from causal_amort.baselines.base import Baseline

# Cheap enough to run on every dataset by default (`amort eval --baselines`).
FAST_BASELINES = ("random", "varsort", "r2sort")


def __getattr__(name: str) -> Any:
    if name == "Baseline":
        from causal_amort.baselines.base import Baseline
        return Baseline
    if name != "BASELINES":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from causal_amort.baselines import direct_lingam, intsort, nogam, r2sort, random_order, score, varsort
    registry: dict[str, Baseline] = {
        m.BASELINE.name: m.BASELINE for m in (random_order, varsort, r2sort, direct_lingam, score, nogam, intsort)
    }
    globals()["BASELINES"] = registry  # later lookups find it without this function
    return registry


__all__ = ["BASELINES", "Baseline", "FAST_BASELINES"]
