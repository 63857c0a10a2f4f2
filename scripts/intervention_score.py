"""The interventional selection score of rule v50, from two `amort eval` folders on one interventional
draw (`scripts/intervention_draw.sh`): MASKED evaluated on the suites with their masks, POOLED on
their pooled twins (the same rows without masks). A model of the pooled folder is listed as
``LABEL/pooled``.

Per method: the mean fraction of reversed edges on each suite and the interventional score, the mean
of the suite means. With ``--paired A B`` (labels as listed), each suite's count of datasets on which B
reverses fewer / more edges than A, the mean difference, and the two-sided sign-flip p of the mean
difference over all datasets (`selection_score.paired_rows`).

    python scripts/intervention_score.py runs/select-v50 runs/select-v50-pooled --paired G I1 \
        --paired G/pooled I1
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, however this file is loaded
from selection_score import paired_rows as paired  # noqa: E402  (per-suite counts and the sign-flip p)


def results(masked: Path, pooled: Path) -> pd.DataFrame:
    """The finished rows of both folders, pooled methods relabeled ``LABEL/pooled``."""
    parts = []
    for folder, suffix in ((masked, ""), (pooled, "/pooled")):
        rows = pd.read_csv(folder / "results.csv")
        rows = rows[rows.status == "ok"].copy()
        rows["method"] = rows.method + suffix
        parts.append(rows)
    return pd.concat(parts)


def score_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Suites (rows) x methods (columns): mean fraction reversed, and the interventional score."""
    table = rows.groupby(["suite", "method"]).frac_reversed.mean().unstack()
    table.loc["interventional score"] = table.mean()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("masked", type=Path, help="eval folder of the suites with masks")
    parser.add_argument("pooled", type=Path, help="eval folder of their pooled twins")
    parser.add_argument("--paired", nargs=2, action="append", default=[], metavar=("A", "B"))
    args = parser.parse_args()
    rows = results(args.masked, args.pooled)
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(score_table(rows).to_string())
        for a, b in args.paired:
            by_suite, p = paired(rows, a, b)
            print(f"\n{b} against {a} (fewer / more reversed edges per suite; sign-flip p = {p:.4g})")
            print(by_suite.to_string())


if __name__ == "__main__":
    main()
