"""Reading datasets from wherever they are: a suite folder, a CSV folder or one CSV file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

from simulators.storage.csv_read import CSV_SUFFIXES, CsvFormat, csv_stem
from simulators.storage.csvio import csv_data_files, read_csv_dataset
from simulators.core.dataset import Dataset
from simulators.core.errors import InputError
from simulators.storage.manifest import MANIFEST, read_json, read_manifest
from simulators.storage.shards import sha256_bytes, unpack_shard


def iter_datasets(path: str | os.PathLike, fmt: CsvFormat = CsvFormat(),
                  keep: Callable[[int], bool] | None = None) -> Iterator[Dataset]:
    """Datasets of a suite (``manifest.json``), of a CSV folder (``NAME.csv`` + optional
    ``NAME.edges.csv``), or of one CSV file; ``fmt`` says how to read a user's CSV files (a
    suite's own are always read as written). Suite files are checked against their sha256:
    a corrupted or truncated shard, an incomplete suite or a malformed file is an InputError.

    ``keep(position)`` selects datasets by their position in the source (0, 1, ...); the others
    are never read, and a suite's shard is read only when it holds a kept dataset."""
    path = Path(path)
    keep = keep or (lambda position: True)
    kind = _source_kind(path)
    if kind == "suite":
        yield from _iter_suite(path, keep)
    elif kind == "folder":
        for position, file in enumerate(csv_data_files(path)):
            if keep(position):
                yield read_csv_dataset(file, fmt)
    elif keep(0):
        yield read_csv_dataset(path, fmt)


def count_datasets(path: str | os.PathLike) -> int:
    """How many datasets ``iter_datasets`` yields for ``path`` without ``keep``, read from the
    suite's manifest or the folder's file names (nothing is decoded); the same InputErrors."""
    path = Path(path)
    kind = _source_kind(path)
    if kind == "suite":
        return sum(len(shard["datasets"]) for shard in _complete_manifest(path)["shards"])
    return len(csv_data_files(path)) if kind == "folder" else 1


def _source_kind(path: Path) -> str:
    """"suite", "folder" (of CSV files) or "file" (one CSV file); InputError for anything else."""
    if path.is_dir():
        if (path / MANIFEST).exists():
            return "suite"
        if not csv_data_files(path):
            raise InputError(f"{path} holds neither a suite ({MANIFEST}) nor CSV files")
        return "folder"
    if path.is_file():
        if csv_stem(path.name) is None:
            raise InputError(f"{path}: expected a suite folder, a CSV folder or a file ending in "
                             + ", ".join(CSV_SUFFIXES))
        return "file"
    raise InputError(f"no such file or folder: {path}")


def source_name(path: str | os.PathLike) -> str:
    """The name of a data source in tables: the folder name of a suite or CSV folder, the file
    name without ``.csv`` (and compression suffix) of a single file."""
    path = Path(path).resolve()
    return (csv_stem(path.name) or path.stem) if path.is_file() else path.name


def _complete_manifest(folder: Path) -> dict:
    manifest = read_manifest(folder)
    if not manifest.get("complete"):
        raise InputError(f"suite {folder} is incomplete (an interrupted or still running `amort simulate`); "
                         "rerun the same command to finish it")
    return manifest


def _iter_suite(folder: Path, keep: Callable[[int], bool]) -> Iterator[Dataset]:
    manifest = _complete_manifest(folder)
    start = 0
    for shard in manifest["shards"]:
        positions = range(start, start + len(shard["datasets"]))
        start = positions.stop
        if not any(keep(p) for p in positions):
            continue  # not one of this shard's datasets is wanted: neither read nor checksummed
        if manifest["plan"]["format"] == "npz":
            (name, sha), = shard["files"].items()
            datasets = unpack_shard(_verified(folder / name, sha), str(folder / name))
            yield from (ds for p, ds in zip(positions, datasets) if keep(p))
        else:
            record = read_json(folder / shard["record"], "shard record")
            for p, meta in zip(positions, record["datasets"]):
                if not keep(p):
                    continue
                stem = meta["name"]
                for name, sha in shard["files"].items():
                    if name.startswith(f"{stem}."):
                        _verified(folder / name, sha)
                ds = read_csv_dataset(folder / f"{stem}.csv")
                ds.meta = {k: v for k, v in meta.items() if k != "name"}
                yield ds


def _verified(path: Path, sha256: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: missing from the suite; rerun `amort simulate` with --force") from None
    if sha256_bytes(data) != sha256:
        raise InputError(f"{path}: sha256 mismatch (corrupted or truncated); rerun `amort simulate` with --force")
    return data
