"""Mechanism families: how a variable depends on its parents and its noise.

Every family is a ``Mechanism``: ``build(k, rng)`` draws the parameters of one variable with
k >= 1 parents and returns a function ``(parents (n, k) float64, noise (n,)) -> values (n,)``
vectorized over samples. Root variables are their noise; the sampler handles them.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from simulators.core.errors import InputError
from simulators.core.zscore import zscore
from simulators.prior.ranges import Range, check_range, draw, draw_int

MechanismFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Mechanism(ABC):
    """A mechanism family; the subclasses are frozen dataclasses whose fields a spec sets."""

    kind: ClassVar[str]  # the name a spec's ``kind = ...`` selects

    @abstractmethod
    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        """One variable's function of its k >= 1 parents and its noise, parameters drawn from ``rng``."""


def _random_fourier(k: int, length_scale: float, output_scale: float, features: int,
                    rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """A draw from a GP with an RBF kernel (length scale, output scale), approximated by random
    Fourier features (Rahimi & Recht 2007): f(x) = s * sqrt(2/F) * sum_f a_f cos(w_f . x / l + b_f)."""
    omega = (rng.standard_normal((k, features)) / length_scale).astype(np.float32)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=features).astype(np.float32)
    coef = (rng.standard_normal(features) * (output_scale * np.sqrt(2.0 / features))).astype(np.float32)

    def f(parents: np.ndarray) -> np.ndarray:
        # float32 and in place: the (n, features) cosine dominates the cost of a dataset, and float32
        # SIMD cosines are ~20x faster than float64 with ample precision for a random function.
        arg = parents.astype(np.float32) @ omega
        arg += phase
        np.cos(arg, out=arg)
        return (arg @ coef).astype(np.float64)

    return f


def _check_gp(kind: str, length_scale: Range, output_scale: Range, features: int) -> None:
    """The parameters every GP family (random Fourier features) shares."""
    check_range(kind, "length_scale", length_scale, above=0.0)
    check_range(kind, "output_scale", output_scale, minimum=0.0)
    if features < 1:
        raise InputError(f"{kind}.features must be >= 1, got {features}")


@dataclass(frozen=True)
class Linear(Mechanism):
    """x = sum_i w_i * parent_i + noise, |w_i| uniform in ``weights`` with a random sign."""

    kind: ClassVar[str] = "linear"
    weights: Range = (0.5, 2.0)

    def __post_init__(self) -> None:
        check_range(self.kind, "weights", self.weights, minimum=0.0)

    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        w = draw(self.weights, rng, size=k) * np.where(rng.random(k) < 0.5, -1.0, 1.0)
        return lambda parents, noise: parents @ w + noise


@dataclass(frozen=True)
class RandomFourier(Mechanism):
    """Additive noise around a GP draw: x = f(parents) + noise, f from random Fourier features."""

    kind: ClassVar[str] = "rff"
    length_scale: Range = (4.0, 10.0)
    output_scale: Range = (5.0, 15.0)
    features: int = 100

    def __post_init__(self) -> None:
        _check_gp(self.kind, self.length_scale, self.output_scale, self.features)

    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        f = _random_fourier(k, float(draw(self.length_scale, rng)), float(draw(self.output_scale, rng)),
                            self.features, rng)
        return lambda parents, noise: f(parents) + noise


@dataclass(frozen=True)
class Heteroscedastic(Mechanism):
    """x = f(parents) + exp(g(parents)) * noise: the noise scale itself depends on the parents.
    f and g are independent GP draws (random Fourier features); ``noise_spread`` is g's output scale."""

    kind: ClassVar[str] = "heteroscedastic"
    length_scale: Range = (4.0, 10.0)
    output_scale: Range = (5.0, 15.0)
    noise_spread: Range = (0.3, 1.0)
    features: int = 100

    def __post_init__(self) -> None:
        _check_gp(self.kind, self.length_scale, self.output_scale, self.features)
        check_range(self.kind, "noise_spread", self.noise_spread, minimum=0.0)

    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        f = _random_fourier(k, float(draw(self.length_scale, rng)), float(draw(self.output_scale, rng)),
                            self.features, rng)
        g = _random_fourier(k, float(draw(self.length_scale, rng)), float(draw(self.noise_spread, rng)),
                            self.features, rng)
        return lambda parents, noise: f(parents) + np.exp(g(parents)) * noise


def _logistic(z: np.ndarray) -> np.ndarray:
    """The logistic sigmoid, overflow-free."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _soft_clipped(parents: np.ndarray) -> np.ndarray:
    """The parents standardized on the sample and soft-clipped at 3 standard deviations: heavy-tailed
    parents would otherwise give outliers that a power or product down the graph amplifies again."""
    return 3.0 * np.tanh(zscore(parents) / 3.0)


_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": _logistic,
    "sin": np.sin,
}


@dataclass(frozen=True)
class MLP(Mechanism):
    """x = MLP(parents) + noise with one random hidden layer. Parents are standardized on the
    sample first, so that the activation's nonlinearity is used whatever their raw scale."""

    kind: ClassVar[str] = "mlp"
    hidden: Range = (8, 32)
    activations: tuple[str, ...] = ("tanh", "relu")
    input_gain: Range = (1.0, 3.0)
    output_scale: Range = (2.0, 6.0)

    def __post_init__(self) -> None:
        check_range(self.kind, "hidden", self.hidden, minimum=1, integer=True)
        check_range(self.kind, "input_gain", self.input_gain, minimum=0.0)
        check_range(self.kind, "output_scale", self.output_scale, minimum=0.0)
        unknown = [a for a in self.activations if a not in _ACTIVATIONS]
        if not self.activations or unknown:
            raise InputError(f"mlp.activations must be a non-empty subset of {sorted(_ACTIVATIONS)}, "
                             f"got {list(self.activations)}")

    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        hidden = draw_int(self.hidden, rng)
        act = _ACTIVATIONS[self.activations[int(rng.integers(len(self.activations)))]]
        w1 = rng.standard_normal((k, hidden)) * (float(draw(self.input_gain, rng)) / np.sqrt(k))
        b1 = rng.standard_normal(hidden)
        w2 = rng.standard_normal(hidden) * (float(draw(self.output_scale, rng)) / np.sqrt(hidden))

        def fn(parents: np.ndarray, noise: np.ndarray) -> np.ndarray:
            return act(zscore(parents) @ w1 + b1) @ w2 + noise

        return fn


def _normal_moment(p: int) -> float:
    """E[z^p] of a standard normal: 0 for odd p, (p - 1)!! for even p."""
    return 0.0 if p % 2 else float(np.prod(np.arange(p - 1, 0, -2)))


@dataclass(frozen=True)
class Polynomial(Mechanism):
    """x = sum_i p_i(z_i) + noise: an additive model with one random polynomial of degree
    ``degree`` per standardized parent z_i. Quadratic terms make it non-monotone, so the effect
    can be uncorrelated with its cause and linear statistics (R², regression slopes) mislead."""

    kind: ClassVar[str] = "polynomial"
    degree: Range = (2, 3)
    output_scale: Range = (1.0, 4.0)

    def __post_init__(self) -> None:
        check_range(self.kind, "degree", self.degree, minimum=1, integer=True)
        check_range(self.kind, "output_scale", self.output_scale, minimum=0.0)

    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        degree = draw_int(self.degree, rng)
        # Each power gets about equal weight: z^p of a standard normal has standard deviation
        # 1, sqrt(2), sqrt(15), sqrt(96) for p = 1..4, so the coefficients are divided by that.
        powers = np.arange(1, degree + 1)
        spread = np.sqrt(np.array([_normal_moment(2 * p) - _normal_moment(p) ** 2 for p in powers]))
        coef = rng.standard_normal((degree, k)) / spread[:, None]
        scale = float(draw(self.output_scale, rng)) / np.sqrt(k)

        def fn(parents: np.ndarray, noise: np.ndarray) -> np.ndarray:
            z = _soft_clipped(parents)
            terms = sum(coef[p - 1] * z ** p for p in range(1, degree + 1))
            return scale * terms.sum(axis=1) + noise

        return fn


@dataclass(frozen=True)
class AdditiveGP(Mechanism):
    """x = sum_i f_i(z_i) + noise: an additive model with one GP draw (RBF kernel, random Fourier
    features) per standardized parent z_i, the mechanism of the CAM, SCORE and NoGAM benchmarks
    (Buhlmann et al. 2014, Rolland et al. 2022, Montagna et al. 2023). Short length scales give
    functions that wiggle within the parent's range, which few features per variable cannot fit."""

    kind: ClassVar[str] = "additive_gp"
    length_scale: Range = (0.5, 2.0)
    output_scale: Range = (1.0, 4.0)
    features: int = 50

    def __post_init__(self) -> None:
        _check_gp(self.kind, self.length_scale, self.output_scale, self.features)

    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        length_scale = float(draw(self.length_scale, rng))
        # Each of the k terms gets 1/sqrt(k) of the output scale, so the sum has about that scale.
        scale = float(draw(self.output_scale, rng)) / np.sqrt(k)
        terms = [_random_fourier(1, length_scale, scale, self.features, rng) for _ in range(k)]

        def fn(parents: np.ndarray, noise: np.ndarray) -> np.ndarray:
            z = zscore(parents)
            return sum(f(z[:, i : i + 1]) for i, f in enumerate(terms)) + noise

        return fn


@dataclass(frozen=True)
class PostNonlinear(Mechanism):
    """x = g(sum_i w_i z_i + noise): a linear function of the standardized parents plus noise, then
    a random strictly monotone distortion of the whole (the post-nonlinear model, Zhang & Hyvarinen
    2009), g(u) = sign(u) |u / sd(u)|^p with p from ``exponent`` (p < 1 compresses the tails, p > 1
    stretches them). The noise is not additive in x, so additive-noise and score-based leaf tests
    lose their premise while the order stays identifiable."""

    kind: ClassVar[str] = "pnl"
    weights: Range = (0.5, 2.0)
    exponent: Range = (0.3, 3.0)

    def __post_init__(self) -> None:
        check_range(self.kind, "weights", self.weights, minimum=0.0)
        check_range(self.kind, "exponent", self.exponent, above=0.0)

    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        w = draw(self.weights, rng, size=k) * np.where(rng.random(k) < 0.5, -1.0, 1.0) / np.sqrt(k)
        power = float(draw(self.exponent, rng))

        def fn(parents: np.ndarray, noise: np.ndarray) -> np.ndarray:
            inner = zscore(parents) @ w + noise
            scale = max(float(inner.std()), 1e-12)
            return np.sign(inner) * np.abs(inner / scale) ** power

        return fn


@dataclass(frozen=True)
class Interaction(Mechanism):
    """x = sum_i a_i z_i + sum_(i<j) b_ij z_i z_j + noise on the standardized parents: products of
    parents, a non-additive mechanism (with one parent, a quadratic a z + b z^2). ``interaction`` is
    the share of the output scale the products carry."""

    kind: ClassVar[str] = "interaction"
    output_scale: Range = (1.0, 4.0)
    interaction: Range = (0.5, 0.9)

    def __post_init__(self) -> None:
        check_range(self.kind, "output_scale", self.output_scale, minimum=0.0)
        check_range(self.kind, "interaction", self.interaction, minimum=0.0, maximum=1.0)

    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        scale, share = float(draw(self.output_scale, rng)), float(draw(self.interaction, rng))
        rows, cols = np.triu_indices(k, k=1) if k > 1 else (np.zeros(1, dtype=int), np.zeros(1, dtype=int))
        linear = rng.standard_normal(k) * (scale * np.sqrt(1.0 - share**2) / np.sqrt(k))
        products = rng.standard_normal(rows.size) * (scale * share / np.sqrt(rows.size * (2.0 if k == 1 else 1.0)))

        def fn(parents: np.ndarray, noise: np.ndarray) -> np.ndarray:
            z = _soft_clipped(parents)
            return z @ linear + (z[:, rows] * z[:, cols]) @ products + noise

        return fn


@dataclass(frozen=True)
class SoftTrees(Mechanism):
    """x = sum_t tree_t(z) + noise: an ensemble of random soft decision trees on the standardized,
    soft-clipped parents z, the kind of function tree-based tabular priors and gradient-boosted models
    draw. Each internal node splits on a random parent at a threshold drawn from N(0, 0.7^2), with a
    sigmoid of slope ``sharpness`` (per standard deviation); a leaf's value is reached with the
    product of the splits on its path, so the trees are non-additive (products of sigmoids of
    different parents) and vary on short scales where they are sharp."""

    kind: ClassVar[str] = "soft_trees"
    trees: Range = (2, 8)
    depth: Range = (1, 3)
    sharpness: Range = (1.0, 6.0)
    output_scale: Range = (1.0, 4.0)

    def __post_init__(self) -> None:
        check_range(self.kind, "trees", self.trees, minimum=1, integer=True)
        check_range(self.kind, "depth", self.depth, minimum=1, maximum=6, integer=True)
        check_range(self.kind, "sharpness", self.sharpness, above=0.0)
        check_range(self.kind, "output_scale", self.output_scale, minimum=0.0)

    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        count, depth = draw_int(self.trees, rng), draw_int(self.depth, rng)
        nodes = 2**depth - 1  # internal nodes in breadth-first order: node m's children are 2m+1, 2m+2
        split_on = rng.integers(k, size=(count, nodes))
        threshold = rng.normal(0.0, 0.7, size=(count, nodes))
        slope = draw(self.sharpness, rng, size=(count, nodes))
        # Leaf values of unit variance; the ensemble's sum is scaled to about the output scale.
        leaves = rng.standard_normal((count, 2**depth)) * (float(draw(self.output_scale, rng)) / np.sqrt(count))

        def fn(parents: np.ndarray, noise: np.ndarray) -> np.ndarray:
            z = _soft_clipped(parents)
            out = noise.copy()
            for t in range(count):
                # P(going right) at every node, (n, nodes), then the leaves' path products level by level.
                right = _logistic(slope[t] * (z[:, split_on[t]] - threshold[t]))
                reach = np.ones((z.shape[0], 1))
                for level in range(depth):
                    first = 2**level - 1
                    go = right[:, first : first + reach.shape[1]]
                    reach = np.stack([reach * (1.0 - go), reach * go], axis=2).reshape(z.shape[0], -1)
                out += reach @ leaves[t]
            return out

        return fn


@dataclass(frozen=True)
class RBFNetwork(Mechanism):
    """x = s * f(z) / sd(f) + noise, f(z) = sum_c a_c exp(-|z - mu_c|^2 / (2 (w sqrt(k))^2)): a radial basis
    network on the k standardized, soft-clipped parents z, with ``centers`` bumps at mu_c ~ N(0, I) and
    amplitudes a_c ~ N(0, 1). The bumps are narrow (``width`` w per standard deviation, times sqrt(k) so that
    a bump reaches across the parents' joint spread), so f varies on short scales and with the parents
    jointly, not as a sum of one function per parent; its spread over the sample is scaled to
    ``output_scale``."""

    kind: ClassVar[str] = "rbf_net"
    centers: Range = (8, 32)
    width: Range = (0.1, 0.5)
    output_scale: Range = (1.0, 4.0)

    def __post_init__(self) -> None:
        check_range(self.kind, "centers", self.centers, minimum=1, integer=True)
        check_range(self.kind, "width", self.width, above=0.0)
        check_range(self.kind, "output_scale", self.output_scale, minimum=0.0)

    def build(self, k: int, rng: np.random.Generator) -> MechanismFn:
        count = draw_int(self.centers, rng)
        centers = rng.standard_normal((count, k))
        amplitude = rng.standard_normal(count)
        spread = float(draw(self.width, rng)) * np.sqrt(k)
        scale = float(draw(self.output_scale, rng))

        def fn(parents: np.ndarray, noise: np.ndarray) -> np.ndarray:
            z = _soft_clipped(parents)
            squared = (z * z).sum(axis=1)[:, None] - 2.0 * z @ centers.T + (centers * centers).sum(axis=1)[None, :]
            f = np.exp(-np.maximum(squared, 0.0) / (2.0 * spread**2)) @ amplitude
            return scale * f / max(float(f.std()), 1e-12) + noise

        return fn


MECHANISM_FAMILIES: dict[str, type[Mechanism]] = {
    cls.kind: cls for cls in (Linear, RandomFourier, Heteroscedastic, MLP, Polynomial, AdditiveGP,
                                  PostNonlinear, Interaction, SoftTrees, RBFNetwork)}
