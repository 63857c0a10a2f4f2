"""What a busy neighbour costs: `amort predict` and one greedy decode, alone and beside it.

    python scripts/bench_threads.py                 # 20000 x 20 rows, one run of each
    python scripts/bench_threads.py --repeats 3     # medians of 3

The neighbour is another Python process, started and stopped by this script, that multiplies
torch matrices in a loop with torch's default threads (as when two SLURM array tasks share a
node and one ignores its share). Each measurement runs in a fresh process under one of:

- torch default: `--threads T`, T = torch's own default on this machine (the old behaviour);
- auto: no flag, no thread variables, no SLURM: the CPUs the process may use;
- auto, array task: no flag, SLURM_CPUS_PER_TASK = half the CPUs (one of two array tasks).

`predict` is timed as a whole command (start-up included) on a CSV file the script writes to
a temporary folder; the decode is the median of `--decodes` greedy decodes at d = 20 with the
default model, after one chunk of 50 rows. Target: beside the neighbour at most 2.5x the time
alone (a fair share of the cores would be 2x).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from causal_amort.runtime.threads import THREAD_ENV_VARS, choose_threads  # noqa: E402

D, ROWS = 20, 20000
NEIGHBOUR = "import torch\na = torch.randn(512, 512)\nwhile True:\n    a = torch.tanh(a @ a)\n"
SETTLE_S = 5.0  # the neighbour imports torch before it starts to compute


def clean_environ() -> dict[str, str]:
    """This environment without thread counts or SLURM allocation: every library's defaults."""
    return {k: v for k, v in os.environ.items() if k not in (*THREAD_ENV_VARS, "SLURM_CPUS_PER_TASK")}


def torch_default_threads(env: dict[str, str]) -> int:
    code = "import torch; print(torch.get_num_threads())"
    return int(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                              text=True).stdout)


@contextlib.contextmanager
def busy_neighbour(env: dict[str, str]) -> Iterator[None]:
    """A process computing with torch's default threads for the duration of the block; always stopped."""
    proc = subprocess.Popen([sys.executable, "-c", NEIGHBOUR], env=env, stdout=subprocess.DEVNULL)
    try:
        time.sleep(SETTLE_S)
        if proc.poll() is not None:
            raise RuntimeError(f"the neighbour process exited with code {proc.returncode}")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_csv(folder: Path) -> Path:
    """A ROWS x D CSV file drawn from the test-in prior."""
    from simulators.storage.csvio import write_csv_dataset
    from simulators.prior.sample import sample_dataset
    from simulators.prior.spec import load_spec

    dataset = sample_dataset(load_spec("test-in"), D, ROWS, np.random.default_rng(0), name="bench")
    write_csv_dataset(folder, dataset)
    return folder / "bench.csv"


def predict_seconds(csv: Path, flags: list[str], env: dict[str, str], timeout: float) -> float:
    """Wall time of `amort predict` as a whole command; inf past the timeout."""
    start = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "cli", "predict", str(csv), *flags], env=env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - start


def decode_seconds(flags: list[str], env: dict[str, str], decodes: int, timeout: float) -> float:
    """Median seconds of one greedy decode at d = D, measured in a fresh process; inf past the timeout."""
    cmd = [sys.executable, __file__, "--decode-worker", str(decodes), *flags]
    try:
        out = subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return float("inf")
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def decode_worker(decodes: int, threads: int) -> float:
    """In this process: apply the thread choice as the CLI does, then time greedy decodes."""
    import cli  # noqa: F401  (before torch: the CLI's OpenMP wait policy, as `amort predict` gets it)
    import torch

    from causal_amort.model.checkpoint import load_model
    from causal_amort.runtime.threads import use_threads

    use_threads(threads)
    model, cfg = load_model("default", "cpu")
    chunk = torch.from_numpy(np.random.default_rng(0).standard_normal((1, cfg.data.chunk_size, D), dtype=np.float32))
    with torch.no_grad():
        memory = model.advance(model.init_memory(1, D, "cpu"), chunk)
    model.decode(memory)  # warm-up
    times = []
    for _ in range(decodes):
        start = time.perf_counter()
        model.decode(memory)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fmt(seconds: float, unit: str) -> str:
    """Seconds as s (predict) or ms (decode); 'timeout' for inf."""
    if seconds == float("inf"):
        return "timeout"
    return f"{seconds:.2f}" if unit == "s" else f"{1000 * seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each measurement (the median is shown)")
    parser.add_argument("--decodes", type=int, default=5, help="greedy decodes per decode measurement")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before one run counts as 'timeout'")
    parser.add_argument("--decode-worker", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.decode_worker:
        print(json.dumps({"seconds": decode_worker(args.decode_worker, args.threads)}))
        return

    clean = clean_environ()
    torch_threads = torch_default_threads(clean)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    setups = [("torch default", ["--threads", str(torch_threads)], clean),
              ("auto", [], clean),
              ("auto, array task", [], {**clean, "SLURM_CPUS_PER_TASK": str(max(1, cpus // 2))})]
    chosen = [choose_threads(int(flags[1]) if flags else 0, environ=env) for _, flags, env in setups]
    times: dict[tuple[str, str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        csv = write_csv(Path(tmp))
        for phase in ("alone", "neighbour"):
            with busy_neighbour(clean) if phase == "neighbour" else contextlib.nullcontext():
                print(f"{phase}: load average {os.getloadavg()[0]:.2f} at start", flush=True)
                for label, flags, env in setups:
                    runs = [(predict_seconds(csv, flags, env, args.timeout),
                             decode_seconds(flags, env, args.decodes, args.timeout)) for _ in range(args.repeats)]
                    times[label, phase, "predict"] = statistics.median(r[0] for r in runs)
                    times[label, phase, "decode"] = statistics.median(r[1] for r in runs)
                    print(f"  {label}: predict {_fmt(times[label, phase, 'predict'], 's')} s, "
                          f"decode {_fmt(times[label, phase, 'decode'], 'ms')} ms", flush=True)

    print(f"\n{cpus} CPUs; torch's default: {torch_threads} threads. amort predict {ROWS} x {D} rows "
          f"(whole command, s) and one greedy decode at d = {D} (ms), median of {args.repeats}")
    print(f"{'setup':<18} {'threads':<18} {'predict alone':>13} {'neighbour':>10} {'ratio':>6} "
          f"{'decode alone':>13} {'neighbour':>10} {'ratio':>6}")
    for (label, _, _), choice in zip(setups, chosen):
        source = "torch default" if label == "torch default" else choice.source
        row = f"{label:<18} {f'{choice.threads} ({source})':<18}"
        for what, unit in (("predict", "s"), ("decode", "ms")):
            alone, beside = times[label, "alone", what], times[label, "neighbour", what]
            row += f" {_fmt(alone, unit):>13} {_fmt(beside, unit):>10} {beside / alone:>5.1f}x"
        print(row)


if __name__ == "__main__":
    main()
