"""Simulation throughput: datasets per second per mechanism family, per size, per worker count.

    .venv/bin/python scripts/bench_simulate.py [--seconds 5] [--workers 1,2]

Each cell runs ``sample_dataset`` (graph, noise, mechanisms, standardization and both
sortabilities, as the training loop calls it) on the graphs and noise of the ``train`` preset with a
single mechanism family; heteroscedastic comes from ``test-mechanism``. BLAS is pinned to one
thread per process so that worker counts compare cores, not thread pools.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import multiprocessing  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

from simulators.prior.sample import sample_dataset  # noqa: E402
from simulators.prior.spec import Spec, load_spec  # noqa: E402

SIZES = ((20, 1000), (100, 10000))


def specs() -> dict[str, Spec]:
    """One spec per mechanism family: train's graphs and noise, that family alone, no mixing."""
    train = load_spec("train")
    families = {entry.family.kind: entry for entry in train.mechanisms}
    families["heteroscedastic"] = next(e for e in load_spec("test-mechanism").mechanisms
                                       if e.family.kind == "heteroscedastic")
    return {kind: dataclasses.replace(train, mechanisms=(entry,), mix_prob=0.0) for kind, entry in families.items()}


def _batch(spec: Spec, d: int, n: int, seed: int, count: int) -> int:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        sample_dataset(spec, d, n, rng)
    return count


def rate(spec: Spec, d: int, n: int, workers: int, seconds: float, pool: ProcessPoolExecutor | None) -> float:
    """Datasets per second over about ``seconds`` (after one warm-up dataset per worker)."""
    single = time.perf_counter()
    _batch(spec, d, n, 0, 1)
    per_dataset = time.perf_counter() - single
    count = max(1, int(seconds / per_dataset / 2))  # per task; two rounds of tasks per worker
    if pool is None:
        start = time.perf_counter()
        done = _batch(spec, d, n, 1, count)
        return done / (time.perf_counter() - start)
    list(pool.map(_batch, [spec] * workers, [d] * workers, [n] * workers, range(workers), [1] * workers))
    start = time.perf_counter()
    done = sum(pool.map(_batch, [spec] * (2 * workers), [d] * (2 * workers), [n] * (2 * workers),
                        range(2 * workers), [count // 2 + 1] * (2 * workers)))
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per cell")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    print(f"{'mechanism':<16} {'d':>4} {'n':>6} " + " ".join(f"{f'{w} worker(s)':>12}" for w in worker_counts)
          + "   datasets/s")
    pools = {w: ProcessPoolExecutor(w, mp_context=multiprocessing.get_context("spawn")) for w in worker_counts if w > 1}
    try:
        for kind, spec in specs().items():
            for d, n in SIZES:
                rates = [rate(spec, d, n, w, args.seconds, pools.get(w)) for w in worker_counts]
                print(f"{kind:<16} {d:>4} {n:>6} " + " ".join(f"{r:>12.1f}" for r in rates), flush=True)
    finally:
        for pool in pools.values():
            pool.shutdown()


if __name__ == "__main__":
    main()
