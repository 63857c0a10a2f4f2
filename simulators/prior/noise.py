"""Noise families. Each draws an (n, d) matrix of independent, zero-centred noise with unit
variance, times a per-variable scale drawn uniformly from ``scale``."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simulators.core.errors import InputError
from simulators.prior.ranges import Range, check_range, draw, draw_int

_EULER_GAMMA = 0.5772156649015329


@dataclass(frozen=True)
class NoiseFamily(ABC):
    """A noise family: ``sample`` draws per-variable scales, each family its unit-variance shape (``_unit``; a
    family with no variance, `HeavyT`, its unit-scale shape)."""

    kind: ClassVar[str]  # the name a spec's ``kind = ...`` selects
    scale: Range = (0.2, 2.0)

    def __post_init__(self) -> None:
        check_range(self.kind, "scale", self.scale, above=0.0)

    def sample(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        """(n, d) float64 noise, column j with standard deviation equal to its drawn scale (for `HeavyT`, the
        t's scale parameter)."""
        scales = draw(self.scale, rng, size=d)
        return self._unit(n, d, rng) * scales

    @abstractmethod
    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        """(n, d) independent draws, each column with mean 0 and variance 1 (`HeavyT`: symmetric about 0, unit scale)."""


@dataclass(frozen=True)
class Gaussian(NoiseFamily):
    kind: ClassVar[str] = "gaussian"

    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, d))


@dataclass(frozen=True)
class Laplace(NoiseFamily):
    """Excess kurtosis 3."""

    kind: ClassVar[str] = "laplace"

    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        return rng.laplace(0.0, 1.0 / np.sqrt(2.0), size=(n, d))


@dataclass(frozen=True)
class Uniform(NoiseFamily):
    """Excess kurtosis -1.2 (light tails)."""

    kind: ClassVar[str] = "uniform"

    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size=(n, d))


@dataclass(frozen=True)
class Gumbel(NoiseFamily):
    """Skewed (skewness ~1.14); the direction of the skew is random per variable."""

    kind: ClassVar[str] = "gumbel"

    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        unit = (rng.gumbel(size=(n, d)) - _EULER_GAMMA) / (np.pi / np.sqrt(6.0))
        return unit * np.where(rng.random(d) < 0.5, -1.0, 1.0)


@dataclass(frozen=True)
class StudentT(NoiseFamily):
    """Heavy tails: Student-t with degrees of freedom drawn per variable from ``df`` (> 2, so the
    variance exists and the scale keeps its meaning)."""

    kind: ClassVar[str] = "student_t"
    df: Range = (2.5, 5.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.kind, "df", self.df, above=2.0)

    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        df = draw(self.df, rng, size=d)
        return rng.standard_t(df, size=(n, d)) * np.sqrt((df - 2.0) / df)


@dataclass(frozen=True)
class HeavyT(NoiseFamily):
    """Tails too heavy for a variance: Student-t with degrees of freedom drawn per variable from ``df`` in
    (0, 2] (Cauchy at 1). With no variance to scale to 1, each column is the t at unit scale, its
    interquartile range between 2 (Cauchy) and 1.6 (df = 2) times the spec's ``scale``."""

    kind: ClassVar[str] = "heavy_t"
    df: Range = (1.0, 2.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.kind, "df", self.df, above=0.0, maximum=2.0)  # with a variance: student_t

    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_t(draw(self.df, rng, size=d), size=(n, d))


@dataclass(frozen=True)
class Mixture(NoiseFamily):
    """Multimodal: a mixture of ``components`` unit-spread Gaussians per variable, with Dirichlet(1)
    weights and adjacent means ``separation`` apart (two modes show from a separation of about 2 on), standardized with the mixture's
    exact mean and variance (not the sample's), so every draw is from one fixed distribution."""

    kind: ClassVar[str] = "mixture"
    components: Range = (2, 3)
    separation: Range = (1.5, 4.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.kind, "components", self.components, minimum=1, integer=True)
        check_range(self.kind, "separation", self.separation, minimum=0.0)

    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((n, d))
        for j in range(d):
            k = draw_int(self.components, rng)
            weights = rng.dirichlet(np.ones(k))
            means = np.arange(k) * draw(self.separation, rng)
            mean = weights @ means
            std = np.sqrt(weights @ (1.0 + means ** 2) - mean ** 2)
            out[:, j] = (means[rng.choice(k, size=n, p=weights)] + rng.standard_normal(n) - mean) / std
        return out


@dataclass(frozen=True)
class Power(NoiseFamily):
    """sign(z) |z|^p of a standard normal z, with p drawn per variable from ``exponent``: light,
    flat-topped tails below 1, heavy peaked ones above (p = 2 gives excess kurtosis ~8.7)."""

    kind: ClassVar[str] = "power"
    exponent: Range = (0.5, 2.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.kind, "exponent", self.exponent, above=0.0)
        if self.exponent[1] > 8.0:
            raise InputError(f"power.exponent must be <= 8 (float64 moments), got {list(self.exponent)}")

    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        from scipy.special import gammaln  # scipy where used: it would cost every CLI start-up

        p = draw(self.exponent, rng, size=d)
        z = rng.standard_normal((n, d))
        # E|z|^(2p) = 2^p Gamma(p + 1/2) / sqrt(pi): the exact variance, so the unit shape is exact.
        variance = np.exp(p * np.log(2.0) + gammaln(p + 0.5) - 0.5 * np.log(np.pi))
        return np.sign(z) * np.abs(z) ** p / np.sqrt(variance)


@dataclass(frozen=True)
class Gamma(NoiseFamily):
    """Skewed with a tunable skew: a standardized Gamma(shape) with shape drawn per variable from
    ``shape`` (skewness 2 / sqrt(shape): 2 at shape 1, 0.63 at 10) and a random direction of skew."""

    kind: ClassVar[str] = "gamma"
    shape: Range = (1.0, 10.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.kind, "shape", self.shape, above=0.0)

    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        shape = draw(self.shape, rng, size=d)
        unit = (rng.gamma(shape, size=(n, d)) - shape) / np.sqrt(shape)
        return unit * np.where(rng.random(d) < 0.5, -1.0, 1.0)


@dataclass(frozen=True)
class LogNormal(NoiseFamily):
    """Skewed with a heavy one-sided tail: a standardized exp(sigma Z), sigma drawn per variable from
    ``sigma`` (skewness 1.8 at sigma 0.5, 6.2 at 1), with the exact mean and variance, and a random
    direction of skew."""

    kind: ClassVar[str] = "lognormal"
    sigma: Range = (0.3, 1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self.kind, "sigma", self.sigma, above=0.0)

    def _unit(self, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
        sigma = draw(self.sigma, rng, size=d)
        mean, var = np.exp(sigma**2 / 2), np.expm1(sigma**2) * np.exp(sigma**2)
        unit = (np.exp(sigma * rng.standard_normal((n, d))) - mean) / np.sqrt(var)
        return unit * np.where(rng.random(d) < 0.5, -1.0, 1.0)


NOISE_FAMILIES: dict[str, type[NoiseFamily]] = {
    cls.kind: cls for cls in (Gaussian, Laplace, Uniform, Gumbel, StudentT, HeavyT, Mixture, Power, Gamma, LogNormal)}
