"""Summary tables from per-dataset results: mean and 95% bootstrap interval per suite x method.

The bootstrap resamples datasets (the unit of replication) with a seeded generator, so the
same results give the same intervals.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulators.atomic import atomic_path, atomic_write_text

# Metric -> whether lower is better; the order is the order of the tables in summary.md.
METRICS: dict[str, bool] = {"frac_reversed": True, "perfect": False, "shd": True, "f1": False, "seconds": True}


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


def summarize(results: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Long table: suite, method, metric, mean, low, high, count (ok rows only), skipped."""
    rows = []
    rng = np.random.default_rng(seed)
    for (suite, method), group in results.groupby(["suite", "method"], sort=False):
        ok = group[group["status"] == "ok"]
        for metric in METRICS:
            iv = bootstrap_interval(ok[metric].to_numpy(dtype=float), rng)
            rows.append({"suite": suite, "method": method, "metric": metric, "mean": iv.mean, "low": iv.low,
                         "high": iv.high, "count": iv.count, "skipped": int(len(group) - len(ok))})
    return pd.DataFrame(rows)


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
    """Rows = suites, columns = methods; also which cells are best in their row."""
    block = summary[summary["metric"] == metric]
    methods = list(dict.fromkeys(block["method"]))
    digits = 4 if metric == "seconds" else 3
    body, best_cols = [], []
    for suite, rows in block.groupby("suite", sort=False):
        best = _best_methods(rows, METRICS[metric])
        by_method = rows.set_index("method")
        body.append([str(suite)] + [_cell(by_method.loc[m], digits) if m in by_method.index else "" for m in methods])
        best_cols.append({i + 1 for i, m in enumerate(methods) if m in best})
    return ["suite"] + methods, body, best_cols


def to_markdown(summary: pd.DataFrame) -> str:
    """summary.md: one table per metric, best per row in bold."""
    parts = ["# Evaluation summary", "",
             "Mean and 95% bootstrap interval over datasets, per suite (rows) and method (columns); "
             "best per row in **bold**. frac_reversed: fraction of true edges the order reverses "
             "(0 is perfect, a random order gets 0.5); perfect: rate of orders with no reversed edge; "
             "shd/f1: after pruning the order to a DAG; seconds: time to find the order.", ""]
    for metric in METRICS:
        header, body, best = metric_table(summary, metric)
        parts += [f"## {metric} ({'lower' if METRICS[metric] else 'higher'} is better)", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for cells, marks in zip(body, best):
            parts.append("| " + " | ".join(f"**{c}**" if i in marks else c for i, c in enumerate(cells)) + " |")
        parts.append("")
    return "\n".join(parts)


def _tex_escape(text: str) -> str:
    for char, repl in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        text = text.replace(char, repl)
    return text


def to_latex(summary: pd.DataFrame) -> str:
    """summary.tex: one booktabs table per metric, best per row in bold."""
    parts = []
    for metric in METRICS:
        header, body, best = metric_table(summary, metric)
        parts += [r"\begin{table}[t]", r"\centering", r"\small",
                  r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}", r"\toprule",
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
    """frac_reversed against samples seen, one line per method (mean over datasets), per suite."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    suites = list(dict.fromkeys(curves["suite"]))
    fig, axes = plt.subplots(1, max(len(suites), 1), figsize=(5 * max(len(suites), 1), 3.6), squeeze=False)
    for ax, suite in zip(axes[0], suites):
        block = curves[curves["suite"] == suite]
        for method, rows in block.groupby("method", sort=False):
            mean = rows.groupby("n_seen")["frac_reversed"].mean()
            style = "-o" if rows["kind"].iloc[0] == "model" else "--s"
            ax.plot(mean.index, mean.to_numpy(), style, label=method, markersize=3)
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


def write_tables(results: pd.DataFrame, curves: pd.DataFrame, out: Path, seed: int = 0) -> pd.DataFrame:
    """Write summary.md, summary.tex and curves.png into ``out``; return the summary."""
    summary = summarize(results, seed)
    atomic_write_text(out / "summary.md", to_markdown(summary))
    atomic_write_text(out / "summary.tex", to_latex(summary))
    if not curves.empty:
        write_curves_png(curves, out / "curves.png")
    return summary
