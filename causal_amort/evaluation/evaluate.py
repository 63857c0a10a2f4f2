"""The evaluation harness: every method on every dataset, one row per dataset x method.

Methods are amortized models (checkpoints) and classical baselines. A model streams each
dataset chunk by chunk; its order after every chunk gives the refinement curve (fraction of
true edges reversed against samples seen). A baseline that fails or runs past the time
limit still gets its row, with the status saying why, so that nothing silently vanishes
from the tables.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from causal_amort.baselines import BASELINES, FAST_BASELINES
from causal_amort.inference.constraints import reveal_edges
from causal_amort.evaluation.measure import Cost, TimeLimitExceeded, measured
from causal_amort.evaluation.metrics import (frac_reversed, is_perfect, min_reversed, order_divergence, precision_recall_f1,
                                  shd)
from causal_amort.inference.pruning import check_prune_method, prune_order
from causal_amort.evaluation.report import FACTORS, Report, write_tables
from causal_amort.runtime.threads import apply_threads
from simulators.storage.csv_read import CsvFormat
from simulators.core.dataset import Dataset
from simulators.core.errors import InputError
from simulators.core.sharding import check_shard
from simulators.prior.graphs import is_acyclic
from simulators.storage.io import count_datasets, iter_datasets, source_name

# The generating family of each factor of a simulated SCM (empty for a user's data).
FAMILY_COLUMNS = tuple(f"{factor}_family" for factor in FACTORS)
RESULT_COLUMNS = ["index", "suite", "dataset", "method", "kind", "status", "d", "n", "n_used", "intervened_rows",
                  "edges", "d_top",
                  "frac_reversed", "frac_reversed_min", "frac_reversed_min_exact", "perfect", "shd", "f1",
                  "precision", "recall", "seconds", "peak_mb", *FAMILY_COLUMNS]
# Columns that evaluations written before they existed lack; merge reads those as unknown.
_LATER_COLUMNS = ("frac_reversed_min", "frac_reversed_min_exact", "intervened_rows", *FAMILY_COLUMNS)
CURVE_COLUMNS = ["index", "suite", "dataset", "method", "kind", "n_seen", "frac_reversed"]


@dataclass(frozen=True)
class ModelRef:
    """A model to evaluate: its label in the tables and where to load it from."""

    label: str
    path: str


@dataclass(frozen=True)
class EvalOptions:
    """Everything that shapes an evaluation besides the data and the models."""

    baselines: tuple[str, ...] = FAST_BASELINES
    baseline_max_n: int | None = 2000
    time_limit_s: float | None = 300.0
    device: str = "cpu"
    prune: str = "lasso"
    seed: int = 0
    curve_points: int = 12
    reveal: float = 0.0  # fraction of the true edges given to models as must-precede constraints
    beam: int = 1  # the models' decoder: 1 = greedy, else a beam search this wide
    pool_masks: bool = False  # the models read intervened rows as observational ones (what masks are worth)


@dataclass
class DatasetResult:
    """The rows one dataset contributes to results.csv, orders.jsonl and curves.csv."""

    rows: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    curves: list[dict] = field(default_factory=list)


def parse_model_ref(text: str) -> ModelRef:
    """``default``, ``PATH`` or ``LABEL=PATH``; the label names the method in the tables."""
    label, sep, path = text.partition("=")
    if not sep:
        path = text
        label = "amort" if text == "default" else f"amort:{Path(text.rstrip('/')).stem or text}"
    if not label or not path:
        raise InputError(f"--model {text!r}: expected default, PATH or LABEL=PATH")
    return ModelRef(label=label, path=path)


def check_baselines(names: Sequence[str]) -> tuple[str, ...]:
    """Validate baseline names against the registry."""
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise InputError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}")
    return tuple(dict.fromkeys(names))


def plan(paths: Sequence[str | Path], num_shards: int = 1, shard_index: int = 0,
         fmt: CsvFormat = CsvFormat()) -> list[tuple[int, str, Dataset]]:
    """The datasets of this shard, as (global index, suite name, dataset), in a fixed order; a
    user's CSV files are read as ``fmt`` says.

    Dataset k of the concatenated sources belongs to shard k mod num_shards, so the shards
    of a SLURM array split the unsharded run exactly and merge back into it.
    """
    check_shard(num_shards, shard_index)
    items, offset = [], 0
    for path in paths:
        suite = source_name(path)
        count = count_datasets(path)
        # Only this shard's datasets are read (a SLURM array task does not decode the whole suite).
        mine = [p for p in range(count) if (offset + p) % num_shards == shard_index]
        wanted = set(mine)
        for position, dataset in zip(mine, iter_datasets(path, fmt, keep=wanted.__contains__)):
            items.append((offset + position, suite, dataset))
        offset += count
    if offset == 0:
        raise InputError("no datasets found in " + ", ".join(str(p) for p in paths))
    return items


def cyclic_truths(items: Sequence[tuple[int, str, Dataset]]) -> list[str]:
    """Names of the planned datasets whose true graph has a directed cycle (no order can be perfect)."""
    return [ds.name for _, _, ds in items if ds.graph is not None and not is_acyclic(ds.graph)]


def curve_chunk_counts(total_chunks: int, points: int) -> list[int]:
    """About ``points`` chunk counts, spaced geometrically from 1 to ``total_chunks`` (both kept)."""
    grid = np.unique(np.round(np.geomspace(1, total_chunks, num=max(points, 2))).astype(int))
    return [int(k) for k in grid]


# Loaded models, per process: pool workers load each checkpoint once, not per dataset.
_MODELS: dict[tuple[str, str], tuple[object, object]] = {}


def load_cached_model(ref: ModelRef, device: str):
    """Load a model once per process and device (pool workers reuse it across datasets)."""
    from causal_amort.model.checkpoint import load_model

    key = (ref.path, device)
    if key not in _MODELS:
        _MODELS[key] = load_model(ref.path, device)
    return _MODELS[key]


def truth_columns(graph: np.ndarray | None) -> dict:
    """The result columns that depend on the true graph only: its edges and the smallest
    fraction of them any order can reverse (0 for a DAG; see metrics.min_reversed). Without
    a true graph they are unknown (NaN), as every metric against it."""
    if graph is None:
        return {"edges": np.nan, "frac_reversed_min": np.nan, "frac_reversed_min_exact": np.nan}
    edges = int(np.count_nonzero(graph))
    fewest, exact = min_reversed(graph)
    return {"edges": edges, "frac_reversed_min": fewest / edges if edges else np.nan,
            "frac_reversed_min_exact": exact}


def _order_metrics(order: np.ndarray, dataset: Dataset, prune: str) -> dict:
    """Metrics of an order against the true graph; none without one (the data are not pruned then)."""
    graph = dataset.graph
    if graph is None:
        return {}
    pruned = prune_order(dataset.x, order, method=prune)
    precision, recall, f1 = precision_recall_f1(pruned, graph)
    return {"d_top": order_divergence(order, graph), "frac_reversed": frac_reversed(order, graph),
            "perfect": float(is_perfect(order, graph)), "shd": shd(pruned, graph), "f1": f1,
            "precision": precision, "recall": recall}


def _row(index: int, suite: str, dataset: Dataset, truth: dict, method: str, kind: str, status: str, n_used: int,
         order: np.ndarray | None, cost: Cost | None, prune: str) -> dict:
    d, n = dataset.x.shape[1], dataset.x.shape[0]
    row = {"index": index, "suite": suite, "dataset": dataset.name, "method": method, "kind": kind,
           "status": status, "d": d, "n": n, "n_used": n_used,
           "intervened_rows": 0 if dataset.mask is None else int(dataset.mask.any(axis=1).sum()),
           **{f"{factor}_family": (dataset.meta.get(factor) or {}).get("family", "") for factor in FACTORS},
           "seconds": cost.seconds if cost else np.nan, "peak_mb": cost.peak_mb if cost else np.nan, **truth}
    if order is not None:
        row.update(_order_metrics(order, dataset, prune))
    return row


def _run_model(index: int, suite: str, dataset: Dataset, truth: dict, ref: ModelRef, options: EvalOptions,
               result: DatasetResult) -> None:
    from causal_amort.inference.stream import chunk_array, spread_quantiles, stream_orders

    model, cfg = load_cached_model(ref, options.device)
    chunk_size = cfg.data.chunk_size
    total_chunks = -(-dataset.x.shape[0] // chunk_size)
    wanted = set(curve_chunk_counts(total_chunks, options.curve_points))

    precede, label = None, ref.label
    if options.reveal:
        label = f"{ref.label}+reveal{options.reveal:g}"
        if dataset.graph is not None:  # seeded per dataset, like the baselines' draws
            precede = reveal_edges(dataset.graph, options.reveal, np.random.default_rng([options.seed, index, 1]))
    if options.beam > 1:
        label = f"{label}+beam{options.beam}"
    if options.pool_masks:
        label = f"{label}+pooled"

    # Interventional data: the model reads the mask beside the values (of the baselines only intsort
    # does), unless asked to pool every row as observational.
    masks = None if dataset.mask is None or options.pool_masks else chunk_array(dataset.mask, chunk_size)

    def run() -> list:
        # The standardization is fixed on each column's order statistics over the whole dataset, as
        # the Python API does for an array: the answer does not depend on the order of the rows. (In
        # the timed call: it is part of the model's work.)
        anchor = spread_quantiles(dataset.x, chunk_size)
        return list(stream_orders(model, chunk_array(dataset.x, chunk_size), device=options.device,
                                  decode_at=wanted.__contains__, precede=precede, masks=masks,
                                  standardize_on=anchor, beam=options.beam))

    steps, cost = measured(run, device=options.device)
    final = steps[-1].order
    result.rows.append(_row(index, suite, dataset, truth, label, "model", "ok", dataset.x.shape[0], final, cost,
                            options.prune))
    result.orders.append({"suite": suite, "dataset": dataset.name, "method": label,
                          "order": [dataset.names[i] for i in final]})
    if dataset.graph is not None:
        for step in steps:
            result.curves.append({"index": index, "suite": suite, "dataset": dataset.name, "method": label,
                                  "kind": "model", "n_seen": step.n_seen,
                                  "frac_reversed": frac_reversed(step.order, dataset.graph)})


def _run_baseline(index: int, suite: str, dataset: Dataset, truth: dict, name: str, options: EvalOptions,
                  result: DatasetResult) -> None:
    baseline = BASELINES[name]
    # Rows for subsampling and the baseline's own draws come from a per-dataset seed, so a
    # shard reproduces exactly what the unsharded run computes for the same dataset.
    rng = np.random.default_rng([options.seed, index])
    x = dataset.x
    # A method that reads intervention masks gets them (--pool-masks is about the models).
    mask = dataset.mask if baseline.reads_masks else None
    if baseline.slow and options.baseline_max_n and x.shape[0] > options.baseline_max_n:
        rows = np.sort(rng.choice(x.shape[0], options.baseline_max_n, replace=False))
        x, mask = x[rows], None if mask is None else mask[rows]
    limit = options.time_limit_s if baseline.slow else None
    try:
        device = options.device if baseline.uses_device else "cpu"
        order, cost = measured(lambda: baseline.fit_order(x, rng, device=device, mask=mask), time_limit_s=limit,
                               device=device)
        status = "ok"
    except TimeLimitExceeded:
        order, cost, status = None, None, f"timeout>{limit:g}s"
    except Exception as exc:  # a baseline's numerical failure is a result to report, not a crash
        order, cost, status = None, None, f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    result.rows.append(_row(index, suite, dataset, truth, name, "baseline", status, x.shape[0], order, cost,
                            options.prune))
    if order is not None:
        result.orders.append({"suite": suite, "dataset": dataset.name, "method": name,
                              "order": [dataset.names[i] for i in order]})
    if order is not None and dataset.graph is not None and not baseline.slow and baseline.reads_data:
        # Fast data-driven baselines also get a curve: the same method on the first n rows,
        # at a few n (a method that ignores the data would draw noise around its mean).
        # A refit that fails on a row subset (too few rows for the method, say) leaves a NaN
        # point on the curve; the method's row above keeps its own status.
        for n_seen in sorted({min(x.shape[0], m) for m in (100, 300, 1000, 3000, 10000)}):
            try:
                sub_order = baseline.fit_order(x[:n_seen], np.random.default_rng([options.seed, index, n_seen]),
                                               mask=None if mask is None else mask[:n_seen])
                point = frac_reversed(sub_order, dataset.graph)
            except Exception:  # noqa: BLE001 (as above: a numerical failure is a result, not a crash)
                point = float("nan")
            result.curves.append({"index": index, "suite": suite, "dataset": dataset.name, "method": name,
                                  "kind": "baseline", "n_seen": n_seen, "frac_reversed": point})


def evaluate_dataset(index: int, suite: str, dataset: Dataset, models: Sequence[ModelRef],
                     options: EvalOptions) -> DatasetResult:
    """All methods on one dataset."""
    result = DatasetResult()
    truth = truth_columns(dataset.graph)
    for ref in models:
        _run_model(index, suite, dataset, truth, ref, options, result)
    for name in options.baselines:
        _run_baseline(index, suite, dataset, truth, name, options, result)
    return result


def run_eval(items: Sequence[tuple[int, str, Dataset]], models: Sequence[ModelRef], options: EvalOptions,
             workers: int = 1, worker_threads: int = 1) -> Iterator[DatasetResult]:
    """Yield each dataset's result in plan order, in-process or over ``workers`` processes
    of ``worker_threads`` threads each."""
    if workers <= 1:
        for index, suite, dataset in items:
            yield evaluate_dataset(index, suite, dataset, models, options)
        return
    # spawn, not fork: forking a process that already runs torch threads can deadlock.
    context = multiprocessing.get_context("spawn")
    # Each worker gets its share of the threads (torch, BLAS and OpenMP): W workers then share
    # the machine instead of oversubscribing it, which slows BLAS-heavy pruning manyfold.
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=apply_threads,
                             initargs=(worker_threads,)) as pool:
        # At most two datasets per worker in flight: each submitted one is a pickled copy of its data.
        pending: deque = deque()
        for index, suite, dataset in items:
            pending.append(pool.submit(evaluate_dataset, index, suite, dataset, models, options))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def collect(results: Sequence[DatasetResult]) -> tuple[pd.DataFrame, list[dict], pd.DataFrame]:
    """Results table, order records and curve table from per-dataset results."""
    rows = [r for res in results for r in res.rows]
    orders = [o for res in results for o in res.orders]
    curves = [c for res in results for c in res.curves]
    return (pd.DataFrame(rows, columns=RESULT_COLUMNS), orders, pd.DataFrame(curves, columns=CURVE_COLUMNS))


@dataclass(frozen=True)
class Planned:
    """Yielded by `evaluate` once the datasets are planned and the models load, before any method
    runs: how much there is to do and the estimate of its cost (``estimate``: a costs.Estimate)."""

    datasets: int
    methods: int
    num_shards: int
    shard_index: int
    cyclic: list[str]  # names of planned datasets whose true graph has a directed cycle
    estimate: object


@dataclass(frozen=True)
class Evaluated:
    """Yielded by `evaluate` after each dataset, in plan order."""

    result: DatasetResult


@dataclass(frozen=True)
class Written:
    """Yielded last by `evaluate`: the tables, written into the output folder."""

    report: Report
    curves_png: bool


EvalEvent = Planned | Evaluated | Written


def evaluate(sources: Sequence[str | Path], models: Sequence[str | ModelRef], baselines: Sequence[str],
             options: EvalOptions, out: str | Path, *, workers: int = 1, worker_threads: int = 1,
             num_shards: int = 1, shard_index: int = 0, fmt: CsvFormat = CsvFormat(), force: bool = False,
             meta: dict | None = None) -> Iterator[EvalEvent]:
    """Evaluate ``models`` ("default", paths or LABEL=PATH, or ModelRefs) and ``baselines`` on the
    datasets of ``sources`` (suites, CSV folders, CSV files) into ``out``, as `amort eval` does:
    results.csv, orders.jsonl, curves.csv, eval.json (with ``meta`` added) and the summary tables.

    Yields Planned, then Evaluated per dataset, then Written. Every refusal (an existing evaluation
    without ``force``, unknown baselines, a bad checkpoint, too little memory) is an InputError
    raised before any method runs."""
    from causal_amort.evaluation.costs import estimate_eval  # costs reads this module's options and model cache
    from causal_amort.inference.stream import check_beam
    from simulators.core.provenance import provenance
    from simulators.core.resources import check_memory

    out = Path(out)
    check_beam(options.beam)  # before any folder is made
    check_out_dir(out, force)
    if not sources:
        raise InputError("give data to evaluate (a suite, CSV folder or CSV file)")
    refs = [m if isinstance(m, ModelRef) else parse_model_ref(m) for m in models]
    names = check_baselines(baselines)
    if not refs and not names:
        raise InputError("nothing to evaluate: no model and no baselines")
    check_prune_method(options.prune)
    options = replace(options, baselines=names)
    items = plan(sources, num_shards, shard_index, fmt)
    for ref in refs:  # load once up front, so a bad checkpoint fails before any work
        load_cached_model(ref, options.device)
    estimate = estimate_eval(items, refs, options, workers)
    check_memory("eval", estimate, "evaluate fewer or smaller datasets, or with fewer --workers")
    yield Planned(len(items), len(refs) + len(names), num_shards, shard_index, cyclic_truths(items), estimate)
    done = []
    for result in run_eval(items, refs, options, workers, worker_threads):
        done.append(result)
        yield Evaluated(result)
    results, orders, curves = collect(done)
    record = {"data": [str(s) for s in sources], "csv_format": fmt.__dict__, "models": [r.__dict__ for r in refs],
              "options": options.__dict__, "num_shards": num_shards, "shard_index": shard_index, **provenance(),
              "seed": options.seed, **(meta or {})}
    yield Written(write_outputs(out, results, orders, curves, record), not curves.empty)


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse to overwrite an earlier evaluation unless forced."""
    if (out / "results.csv").exists() and not force:
        raise InputError(f"{out} already holds an evaluation (results.csv); use --force to overwrite it")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise InputError(f"{out} is not writable")


def write_outputs(out: Path, results: pd.DataFrame, orders: list[dict], curves: pd.DataFrame, meta: dict) -> Report:
    """Write results.csv, orders.jsonl, curves.csv, eval.json and the summary tables; return the tables."""
    from simulators.core.atomic import atomic_write_text

    atomic_write_text(out / "results.csv", results.to_csv(index=False))
    atomic_write_text(out / "orders.jsonl", "".join(json.dumps(o) + "\n" for o in orders))
    atomic_write_text(out / "curves.csv", curves.to_csv(index=False))
    atomic_write_text(out / "eval.json", json.dumps(meta, indent=2, default=str))
    return write_tables(results, curves, out, seed=int(meta.get("seed", 0)), orders=orders)


def read_outputs(folder: Path) -> tuple[pd.DataFrame, list[dict], pd.DataFrame]:
    """Read back one evaluation folder (e.g. one shard) written by `write_outputs`."""
    try:
        results = pd.read_csv(folder / "results.csv")
        curves = pd.read_csv(folder / "curves.csv")
        with open(folder / "orders.jsonl", encoding="utf-8") as fh:
            orders = [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError as exc:
        raise InputError(f"{folder}: not an evaluation folder (missing {Path(exc.filename).name})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, json.JSONDecodeError) as exc:
        raise InputError(f"{folder}: unreadable evaluation output ({str(exc).splitlines()[0]})") from None
    for column in _LATER_COLUMNS:
        if column not in results.columns:
            results[column] = np.nan
    missing = set(RESULT_COLUMNS) - set(results.columns)
    if missing:
        raise InputError(f"{folder}/results.csv lacks columns {sorted(missing)}")
    results = results[RESULT_COLUMNS]
    return results, orders, curves


def _merged_index(results: Sequence[pd.DataFrame]) -> dict[tuple[str, str], int]:
    """(suite, dataset) -> index. Shards of one run agree on every dataset's index and keep it;
    otherwise datasets are numbered in the order the folders first list them."""
    pairs = pd.concat([r[["suite", "dataset", "index"]] for r in results]).drop_duplicates()
    consistent = not pairs.duplicated(["suite", "dataset"]).any() and not pairs.duplicated("index").any()
    if consistent:
        return {(s, d): int(i) for s, d, i in zip(pairs["suite"], pairs["dataset"], pairs["index"])}
    first = pairs.drop_duplicates(["suite", "dataset"])
    return {(s, d): i for i, (s, d) in enumerate(zip(first["suite"], first["dataset"]))}


def merge(folders: Sequence[Path]) -> tuple[pd.DataFrame, list[dict], pd.DataFrame]:
    """Combine evaluation folders: the shards of one run (into the tables the unsharded run
    would have written), or runs over different data lists, e.g. baselines evaluated once and
    models later, or two presets evaluated apart (datasets are then renumbered)."""
    parts = [read_outputs(Path(f)) for f in folders]
    results = pd.concat([p[0] for p in parts], ignore_index=True)
    if results.duplicated(["suite", "dataset", "method"]).any():
        raise InputError("the folders overlap: some dataset x method appears twice (same shard given twice?)")
    index = _merged_index([p[0] for p in parts])
    order_keys = {(r["suite"], r["dataset"], r["method"]): r for p in parts for r in p[1]}
    curves = pd.concat([p[2] for p in parts], ignore_index=True)
    for table in (results, curves):
        table["index"] = [index[key] for key in zip(table["suite"], table["dataset"])]
    results = results.sort_values("index", kind="stable").reset_index(drop=True)
    orders = [order_keys[k] for k in zip(results["suite"], results["dataset"], results["method"]) if k in order_keys]
    curves = curves.sort_values("index", kind="stable").reset_index(drop=True)
    return results, orders, curves
