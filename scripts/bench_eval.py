"""Seconds per dataset per method, side by side in one run, and the model-vs-SCORE ratio.

    python scripts/bench_eval.py                      # d in {10, 30, 100}, n in {1e3, 1e4}
    python scripts/bench_eval.py --d 30 --n 1000      # one cell
    python scripts/bench_eval.py --million            # also stream n = 10^6 rows through the model

The model's time is streaming inference (every chunk read, the order decoded once at the
end), with its weights as shipped (`--model default`, or random tiny weights if none are
shipped yet: timing does not depend on the weights). Baselines that would take longer than
`--limit` seconds (estimated from a smaller n) are skipped and printed as such.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from causal_amort.baselines import BASELINES
from causal_amort.measure import TimeLimitExceeded, measured
from causal_amort.stream import chunk_array, stream_orders
from simulators.sample import sample_dataset
from simulators.spec import load_spec


def _load_model():
    from causal_amort.checkpoint import load_model
    from causal_amort.config import load_config
    from causal_amort.model import OrderModel
    from simulators.errors import InputError

    try:
        model, cfg = load_model("default", "cpu")
        return model, cfg.data.chunk_size, "default"
    except InputError:
        cfg = load_config("tiny")
        torch.manual_seed(0)
        return OrderModel(cfg.model), cfg.data.chunk_size, "tiny (random weights)"


def _model_seconds(model, chunks, chunk_size: int) -> float:
    _, cost = measured(lambda: list(stream_orders(model, chunks, device="cpu", decode_at=lambda k: False)))
    return cost.seconds


def _model_gflop(model, chunks) -> float:
    """Floating-point work of one streaming run (matmuls and attention, as torch counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.requires_grad_(False)  # the counter's module hooks trip over no_grad views of parameters
    with FlopCounterMode(display=False) as counter:
        list(stream_orders(model, chunks, device="cpu", decode_at=lambda k: False))
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--baselines", nargs="+", default=["random", "varsort", "r2sort", "lingam", "score", "nogam"])
    parser.add_argument("--limit", type=float, default=120.0, help="skip a run estimated to take longer (seconds)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--million", action="store_true", help="also stream 10^6 rows (d=20) through the model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, chunk_size, model_name = _load_model()
    spec = load_spec("test-in")
    print(f"model: {model_name}, chunk {chunk_size} rows; torch threads {args.threads}")
    print(f"{'d':>4} {'n':>6} {'method':>8} {'seconds':>10}")
    seconds: dict[tuple[int, int, str], float] = {}
    for d in args.d:
        for n in sorted(args.n):
            data = sample_dataset(spec, d, n, np.random.default_rng([d, n]))
            _model_seconds(model, chunk_array(data.x[:chunk_size], chunk_size), chunk_size)  # warm-up
            seconds[d, n, "amort"] = _model_seconds(model, chunk_array(data.x, chunk_size), chunk_size)
            print(f"{d:>4} {n:>6} {'amort':>8} {seconds[d, n, 'amort']:>10.4f}", flush=True)
            for name in args.baselines:
                smaller = [m for m in args.n if m < n and (d, m, name) in seconds]
                # SCORE / NoGAM kernels grow as n^2 (or worse), LiNGAM about linearly.
                power = 2.0 if name in ("score", "nogam") else 1.0
                if smaller and seconds[d, smaller[-1], name] * (n / smaller[-1]) ** power > args.limit:
                    estimate = seconds[d, smaller[-1], name] * (n / smaller[-1]) ** power
                    print(f"{d:>4} {n:>6} {name:>8} {'skipped':>10}  (estimated {estimate:.0f} s > --limit)")
                    continue
                rng = np.random.default_rng(0)
                try:
                    _, cost = measured(lambda: BASELINES[name].fit_order(data.x, rng), time_limit_s=args.limit)
                except TimeLimitExceeded:
                    print(f"{d:>4} {n:>6} {name:>8} {'timeout':>10}  (> {args.limit:g} s)")
                    seconds[d, n, name] = float("inf")  # larger n is then skipped, not rerun
                    continue
                seconds[d, n, name] = cost.seconds
                print(f"{d:>4} {n:>6} {name:>8} {cost.seconds:>10.4f}", flush=True)
    print("\nratios (baseline seconds / model seconds, same run):")
    for (d, n, name), value in seconds.items():
        if name in ("score", "nogam", "lingam") and value < float("inf"):
            print(f"  d={d:<4} n={n:<6} {name:>7} / amort = {value / seconds[d, n, 'amort']:8.1f}x")
    # Why the model's time is what it is: its work is linear in the number of cells (n * d), and
    # a 100x margin over SCORE needs that work done at the rate printed in the last column.
    print("\nmodel work (torch FlopCounterMode): GFLOP per dataset, achieved GFLOP/s, rate a 100x SCORE margin needs:")
    for d in args.d:
        for n in sorted(args.n):
            data = sample_dataset(spec, d, n, np.random.default_rng([d, n]))
            gflop = _model_gflop(model, chunk_array(data.x, chunk_size))
            rate = gflop / seconds[d, n, "amort"]
            score = seconds.get((d, n, "score"), float("inf"))
            needed = f"{gflop / (score / 100):8.0f}" if score < float("inf") else "       -"
            print(f"  d={d:<4} n={n:<6} {gflop:8.2f} GFLOP {rate:7.1f} GFLOP/s  needs {needed} GFLOP/s")
    if args.million:
        d, n = 20, 10**6
        rng = np.random.default_rng(0)

        def lazy_chunks():  # never holds more than one chunk of the 10^6 rows
            for _ in range(n // chunk_size):
                yield rng.normal(size=(chunk_size, d)).astype(np.float32)

        _, cost = measured(lambda: list(stream_orders(model, lazy_chunks(), device="cpu", decode_at=lambda k: False)))
        print(f"\nmodel, d={d}, n=10^6 streamed: {cost.seconds:.1f} s, peak memory +{cost.peak_mb:.1f} MiB "
              f"(SCORE would need an n x n kernel: {n * n * 4 / 2**40:.1f} TiB)")


if __name__ == "__main__":
    main()
