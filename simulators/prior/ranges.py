"""Parameter ranges in specs: ``[low, high]`` pairs, validated once and drawn uniformly."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from simulators.core.errors import InputError

Range = tuple[float, float]


def check_range(owner: str, field: str, value: Sequence[float], *, minimum: float | None = None,
                above: float | None = None, maximum: float | None = None, integer: bool = False) -> None:
    """Raise InputError unless ``value`` is ``[low, high]`` with low <= high inside the given bounds.

    ``minimum``/``maximum`` are inclusive bounds, ``above`` an exclusive lower bound.
    """
    where = f"{owner}.{field}"
    if len(value) != 2 or value[0] > value[1]:
        raise InputError(f"{where} must be [low, high] with low <= high, got {list(value)}")
    if integer and any(float(v) != int(v) for v in value):
        raise InputError(f"{where} must hold integers, got {list(value)}")
    if minimum is not None and value[0] < minimum:
        raise InputError(f"{where} must be >= {minimum}, got {list(value)}")
    if above is not None and value[0] <= above:
        raise InputError(f"{where} must be > {above}, got {list(value)}")
    if maximum is not None and value[1] > maximum:
        raise InputError(f"{where} must be <= {maximum}, got {list(value)}")


def draw(value: Range, rng: np.random.Generator, size: int | None = None) -> float | np.ndarray:
    """Uniform draw(s) from ``[low, high]``."""
    return rng.uniform(value[0], value[1], size=size)


def draw_int(value: Range, rng: np.random.Generator) -> int:
    """Uniform integer from ``low..high`` inclusive."""
    return int(rng.integers(int(value[0]), int(value[1]) + 1))


def stochastic_round(x: float, rng: np.random.Generator) -> int:
    """``floor(x)`` or ``ceil(x)`` with probabilities that keep the expectation equal to ``x``."""
    base = int(np.floor(x))
    return base + int(rng.random() < x - base)
