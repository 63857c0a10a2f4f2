"""Can an additive-noise likelihood on the model's own running sums tell a good order from a bad one?

CAM (Buhlmann et al. 2014) scores an order by the sum over variables of the log residual variance
of each one regressed additively on the variables before it. On the streamed sums that is one
Cholesky factor of the feature covariance with the variables' blocks in the order (each block's
first feature is the soft-clipped value s, which the regression targets): the squared diagonal at
s_i is its residual variance given every feature of its predecessors. This probe scores, per SCM,
the true order, a random order, the model's order and the streamed leaf removal
(`basis_leaf_order.py`), and picks the lower-scoring of the model's and the leaf removal's order,
as a rule that reranks candidate orders would. It prints the mean fraction of reversed edges of
each, and how often the true order scores below the random one and below the model's.

    python scripts/likelihood_order_probe.py runs/select-v5/test-in-d20 [more suites] [--model default]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, also when loaded by path (tests)
from basis_leaf_order import leaf_removal_orders, streamed  # noqa: E402
from causal_amort.evaluation.metrics import frac_reversed  # noqa: E402
from causal_amort.inference.api import load_model  # noqa: E402
from causal_amort.model.sufficient import RunningStats  # noqa: E402
from causal_amort.runtime.threads import apply_threads  # noqa: E402
from simulators.storage.io import iter_datasets  # noqa: E402

RIDGE = 1e-3


def additive_score(stats: RunningStats, order: np.ndarray) -> float:
    """Mean over variables of log Var(s_i | all features of the variables before i), on the
    correlation scale (dataset 0 of the sums); lower is a better fit."""
    d, k = stats.d, stats.k
    columns = [feature * d + var for var in order for feature in range(k)]
    cov = stats.covariance()[0][columns][:, columns]
    sd = cov.diagonal().clamp_min(1e-12).sqrt()
    corr = cov / sd[:, None] / sd[None, :] + RIDGE * torch.eye(len(columns), dtype=cov.dtype)
    residual = torch.linalg.cholesky(corr).diagonal()[0::k] ** 2
    return float(residual.log().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+")
    parser.add_argument("--model", default="default")
    parser.add_argument("--chunk", type=int, default=250)
    args = parser.parse_args()
    apply_threads(1)
    model = load_model(args.model, device="cpu")
    names = ("model", "leaf removal", "picked", "true", "random")
    for suite in args.suites:
        reversed_, true_below_random, true_below_model = {name: [] for name in names}, [], []
        for index, data in enumerate(iter_datasets(suite)):
            stats = streamed(data.x, args.chunk)
            graph = nx.DiGraph(data.graph.astype(bool))
            orders = {"model": model.order(data.x).indices,
                      "leaf removal": np.asarray(leaf_removal_orders(stats)[0]),
                      "true": np.asarray(list(nx.topological_sort(graph))),
                      "random": np.random.default_rng(index).permutation(data.x.shape[1])}
            scores = {name: additive_score(stats, order) for name, order in orders.items()}
            orders["picked"] = orders["leaf removal" if scores["leaf removal"] < scores["model"] else "model"]
            for name in names:
                reversed_[name].append(frac_reversed(orders[name], data.graph))
            true_below_random.append(scores["true"] < scores["random"])
            true_below_model.append(scores["true"] < scores["model"])
        print(f"{suite}: fraction reversed " + ", ".join(f"{name} {np.mean(reversed_[name]):.3f}" for name in names)
              + f"; the true order scores below a random one on {np.mean(true_below_random):.2f} of the SCMs, "
              f"below the model's on {np.mean(true_below_model):.2f} ({len(true_below_random)} SCMs)")


if __name__ == "__main__":
    main()
