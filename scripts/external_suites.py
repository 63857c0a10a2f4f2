"""Suites of SCMs drawn the way other published simulators draw them (simulators/external), as CSV
folders that `amort eval` reads: data from generators that no model here was trained, validated or
chosen on.

    python scripts/external_suites.py --out runs/external --seed 2026          # every suite, 16 SCMs
    python scripts/external_suites.py --out runs/external --seed 2026 --suites cdt-nn notears-mlp-ER2
    amort eval --data runs/external/cdt-nn --data runs/external/notears-mlp-ER2 --out runs/eval-external \
        --baselines random,varsort,r2sort,lingam,score

One folder per suite (`OUT/SUITE/`), d = 20 and n = 2000 by default. A rerun with the same
settings resumes (datasets already written are kept); other settings into the same folder are
refused. The GP suites draw one 2000 x 2000 Cholesky factor per mechanism (seconds a dataset).
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from simulators.core.errors import InputError
from simulators.external.suites import SUITES, write_external_suite


def write_one(suite: str, out: Path, num: int, d: int, n: int, seed: int) -> str:
    """Write one suite (in a worker process), its progress on stderr; returns the line to print."""
    for done in write_external_suite(suite, out / suite, num=num, d=d, n=n, seed=seed):
        print(f"{suite}: {done}/{num}", file=sys.stderr, flush=True)
    return f"{out / suite}: {num} datasets (d={d}, n={n}, seed {seed})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for one CSV folder per suite")
    parser.add_argument("--seed", type=int, required=True, help="seed of every draw")
    parser.add_argument("--suites", nargs="+", default=list(SUITES), metavar="SUITE",
                        help=f"which suites (default: all of {', '.join(SUITES)})")
    parser.add_argument("--num", type=int, default=16, help="SCMs per suite")
    parser.add_argument("--d", type=int, default=20, help="variables per SCM")
    parser.add_argument("--n", type=int, default=2000, help="rows per SCM")
    parser.add_argument("--workers", type=int, default=1, help="suites written side by side")
    args = parser.parse_args()
    unknown = [name for name in args.suites if name not in SUITES]
    if unknown:
        parser.error(f"unknown suites: {', '.join(unknown)} (known: {', '.join(SUITES)})")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            jobs = [pool.submit(write_one, suite, args.out, args.num, args.d, args.n, args.seed) for suite in args.suites]
            for job in jobs:
                print(job.result(), flush=True)
    except InputError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
