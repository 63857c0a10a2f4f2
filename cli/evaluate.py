"""`amort eval`: tables of every method on every dataset, or `--merge` of sharded evaluations."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from causal_amort.baselines import FAST_BASELINES
from causal_amort.inference.pruning import describe_methods
from causal_amort.runtime.threads import use_threads
from cli import csv_options
from cli.guard import guarded, warn
from cli.progress import announce, progress
from cli.sharding import resolve_shard
from cli.threads import THREADS
from simulators.core.errors import InputError
from simulators.core.provenance import provenance

if TYPE_CHECKING:
    from causal_amort.evaluation.report import Report

# Logs (not a terminal) get a wide table rather than wrapped cells.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


def print_report(report: Report) -> None:
    """The headline metrics of the suites with a true graph (and, for cyclic truths, the smallest
    frac_reversed any order reaches); for suites without one, timings and the agreement between methods."""
    from causal_amort.evaluation.report import AGREEMENT_NOTE, agreement_matrix, truth_notes

    truth = report.truth.set_index("suite")
    summary = report.summary
    scored = [suite for suite in truth.index if truth.loc[suite, "with_truth"]]
    cyclic = any(truth.loc[suite, "cyclic"] for suite in scored)
    if scored:
        table = Table(title="fraction of true edges reversed by the order (lower is better, random = 0.5)")
        columns = ["suite", "method", "n", "frac_reversed [95% CI]", *(["min possible"] if cyclic else []),
                   "perfect", "shd", "f1", "seconds"]
        for column in columns:
            table.add_column(column, justify="left" if column in ("suite", "method") else "right")
        for (suite, method), block in summary[summary["suite"].isin(scored)].groupby(["suite", "method"], sort=False):
            block = block.set_index("metric")
            fr, means = block.loc["frac_reversed"], block["mean"]
            skipped = int(fr["skipped"])
            count = f"{int(fr['count'])}" + (f" (+{skipped} skipped)" if skipped else "")
            floor = truth.loc[suite]
            least = [("" if floor["floor_exact"] else "≤") + f"{floor['floor']:.3f}"] if cyclic else []
            table.add_row(str(suite), str(method), count, f"{fr['mean']:.3f} [{fr['low']:.3f}, {fr['high']:.3f}]",
                          *least, f"{means['perfect']:.2f}", f"{means['shd']:.1f}", f"{means['f1']:.2f}",
                          f"{means['seconds']:.4f}")
        console.print(table)
    for suite in truth.index.difference(scored, sort=False):
        methods, body = agreement_matrix(report.agreement, suite)
        table = Table(title=f"{suite}: no true graph; {AGREEMENT_NOTE}")
        for column in ["method", "n", "seconds", *methods]:
            table.add_column(column, justify="left" if column == "method" else "right")
        seconds = summary[(summary["suite"] == suite) & (summary["metric"] == "seconds")].set_index("method")
        for method, row in seconds.iterrows():
            cells = next((cells[1:] for cells in body if cells[0] == method), [""] * len(methods))
            table.add_row(str(method), str(int(row["count"])), f"{row['mean']:.4f}", *cells)
        console.print(table)
    for note in truth_notes(report.truth):
        console.print(note)


@guarded
def evaluate(
    paths: List[Path] = typer.Argument(None, show_default=False, metavar="[PATH]...",
                                       help="More --data paths (or, with --merge, more shard folders)."),
    data: List[Path] = typer.Option([], "--data", "-d", help="A suite folder, a CSV folder or a CSV file (plain or "
                                    "compressed); repeatable."),
    model: List[str] = typer.Option(["default"], "--model", "-m",
                                    help="default, a checkpoint / run folder, or LABEL=PATH; repeatable. "
                                    "'none' evaluates baselines only."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for results.csv, orders.jsonl, summary.md/.tex, curves."),
    baselines: str = typer.Option(",".join(FAST_BASELINES), help="Comma list from random,varsort,r2sort,lingam,"
                                  "score,nogam,intsort (reads intervention masks); empty for none."),
    baseline_max_n: int = typer.Option(2000, help="Slow baselines (lingam, score, nogam) see at most this many rows "
                                       "(a seeded random subset); 0 for all."),
    time_limit: float = typer.Option(300.0, help="Seconds per dataset for a slow baseline; past it the row says "
                                     "'timeout'. 0 for no limit."),
    prune: str = typer.Option("lasso", help=f"Order -> DAG pruning for SHD/F1: {describe_methods()}."),
    workers: int = typer.Option(1, help="Processes over datasets, sharing --threads."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, help="Seed for baselines' draws, row subsets and bootstrap intervals."),
    reveal: float = typer.Option(0.0, min=0.0, max=1.0, metavar="FRAC", help="Give the models this seeded random "
                                 "fraction of the true edges as must-precede constraints (labels get +revealFRAC; "
                                 "baselines unchanged)."),
    beam: int = typer.Option(1, min=1, help="Beam width of the models' order decoder (1 = greedy, as shipped); "
                             "labels get +beamK."),
    pool_masks: bool = typer.Option(False, "--pool-masks", help="Models read the rows of interventional data as if "
                                    "observational, ignoring the masks, as the baselines do (labels get +pooled): "
                                    "merged with a plain evaluation it shows what the masks are worth."),
    sep: Optional[str] = csv_options.SEP,
    no_header: bool = csv_options.NO_HEADER,
    decimal: str = csv_options.DECIMAL,
    index_col: bool = csv_options.INDEX_COL,
    num_shards: Optional[int] = typer.Option(None, help="Split datasets over a job array (default: "
                                             "$SLURM_ARRAY_TASK_COUNT or 1)."),
    shard_index: Optional[int] = typer.Option(None, help="This job's shard (default: $SLURM_ARRAY_TASK_ID or 0)."),
    merge_dirs: List[Path] = typer.Option([], "--merge", help="Combine the evaluation folders of shards into --out "
                                          "instead of evaluating; repeatable."),
    force: bool = typer.Option(False, "--force", help="Overwrite an earlier evaluation in --out."),
    threads: int = THREADS,
) -> None:
    """Evaluate models and classical baselines on suites and CSV data.

    Writes results.csv (one row per dataset x method), orders.jsonl, summary.md and summary.tex
    (mean and 95% bootstrap interval per suite x method, best per row marked), agreement.csv
    (how alike the methods' orders are), paired.csv (per pair of methods: share of datasets
    where one reverses fewer edges, Wilcoxon p), curves.csv and curves.png (the model's error against
    samples seen), and prints the summary. Data without a true graph (a CSV file without
    NAME.edges.csv) get orders, timings and the agreement between methods; a true graph with
    cycles is scored as usual, beside the smallest fraction of reversed edges any order reaches.
    """
    # Imported here, not at the top: they load torch, which `amort --help` and the other commands
    # should not wait for (about a second).
    from causal_amort.evaluation.evaluate import (EvalOptions, Evaluated, check_out_dir, merge, parse_model_ref,
                                                  write_outputs)
    from causal_amort.evaluation.evaluate import evaluate as evaluate_datasets
    from causal_amort.runtime.devices import resolve_device

    choice = use_threads(threads, workers)
    extra = list(paths or [])
    if merge_dirs:
        check_out_dir(out, force)
        folders = list(merge_dirs) + extra
        results, orders, curves = merge(folders)
        meta = {"merged_from": [str(f) for f in folders], **provenance(), "seed": seed, "threads": choice.record()}
        report, curves_png = write_outputs(out, results, orders, curves, meta), not curves.empty
    else:
        sources = list(data) + extra
        if not sources:
            raise InputError("give data to evaluate with --data PATH (a suite, CSV folder or CSV file)")
        refs = [] if model == ["none"] else [parse_model_ref(m) for m in model]
        options = EvalOptions(baseline_max_n=baseline_max_n or None, time_limit_s=time_limit or None,
                              device=resolve_device(device), prune=prune, seed=seed, reveal=reveal, beam=beam,
                              pool_masks=pool_masks)
        shards, index = resolve_shard(num_shards, shard_index)
        fmt = csv_options.csv_format(sep, no_header, decimal, index_col)
        events = evaluate_datasets(sources, refs, [b.strip() for b in baselines.split(",") if b.strip()], options,
                                   out, workers=workers, worker_threads=choice.per_worker, num_shards=shards,
                                   shard_index=index, fmt=fmt, force=force, meta={"threads": choice.record()})
        planned = next(events)
        if planned.cyclic:
            warn(f"{len(planned.cyclic)} true graph(s) have a directed cycle (first: {planned.cyclic[0]}); no order "
                 "can be perfect on them: their reversed edges are scored as usual, beside the fewest any order "
                 "reaches")
        label = f"eval shard {index + 1}/{shards}" if shards > 1 else "eval"
        announce(label, planned.estimate)
        with progress(planned.datasets * planned.methods, label) as advance:
            for event in events:
                if isinstance(event, Evaluated):
                    rows = event.result.rows
                    advance(planned.methods, note=rows[0]["dataset"] if rows else "")
                else:
                    report, curves_png = event.report, event.curves_png
    print_report(report)
    console.print(f"wrote {out}/results.csv, orders.jsonl, summary.md, summary.tex, agreement.csv, paired.csv, "
                  "curves.csv" + (", curves.png" if curves_png else ""))
