"""Seconds per dataset per method, side by side in one run, and the model-vs-SCORE ratio.

    python scripts/bench_eval.py                      # d in {10, 30, 100}, n in {1e3, 1e4}
    python scripts/bench_eval.py --d 30 --n 1000      # one cell
    python scripts/bench_eval.py --d 30 --n 1000 --baselines score --processes 5
                                                      # the same timing in 5 fresh processes, and the
                                                      # median of their ratios (the spread of the ratio
                                                      # is mostly between processes)
    python scripts/bench_eval.py --d 30 --n 1000 --baselines score --processes 10 --against /tmp/wt-old
                                                      # alternate with another checkout's processes (git
                                                      # worktree add /tmp/wt-old COMMIT): a change measured
                                                      # against the code before it, medians side by side
    python scripts/bench_eval.py --d 30 --n 1000 --baselines score --allocator tuned
                                                      # glibc's malloc thresholds raised (see below)
    python scripts/bench_eval.py --d 30 --n 1000 --baselines score --batch 16
                                                      # also the model on 16 datasets read as one batch
                                                      # (AmortModel.order_many), per dataset
    python scripts/bench_eval.py --d 30 --n 1000 --baselines score --suite notears-linear-exp-SF2
                                                      # SCMs from another preset or simulator's suite: on
                                                      # this linear non-Gaussian one the model also runs
                                                      # DirectLiNGAM's search (test-in's stays shut)
    python scripts/bench_eval.py --million            # also stream n = 10^6 rows through the model
    python scripts/bench_eval.py --overhead --baselines random varsort r2sort lingam score   # harness cost
    python scripts/bench_eval.py --decode             # only: one greedy decode at d = 20, 100, 500,
                                                      # uncached vs cached (--decode 50 1000: other d)

The model's time is streaming inference (every chunk read, the order decoded once at the
end), with its weights as shipped (`--model default`, or random tiny weights if none are
shipped yet: timing does not depend on the weights). Baselines that would take longer than
`--limit` seconds (estimated from a smaller n) are skipped and printed as such.

`--allocator tuned` raises glibc's mmap and trim thresholds (`TUNED_MALLOC`) before anything is
timed. By default glibc hands a large request fresh pages from the kernel and gives the free top
of its heap back, so code that allocates and frees large temporaries in a loop (SCORE's and
NoGAM's n x n kernel matrices) pays a page fault per page each time: with the thresholds raised
SCORE and NoGAM run 15-30% faster and the model hardly at all (docs/benchmarks.md, session 28).
The `amort` command keeps glibc's defaults, so the default here is what a user gets.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from causal_amort.baselines import BASELINES
from causal_amort.evaluation.measure import TimeLimitExceeded, measured
from causal_amort.inference.stream import batch_orders, chunk_array, spread_quantiles, stream_orders
from causal_amort.runtime.threads import apply_threads
from simulators.external.suites import SUITES as EXTERNAL_SUITES, external_dataset
from simulators.prior.sample import sample_dataset
from simulators.prior.spec import PRESETS, load_spec


# glibc's mallopt parameters M_MMAP_THRESHOLD and M_TRIM_THRESHOLD, and the values `--allocator tuned`
# sets: requests up to 64 MiB come from the heap (an n = 2000 kernel matrix is 32 MB), and up to
# 128 MiB of free heap stays resident.
TUNED_MALLOC = {-3: 64 << 20, -1: 128 << 20}
RATIO_LINE = "  d={d:<4} n={n:<6} {name:>7} / {model} = {ratio:8.1f}x"
_RATIO = re.compile(r"^\s+d=(\d+)\s+n=(\d+)\s+(\w+) / (amort(?: in batches of \d+)?) =\s+([\d.]+)x$")
_MODEL_SECONDS = re.compile(r"^\s*(\d+)\s+(\d+)\s+amort\s+([\d.]+)$")


def bench_processes(argv: list[str], processes: int, against: Path | None = None) -> None:
    """Run this script with ``argv`` in ``processes`` fresh interpreters, one after another, print
    each run's output and then each cell's ratios with their median: one process's ratio moves
    70-110x with nothing changed (docs/benchmarks.md, session 26), so a target is judged on the median.

    With ``against`` (another checkout of this repository, e.g. a `git worktree` of an older commit)
    each process of this tree is followed by one of that tree's own script on the same arguments, and
    the medians of both are printed side by side: a change to the code measured against the code
    before it, on the machine as it is during both."""
    trees = [("this tree", Path(__file__).resolve().parents[1])] + ([("against", against)] if against else [])
    ratios: dict[tuple[str, tuple[str, str, str, str]], list[float]] = {}
    model_seconds: dict[tuple[str, str, str], list[float]] = {}
    for k in range(processes):
        for label, root in trees:
            print(f"== process {k + 1} of {processes}" + (f" ({label}: {root})" if against else ""), flush=True)
            env = {**os.environ, "PYTHONPATH": str(root)}
            done = subprocess.run([sys.executable, str(root / "scripts" / "bench_eval.py"), *argv, "--processes", "1"],
                                  capture_output=True, text=True, cwd=root, env=env)
            print(done.stdout, end="", flush=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
                raise SystemExit(f"process {k + 1} ({label}) failed: {last}")
            for line in done.stdout.splitlines():
                if match := _RATIO.match(line):
                    ratios.setdefault((label, match.groups()[:4]), []).append(float(match.group(5)))
                elif match := _MODEL_SECONDS.match(line):
                    model_seconds.setdefault((label, *match.groups()[:2]), []).append(float(match.group(3)))
    print(f"\nratios over {processes} processes (baseline seconds / model seconds, each process its own run):")
    for (label, (d, n, name, model)), values in ratios.items():
        listed = ", ".join(f"{v:.1f}" for v in values)
        where = f"[{label}] " if against else ""
        print(f"  {where}d={d:<4} n={n:<6} {name:>7} / {model}: median {np.median(values):.1f}x ({listed})")
    if against:
        print(f"\nmodel seconds per dataset over {processes} processes each, alternating (median, range):")
        for (label, d, n), values in model_seconds.items():
            if label != "this tree":
                continue
            other = model_seconds.get(("against", d, n), [])
            change = f"{100 * (np.median(values) / np.median(other) - 1):+.1f}%" if other else "-"
            print(f"  d={d:<4} n={n:<6} this tree {np.median(values):.4f} ({min(values):.4f}-{max(values):.4f}), "
                  f"against {np.median(other) if other else float('nan'):.4f}: {change}")


def _without_against(argv: list[str]) -> list[str]:
    """``argv`` with its --against option (either spelling) taken out."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--against":
            skip = True
        elif not arg.startswith("--against="):
            kept.append(arg)
    return kept


def draw(suite: str, d: int, n: int, batch: int | None = None) -> np.ndarray:
    """(n, d) values of the SCM of a cell that every method is timed on, or SCM ``batch`` of the model's
    batch (`--batch`), from a preset or from another simulator's suite (``--suite``)."""
    if suite in EXTERNAL_SUITES:
        return external_dataset(suite, 0 if batch is None else 1 + batch, d, n, seed=d * 100_003 + n).x
    rng = np.random.default_rng([d, n] if batch is None else [d, n, batch])
    return sample_dataset(load_spec(suite), d, n, rng).x


def tune_malloc() -> bool:
    """Set `TUNED_MALLOC` in this process; False where the C library is not glibc (nothing set)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the symbols the process already has, glibc's among them
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in TUNED_MALLOC.items())


def _load_model(name: str = "default"):
    from causal_amort.model.checkpoint import load_model
    from causal_amort.config import load_config
    from causal_amort.model.order_model import OrderModel
    from simulators.core.errors import InputError

    try:
        model, cfg = load_model(name, "cpu")
        return model, cfg.data.chunk_size, name
    except InputError:
        cfg = load_config("tiny")
        torch.manual_seed(0)
        return OrderModel(cfg.model), cfg.data.chunk_size, "tiny (random weights)"


def _model_seconds(model, chunks, chunk_size: int) -> float:
    _, cost = measured(lambda: list(stream_orders(model, chunks, device="cpu", decode_at=lambda k: False)))
    return cost.seconds


def _batch_seconds(model, datasets: list[np.ndarray], chunk_size: int) -> float:
    """Seconds per dataset to order ``datasets`` (one shape) as one batch, as `AmortModel.order_many`
    reads them: each standardized on its own order statistics."""
    def run():
        anchors = np.stack([spread_quantiles(x, chunk_size) for x in datasets])
        return batch_orders(model, np.stack(datasets), device="cpu", chunk_size=chunk_size, standardize_on=anchors)
    return measured(run)[1].seconds / len(datasets)


def _model_gflop(model, chunks) -> float:
    """Floating-point work of one streaming run (matmuls and attention, as torch counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.requires_grad_(False)  # the counter's module hooks trip over no_grad views of parameters
    with FlopCounterMode(display=False) as counter:
        list(stream_orders(model, chunks, device="cpu", decode_at=lambda k: False))
    return counter.get_total_flops() / 1e9


def _decode_seconds(model, chunk_size: int, d: int, repeats: int) -> dict[str, float]:
    """Best-of-`repeats` seconds of one greedy decode over d variables: "uncached" recomputes the
    decoder over the whole prefix at every position, "cached" steps one position at a time; also
    the largest logit difference between them (relative to the largest logit) and where their
    orders first differ (-1: nowhere)."""
    from causal_amort.model.decoding import beam_search, recompute

    x = torch.from_numpy(np.random.default_rng(d).normal(size=(1, chunk_size, d)).astype(np.float32))
    with torch.no_grad():
        memory = model.advance(model.init_memory(1, d, "cpu"), x)
        seconds, orders = {}, {}
        for name, start in (("uncached", recompute(model.decoder.logits)), ("cached", model.decoder.begin)):
            costs = []
            for _ in range(repeats):
                orders[name], cost = measured(lambda: beam_search(start, memory.state, 1, memory.pairs)[0])
                costs.append(cost.seconds)
            seconds[name] = min(costs)
        # Equal logits up to float32 rounding (measured along the cached order against one full
        # pass), so the orders can differ only where two candidates tie that closely.
        order = orders["cached"]
        full = model.decoder.logits(memory.state, order[:, :-1], memory.pairs)
        steps, error = model.decoder.begin(memory.state, memory.pairs), 0.0
        for k in range(d):
            row = steps.next_logits()
            finite = torch.isfinite(row)
            error = max(error, float((row - full[:, k])[finite].abs().max()))
            steps.advance(None, order[:, k])
    differ = (orders["uncached"] != order)[0].nonzero()
    seconds["first_difference"] = int(differ[0, 0]) if len(differ) else -1
    seconds["error"] = error / float(full[torch.isfinite(full)].abs().max())
    return seconds


def bench_decode(ds: list[int], repeats: int, model_ref: str = "default") -> None:
    """Decode time of the shipped model and of the default-cpu recipe (stats encoder: the gate also
    reads the pair channel; random weights, which do not change the time)."""
    from causal_amort.config import load_config
    from causal_amort.model.order_model import OrderModel

    model, chunk_size, model_name = _load_model(model_ref)
    cfg = load_config("default-cpu")
    torch.manual_seed(0)
    models = [(model_name, model, chunk_size), ("default-cpu recipe (random weights)", OrderModel(cfg.model).eval(),
                                                 cfg.data.chunk_size)]
    print(f"greedy decode, seconds (best of {repeats}), torch threads {torch.get_num_threads()}")
    print(f"{'model':>36} {'d':>5} {'uncached':>10} {'cached':>10} {'speed-up':>9} {'rel. error':>10}  orders")
    for name, net, size in models:
        for d in ds:
            t = _decode_seconds(net, size, d, repeats)
            print(f"{name:>36} {d:>5} {t['uncached']:>10.4f} {t['cached']:>10.4f} "
                  f"{t['uncached'] / t['cached']:>8.1f}x {t['error']:>10.1e}  "
                  + ("same" if t["first_difference"] < 0 else f"differ from position {t['first_difference']}"),
                  flush=True)


def bench_overhead(model_ref: str, baselines: list[str], datasets: int = 16, d: int = 20, n: int = 2000) -> None:
    """`amort eval` as a user runs it (a fresh process) on a fresh suite, against the methods' own
    seconds in its results.csv: the rest is the harness (start-up, reading, pruning for SHD/F1,
    tables and plots)."""
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    import pandas as pd

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        suite, out = Path(tmp) / "suite", Path(tmp) / "eval"
        subprocess.run([sys.executable, "-m", "cli", "simulate", "--preset", "test-in", "--num-datasets",
                        str(datasets), "--d", str(d), "--n", str(n), "--seed", "5", "--out", str(suite)],
                       check=True, capture_output=True, cwd=root)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cli", "eval", "--model", model_ref, "--data", str(suite),
                        "--baselines", ",".join(baselines), "--out", str(out)],
                       check=True, capture_output=True, cwd=root)
        wall = time.perf_counter() - start
        methods = float(pd.read_csv(out / "results.csv")["seconds"].sum())
    print(f"amort eval of {datasets} datasets (d = {d}, n = {n}), model {model_ref} + {', '.join(baselines)}, "
          f"one thread: {wall:.1f} s in all, {methods:.1f} s in the methods, overhead {wall - methods:.1f} s "
          f"= {100 * (wall - methods) / wall:.0f}% of the run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--baselines", nargs="*", default=["random", "varsort", "r2sort", "lingam", "score", "nogam"],
                        help="baselines timed beside the model (none: the model alone)")
    parser.add_argument("--suite", default="test-in", choices=sorted(PRESETS) + sorted(EXTERNAL_SUITES),
                        metavar="SUITE", help="what the SCM is drawn from: a preset (default test-in, where the "
                        "model's DirectLiNGAM search stays shut) or another simulator's suite, e.g. "
                        "notears-linear-exp-SF2 (linear, non-Gaussian: the search runs)")
    parser.add_argument("--limit", type=float, default=120.0, help="skip a run estimated to take longer (seconds)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="default", help="default, a checkpoint or a run folder")
    parser.add_argument("--million", action="store_true", help="also stream 10^6 rows (d=20) through the model")
    parser.add_argument("--decode", type=int, nargs="*", metavar="D",
                        help="only time one greedy decode, uncached vs cached, at these d (default 20 100 500)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per method and cell, the median reported (--decode: the best)")
    parser.add_argument("--overhead", action="store_true",
                        help="only time `amort eval` on 16 datasets (d = 20) against its methods' own seconds")
    parser.add_argument("--processes", type=int, default=1,
                        help="run the timing in this many fresh processes and print the median of their ratios")
    parser.add_argument("--batch", type=int, default=1,
                        help="also time the model on this many datasets of each cell read as one batch (per dataset)")
    parser.add_argument("--allocator", choices=("default", "tuned"), default="default",
                        help="default: glibc's own malloc thresholds, as `amort` runs; tuned: TUNED_MALLOC")
    parser.add_argument("--against", type=Path, metavar="TREE",
                        help="with --processes: alternate each process with one of another checkout's own script "
                             "(e.g. a git worktree of an older commit) and compare the medians")
    args = parser.parse_args()
    args.baselines = [name for name in args.baselines if name]  # `--baselines ""` as `amort eval` reads it
    unknown = [name for name in args.baselines if name not in BASELINES]
    if unknown:
        parser.error(f"unknown baselines: {', '.join(unknown)} (known: {', '.join(BASELINES)})")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    if args.against is not None and not (args.against / "scripts" / "bench_eval.py").is_file():
        parser.error(f"--against {args.against}: not a checkout of this repository (no scripts/bench_eval.py)")
    if args.processes > 1 or args.against is not None:
        if args.decode is not None or args.overhead:
            parser.error("--processes times the model against the baselines; not with --decode or --overhead")
        argv = _without_against(sys.argv[1:])  # the children run one tree each
        bench_processes(argv, args.processes, args.against.resolve() if args.against is not None else None)
        return
    if args.allocator == "tuned" and not tune_malloc():
        parser.error("--allocator tuned needs glibc's malloc (Linux)")
    apply_threads(args.threads)  # torch, BLAS and OpenMP together; children inherit the count
    if args.decode is not None:
        bench_decode(args.decode or [20, 100, 500], args.repeats, args.model)
        return
    if args.overhead:
        bench_overhead(args.model, args.baselines)
        return
    model, chunk_size, model_name = _load_model(args.model)
    print(f"model: {model_name}, chunk {chunk_size} rows; torch threads {args.threads}; allocator {args.allocator}; "
          f"SCMs from {args.suite}")
    print(f"{'d':>4} {'n':>6} {'method':>8} {'seconds':>10}  (median of {args.repeats} runs)")
    seconds: dict[tuple[int, int, str], float] = {}
    for d in args.d:
        for n in sorted(args.n):
            x = draw(args.suite, d, n)
            _model_seconds(model, chunk_array(x[:chunk_size], chunk_size), chunk_size)  # warm-up
            seconds[d, n, "amort"] = float(np.median([_model_seconds(model, chunk_array(x, chunk_size), chunk_size)
                                                      for _ in range(args.repeats)]))
            print(f"{d:>4} {n:>6} {'amort':>8} {seconds[d, n, 'amort']:>10.4f}", flush=True)
            for name in args.baselines:
                smaller = [m for m in args.n if m < n and (d, m, name) in seconds]
                # SCORE / NoGAM kernels grow as n^2 (or worse), LiNGAM about linearly.
                power = 2.0 if name in ("score", "nogam") else 1.0
                if smaller and seconds[d, smaller[-1], name] * (n / smaller[-1]) ** power > args.limit:
                    estimate = seconds[d, smaller[-1], name] * (n / smaller[-1]) ** power
                    print(f"{d:>4} {n:>6} {name:>8} {'skipped':>10}  (estimated {estimate:.0f} s > --limit)")
                    continue
                runs = []
                try:
                    for _ in range(args.repeats):
                        rng = np.random.default_rng(0)
                        runs.append(measured(lambda: BASELINES[name].fit_order(x, rng),
                                             time_limit_s=args.limit)[1].seconds)
                except TimeLimitExceeded:
                    print(f"{d:>4} {n:>6} {name:>8} {'timeout':>10}  (> {args.limit:g} s)")
                    seconds[d, n, name] = float("inf")  # larger n is then skipped, not rerun
                    continue
                seconds[d, n, name] = float(np.median(runs))
                print(f"{d:>4} {n:>6} {name:>8} {seconds[d, n, name]:>10.4f}", flush=True)
            # After the baselines, so that they run in the allocator state they always ran in: the batch's
            # large frees can raise glibc's dynamic mmap threshold, after which SCORE ran up to a third faster.
            if args.batch > 1:  # more SCMs of the same cell, each from its own seed
                same_cell = [draw(args.suite, d, n, batch=k) for k in range(args.batch)]
                _batch_seconds(model, same_cell, chunk_size)  # warm-up
                seconds[d, n, "batch"] = float(np.median([_batch_seconds(model, same_cell, chunk_size)
                                                          for _ in range(args.repeats)]))
                print(f"{d:>4} {n:>6} {f'amort/{args.batch}':>8} {seconds[d, n, 'batch']:>10.4f}  "
                      f"(per dataset, {args.batch} as one batch)", flush=True)
    print("\nratios (baseline seconds / model seconds, same run):")
    for (d, n, name), value in seconds.items():
        if name in ("score", "nogam", "lingam") and value < float("inf"):
            print(RATIO_LINE.format(d=d, n=n, name=name, model="amort", ratio=value / seconds[d, n, "amort"]))
            if (d, n, "batch") in seconds:
                print(RATIO_LINE.format(d=d, n=n, name=name, model=f"amort in batches of {args.batch}",
                                        ratio=value / seconds[d, n, "batch"]))
    # Why the model's time is what it is: its work is linear in the number of cells (n * d), and
    # a 100x margin over SCORE needs that work done at the rate printed in the last column.
    print("\nmodel work (torch FlopCounterMode): GFLOP per dataset, achieved GFLOP/s, rate a 100x SCORE margin needs:")
    for d in args.d:
        for n in sorted(args.n):
            gflop = _model_gflop(model, chunk_array(draw(args.suite, d, n), chunk_size))
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
