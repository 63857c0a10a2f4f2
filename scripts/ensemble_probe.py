"""Would an ensemble of order models order better than its members? A probe, not a feature.

Each member reads the same rows (standardized on each column's order statistics, as `amort eval`
does) and begins its own cached decode; at every position the ensemble places the variable with
the highest sum of the members' log-probabilities (the product of their next-variable
distributions), and every member is told that variable. With one member this is the member's own
greedy order. Writes `OUT/results.csv` with the columns `scripts/selection_score.py` reads, one
row per suite, dataset and member or ensemble (`A+B` is the ensemble of A and B):

    python scripts/ensemble_probe.py runs/select-4252/* --members G=default F=runs/.../step-00012000.json \
        C128=... --ensembles G+F G+C128 G+F+C128 --out runs/probe-ensembles
    python scripts/selection_score.py runs/probe-ensembles --models G F C128 G+F G+C128 G+F+C128

With ``--flips N`` every member also reads the data with N - 1 sign patterns (every variable
negated, then seeded random subsets negated): a variable's sign does not change the causal order,
so this is a test-time augmentation of one network, decoded the same way.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from causal_amort.evaluation.evaluate import plan
from causal_amort.evaluation.metrics import frac_reversed
from causal_amort.inference.stream import spread_quantiles
from causal_amort.model.checkpoint import load_model
from causal_amort.model.decoding import beam_search
from causal_amort.model.order_model import OrderModel
from causal_amort.runtime.inference_mode import inference
from causal_amort.runtime.threads import apply_threads


class _SummedSteps:
    """`DecodeSteps` over the members' own cached decodes: the next logits are the sum of their
    log-probabilities, and each member is told every placed variable."""

    def __init__(self, steps: list) -> None:
        self.steps = steps

    def next_logits(self) -> torch.Tensor:
        return sum(torch.log_softmax(step.next_logits().float(), dim=-1) for step in self.steps)

    def advance(self, parent: torch.Tensor | None, var: torch.Tensor) -> None:
        for step in self.steps:
            step.advance(parent, var)


def sign_patterns(d: int, flips: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`flips` sign vectors (d,): all +1, then all -1, then random ones drawn from `rng`."""
    fixed = [np.ones(d, dtype=np.float32), -np.ones(d, dtype=np.float32)]
    return (fixed + [rng.choice([-1.0, 1.0], size=d).astype(np.float32) for _ in range(flips - 2)])[:flips]


def ensemble_order(members: list[OrderModel], x: np.ndarray, chunk_size: int = 250,
                   signs: list[np.ndarray] | None = None) -> np.ndarray:
    """The greedy order (causes first) of the product of the members' next-variable distributions on x
    (n, d), each member on x times each of `signs` (default: x as it is); `chunk_size` rows of each
    column's order statistics fix the standardization, as in eval."""
    d = x.shape[1]
    memories = []
    with inference():
        for sign in signs or [np.ones(d, dtype=np.float32)]:
            signed = np.ascontiguousarray(x * sign)
            rows = torch.from_numpy(signed)[None]
            anchor = torch.from_numpy(spread_quantiles(signed, chunk_size))[None]
            memories += [(model, model.advance(model.standardize(model.init_memory(1, d, "cpu"), anchor), rows,
                                               None, encode=True)) for model in members]
        steps = _SummedSteps([model.decoder.begin(m.state, m.pairs) for model, m in memories])
        # The library's greedy decode over the summed steps (its state only gives the batch and d).
        order, _ = beam_search(lambda state, pairs: steps, memories[0][1].state)
    return order[0].numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+")
    parser.add_argument("--members", nargs="+", required=True, help="LABEL=MODEL (default, a checkpoint or a run)")
    parser.add_argument("--ensembles", nargs="*", default=[], help="labels joined by +, e.g. G+F")
    parser.add_argument("--flips", type=int, default=1, help="sign patterns each member reads (1: the data as given)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.flips < 1:
        raise SystemExit("--flips must be at least 1")
    apply_threads(1)
    if any("=" not in member for member in args.members):
        raise SystemExit("--members takes LABEL=MODEL")
    refs = dict(member.split("=", 1) for member in args.members)
    combos = {label: [label] for label in refs} | {name: name.split("+") for name in args.ensembles}
    unknown = sorted({label for labels in combos.values() for label in labels} - set(refs))
    if unknown:
        raise SystemExit(f"ensembles name labels that are not members: {', '.join(unknown)}")
    loaded = {label: load_model(ref, "cpu") for label, ref in refs.items()}
    chunk_sizes = {cfg.data.chunk_size for _, cfg in loaded.values()}
    if len(chunk_sizes) > 1:
        raise SystemExit(f"the members were trained on different chunk sizes ({sorted(chunk_sizes)})")
    models = {label: model.eval() for label, (model, _) in loaded.items()}
    rows = []
    for index, (_, suite, dataset) in enumerate(plan(args.suites)):
        x = dataset.x.astype(np.float32)
        signs = sign_patterns(x.shape[1], args.flips, np.random.default_rng([7, index]))
        for name, labels in combos.items():
            order = ensemble_order([models[label] for label in labels], x, *chunk_sizes, signs)
            rows.append({"suite": suite, "dataset": dataset.name, "method": name, "status": "ok",
                         "frac_reversed": frac_reversed(order, dataset.graph)})
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out / "results.csv", index=False)
    print(f"wrote {args.out / 'results.csv'} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
