"""The held-out selection score of rules v16 to v19, from `amort eval` folders on the selection suites.

Per model: the mean fraction of reversed edges on each selection suite, the mean over the eight
single-factor shifts (`select-{graph,noise,interaction,shift}-d{20,50}`), over the six without
`select-noise`, over the two compound ones (`select-out-d{20,50}`), and the held-out score: half
the single-factor mean plus half the compound mean (rule v17's condition 3: the same without
`select-noise`). With ``--paired A B``, also each held-out suite's count of datasets on which
B reverses fewer / more edges than A, the mean difference, and a sign-flip test of the mean
difference over all held-out datasets (20,000 seeded flips). With ``--recipes A1,A2,.. B1,B2,..``
(runs of two recipes, at least two each), the recipes compared with the run as the unit: each
recipe's mean held-out score and its standard deviation across runs, B's relative gain, how many
of B's runs are below A's mean (and, with as many runs in each listed seed by seed, at how many
seeds B is lower), and a one-sided Welch t-test of B's scores below A's (rules v34 and v35).

    python scripts/selection_score.py runs/select-v14 runs/select-suites-v2 runs/select-suites-v3 \
        runs/select-v17 --models v6 G H G-avg H-avg [--paired v6 G]
    python scripts/selection_score.py runs/select-v34 --models G C64 C128 C64b C128b C64c C128c \
        --recipes C64,C64b,C64c C128,C128b,C128c
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SINGLE = [f"select-{shift}-d{d}" for shift in ("graph", "noise", "interaction", "shift") for d in (20, 50)]
COMPOUND = ["select-out-d20", "select-out-d50"]


def _results(folders: list[Path], models: list[str]) -> pd.DataFrame:
    """The finished rows of these models in the folders' results.csv."""
    results = pd.concat([pd.read_csv(folder / "results.csv") for folder in folders])
    return results[(results.status == "ok") & results.method.isin(models)]


def selection_table(folders: list[Path], models: list[str]) -> pd.DataFrame:
    """Suites (rows) x models (columns): mean fraction reversed, then the means and scores as rows."""
    table = _results(folders, models).groupby(["suite", "method"]).frac_reversed.mean().unstack()
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


def paired(folders: list[Path], a: str, b: str, flips: int = 20_000) -> tuple[pd.DataFrame, float]:
    """`paired_rows` of the held-out suites in these folders."""
    return paired_rows(_results(folders, [a, b]), a, b, SINGLE + COMPOUND, flips)


def paired_rows(rows: pd.DataFrame, a: str, b: str, suites: list[str] | None = None,
                flips: int = 20_000) -> tuple[pd.DataFrame, float]:
    """Per suite (those listed, or all): datasets where b reverses fewer edges than a, more, and the mean
    of b - a; and the two-sided sign-flip p of the mean difference over every dataset of those suites."""
    wide = (rows[rows.method.isin([a, b])].drop_duplicates(["suite", "dataset", "method"])
            .pivot_table(index=["suite", "dataset"], columns="method", values="frac_reversed").dropna())
    if a not in wide or b not in wide:
        raise SystemExit(f"no paired results for {a} and {b}")
    if suites is not None:
        wide = wide[wide.index.get_level_values("suite").isin(suites)]
    diff = wide[b] - wide[a]
    by_suite = diff.groupby(level="suite").agg(datasets="size", better=lambda x: int((x < 0).sum()),
                                               worse=lambda x: int((x > 0).sum()), mean_difference="mean")
    return by_suite, sign_flip_p(diff.to_numpy(), flips)


def sign_flip_p(diff: np.ndarray, flips: int = 20_000) -> float:
    """Two-sided sign-flip p of the mean of paired differences ``diff`` (20,000 seeded flips)."""
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(flips, len(diff)))
    return float((np.abs(signs @ diff / len(diff)) >= abs(diff.mean()) - 1e-12).mean())


def recipes(scores: pd.Series, a: list[str], b: list[str]) -> dict[str, float | int]:
    """Two recipes' runs (``a``, ``b``: model labels, at least two each) compared by their held-out
    scores, the run as the unit: means, standard deviations across runs, B's gain relative to A,
    how many runs of B are below A's mean, and the one-sided Welch t-test p of B below A. With as
    many runs in each, listed seed by seed, also the seeds at which B is lower."""
    from scipy.stats import ttest_ind  # scipy where used, as in the package

    if min(len(a), len(b)) < 2:
        raise SystemExit("--recipes needs at least two runs of each recipe")
    sa, sb = scores[a].to_numpy(), scores[b].to_numpy()
    result = {"mean A": sa.mean(), "mean B": sb.mean(), "sd A": sa.std(ddof=1), "sd B": sb.std(ddof=1),
              "gain of B": 1.0 - sb.mean() / sa.mean(), "runs of B below mean A": int((sb < sa.mean()).sum())}
    if len(a) == len(b):
        result["seeds where B is lower"] = int((sb < sa).sum())
    result["Welch p, B below A"] = float(ttest_ind(sb, sa, equal_var=False, alternative="less").pvalue)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="amort eval output folders (results.csv)")
    parser.add_argument("--models", nargs="+", required=True, help="method labels, in column order")
    parser.add_argument("--paired", nargs=2, metavar=("A", "B"), help="compare B with A dataset by dataset")
    parser.add_argument("--recipes", nargs=2, metavar=("A1,A2,..", "B1,B2,.."),
                        help="compare two recipes' runs (comma-separated labels, seed by seed), the run as the unit")
    args = parser.parse_args()
    table = selection_table(args.folders, args.models)
    print(table.round(4).to_string())
    if args.recipes:
        a, b = (labels.split(",") for labels in args.recipes)
        unknown = [label for label in a + b if label not in table.columns]
        if unknown:
            raise SystemExit(f"--recipes names runs not in --models or without results: {', '.join(unknown)}")
        print(f"\nrecipe B ({', '.join(b)}) against recipe A ({', '.join(a)}), held-out score:")
        for name, value in recipes(table.loc["held-out score"], a, b).items():
            print(f"  {name:<24} {value}" if isinstance(value, int) else f"  {name:<24} {value:.4f}")
    if args.paired:
        by_suite, p = paired(args.folders, *args.paired)
        print(f"\n{args.paired[1]} against {args.paired[0]}, per held-out suite:")
        print(by_suite.round(4).to_string())
        print(f"sign-flip p of the mean difference over {int(by_suite.datasets.sum())} held-out datasets: {p:.5f}")


if __name__ == "__main__":
    main()
