"""One dataset: samples, the true graph when known, variable names, intervention mask, metadata."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """``x`` (n, d) float32; ``graph[i, j] == 1`` means i -> j (uint8, None when unknown);
    ``mask`` (n, d) bool is True where a value was set by an intervention (None: observational);
    ``meta`` is JSON-ready (how the data were made: families, parameters, seed, sortabilities)."""

    name: str
    x: np.ndarray
    graph: np.ndarray | None
    names: list[str]
    mask: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def d(self) -> int:
        return int(self.x.shape[1])
