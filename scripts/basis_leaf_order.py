"""SCORE's leaf removal on the model's own running sums, alone: the order of the leaf cues
(causal_amort/model/leaf_cues.py: the additive score-matching fit of the score cue, refitted by
Schur downdates as leaves are removed), and the score cue's first fit sorted (one static sort).
This prints both orders' fraction of reversed edges.

    python scripts/basis_leaf_order.py runs/select-v5/test-in-d20 [more suites] [--chunk 250]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from causal_amort.evaluation.metrics import frac_reversed
from causal_amort.model.cues import score_matching_cues
from causal_amort.model.leaf_cues import leaf_removal_cues
from causal_amort.model.score_fit import fit_score
from causal_amort.model.sufficient import RunningStats
from causal_amort.runtime.threads import apply_threads
from simulators.storage.io import iter_datasets


def leaf_removal_orders(stats: RunningStats) -> tuple[list[int], list[int]]:
    """(iterative, static) orders of dataset 0, causes first: SCORE's removal (the model's leaf cue
    `leaf_removal_cues`, position), and the first fit sorted by spread (its score cue)."""
    fit = fit_score(stats)
    iterative = torch.argsort(leaf_removal_cues(fit)[0, :, 0], stable=True)
    static = torch.argsort(score_matching_cues(fit)[0][0, :, 0], descending=True, stable=True)
    return iterative.tolist(), static.tolist()


def streamed(x: np.ndarray, chunk: int) -> RunningStats:
    """The running sums of one dataset read in chunks of `chunk` rows."""
    rows = torch.as_tensor(x, dtype=torch.float32)[None]
    stats = RunningStats.start(rows[:, :chunk])
    for block in rows.split(chunk, dim=1):
        stats = stats.add(block)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+")
    parser.add_argument("--chunk", type=int, default=250)
    args = parser.parse_args()
    apply_threads(1)
    for suite in args.suites:
        iterative, static = [], []
        for data in iter_datasets(suite):
            orders = leaf_removal_orders(streamed(data.x, args.chunk))
            iterative.append(frac_reversed(np.asarray(orders[0]), data.graph))
            static.append(frac_reversed(np.asarray(orders[1]), data.graph))
        print(f"{suite}: mean fraction of reversed edges, leaf removal {np.mean(iterative):.3f}, "
              f"one fit sorted {np.mean(static):.3f} ({len(iterative)} datasets)")


if __name__ == "__main__":
    main()
