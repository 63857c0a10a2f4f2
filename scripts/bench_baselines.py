"""Benchmark the classical baselines and the pruning step: seconds per dataset.

Grid d in {10, 30} x n in {1000, 10000} on one nonlinear additive-noise SCM per d (raw
scale, Gaussian noise, columns shuffled). A combination whose time, extrapolated from a
smaller measured one by the method's cost exponents, exceeds --limit seconds is skipped and
printed as such. frac_reversed is shown only as a sanity check, not as a comparison.

    .venv/bin/python scripts/bench_baselines.py                       # CPU, one thread
    .venv/bin/python scripts/bench_baselines.py --device cuda --limit 120
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# One BLAS thread unless asked otherwise: numpy reads these at import time.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from causal_amort.baselines import BASELINES  # noqa: E402
from causal_amort.evaluation.metrics import frac_reversed  # noqa: E402
from causal_amort.inference.pruning import prune_order  # noqa: E402

# Cost ~ n^a * d^b: the Stein/kernel methods solve n x n systems once per removed leaf
# (NoGAM once per remaining variable), DirectLiNGAM compares all pairs at every step.
COST_EXPONENTS = {"score": (3, 1), "nogam": (3, 2), "lingam": (1, 3)}
DEFAULT_EXPONENTS = (1, 2)
MECHANISMS = (np.sin, np.tanh, lambda v: 0.5 * v**2, lambda v: np.cos(1.5 * v))


def anm_data(d: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonlinear Gaussian ANM on a random DAG with ~2 parents per node; (x float32, graph, true order)."""
    rng = np.random.default_rng(seed)
    g = np.triu(rng.random((d, d)) < min(1.0, 4.0 / (d - 1)), 1).astype(np.uint8)
    x = np.zeros((n, d))
    for j in range(d):
        x[:, j] = 0.5 * rng.normal(size=n) + sum(
            MECHANISMS[(i + j) % 4](x[:, i]) * rng.uniform(1, 2) for i in np.flatnonzero(g[:, j]))
    perm = rng.permutation(d)
    return x[:, perm].astype(np.float32), g[np.ix_(perm, perm)], np.argsort(perm)


def estimate(name: str, d: int, n: int, measured: dict[tuple[str, int, int], float]) -> float | None:
    """Seconds extrapolated from the largest measured smaller combination, or None."""
    a, b = COST_EXPONENTS.get(name, DEFAULT_EXPONENTS)
    known = [(dd, nn, t) for (m, dd, nn), t in measured.items() if m == name and dd <= d and nn <= n]
    if not known:
        return None
    dd, nn, t = max(known, key=lambda k: (k[1], k[0]))
    return t * (n / nn) ** a * (d / dd) ** b


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--limit", type=float, default=60.0, help="skip combinations estimated above this (s)")
    parser.add_argument("--d", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--baselines", nargs="+", default=list(BASELINES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"device={args.device} torch_threads={args.threads} blas_threads={os.environ['OMP_NUM_THREADS']} "
          f"torch={torch.__version__}")
    print(f"{'method':<12} {'d':>3} {'n':>6} {'seconds':>9}  note")
    measured: dict[tuple[str, int, int], float] = {}
    for d in sorted(args.d):
        for n in sorted(args.n):
            x, g, truth = anm_data(d, n, seed=d)
            for name in args.baselines:
                est = estimate(name, d, n, measured)
                if est is not None and est > args.limit:
                    print(f"{name:<12} {d:>3} {n:>6} {'-':>9}  skipped: estimated {est:.0f} s > {args.limit:.0f} s",
                          flush=True)
                    continue
                order, sec = timed(lambda: BASELINES[name].fit_order(x, np.random.default_rng(0), device=args.device))
                measured[(name, d, n)] = sec
                print(f"{name:<12} {d:>3} {n:>6} {sec:>9.3f}  frac_reversed={frac_reversed(order, g):.2f}",
                      flush=True)
            for method in ("lasso", "cam"):
                _, sec = timed(lambda: prune_order(x, truth, method=method))
                print(f"{'prune:' + method:<12} {d:>3} {n:>6} {sec:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
