"""The external score of rules v54 and v55, from `amort eval` folders on a draw of other simulators' suites
(`scripts/external_suites.py`, a seed of its own: never the card's report draw, 2026).

Per model: the mean fraction of reversed edges on each suite, the external score (the mean of the
suite means) and the mean of the linear non-Gaussian suites (NOTEARS's linear SEMs, Gumbel and
exponential noise). With ``--paired A B``, each suite's count of datasets on which B reverses fewer /
more edges than A, the mean difference, and the two-sided sign-flip p of the mean difference over
every dataset and over the linear non-Gaussian suites' datasets (`selection_score.paired_rows`).

    python scripts/external_score.py runs/select-ext-v54 --models G L1 L2 --paired G L1
    python scripts/external_score.py runs/select-ext-v54 runs/probe-v54-l0-ext --models G L1 L0 --paired G L0
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, however this file is loaded
from selection_score import paired_rows  # noqa: E402  (per-suite counts and the sign-flip p)

LINEAR_NON_GAUSSIAN = ["notears-linear-gumbel-ER2", "notears-linear-exp-SF2"]


def external_table(rows: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Suites (rows) x models (columns): mean fraction reversed, then the external score and the linear
    non-Gaussian mean as rows."""
    table = rows[rows.method.isin(models)].groupby(["suite", "method"]).frac_reversed.mean().unstack()
    summary = pd.DataFrame({"external score": table.mean(),
                            "linear non-Gaussian mean": table.loc[table.index.isin(LINEAR_NON_GAUSSIAN)].mean()}).T
    return pd.concat([table, summary])[[m for m in models if m in table.columns]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="amort eval output folders (results.csv)")
    parser.add_argument("--models", nargs="+", required=True, help="method labels, in column order")
    parser.add_argument("--paired", nargs=2, metavar=("A", "B"), help="compare B with A dataset by dataset")
    args = parser.parse_args()
    rows = pd.concat([pd.read_csv(folder / "results.csv") for folder in args.folders])
    rows = rows[rows.status == "ok"]
    print(external_table(rows, args.models).round(4).to_string())
    if args.paired:
        by_suite, p = paired_rows(rows, *args.paired)
        print(by_suite.round(4).to_string())
        print(f"sign-flip p over all datasets: {p:.4f}")
        _, p_linear = paired_rows(rows[rows.suite.isin(LINEAR_NON_GAUSSIAN)], *args.paired)
        print(f"sign-flip p over the linear non-Gaussian datasets: {p_linear:.4f}")


if __name__ == "__main__":
    main()
