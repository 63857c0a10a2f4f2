"""Where a method wins and loses: mean frac_reversed per generating family of the SCMs.

    python scripts/breakdown.py runs/model-card/all runs/model-card/suites/*
    python scripts/breakdown.py EVAL_FOLDER SUITE... --by noise graph --methods amort score nogam

Joins an evaluation's results.csv with the metadata each suite's shard records hold for every
dataset (graph, mechanism and noise family, R²-sortability), and prints one table per factor:
mean fraction of true edges reversed per (suite, family) and method, with the dataset count.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

FACTORS = ("graph", "mechanism", "noise")


def dataset_families(suite: Path) -> pd.DataFrame:
    """One row per dataset of a suite folder: its name and the family of each factor."""
    rows = []
    for record in sorted(suite.glob("shard-*.json")):
        for meta in json.loads(record.read_text())["datasets"]:
            rows.append({"dataset": meta["name"], "r2_sortability": meta.get("r2_sortability"),
                         **{factor: meta[factor]["family"] for factor in FACTORS}})
    return pd.DataFrame(rows)


def breakdown(results: pd.DataFrame, suites: dict[str, Path], factor: str, methods: list[str]) -> pd.DataFrame:
    """Mean frac_reversed per (suite, family of ``factor``) and method, plus the dataset count."""
    families = pd.concat([dataset_families(path).assign(suite=name) for name, path in suites.items()])
    ok = results[(results.status == "ok") & results.method.isin(methods)]
    table = ok.pivot_table(index=["suite", "dataset"], columns="method", values="frac_reversed").reset_index()
    table = table.merge(families, on=["suite", "dataset"])
    grouped = table.groupby(["suite", factor])
    out = grouped[[m for m in methods if m in table]].mean()
    out["datasets"] = grouped.size()
    out["r2_sortability"] = grouped["r2_sortability"].median()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("eval_folder", type=Path, help="an `amort eval --out` folder (results.csv)")
    parser.add_argument("suites", type=Path, nargs="+", help="suite folders; the folder name is the suite's name")
    parser.add_argument("--by", nargs="+", choices=FACTORS, default=list(FACTORS))
    parser.add_argument("--methods", nargs="+", default=["amort", "score", "nogam", "lingam", "r2sort"])
    args = parser.parse_args()
    results = pd.read_csv(args.eval_folder / "results.csv")
    suites = {path.name: path for path in args.suites if path.name in set(results.suite)}
    pd.set_option("display.width", 200)
    for factor in args.by:
        print(f"\nfrac_reversed by {factor} family (r2_sortability: median over the datasets)")
        print(breakdown(results, suites, factor, args.methods).round(3).to_string())


if __name__ == "__main__":
    main()
