"""Real measurements with a known answer, as CSV folders that `amort eval` reads.

    python scripts/real_data.py --out runs/real             # downloads the cdt wheel (~1 MB) with pip
    python scripts/real_data.py --out runs/real --wheel cdt-0.6.0-py3-none-any.whl   # offline
    amort eval --data runs/real/sachs --data runs/real/tuebingen --out runs/eval-real \
        --baselines random,varsort,r2sort,lingam,score,nogam

Nothing is stored in this repository and nothing of cdt is installed or imported: the files are read
out of the Causal Discovery Toolbox's wheel (cdt 0.6.0, MIT licence), which bundles
- `sachs`: flow cytometry of 11 phosphoproteins in human T cells, 7466 rows, with the 18-edge
  consensus network (Sachs et al. 2005, Science 308: 523). The rows pool several
  perturbation conditions, and the wheel does not say which row had which, so they are read as
  observational data: a known approximation, as in most papers that use this table.
- `tuebingen`: the Tuebingen cause-effect pairs (Mooij et al. 2016, JMLR 17: 1), 99 pairs of
  real variables (d = 2), each with its known direction; a method's mean fraction of reversed
  edges over the folder is its error rate in telling cause from effect. The wheel stores every
  pair cause first, so a method that kept the column order (or broke ties by it) would look
  perfect: each pair's columns are written in a seeded random order (`--seed`).

These are for reporting only: the default model is never chosen or tuned on them.
"""
from __future__ import annotations

import argparse
import csv
import io
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from simulators.core.dataset import Dataset
from simulators.storage.csvio import write_csv_dataset

WHEEL = "cdt==0.6.0"
RESOURCES = "cdt/data/resources/"


def download_wheel(folder: Path) -> Path:
    """pip-download the cdt wheel (no dependencies, nothing installed) into ``folder``."""
    subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--only-binary=:all:",
                    "-q", "-d", str(folder)], check=True)
    return next(folder.glob("cdt-*.whl"))


def _rows(archive: zipfile.ZipFile, name: str) -> list[list[str]]:
    with archive.open(RESOURCES + name) as raw:
        return list(csv.reader(io.TextIOWrapper(raw, encoding="utf-8")))


def _dataset(name: str, names: list[str], rows: list[list[str]], edges: list[list[str]]) -> Dataset:
    graph = np.zeros((len(names), len(names)), dtype=np.uint8)
    for cause, effect in edges:
        graph[names.index(cause), names.index(effect)] = 1
    return Dataset(name, np.asarray(rows, dtype=np.float32), graph, names)


def write_sachs(archive: zipfile.ZipFile, out: Path) -> None:
    data, edges = _rows(archive, "cyto_full_data.csv"), _rows(archive, "cyto_full_target.csv")
    out.mkdir(parents=True, exist_ok=True)
    write_csv_dataset(out, _dataset("sachs", data[0], data[1:], edges[1:]))


def write_tuebingen(archive: zipfile.ZipFile, out: Path, seed: int = 0) -> int:
    """One CSV per pair (columns A and B, in a random order drawn from ``seed``) and its edge;
    returns the number of pairs."""
    rng = random.Random(seed)
    pairs = {row[0]: row[1:] for row in _rows(archive, "Tuebingen_pairs.csv")[1:]}
    targets = {row[0]: float(row[1]) for row in _rows(archive, "Tuebingen_targets.csv")[1:]}
    out.mkdir(parents=True, exist_ok=True)
    for name, (a, b) in pairs.items():
        xs, ys = a.split(), b.split()
        if len(xs) != len(ys):
            raise ValueError(f"{name}: {len(xs)} values of A but {len(ys)} of B")
        columns = [("A", xs), ("B", ys)]
        rng.shuffle(columns)
        edge = ["A", "B"] if targets[name] > 0 else ["B", "A"]
        write_csv_dataset(out, _dataset(f"pair{int(name.removeprefix('pair')):04d}", [c[0] for c in columns],
                                        list(zip(columns[0][1], columns[1][1])), [edge]))
    return len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for sachs/ and tuebingen/")
    parser.add_argument("--wheel", type=Path, help="a cdt-0.6.0 wheel already downloaded (else pip downloads it)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pairs' column orders")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            write_sachs(archive, args.out / "sachs")
            count = write_tuebingen(archive, args.out / "tuebingen", args.seed)
    print(f"wrote {args.out / 'sachs'} (1 dataset) and {args.out / 'tuebingen'} ({count} pairs)")


if __name__ == "__main__":
    main()
