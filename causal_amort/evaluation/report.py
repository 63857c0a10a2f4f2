"""Summary tables from per-dataset results: mean and 95% bootstrap interval per suite x method.

The bootstrap resamples datasets (the unit of replication) with a seeded generator, so the
same results give the same intervals.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
import warnings
import zlib

import numpy as np
import pandas as pd

from causal_amort.baselines import BASELINES
from causal_amort.evaluation.metrics import order_agreement
from simulators.core.atomic import atomic_path, atomic_write_text

# Metric -> whether lower is better; the order is the order of the tables in summary.md.
METRICS: dict[str, bool] = {"frac_reversed": True, "perfect": False, "shd": True, "f1": False, "seconds": True}
# The factors of a simulated SCM whose generating family results.csv records (`<factor>_family`).
FACTORS = ("graph", "mechanism", "noise")
AGREEMENT_NOTE = ("agreement: fraction of variable pairs that two methods' orders put the same way round "
                  "(1 = same order, 0.5 = unrelated orders)")


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% bootstrap interval over ``count`` datasets."""

    mean: float
    low: float
    high: float
    count: int


def bootstrap_interval(values: np.ndarray, rng: np.random.Generator, resamples: int = 2000) -> Interval:
    """Percentile bootstrap of the mean; NaNs (e.g. graphs without edges) are left out."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    means = rng.choice(values, size=(resamples, values.size), replace=True).mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return Interval(float(values.mean()), float(low), float(high), int(values.size))


def _resampling_rng(seed: int, *keys: str) -> np.random.Generator:
    """The bootstrap generator of one table cell: seeded by the cell's own names, so that a method's
    interval does not depend on which other methods (or suites) are evaluated beside it."""
    return np.random.default_rng([seed, zlib.crc32("\0".join(keys).encode("utf-8"))])


def summarize(results: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Long table: suite, method, metric, mean, low, high, count (ok rows only), skipped."""
    rows = []
    for (suite, method), group in results.groupby(["suite", "method"], sort=False):
        ok = group[group["status"] == "ok"]
        for metric in METRICS:
            iv = bootstrap_interval(ok[metric].to_numpy(dtype=float), _resampling_rng(seed, suite, method, metric))
            rows.append({"suite": suite, "method": method, "metric": metric, "mean": iv.mean, "low": iv.low,
                         "high": iv.high, "count": iv.count, "skipped": int(len(group) - len(ok))})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Report:
    """The tables of an evaluation: ``summary`` (suite, method, metric, mean, low, high, count,
    skipped), ``agreement`` (suite, method, other, mean, low, high, count), ``truth`` (per
    suite: datasets, with_truth, cyclic, floor, floor_exact; see ``truth_summary``) and ``paired``
    (see ``paired_comparison``)."""

    summary: pd.DataFrame
    agreement: pd.DataFrame
    truth: pd.DataFrame
    paired: pd.DataFrame


def pairwise_agreement(orders: Sequence[dict]) -> pd.DataFrame:
    """Per dataset and pair of methods (in order of appearance), the agreement of their orders."""
    by_dataset: dict[tuple[str, str], dict[str, list[str]]] = {}
    for record in orders:
        by_dataset.setdefault((record["suite"], record["dataset"]), {})[record["method"]] = record["order"]
    rows = []
    for (suite, dataset), methods in by_dataset.items():
        names = list(methods)
        for i, method in enumerate(names):
            position = {variable: k for k, variable in enumerate(methods[method])}
            for other in names[i + 1:]:
                other_order = np.array([position[v] for v in methods[other]])
                rows.append({"suite": suite, "dataset": dataset, "method": method, "other": other,
                             "agreement": order_agreement(np.arange(len(position)), other_order)})
    return pd.DataFrame(rows, columns=["suite", "dataset", "method", "other", "agreement"])


def summarize_agreement(pairs: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Mean agreement and its 95% bootstrap interval over datasets, per suite and pair of methods."""
    rows = []
    for (suite, method, other), group in pairs.groupby(["suite", "method", "other"], sort=False):
        iv = bootstrap_interval(group["agreement"].to_numpy(dtype=float), _resampling_rng(seed, suite, method, other))
        rows.append({"suite": suite, "method": method, "other": other, "mean": iv.mean, "low": iv.low,
                     "high": iv.high, "count": iv.count})
    return pd.DataFrame(rows, columns=["suite", "method", "other", "mean", "low", "high", "count"])


PAIRED_NOTE = ("share of datasets on which the row's method reverses fewer true edges than the column's "
               "(ties count half), and the two-sided Wilcoxon signed-rank p-value of the paired differences")


def paired_comparison(results: pd.DataFrame) -> pd.DataFrame:
    """Per suite and ordered pair of methods, over the datasets both scored: ``share`` (see
    PAIRED_NOTE), ``p`` (Wilcoxon signed-rank; 1.0 when every difference is zero) and ``count``."""
    from scipy.stats import wilcoxon

    ok = results[results["status"] == "ok"].dropna(subset=["frac_reversed"])
    rows = []
    for suite, block in ok.groupby("suite", sort=False):
        wide = block.pivot_table(index="dataset", columns="method", values="frac_reversed", sort=False)
        methods = list(dict.fromkeys(block["method"]))
        for method in methods:
            for other in methods:
                if other == method:
                    continue
                diff = (wide[method] - wide[other]).dropna().to_numpy()
                if not diff.size:
                    continue
                share = float(((diff < 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)
                with warnings.catch_warnings():  # scipy warns that a few datasets make a rough p; it is one
                    warnings.simplefilter("ignore", UserWarning)
                    p = float(wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
                rows.append({"suite": suite, "method": method, "other": other, "share": share, "p": p,
                             "count": int(diff.size)})
    return pd.DataFrame(rows, columns=["suite", "method", "other", "share", "p", "count"])


def family_breakdown(results: pd.DataFrame, factor: str) -> pd.DataFrame:
    """Mean frac_reversed per (suite, family of ``factor``) and method, with the dataset count;
    empty when the results carry no families (a user's data, or an evaluation written before)."""
    column = f"{factor}_family"
    if column not in results:
        return pd.DataFrame()
    ok = results[(results["status"] == "ok") & results[column].notna() & (results[column].astype(str) != "")]
    if ok.empty:
        return pd.DataFrame()
    table = ok.pivot_table(index=["suite", column], columns="method", values="frac_reversed", sort=False)
    table["datasets"] = ok.drop_duplicates(["suite", "dataset"]).groupby(["suite", column], sort=False).size()
    return table.rename_axis(index=["suite", factor])


def truth_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per suite: datasets, those with a true graph, those whose true graph has a cycle, and
    ``floor``: the mean over datasets of the smallest frac_reversed any order reaches (0 on a
    DAG), comparable with the methods' mean frac_reversed; ``floor_exact`` is False when some
    cyclic graph was too large for the exact minimum (the floor is then an upper bound);
    ``interventional`` datasets with intervened rows, ``intervened_rows`` and ``rows`` per dataset."""
    rows = []
    for suite, group in results.drop_duplicates(["suite", "dataset"]).groupby("suite", sort=False):
        known = group[group["edges"].notna()]
        cyclic = known[known["frac_reversed_min"] > 0]
        floor = known["frac_reversed_min"].dropna()
        # Tables built before these columns existed (or by hand) count as observational.
        intervened = group.get("intervened_rows", pd.Series(0.0, index=group.index)).fillna(0)
        rows.append({"suite": suite, "datasets": len(group), "with_truth": len(known), "cyclic": len(cyclic),
                     "floor": float(floor.mean()) if len(floor) else float("nan"),
                     "floor_exact": bool(cyclic["frac_reversed_min_exact"].eq(True).all()),
                     "interventional": int((intervened > 0).sum()), "intervened_rows": float(intervened.mean()),
                     "rows": float(group["n"].mean()) if "n" in group else float("nan")})
    return pd.DataFrame(rows, columns=["suite", "datasets", "with_truth", "cyclic", "floor", "floor_exact",
                                       "interventional", "intervened_rows", "rows"])


def truth_notes(truth: pd.DataFrame) -> list[str]:
    """One sentence per suite whose truth is missing or cyclic, or whose data are interventional."""
    notes = []
    for row in truth.itertuples():
        if row.interventional:
            notes.append(f"{row.suite}: interventional data: {row.interventional} of {row.datasets} datasets hold "
                         f"intervened rows ({row.intervened_rows:.0f} of {row.rows:.0f} rows per dataset on average); "
                         f"the models and {' and '.join(_READS_MASKS)} read the intervention masks, the other "
                         "baselines only the values.")
        if row.with_truth < row.datasets:
            notes.append(f"{row.suite}: {row.datasets - row.with_truth} of {row.datasets} datasets have no true "
                         "graph; they are scored only by time and by the agreement between methods.")
        if row.cyclic:
            how = ("is" if row.floor_exact else "is at most") + f" {row.floor:.3f} " + (
                "(exact minimum feedback arc sets)" if row.floor_exact else
                "(exact per strongly connected component of up to 20 variables, else a greedy order "
                "improved by local search)")
            notes.append(f"{row.suite}: {row.cyclic} of {row.with_truth} true graphs have a directed cycle, which "
                         f"every order must break: the smallest mean frac_reversed any order can reach {how}.")
    return notes


_READS_NO_DATA = frozenset(name for name, baseline in BASELINES.items() if not baseline.reads_data)
_READS_MASKS = [name for name, baseline in BASELINES.items() if baseline.reads_masks]


def _best_methods(block: pd.DataFrame, lower_is_better: bool) -> set[str]:
    means = block.set_index("method")["mean"].dropna()
    if means.empty:
        return set()
    best = means.min() if lower_is_better else means.max()
    return set(means.index[np.isclose(means, best)])


def _cell(row: pd.Series, digits: int) -> str:
    if not np.isfinite(row["mean"]):
        return "skipped" if row["skipped"] else "n/a"
    text = f"{row['mean']:.{digits}f} [{row['low']:.{digits}f}, {row['high']:.{digits}f}]"
    return text + (f" ({row['skipped']} skipped)" if row["skipped"] else "")


def metric_table(summary: pd.DataFrame, metric: str) -> tuple[list[str], list[list[str]], list[set[int]]]:
    """Rows = suites, columns = the number of datasets and the methods; also which cells are best in their row."""
    block = summary[summary["metric"] == metric]
    methods = list(dict.fromkeys(block["method"]))
    digits = 4 if metric == "seconds" else 3
    body, best_cols = [], []
    for suite, rows in block.groupby("suite", sort=False):
        if not np.isfinite(rows["mean"]).any() and not rows["skipped"].any():
            continue  # e.g. a suite without true graphs: nothing to show, rather than a row of n/a
        # Speed is a race among methods that read the data: an order drawn at random wins it trivially.
        contenders = rows[~rows["method"].isin(_READS_NO_DATA)] if metric == "seconds" else rows
        best = _best_methods(contenders, METRICS[metric])
        by_method = rows.set_index("method")
        datasets = int((rows["count"] + rows["skipped"]).max())  # a method's ok rows plus its failed ones
        body.append([str(suite), str(datasets)]
                    + [_cell(by_method.loc[m], digits) if m in by_method.index else "" for m in methods])
        best_cols.append({i + 2 for i, m in enumerate(methods) if m in best})
    return ["suite", "datasets"] + methods, body, best_cols


def agreement_matrix(agreement: pd.DataFrame, suite: str) -> tuple[list[str], list[list[str]]]:
    """Methods x methods of one suite, each cell the mean agreement of the two (symmetric)."""
    block = agreement[agreement["suite"] == suite]
    methods = list(dict.fromkeys([*block["method"], *block["other"]]))
    means = {}
    for row in block.itertuples():
        means[row.method, row.other] = means[row.other, row.method] = row.mean
    body = [[a] + ["1" if a == b else f"{means[a, b]:.3f}" if (a, b) in means else "" for b in methods]
            for a in methods]
    return methods, body


def to_markdown(summary: pd.DataFrame, agreement: pd.DataFrame | None = None,
                truth: pd.DataFrame | None = None, paired: pd.DataFrame | None = None,
                results: pd.DataFrame | None = None) -> str:
    """summary.md: one table per metric, best per row in bold; notes on missing or cyclic truths;
    the agreement between methods per suite; with ``results``, mean frac_reversed per generating
    family of each factor; the paired comparison."""
    parts = ["# Evaluation summary", "",
             "Mean and 95% bootstrap interval over datasets, per suite (rows) and method (columns); "
             "best per row in **bold**. frac_reversed: fraction of true edges the order reverses "
             "(0 is perfect, a random order gets 0.5); perfect: rate of orders with no reversed edge; "
             "shd/f1: after pruning the order to a DAG; seconds: time to find the order.", ""]
    notes = truth_notes(truth) if truth is not None else []
    if notes:
        parts += [f"- {note}" for note in notes] + [""]
    for metric in METRICS:
        header, body, best = metric_table(summary, metric)
        if not body:
            continue
        parts += [f"## {metric} ({'lower' if METRICS[metric] else 'higher'} is better)", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for cells, marks in zip(body, best):
            parts.append("| " + " | ".join(f"**{c}**" if i in marks else c for i, c in enumerate(cells)) + " |")
        parts.append("")
    if agreement is not None and not agreement.empty:
        parts += ["## agreement between methods", "", f"Mean over datasets; {AGREEMENT_NOTE}.", ""]
        for suite in dict.fromkeys(agreement["suite"]):
            methods, body = agreement_matrix(agreement, suite)
            parts += [f"### {suite}", "", "| | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 1)]
            parts += ["| " + " | ".join(cells) + " |" for cells in body] + [""]
    if results is not None:
        for factor in FACTORS:
            table = family_breakdown(results, factor)
            if table.empty:
                continue
            methods = [c for c in table.columns if c != "datasets"]
            parts += [f"## frac_reversed by {factor} family", "",
                      "| suite | family | datasets | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 3)]
            for (suite, family), row in table.iterrows():
                cells = [f"{row[m]:.3f}" if np.isfinite(row[m]) else "" for m in methods]
                parts.append(f"| {suite} | {family} | {int(row['datasets'])} | " + " | ".join(cells) + " |")
            parts.append("")
    if paired is not None and not paired.empty:
        parts += ["## paired comparison (frac_reversed)", "", f"Per suite: {PAIRED_NOTE}.", ""]
        for suite, block in paired.groupby("suite", sort=False):
            methods = list(dict.fromkeys(block["method"]))
            cell = block.set_index(["method", "other"])
            parts += [f"### {suite}", "", "| | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 1)]
            for method in methods:
                cells = [f"{cell.loc[(method, o), 'share']:.2f} (p={cell.loc[(method, o), 'p']:.2g})"
                         if (method, o) in cell.index else "" for o in methods]
                parts.append(f"| {method} | " + " | ".join(cells) + " |")
            parts.append("")
    return "\n".join(parts)


def _tex_escape(text: str) -> str:
    for char, repl in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        text = text.replace(char, repl)
    return text


def to_latex(summary: pd.DataFrame) -> str:
    """summary.tex: one booktabs table per metric with values, best per row in bold."""
    parts = []
    for metric in METRICS:
        header, body, best = metric_table(summary, metric)
        if not body:
            continue
        parts += [r"\begin{table}[t]", r"\centering", r"\small",
                  r"\begin{tabular}{lr" + "c" * (len(header) - 2) + "}", r"\toprule",
                  " & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule"]
        for cells, marks in zip(body, best):
            parts.append(" & ".join(rf"\textbf{{{_tex_escape(c)}}}" if i in marks else _tex_escape(c)
                                    for i, c in enumerate(cells)) + r" \\")
        direction = "lower" if METRICS[metric] else "higher"
        parts += [r"\bottomrule", r"\end{tabular}",
                  rf"\caption{{{_tex_escape(metric)} ({direction} is better): mean [95\% bootstrap interval].}}",
                  r"\end{table}", ""]
    return "\n".join(parts)


def write_curves_png(curves: pd.DataFrame, path: Path) -> None:
    """frac_reversed against samples seen, one line per method (mean over datasets) with a 95% band
    (normal approximation over datasets), per suite."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    # Merged folders may bring the columns as objects (an empty shard's CSV); the band needs numbers.
    curves = curves.astype({"n_seen": float, "frac_reversed": float})
    suites = list(dict.fromkeys(curves["suite"]))
    fig, axes = plt.subplots(1, max(len(suites), 1), figsize=(5 * max(len(suites), 1), 3.6), squeeze=False)
    for ax, suite in zip(axes[0], suites):
        block = curves[curves["suite"] == suite]
        for method, rows in block.groupby("method", sort=False):
            stats = rows.groupby("n_seen")["frac_reversed"].agg(["mean", "sem"]).fillna(0.0)
            style = "-o" if rows["kind"].iloc[0] == "model" else "--s"
            (line,) = ax.plot(stats.index, stats["mean"].to_numpy(), style, label=method, markersize=3)
            half = 1.96 * stats["sem"].to_numpy()
            ax.fill_between(stats.index, stats["mean"] - half, stats["mean"] + half, color=line.get_color(),
                            alpha=0.15, linewidth=0)
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("samples seen")
        ax.set_ylabel("fraction of true edges reversed")
        ax.set_title(str(suite))
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def write_tables(results: pd.DataFrame, curves: pd.DataFrame, out: Path, seed: int = 0,
                 orders: Sequence[dict] = ()) -> Report:
    """Write summary.md, summary.tex, agreement.csv, paired.csv and curves.png into ``out``; return the tables."""
    report = Report(summarize(results, seed), summarize_agreement(pairwise_agreement(orders), seed),
                    truth_summary(results), paired_comparison(results))
    atomic_write_text(out / "summary.md", to_markdown(report.summary, report.agreement, report.truth, report.paired,
                                                      results))
    atomic_write_text(out / "paired.csv", report.paired.to_csv(index=False))
    atomic_write_text(out / "summary.tex", to_latex(report.summary))
    atomic_write_text(out / "agreement.csv", report.agreement.to_csv(index=False))
    if not curves.empty:
        write_curves_png(curves, out / "curves.png")
    else:
        (out / "curves.png").unlink(missing_ok=True)  # a forced re-run keeps no plot of the earlier one
    return report
