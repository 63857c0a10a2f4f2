"""`amort simulate`: write a suite of simulated SCM datasets from a preset or a spec file."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from causal_amort.runtime.threads import use_threads
from cli.guard import guarded
from cli.progress import announce, progress
from cli.sharding import resolve_shard
from cli.threads import THREADS
from simulators.core.errors import InputError
from simulators.prior.spec import PRESETS, load_spec
from simulators.core.resources import check_memory
from simulators.storage.suite import SuitePlan, SuiteStatus, estimate_suite, suite_status, write_suite

console = Console(highlight=False)


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def print_status(out: Path, status: SuiteStatus) -> None:
    """The summary table of what the suite folder holds."""
    s = status.summary
    state = "complete" if status.complete else f"incomplete: {status.shards_done} of {status.shards_total} shards"
    table = Table(title=f"{out} ({state})")
    for column in ("datasets", "d", "n", "edges/var", "var-sort", "var-sort raw", "R²-sort"):
        table.add_column(column, justify="right")
    if s.get("datasets"):
        span = lambda lo, hi: str(lo) if lo == hi else f"{lo}-{hi}"  # noqa: E731
        table.add_row(str(s["datasets"]), span(s["d_min"], s["d_max"]), span(s["n_min"], s["n_max"]),
                      _fmt(s["edges_per_var"]), _fmt(s["var_sortability"]), _fmt(s["var_sortability_raw"]),
                      _fmt(s["r2_sortability"]))
    console.print(table)
    console.print("var-sort / R²-sort: fraction of causal paths along which variance / R² increases "
                  "(0.5 = uninformative); var-sort raw is before standardization.")


@guarded
def simulate(
    preset: Optional[str] = typer.Option(None, help=f"Prior to draw SCMs from: {', '.join(PRESETS)} "
                                         "(default train)."),
    spec: Optional[Path] = typer.Option(None, help="A TOML spec file instead of a preset (same layout as "
                                        "simulators/prior/presets/*.toml)."),
    num_datasets: int = typer.Option(64, help="Datasets in the suite."),
    d: int = typer.Option(20, "--d", help="Variables per dataset."),
    d_min: Optional[int] = typer.Option(None, help="With --d-max: draw d per dataset uniformly from a range."),
    d_max: Optional[int] = typer.Option(None, help="Upper end of the d range."),
    n: int = typer.Option(1000, "--n", help="Samples per dataset."),
    seed: int = typer.Option(0, help="Root seed; dataset i uses SeedSequence(entropy=(seed, spec salt), spawn_key=(i,))."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Suite folder (default runs/suites/NAME-dD-nN-sSEED)."),
    interventions: int = typer.Option(0, help="Perfect interventions on K random targets per dataset "
                                      "(rows split into K+1 regimes; the mask is stored)."),
    intervention_kind: str = typer.Option("perfect", "--intervention-kind", help="perfect: a target's value is "
                                          "redrawn, cut from its parents; shift: its mechanism is kept and its value "
                                          "moved by 1-3 standard deviations (a soft intervention)."),
    standardize: bool = typer.Option(True, "--standardize/--no-standardize",
                                     help="Z-score every variable (default) or keep the raw scale."),
    workers: int = typer.Option(1, help="Processes, sharing --threads; the data do not depend on it."),
    format: str = typer.Option("npz", "--format", help="npz (shards + manifest) or csv (NAME.csv + NAME.edges.csv)."),
    num_shards: Optional[int] = typer.Option(None, help="Split over a job array (default $SLURM_ARRAY_TASK_COUNT "
                                             "or 1). Task I writes the shard files k with k mod K == I into the "
                                             "same --out; the union equals the unsharded suite, and the task that "
                                             "finishes last writes the complete manifest."),
    shard_index: Optional[int] = typer.Option(None, help="This task's index (default $SLURM_ARRAY_TASK_ID or 0)."),
    force: bool = typer.Option(False, "--force", help="Overwrite a complete or different suite in --out."),
    threads: int = THREADS,
) -> None:
    """Simulate a suite of SCM datasets from a preset or a spec file.

    Presets are priors over SCMs: train, test-in (same prior, other seeds) or a shift of the
    graphs, mechanisms and/or noise (test-graph, test-mechanism, test-noise, test-out).

    The suite folder holds manifest.json (spec, seeds, package versions, shards with sha256) and
    shard-XXXXX.npz files (or CSV files with --format csv). The same command gives the same data
    bit for bit, whatever --workers; an interrupted run resumes when run again.
    """
    use_threads(threads, workers)  # the pool's workers inherit one worker's share
    if preset is not None and spec is not None:
        raise InputError("give --preset or --spec, not both")
    prior = load_spec(str(spec) if spec is not None else preset or "train")
    if (d_min is None) != (d_max is None):
        raise InputError("give both --d-min and --d-max (or neither, and --d)")
    lo, hi = (d_min, d_max) if d_min is not None else (d, d)
    plan = SuitePlan(spec=prior, num_datasets=num_datasets, n=n, d_min=lo, d_max=hi, seed=seed,
                     interventions=interventions, standardize=standardize, format=format,
                     intervention_kind=intervention_kind)
    count, index = resolve_shard(num_shards, shard_index)
    size = f"d{lo}" if lo == hi else f"d{lo}-{hi}"
    out = out if out is not None else Path("runs/suites") / f"{prior.name}-{size}-n{n}-s{seed}"
    estimate = estimate_suite(plan, workers=workers, num_shards=count, shard_index=index)
    check_memory("simulate", estimate, "lower --d, --n or --workers")
    label = f"simulate {prior.name}" + (f" [shard {index + 1}/{count}]" if count > 1 else "")
    announce(label, estimate)

    events = write_suite(plan, out, workers=workers, num_shards=count, shard_index=index, force=force)
    first = next(events)
    with progress(first.total, label) as advance:
        advance(first.done, first.note)
        for event in events:
            advance(1, event.note)
    print_status(out, suite_status(out))
