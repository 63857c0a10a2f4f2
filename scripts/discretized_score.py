"""Models on discretized copies of suites: how each orders data whose columns were rounded to a few levels.

Each dataset of each suite is copied once per cell (LEVELS x SHARE): every column, or each column with
probability SHARE (at least one), is rounded to the nearest of LEVELS points evenly spaced over its mean
+- 3 standard deviations (2 levels: a split at the mean). The draws are seeded by the dataset's place and
the cell, so every model reads the same copies. Each model orders each copy (`AmortModel.order`, one
thread) and also the dataset as simulated. Writes OUT/results.csv (suite = "SUITE@LxS" for a copy, the
suite's own name for the data as simulated; the columns `selection_score.paired_rows` reads) and prints,
per cell, each model's mean over the suites' datasets, and with ``--paired A B`` the datasets where B
reverses fewer / more edges than A and the sign-flip p over every copy of every cell.

    python scripts/discretized_score.py runs/select-4336/* --models G=default Q=runs/default-v74-q/default.json \
        --paired G Q --out runs/discretized-v74
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from selection_score import paired_rows  # noqa: E402  (per-suite counts and the sign-flip p)

CELLS = [(2, 1.0), (3, 1.0), (5, 1.0), (2, 0.3), (3, 0.3), (5, 0.3)]


def discretize(x: np.ndarray, levels: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` with every column (``share`` 1) or a random ``share`` of them rounded to ``levels`` points."""
    x = np.array(x, dtype=np.float64)
    chosen = rng.random(x.shape[1]) < share
    if not chosen.any():
        chosen[rng.integers(x.shape[1])] = True
    grid = np.linspace(-3.0, 3.0, levels)
    for j in np.flatnonzero(chosen):
        z = (x[:, j] - x[:, j].mean()) / x[:, j].std()
        x[:, j] = grid[np.abs(z[:, None] - grid[None, :]).argmin(axis=1)]
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suites", nargs="+", type=Path)
    parser.add_argument("--models", nargs="+", required=True, help="LABEL=MODEL (default, a checkpoint or run)")
    parser.add_argument("--paired", nargs=2, metavar=("A", "B"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import torch

    import causal_amort
    from causal_amort.evaluation.metrics import frac_reversed
    from simulators.storage.io import iter_datasets

    torch.set_num_threads(1)
    models = {label: causal_amort.load_model(source, device="cpu")
              for label, source in (item.split("=", 1) for item in args.models)}
    rows = []
    for suite in args.suites:
        for k, dataset in enumerate(iter_datasets(suite)):
            copies = [(suite.name, dataset.x)]
            for levels, share in CELLS:
                rng = np.random.default_rng([k, levels, int(share * 10), sum(map(ord, suite.name))])
                copies.append((f"{suite.name}@{levels}x{share:g}", discretize(dataset.x, levels, share, rng)))
            for name, x in copies:
                for label, model in models.items():
                    order = np.asarray(model.order(x).indices)
                    rows.append({"suite": name, "dataset": dataset.name, "method": label,
                                 "frac_reversed": frac_reversed(order, dataset.graph)})
        print(f"{suite.name}: done", flush=True)
    results = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out / "results.csv", index=False)
    results["cell"] = results.suite.str.partition("@")[2].replace("", "as simulated")
    table = results.groupby(["cell", "method"]).frac_reversed.mean().unstack()[list(models)]
    print(table.to_string(float_format="%.4f"))
    if args.paired:
        a, b = args.paired
        copies = results[results.cell != "as simulated"]
        same = results[results.cell == "as simulated"].pivot_table(index=["suite", "dataset"], columns="method",
                                                                     values="frac_reversed")
        print(f"\nas simulated: {int((same[a] != same[b]).sum())} of {len(same)} datasets differ between {a} and {b}")
        for cell, group in copies.groupby("cell"):
            by_suite, _ = paired_rows(group, a, b)
            print(f"{cell}: {b} better on {by_suite.better.sum()}, worse on {by_suite.worse.sum()}, "
                  f"mean difference {group[group.method == b].frac_reversed.mean() - group[group.method == a].frac_reversed.mean():+.4f}")
        _, p = paired_rows(copies, a, b)
        diff = copies[copies.method == b].frac_reversed.mean() - copies[copies.method == a].frac_reversed.mean()
        print(f"all copies: mean {a} {copies[copies.method == a].frac_reversed.mean():.4f}, "
              f"{b} {copies[copies.method == b].frac_reversed.mean():.4f} ({diff:+.4f}); sign-flip p = {p:.4g}")


if __name__ == "__main__":
    main()
