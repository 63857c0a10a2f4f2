"""Reading datasets from wherever they are: a suite folder, a CSV folder or one CSV file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from simulators.csv_read import CSV_SUFFIXES, CsvFormat, csv_stem
from simulators.csvio import csv_data_files, read_csv_dataset
from simulators.dataset import Dataset
from simulators.errors import InputError
from simulators.manifest import MANIFEST, read_json, read_manifest
from simulators.shards import sha256_bytes, unpack_shard


def iter_datasets(path: str | os.PathLike, fmt: CsvFormat = CsvFormat()) -> Iterator[Dataset]:
    """Datasets of a suite (``manifest.json``), of a CSV folder (``NAME.csv`` + optional
    ``NAME.edges.csv``), or of one CSV file; ``fmt`` says how to read a user's CSV files (a
    suite's own are always read as written). Suite files are checked against their sha256:
    a corrupted or truncated shard, an incomplete suite or a malformed file is an InputError."""
    path = Path(path)
    if path.is_dir():
        if (path / MANIFEST).exists():
            yield from _iter_suite(path)
            return
        files = csv_data_files(path)
        if not files:
            raise InputError(f"{path} holds neither a suite ({MANIFEST}) nor CSV files")
        for file in files:
            yield read_csv_dataset(file, fmt)
    elif path.is_file():
        if csv_stem(path.name) is None:
            raise InputError(f"{path}: expected a suite folder, a CSV folder or a file ending in "
                             + ", ".join(CSV_SUFFIXES))
        yield read_csv_dataset(path, fmt)
    else:
        raise InputError(f"no such file or folder: {path}")


def source_name(path: str | os.PathLike) -> str:
    """The name of a data source in tables: the folder name of a suite or CSV folder, the file
    name without ``.csv`` (and compression suffix) of a single file."""
    path = Path(path).resolve()
    return (csv_stem(path.name) or path.stem) if path.is_file() else path.name


def _iter_suite(folder: Path) -> Iterator[Dataset]:
    manifest = read_manifest(folder)
    if not manifest.get("complete"):
        raise InputError(f"suite {folder} is incomplete (an interrupted or still running `amort simulate`); "
                         "rerun the same command to finish it")
    for shard in manifest["shards"]:
        if manifest["plan"]["format"] == "npz":
            (name, sha), = shard["files"].items()
            yield from unpack_shard(_verified(folder / name, sha), str(folder / name))
        else:
            record = read_json(folder / shard["record"], "shard record")
            for meta in record["datasets"]:
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
