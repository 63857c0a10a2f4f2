"""How well the kernel score cue's own order does, by sample size: the fraction of reversed edges of
SCORE's leaf removal on the streamed row sample (kernel_cues.py) over a suite, for m = 64, 128, 256.

    python scripts/kernel_cue_order.py runs/select-v5/test-in-d20 [--chunk 250]

Run it on selection suites only (it chose model.kernel_rows, docs/selection-rule-v8.md)."""
from __future__ import annotations

import argparse

import numpy as np
import torch

from causal_amort.evaluation.metrics import frac_reversed
from causal_amort.model.kernel_cues import kernel_score_cues
from causal_amort.model.sufficient import RunningStats
from causal_amort.runtime.threads import apply_threads
from simulators.storage.io import iter_datasets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--rows", type=int, nargs="+", default=[64, 128, 256])
    args = parser.parse_args()
    apply_threads(1)
    datasets = list(iter_datasets(args.suite))
    for m in args.rows:
        errors = []
        for data in datasets:
            x = torch.as_tensor(data.x, dtype=torch.float32)[None]
            stats = RunningStats.start(x[:, : args.chunk], reservoir_rows=m)
            for chunk in x.split(args.chunk, dim=1):
                stats = stats.add(chunk)
            position = kernel_score_cues(stats)[0, :, 0].numpy()
            errors.append(frac_reversed(np.argsort(position, kind="stable"), data.graph))
        print(f"{args.suite}  m = {m}: mean fraction of reversed edges {np.mean(errors):.3f} ({len(errors)} datasets)")


if __name__ == "__main__":
    main()
