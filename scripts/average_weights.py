"""Average the weights of checkpoints of one network into a new checkpoint ("model soup").

    python scripts/average_weights.py default runs/default-v7-base --out runs/soup-v6-v7base

Each source is what `--model` accepts (default, a checkpoint file, a run folder: best, else
last). Every source must hold the same network (the same model config up to the settings that
do not change weights, checkpoint.NOT_WEIGHTS); the average is uniform over the sources. The
result is a run folder with `checkpoints/best.{safetensors,json}` whose JSON records the
first source's config and, under metrics, the sources it averages; `--model OUT` reads it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from causal_amort.model import checkpoint as ckpt
from causal_amort.model.order_model import OrderModel
from simulators.core.errors import InputError


def average(sources: list[str], out: Path) -> Path:
    """Write the uniform weight average of ``sources`` to ``out``; return its checkpoint JSON."""
    first = ckpt.read_checkpoint(ckpt.resolve_checkpoint(sources[0]))
    total: dict[str, torch.Tensor] = {}
    for source in sources:
        json_path = ckpt.init_checkpoint(source, first.config.model)  # refuses another network
        model = OrderModel(first.config.model)
        ckpt.load_weights(model, json_path)
        for name, tensor in model.state_dict().items():
            total[name] = total.get(name, 0.0) + tensor.double()
    model = OrderModel(first.config.model)
    model.load_state_dict({name: (value / len(sources)).float() for name, value in total.items()})
    return ckpt.save_checkpoint(out / "checkpoints", ckpt.BEST, model, first.config, first.step,
                                metrics={"averaged": [str(s) for s in sources]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="checkpoints to average (what --model accepts)")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    args = parser.parse_args()
    if len(args.sources) < 2:
        sys.exit("error: give at least two checkpoints to average")
    if args.out.exists():
        sys.exit(f"error: {args.out} exists; choose another --out")
    try:
        print(f"wrote {average(args.sources, args.out)}")
    except InputError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
