"""`amort predict`: the causal order of the variables of a CSV file, causes first."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from causal_amort.inference.pruning import describe_methods
from cli import csv_options
from cli.guard import guarded
from cli.progress import announce, progress
from cli.threads import THREADS
from simulators.core.atomic import atomic_write_text
from simulators.storage.csv_read import ReadProgress, read_header

console = Console(highlight=False)


@guarded
def predict(
    csv_file: Path = typer.Argument(..., metavar="FILE.csv", help="Header row = variable names (or --no-header); one row per sample. "
                                    "May be compressed (.gz, .bz2, .xz, .zip, .zst)."),
    model: str = typer.Option("default", "--model", "-m", help="default, a checkpoint file or a run folder."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write the order (and edges) as JSON here."),
    dag: bool = typer.Option(False, "--dag", help="Also prune the order to a DAG and print it as cause,effect rows."),
    prune: str = typer.Option("lasso", help=f"Pruning for --dag: {describe_methods()}."),
    drop_missing: bool = typer.Option(False, "--drop-missing", help="Skip rows with missing or infinite values "
                                      "instead of failing."),
    sep: Optional[str] = csv_options.SEP,
    no_header: bool = csv_options.NO_HEADER,
    decimal: str = csv_options.DECIMAL,
    index_col: bool = csv_options.INDEX_COL,
    beam: int = typer.Option(1, min=1, help="Beam width of the order decoder (1 = greedy)."),
    require: List[str] = typer.Option([], "--require", metavar="A<B", help="Prior knowledge: A comes before B "
                                      "(quote it in the shell); repeatable."),
    tiers: Optional[Path] = typer.Option(None, "--tiers", metavar="FILE", help="Prior knowledge: one line per tier "
                                         "of comma-separated names; every variable of an earlier tier comes before "
                                         "every one of a later tier, unlisted ones are free."),
    first: List[str] = typer.Option([], "--first", metavar="NAME", help="Prior knowledge: NAME comes before every "
                                    "other variable (e.g. an exogenous treatment); repeatable."),
    last: List[str] = typer.Option([], "--last", metavar="NAME", help="Prior knowledge: NAME comes after every "
                                   "other variable (e.g. an outcome that causes nothing); repeatable."),
    mask: Optional[Path] = typer.Option(None, "--mask", metavar="FILE.csv", help="Interventional data: a CSV file "
                                        "of the same header and rows, 1 where an intervention set the value, 0 "
                                        "elsewhere (read as the data are; not with --drop-missing)."),
    bootstrap: int = typer.Option(0, "--bootstrap", min=0, metavar="N", help="Also order N resamples of the rows "
                                  "(drawn with replacement; the whole file is held in memory) and print each "
                                  "position's support, the share of resamples that put that variable before the "
                                  "next, and with --dag each edge's share of resamples: how much the answer moves "
                                  "with the rows, not that it is right. 0: none."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --bootstrap resamples."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int = THREADS,
) -> None:
    """Predict the causal order of a CSV file's columns.

    Uses a trained model (--model, default: the shipped one). The file is streamed in chunks,
    so files larger than memory work (with two CPUs or more, one of them parses ahead of the
    model); on a terminal a progress bar follows the reading, and with many variables the time and
    memory the model will take once the file is read are printed first. Prints
    the order with the model's confidence at each position (the probability it gave the
    variable it placed: its certainty under the training prior, not a calibrated chance of
    being right on data unlike it). Prior knowledge (--require, --tiers, --first, --last) is honoured
    exactly; contradictory constraints or unknown names are refused.
    """
    from causal_amort.inference.api import load_model
    from causal_amort.inference.constraints import Constraints, read_tiers
    from causal_amort.inference.dequantize import FEW_VALUES
    from causal_amort.inference.predict import bootstrap_csv, check_bootstrap_memory, predict_csv
    from causal_amort.inference.pruning import check_prune_method
    from causal_amort.runtime.threads import apply_threads, use_threads
    from simulators.core.errors import InputError

    choice = use_threads(threads)
    # With two CPUs or more, one parses the file ahead of the model and torch keeps the rest.
    read_ahead = choice.threads >= 2
    if read_ahead:
        apply_threads(choice.threads - 1)
    check_prune_method(prune)
    if out is not None and out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name such as order.json")
    fmt = csv_options.csv_format(sep, no_header, decimal, index_col)
    # The constraints' form (and the tiers file) is checked before the model or the data are read.
    constraints = Constraints(require=require, tiers=read_tiers(tiers) if tiers else (), first=first, last=last)
    variables = len(read_header(csv_file, fmt).names)
    if bootstrap:
        check_bootstrap_memory(csv_file, bootstrap, variables)
    net = load_model(model, device)
    # Many variables take long after the file is read (at d = 1000 about 17 s, 2 min at d = 2000):
    # say so first, as simulate and eval do before a long job.
    after_reading = net.estimate(variables, beam=beam)
    announce(f"ordering {csv_file.name} once read", replace(after_reading, data_bytes=csv_file.stat().st_size))
    with progress(None, f"reading {csv_file.name}", every_s=None, in_bytes=True) as advance:

        def report(done: ReadProgress) -> None:
            advance(note=f"{done.rows:,} rows", completed=done.bytes_read, total=done.bytes_total)

        result = predict_csv(csv_file, net, dag=dag, prune=prune, drop_missing=drop_missing, beam=beam,
                             constraints=constraints, fmt=fmt, on_progress=report,
                             read_ahead_blocks=2 if read_ahead else 0, mask=mask)
    boot = None
    if bootstrap:
        with progress(bootstrap, f"ordering resamples of {csv_file.name}", every_s=None) as advance:
            boot = bootstrap_csv(csv_file, net, bootstrap, prune=prune if dag else None, drop_missing=drop_missing,
                                 constraints=constraints, beam=beam, fmt=fmt, mask=mask, seed=seed,
                                 on_progress=lambda done: advance(completed=done))
    if result.few_values:
        verb = "takes" if len(result.few_values) == 1 else "take"
        spread = net.net.cfg.dequantize_levels
        typer.echo(f"note: {_listed(result.few_values)} {verb} at most {FEW_VALUES} distinct values; "
                   "the model was trained on continuous values and reads such columns poorly"
                   + (f"; it spreads those of at most {spread} values over their bins, which gives back part of "
                      "the loss" if spread else "")
                   + " (docs/default-model.md, Limits: discretized data)", err=True)
    for group in result.copies:
        typer.echo(f"note: {_listed(group)} are exact copies of each other up to scale and shift; which comes first "
                   "cannot be told from the data, so their order among themselves is arbitrary", err=True)
    # A line of its own, not the table's title: rich wraps a title to the (narrow) table's width.
    console.print(f"causal order of {csv_file.name} ({result.rows:,} rows"
                  + (f", {result.dropped_rows:,} dropped" if result.dropped_rows else "")
                  + (f", {result.intervened_rows:,} with an intervention" if mask is not None else "") + "), causes first",
                  highlight=False)
    table = Table()
    table.add_column("position", justify="right")
    table.add_column("variable")
    table.add_column("confidence", justify="right")
    index = {name: i for i, name in enumerate(result.names)}
    if boot is not None:
        table.add_column("support", justify="right")
        precede = boot.get_precedence_probabilities()
        support = [f"{precede[index[a], index[b]]:.2f}" for a, b in zip(result.order, result.order[1:])] + ["-"]
    for position, (name, conf) in enumerate(zip(result.order, result.confidence), start=1):
        table.add_row(str(position), name, f"{conf:.3f}", *([support[position - 1]] if boot is not None else []))
    console.print(table)
    edge_share = None
    if result.edges is not None:
        if boot is not None:  # lingam's orientation: [effect, cause]
            edge_share = [float(boot.get_probabilities()[index[effect], index[cause]]) for cause, effect in result.edges]
        print("cause,effect" + (",support" if edge_share is not None else ""))
        for k, (cause, effect) in enumerate(result.edges):
            print(f"{cause},{effect}" + (f",{edge_share[k]:.2f}" if edge_share is not None else ""))
    if out is not None:
        payload = {"file": str(csv_file), "model": model, "rows": result.rows, "dropped_rows": result.dropped_rows,
                   "order": result.order, "confidence": result.confidence}
        if result.edges is not None:
            payload["edges"] = [list(e) for e in result.edges]
        if result.coefficients is not None:
            payload["coefficients"] = result.coefficients
        if result.few_values:
            payload["few_values"] = result.few_values
        if result.copies:
            payload["copies"] = result.copies
        if boot is not None:
            payload["bootstrap"] = {"resamples": bootstrap, "seed": seed, "precedence": precede.round(4).tolist()}
            if edge_share is not None:
                payload["bootstrap"]["edge_support"] = edge_share
        if constraints:
            payload["constraints"] = constraints.to_dict()
        if mask is not None:
            payload["mask"], payload["intervened_rows"] = str(mask), result.intervened_rows
        atomic_write_text(out, json.dumps(payload, indent=2) + "\n")


def _listed(names: list[str], at_most: int = 5) -> str:
    """'a', 'a and b', 'a, b and c', or the first ``at_most`` and how many more."""
    if len(names) > at_most:
        return ", ".join(names[:at_most]) + f" and {len(names) - at_most} more"
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]
