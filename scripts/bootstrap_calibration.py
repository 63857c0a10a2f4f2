"""How far the bootstrap's agreement tells a right pair from a wrong one, on suites with a known graph.

For each true edge i -> j of each dataset: the model's order on all rows places i before j or not
(right or wrong), and its support is the share of row resamples (`AmortizedOrder.bootstrap`) whose
order agrees with it on that pair. Prints, by bins of support, how many edges fall there and how
many of them the order has right; then per suite the mean support and the share right.

    python scripts/bootstrap_calibration.py runs/model-card-external/suites/* --model default --resamples 20

A report of what the shares mean (docs/default-model.md, "Bootstrap stability"); it chooses nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from causal_amort.inference.api import AmortizedOrder, AmortModel, load_model
from causal_amort.runtime.threads import apply_threads
from simulators.storage.io import iter_datasets

BINS = (0.0, 0.5, 0.7, 0.9, 0.99, 1.0)


def edge_support(model: AmortModel, x: np.ndarray, graph: np.ndarray, resamples: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per true edge (in ``np.nonzero(graph)`` order): the share of ``resamples`` row resamples that
    agree with the order on all rows about that pair, and whether that order has it right (1.0 / 0.0)."""
    position = np.argsort(model.order(x).indices)
    precede = AmortizedOrder(model, prune=None).bootstrap(x, resamples, seed=seed).get_precedence_probabilities()
    cause, effect = np.nonzero(graph)
    right = (position[cause] < position[effect]).astype(float)
    return np.where(right == 1.0, precede[cause, effect], precede[effect, cause]), right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+", type=Path)
    parser.add_argument("--model", default="default")
    parser.add_argument("--resamples", type=int, default=20)
    parser.add_argument("--num", type=int, default=16, help="datasets per suite (the first ones)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    apply_threads(1)
    model = load_model(args.model, device="cpu")
    supports, rights, per_suite = [], [], []
    for suite in args.suites:
        s_all, r_all = [], []
        for index, ds in enumerate(iter_datasets(suite)):
            if index >= args.num:
                break
            support, right = edge_support(model, ds.x, ds.graph, args.resamples, args.seed + index)
            s_all.append(support)
            r_all.append(right)
        support, right = np.concatenate(s_all), np.concatenate(r_all)
        per_suite.append((suite.name, len(s_all), support.mean(), right.mean()))
        supports.append(support)
        rights.append(right)
        print(f"{suite.name}: {len(s_all)} datasets, {len(support)} edges", file=sys.stderr, flush=True)
    support, right = np.concatenate(supports), np.concatenate(rights)
    print("| support | edges | mean support | right |\n|---|---|---|---|")
    for low, high in zip(BINS[:-1], BINS[1:]):
        inside = (support >= low) & ((support < high) if high < 1.0 else (support <= high))
        if inside.any():
            print(f"| {low:.2f}-{high:.2f} | {inside.sum()} | {support[inside].mean():.3f} | {right[inside].mean():.3f} |")
    print(f"| all | {len(support)} | {support.mean():.3f} | {right.mean():.3f} |\n")
    print("| suite | datasets | mean support | right |\n|---|---|---|---|")
    for name, count, mean_support, share_right in per_suite:
        print(f"| {name} | {count} | {mean_support:.3f} | {share_right:.3f} |")


if __name__ == "__main__":
    main()
