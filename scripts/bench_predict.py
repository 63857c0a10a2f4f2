"""Benchmark `amort predict` end to end against what pandas needs just to parse the same file.

Writes CSV files of a random linear SCM into a temporary folder (10^6 x 20 and 2000 x 500 by
default), then times, one after the other in one run:
  - `pandas.read_csv` of the file (the floor: parsing alone, pandas already imported) as pandas
    runs it by default, and on one thread (`mode.max_threads = 1`): pandas 3.1 parses a large
    local file on up to min(CPUs, 6) threads, so on two CPUs its default floor is about half the
    one-thread parse, while `amort predict` parses on one CPU and sums on the other,
  - the library's `predict_csv` on the loaded model (what predict does after start-up), torch on one
    thread: parsing, then the model, in turn ("library"), and with the parser blocks ahead in a
    second thread ("ahead"),
  - `amort predict FILE --model M --threads 2` as a user runs it on two CPUs (a fresh process:
    imports and model loading count; one CPU parses ahead, torch has the other).
Each is timed ``--repeats`` times and the fastest kept (on a shared VM the parse alone varies by
2x from run to run, so a ratio of single runs says more about the noise than about predict).
Targets (issue 10): predict costs at most 3x the parse on 10^6 x 20; 2000 x 500 is ordered in <= 60 s.

    .venv/bin/python scripts/bench_predict.py                      # the shipped default model
    .venv/bin/python scripts/bench_predict.py --model runs/x --sizes 100000x20
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from causal_amort.inference.api import load_model
from causal_amort.inference.predict import predict_csv
from causal_amort.runtime.threads import apply_threads


def write_csv(path: Path, n: int, d: int, seed: int = 0) -> None:
    """Rows of a sparse linear SCM with uniform noise, written in blocks (never all in memory)."""
    rng = np.random.default_rng(seed)
    weights = np.triu(rng.uniform(0.5, 1.5, (d, d)) * (rng.random((d, d)) < min(0.3, 3.0 / d)), k=1)
    mixing = np.linalg.inv(np.eye(d) - weights)
    with path.open("w") as f:
        f.write(",".join(f"X{i}" for i in range(d)) + "\n")
        for start in range(0, n, 100_000):
            block = rng.uniform(-1, 1, (min(100_000, n - start), d)) @ mixing
            np.savetxt(f, block, delimiter=",", fmt="%.6g")


def fastest(run: Callable[[], object], repeats: int) -> float:
    """The least wall-clock seconds of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def one_thread_parse() -> contextlib.AbstractContextManager:
    """A context in which `pandas.read_csv` parses on one thread (a no-op for a pandas whose parser
    has no threads: no ``mode.max_threads`` option)."""
    try:
        pd.get_option("mode.max_threads")
    except pd.errors.OptionError:
        return contextlib.nullcontext()
    return pd.option_context("mode.max_threads", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--sizes", nargs="+", default=["1000000x20", "2000x500"], help="NxD")
    parser.add_argument("--repeats", type=int, default=3, help="timings of each; the fastest is kept")
    args = parser.parse_args()
    apply_threads(1)  # this process, and through the environment the `amort predict` children
    model = load_model(args.model, device="cpu")
    print(f"amort predict vs pandas.read_csv, model={args.model}, torch on one thread, fastest of {args.repeats}; "
          f"pandas {pd.__version__}, {len(os.sched_getaffinity(0))} CPUs")
    print("ratio: to pandas' default parse, [to its one-thread parse]")
    print(f"{'n x d':>12} {'MB':>7} {'parse s':>8} {'1-thr s':>8} {'library s':>10} {'ratio':>13} {'ahead s':>8} "
          f"{'ratio':>13} {'CLI s':>7} {'ratio':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            n, d = (int(v) for v in size.lower().split("x"))
            path = Path(tmp) / f"bench-{n}x{d}.csv"
            write_csv(path, n, d)
            parse = fastest(lambda: pd.read_csv(path, dtype=np.float32, engine="c"), args.repeats)
            with one_thread_parse():
                parse_one = fastest(lambda: pd.read_csv(path, dtype=np.float32, engine="c"), args.repeats)
            library = fastest(lambda: predict_csv(path, model), args.repeats)
            ahead = fastest(lambda: predict_csv(path, model, read_ahead_blocks=2), args.repeats)
            command = [sys.executable, "-m", "cli", "predict", str(path), "--model", args.model, "--threads", "2"]
            predict = fastest(lambda: subprocess.run(command, check=True, capture_output=True,
                                                     cwd=Path(__file__).resolve().parents[1]), args.repeats)

            def ratios(seconds: float) -> str:
                return f"{seconds / parse:>5.2f} [{seconds / parse_one:>4.2f}]"

            print(f"{size:>12} {path.stat().st_size / 1e6:>7.1f} {parse:>8.2f} {parse_one:>8.2f} {library:>10.2f} "
                  f"{ratios(library):>13} {ahead:>8.2f} {ratios(ahead):>13} {predict:>7.2f} {ratios(predict):>13}",
                  flush=True)


if __name__ == "__main__":
    main()
