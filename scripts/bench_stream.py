"""Benchmark streaming inference: time and peak memory against the number of rows n.

Each n runs in a fresh subprocess, so the peak resident set (ru_maxrss) of one run cannot
hide behind another's. Chunks of a random linear SCM are generated lazily, so the data
never sit in memory: any growth in the peak is the model's. Expect time linear in n and
a flat memory delta.

    .venv/bin/python scripts/bench_stream.py                  # n = 1e3 .. 1e6, d = 20, the shipped default
    .venv/bin/python scripts/bench_stream.py --config default-cpu   # a fresh network of that config instead
    .venv/bin/python scripts/bench_stream.py --max-n 100000   # quicker
    .venv/bin/python scripts/bench_stream.py --decode every   # an order after every chunk (curves)
    .venv/bin/python scripts/bench_stream.py --widths 500 1000 1500 2000   # n = 2000 rows at each d,
                                # time and peak memory beside what causal_amort.model.cost estimates

The model is the shipped default's (`--model`: a checkpoint, a run folder or "default"; timing does not
depend on the weights, but what the network reads does, e.g. its row sample and the LiNGAM gate), or with
`--config` a network of that config with random weights. By default the order is decoded once, after the
last chunk, as `amort predict` does. With
`--widths` each run warms up at d = 20, so its peak counts everything the model holds at that d.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from causal_amort.config import RunConfig, load_config  # noqa: E402
from causal_amort.model.checkpoint import load_model  # noqa: E402
from causal_amort.model.order_model import OrderModel  # noqa: E402
from causal_amort.inference.stream import stream_orders  # noqa: E402
from causal_amort.runtime.threads import apply_threads  # noqa: E402


def lazy_chunks(n: int, d: int, chunk_size: int, seed: int) -> Iterator[np.ndarray]:
    """Rows of one linear SCM with uniform noise, `chunk_size` at a time, never all at once."""
    rng = np.random.default_rng(seed)
    weights = np.triu(rng.uniform(0.5, 1.5, (d, d)) * (rng.random((d, d)) < min(0.3, 6.0 / d)), k=1)  # sparser at large d: finite values
    mixing = np.linalg.inv(np.eye(d) - weights)  # x = e (I - W)^-1 for row vectors
    for start in range(0, n, chunk_size):
        rows = min(chunk_size, n - start)
        yield (rng.uniform(-1.0, 1.0, (rows, d)) @ mixing).astype(np.float32)


def peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(model: str, config: str) -> tuple[OrderModel, RunConfig]:
    """The network timed and its run config: ``config``'s with random weights when set, else ``model``'s."""
    if config:
        torch.manual_seed(0)
        cfg = load_config(config)
        return OrderModel(cfg.model), cfg
    return load_model(model)


def worker(n: int, d: int, model_name: str, config: str, chunk_size: int, device: str, beam: int, every: bool,
           warm_d: int) -> dict:
    """Stream n rows once; one warm-up chunk of ``warm_d`` variables first so one-off allocations count
    as baseline."""
    apply_threads(1)  # torch, BLAS and OpenMP together, as the CLI does
    model = timed(model_name, config)[0].to(device)
    for _ in stream_orders(model, lazy_chunks(chunk_size, warm_d, chunk_size, seed=1), device=device, beam=beam):
        pass
    base = peak_rss_mib()
    start = time.perf_counter()
    steps = 0
    decode_at = None if every else (lambda k: False)
    for step in stream_orders(model, lazy_chunks(n, d, chunk_size, seed=2), device=device, beam=beam,
                              decode_at=decode_at):
        steps += 1
    seconds = time.perf_counter() - start
    assert step.n_seen == n
    return {"n": n, "chunks": -(-n // chunk_size), "decodes": steps, "seconds": seconds, "rss_base_mib": base, "rss_peak_mib": peak_rss_mib()}


def run_worker(args: argparse.Namespace, n: int, d: int, chunk_size: int, warm_d: int = 0) -> dict:
    """`worker` in a fresh interpreter (its own peak resident set)."""
    cmd = [sys.executable, __file__, "--worker", str(n), "--d", str(d), "--model", args.model, "--config", args.config,
           "--chunk-size", str(chunk_size), "--device", args.device, "--beam", str(args.beam),
           "--decode", args.decode, "--warm-d", str(warm_d)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def bench_widths(args: argparse.Namespace, chunk_size: int) -> None:
    """Seconds and peak memory of one stream of ``--width-n`` rows at each d, and the cost model's."""
    from causal_amort.model.cost import model_cost

    cfg = timed(args.model, args.config)[1].model
    print(f"streaming inference at width d: {timed_name(args)} n={args.width_n} chunk_size={chunk_size} "
          f"device={args.device} beam={args.beam} torch threads=1; estimate = causal_amort.model.cost")
    print(f"{'d':>6} {'seconds':>9} {'estimate s':>11} {'ratio':>6} {'peak MiB':>9} {'estimate MiB':>13} {'ratio':>6}")
    for d in args.widths:
        r = run_worker(args, args.width_n, d, chunk_size, warm_d=20)
        decodes = -(-args.width_n // chunk_size) if args.decode == "every" else 1
        seconds, peak = model_cost(cfg, d, args.width_n, decodes, args.beam)
        used = r["rss_peak_mib"] - r["rss_base_mib"]
        print(f"{d:>6} {r['seconds']:>9.3f} {seconds:>11.3f} {r['seconds'] / seconds:>6.2f} {used:>9.0f} "
              f"{peak / 2**20:>13.0f} {used / (peak / 2**20):>6.2f}", flush=True)


def timed_name(args: argparse.Namespace) -> str:
    return f"config={args.config} (random weights)" if args.config else f"model={args.model}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--model", default="default", help="checkpoint, run folder or 'default' (its config and weights)")
    parser.add_argument("--config", default="", help="time a fresh network of this config (random weights) instead")
    parser.add_argument("--decode", choices=("last", "every"), default="last",
                        help="decode the order after the last chunk only (as predict) or after every chunk")
    parser.add_argument("--chunk-size", type=int, default=0, help="rows per chunk; 0 = the config's data.chunk_size")
    parser.add_argument("--max-n", type=int, default=1_000_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--widths", type=int, nargs="*", default=[],
                        help="instead of n = 1e3..1e6: --width-n rows at each of these d")
    parser.add_argument("--width-n", type=int, default=2000)
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--warm-d", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    chunk_size = args.chunk_size or timed(args.model, args.config)[1].data.chunk_size
    if args.worker:
        print(json.dumps(worker(args.worker, args.d, args.model, args.config, chunk_size, args.device, args.beam,
                                args.decode == "every", args.warm_d or args.d)))
        return
    if args.widths:
        bench_widths(args, chunk_size)
        return

    ns = [n for n in (10**3, 10**4, 10**5, 10**6) if n <= args.max_n]
    print(f"streaming inference: {timed_name(args)} d={args.d} chunk_size={chunk_size} "
          f"device={args.device} beam={args.beam} decode={args.decode} torch threads=1")
    print(f"{'n':>9} {'chunks':>7} {'seconds':>9} {'ms/chunk':>9} {'t ratio':>8} {'n ratio':>8} "
          f"{'rss base MiB':>13} {'rss peak MiB':>13} {'delta MiB':>10}")
    first = None
    for n in ns:
        r = run_worker(args, n, args.d, chunk_size)
        first = first or r
        print(f"{n:>9} {r['chunks']:>7} {r['seconds']:>9.2f} {1000 * r['seconds'] / r['chunks']:>9.2f} "
              f"{r['seconds'] / first['seconds']:>8.1f} {n / first['n']:>8.0f} "
              f"{r['rss_base_mib']:>13.1f} {r['rss_peak_mib']:>13.1f} {r['rss_peak_mib'] - r['rss_base_mib']:>10.2f}",
              flush=True)


if __name__ == "__main__":
    main()
