"""Named suites of other simulators' SCMs (``SUITES``, data), and writing one as a CSV folder that
`amort eval` reads (``NAME.csv`` + ``NAME.edges.csv`` per dataset).

Dataset i of suite S with seed s is drawn from ``SeedSequence(entropy=[s, crc32(S)], spawn_key=(i,))``:
the same files for the same (S, s, i, d, n) under the same BLAS and thread count (the GP suites' n x n
Cholesky factor can move a value by one float32 step across thread counts; `eval_default_model.sh`
runs one thread). Every dataset is standardized and its columns shuffled before it is written,
whatever the generator does (see its module)."""
from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from simulators.core.atomic import atomic_write_text
from simulators.core.dataset import Dataset
from simulators.core.errors import InputError
from simulators.core.zscore import zscore
from simulators.external import cdt, notears
from simulators.storage.csvio import write_csv_dataset

RECORD = "external.json"
# name -> (generator, settings). notears: graph kind, edges per variable, mechanism; cdt: mechanism.
SUITES: dict[str, tuple[str, dict]] = {
    "notears-linear-gumbel-ER2": ("notears", {"graph": "ER", "edges_per_var": 2, "mechanism": "linear-gumbel"}),
    "notears-linear-exp-SF2": ("notears", {"graph": "SF", "edges_per_var": 2, "mechanism": "linear-exp"}),
    "notears-mlp-ER2": ("notears", {"graph": "ER", "edges_per_var": 2, "mechanism": "mlp"}),
    "notears-mim-ER2": ("notears", {"graph": "ER", "edges_per_var": 2, "mechanism": "mim"}),
    "notears-gp-ER2": ("notears", {"graph": "ER", "edges_per_var": 2, "mechanism": "gp"}),
    "notears-gpadd-ER2": ("notears", {"graph": "ER", "edges_per_var": 2, "mechanism": "gp-add"}),
    "notears-mlp-SF4": ("notears", {"graph": "SF", "edges_per_var": 4, "mechanism": "mlp"}),
    "notears-gpadd-ER4": ("notears", {"graph": "ER", "edges_per_var": 4, "mechanism": "gp-add"}),
    **{f"cdt-{kind}": ("cdt", {"mechanism": kind}) for kind in cdt.MECHANISMS},
}


def _raw(generator: str, settings: dict, d: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(graph (d, d), values (n, d)) as the generator draws them."""
    if generator == "notears":
        graph = notears.simulate_dag(d, settings["edges_per_var"], settings["graph"], rng)
        return graph, notears.simulate_sem(graph, n, settings["mechanism"], rng)
    graph = cdt.simulate_dag(d, rng)
    return graph, cdt.simulate(graph, n, settings["mechanism"], rng)


def _check(suite: str, d: int, n: int, seed: int) -> None:
    if suite not in SUITES:
        raise InputError(f"unknown external suite {suite!r} (known: {', '.join(SUITES)})")
    if d < 2 or n < 2:
        raise InputError(f"an external suite needs d >= 2 and n >= 2, got d={d}, n={n}")
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")


def external_dataset(suite: str, index: int, d: int, n: int, seed: int) -> Dataset:
    """Dataset ``index`` of ``suite`` (``SUITES``) on d variables and n rows, standardized, its
    columns in a random order (the graph permuted with them)."""
    _check(suite, d, n, seed)
    generator, settings = SUITES[suite]
    rng = np.random.default_rng(np.random.SeedSequence(entropy=[seed, zlib.crc32(suite.encode())], spawn_key=(index,)))
    graph, values = _raw(generator, settings, d, n, rng)
    if not np.isfinite(values).all():
        raise InputError(f"{suite}: dataset {index} has non-finite values (d={d}, n={n})")
    columns = rng.permutation(d)
    return Dataset(f"{suite}-{index:05d}", zscore(values[:, columns]).astype(np.float32),
                   graph[np.ix_(columns, columns)].astype(np.uint8), [f"X{i}" for i in range(d)],
                   meta={"generator": generator, **settings, "suite": suite, "index": index, "seed": seed})


def _read_record(record: Path) -> dict | None:
    """The settings a folder's ``RECORD`` names (None where it cannot be read: other settings)."""
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):
        return None


def write_external_suite(suite: str, out: Path, *, num: int, d: int, n: int, seed: int) -> Iterator[int]:
    """Write datasets 0..num-1 of ``suite`` into the CSV folder ``out``, yielding how many are done.
    Each file is written atomically and a dataset whose files exist is kept, so a rerun resumes; the
    folder's ``RECORD`` names the settings, and other settings into the same folder are refused."""
    if num < 1:
        raise InputError(f"num must be >= 1, got {num}")
    _check(suite, d, n, seed)
    settings = {"suite": suite, "seed": seed, "d": d, "n": n, **dict(zip(("generator", "settings"), SUITES[suite]))}
    record = out / RECORD
    if record.exists() and _read_record(record) != settings:
        raise InputError(f"{out} holds {suite} with other settings ({record}); write into a fresh folder")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, json.dumps(settings, indent=1, sort_keys=True))
    for i in range(num):
        name = f"{suite}-{i:05d}"
        if not ((out / f"{name}.csv").exists() and (out / f"{name}.edges.csv").exists()):
            write_csv_dataset(out, external_dataset(suite, i, d, n, seed))
        yield i + 1
