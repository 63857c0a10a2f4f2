"""The held-out selection score of rules v16 and v17, from `amort eval` folders on the selection suites.

Per model: the mean fraction of reversed edges on each selection suite, the mean over the eight
single-factor shifts (`select-{graph,noise,interaction,shift}-d{20,50}`), over the six without
`select-noise`, over the two compound ones (`select-out-d{20,50}`), and the held-out score: half
the single-factor mean plus half the compound mean (rule v17's condition 3: the same without
`select-noise`).

    python scripts/selection_score.py runs/select-v14 runs/select-suites-v2 runs/select-suites-v3 \
        runs/select-v17 --models v6 G H G-avg H-avg
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

SINGLE = [f"select-{shift}-d{d}" for shift in ("graph", "noise", "interaction", "shift") for d in (20, 50)]
COMPOUND = ["select-out-d20", "select-out-d50"]


def selection_table(folders: list[Path], models: list[str]) -> pd.DataFrame:
    """Suites (rows) x models (columns): mean fraction reversed, then the means and scores as rows."""
    results = pd.concat([pd.read_csv(folder / "results.csv") for folder in folders])
    results = results[(results.status == "ok") & results.method.isin(models)]
    table = results.groupby(["suite", "method"]).frac_reversed.mean().unstack()
    missing = [suite for suite in SINGLE + COMPOUND if suite not in table.index]
    if missing:
        raise SystemExit(f"no results for {', '.join(missing)} in these folders")
    without_noise = [suite for suite in SINGLE if "noise" not in suite]
    summary = pd.DataFrame({
        "single-factor mean (8)": table.loc[SINGLE].mean(),
        "single-factor mean without select-noise (6)": table.loc[without_noise].mean(),
        "select-out mean (2)": table.loc[COMPOUND].mean(),
    }).T
    summary.loc["held-out score"] = 0.5 * summary.iloc[0] + 0.5 * summary.iloc[2]
    summary.loc["score without select-noise"] = 0.5 * summary.iloc[1] + 0.5 * summary.iloc[2]
    return pd.concat([table, summary])[[m for m in models if m in table.columns]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="amort eval output folders (results.csv)")
    parser.add_argument("--models", nargs="+", required=True, help="method labels, in column order")
    args = parser.parse_args()
    print(selection_table(args.folders, args.models).round(4).to_string())


if __name__ == "__main__":
    main()
