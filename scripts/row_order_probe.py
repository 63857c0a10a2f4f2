"""Does a model's answer depend on the order of the rows? Rules v21 and v22's probe, on selection suites.

A statistics model fixes each variable's robust standardization on a few rows before it sums every
row. This runs a model through `AmortModel.order` on each dataset of the given suites in three row
orders (as given; sorted by the values of the file's first column; sorted by the values of the
first root of the true graph), each with the standardization fixed on the first ``chunk_size``
rows ("first"), on rows at evenly spaced positions ("spread", rule v21) and on each column's
order statistics at evenly spaced ranks ("quantile", rule v22: the API's default for an array),
and writes an `amort eval`-style results.csv (method = ANCHOR/ORDER) for
`scripts/selection_score.py`:

    python scripts/row_order_probe.py runs/select-v5/{test-in-d20,train-d2-60,...} --out runs/select-v21
    python scripts/selection_score.py runs/select-v21 --models first/given spread/given
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from causal_amort.evaluation.metrics import frac_reversed
from causal_amort.inference.api import load_model
from causal_amort.inference.stream import spread_quantiles, spread_rows
from causal_amort.runtime.threads import apply_threads
from simulators.core.atomic import atomic_write_text
from simulators.storage.io import iter_datasets, source_name

def reordered(x: np.ndarray, graph: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of ``x`` as given, sorted by its first column, and sorted by its first root's values."""
    root = int(np.flatnonzero(graph.sum(axis=0) == 0)[0])
    return {"given": x, "sorted-col0": x[np.argsort(x[:, 0], kind="stable")],
            "sorted-root": x[np.argsort(x[:, root], kind="stable")]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+", type=Path)
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", type=Path, required=True, help="folder for results.csv")
    args = parser.parse_args()
    apply_threads(1)
    model = load_model(args.model, device="cpu")
    rows = []
    for suite in args.suites:
        for dataset in iter_datasets(suite):
            for order, x in reordered(dataset.x, dataset.graph).items():
                size = model.chunk_size
                for anchor, standardize_on in (("first", x[:size]), ("spread", x[spread_rows(len(x), size)]),
                                               ("quantile", spread_quantiles(x, size))):
                    result = model.order(x, standardize_on=standardize_on)
                    rows.append({"suite": source_name(suite), "dataset": dataset.name, "method": f"{anchor}/{order}",
                                 "status": "ok", "frac_reversed": frac_reversed(result.indices, dataset.graph)})
        done = pd.DataFrame(rows)
        means = done[done.suite == source_name(suite)].groupby("method").frac_reversed.mean()
        print(source_name(suite), " ".join(f"{m} {v:.4f}" for m, v in means.items()), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "results.csv", pd.DataFrame(rows).to_csv(index=False))


if __name__ == "__main__":
    main()
