"""The CSV-folder interchange format: ``NAME.csv`` (header = variable names, numeric rows),
optional ``NAME.edges.csv`` (header ``cause,effect``, naming columns of ``NAME.csv``) and, for
interventional data, ``NAME.mask.csv`` (same header, 1 where a value was set by an intervention).
Each file may also be compressed (``NAME.csv.gz`` and the others of `CSV_SUFFIXES`).
The edges may contain cycles (feedback loops of a real system): evaluation accepts them,
training refuses them.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from simulators.core.atomic import atomic_write_bytes
from simulators.storage.csv_read import CSV_SUFFIXES, CsvFormat, CsvSummary, csv_stem, read_header, read_rows, stream_csv
from simulators.core.dataset import Dataset
from simulators.core.errors import InputError
from simulators.storage.shards import sha256_bytes

_SIDE_KINDS = (".edges", ".mask")  # NAME.edges.csv, NAME.mask.csv
_READ_ROWS = 65536  # rows per chunk when a whole file is read into memory


def csv_data_files(folder: Path) -> list[Path]:
    """The data files of a CSV folder (``*.csv``, plain or compressed, except edge and mask files),
    sorted by name; one file per dataset name."""
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        stem = csv_stem(path.name)
        if stem is None or stem.endswith(_SIDE_KINDS) or path.name.startswith(".") or not path.is_file():
            continue
        if stem in files:
            raise InputError(f"{folder}: {files[stem].name} and {path.name} are both dataset {stem!r}; keep one")
        files[stem] = path
    return list(files.values())


def write_csv_dataset(folder: Path, ds: Dataset) -> dict[str, str]:
    """Write ``ds`` atomically as CSV files in ``folder``; returns {file name: sha256}.

    Values are written with 9 significant digits, which round-trips float32 exactly.
    """
    header = ",".join(ds.names)
    contents = {f"{ds.name}.csv": _table(header, ds.x, "%.9g")}
    if ds.graph is not None:
        causes, effects = np.nonzero(ds.graph)
        rows = "".join(f"{ds.names[c]},{ds.names[e]}\n" for c, e in zip(causes, effects))
        contents[f"{ds.name}.edges.csv"] = f"cause,effect\n{rows}".encode("utf-8")
    if ds.mask is not None:
        contents[f"{ds.name}.mask.csv"] = _table(header, ds.mask.astype(np.uint8), "%d")
    for file_name, data in contents.items():
        atomic_write_bytes(folder / file_name, data)
    return {file_name: sha256_bytes(data) for file_name, data in contents.items()}


def _table(header: str, values: np.ndarray, fmt: str) -> bytes:
    buf = io.StringIO()
    np.savetxt(buf, values, fmt=fmt, delimiter=",", header=header, comments="")
    return buf.getvalue().encode("utf-8")


def read_csv_dataset(path: Path, fmt: CsvFormat = CsvFormat()) -> Dataset:
    """A dataset from ``NAME.csv`` and, when present, ``NAME.edges.csv`` and ``NAME.mask.csv``
    (each plain or compressed). ``fmt`` applies to the data and mask files; an edge list always
    has its ``cause,effect`` header and its own sniffed delimiter. Values are float32, a column far
    from zero for its spread less an offset (`simulators.core.float32`): its digits, not its level."""
    path = Path(path)
    summary, x = read_numeric(path, fmt, offset_columns=True)  # float32 that keeps each column's digits
    names = summary.names
    stem = csv_stem(path.name) or path.stem
    edges = _side_file(path, stem, "edges")
    mask_path = _side_file(path, stem, "mask")
    graph = _read_edges(edges, names) if edges is not None else None
    mask = None
    if mask_path is not None:
        mask_summary, mask_values = read_numeric(mask_path, fmt)
        if mask_summary.names != names or mask_values.shape != x.shape or not np.isin(mask_values, (0, 1)).all():
            raise InputError(f"{mask_path}: must have the header and shape of {path.name} and hold only 0/1")
        mask = mask_values.astype(bool)
    return Dataset(name=stem, x=x, graph=graph, names=names, mask=mask,
                   meta={"source": str(path)})


def _side_file(path: Path, stem: str, kind: str) -> Path | None:
    """``STEM.KIND.csv`` beside ``path``, plain or compressed, if there is one."""
    for suffix in CSV_SUFFIXES:
        candidate = path.with_name(f"{stem}.{kind}{suffix}")
        if candidate.is_file():
            return candidate
    return None


def read_numeric(path: str | Path, fmt: CsvFormat = CsvFormat(), *, offset_columns: bool = False,
                 drop_missing: bool = False) -> tuple[CsvSummary, np.ndarray]:
    """Every row of a CSV file, float32, in memory, with what `stream_csv` (which reads it, as
    ``offset_columns`` and ``drop_missing`` say) saw of it; a file with no data rows is refused."""
    summary = CsvSummary(names=[])
    chunks = list(stream_csv(path, _READ_ROWS, fmt=fmt, drop_missing=drop_missing, summary=summary,
                             offset_columns=offset_columns))
    if not chunks:
        raise InputError(f"{path}: no data rows" + (" left after --drop-missing" if summary.dropped else ""))
    return summary, np.concatenate(chunks)


def _read_edges(path: Path, names: list[str]) -> np.ndarray:
    header = read_header(path)
    if header.names != ["cause", "effect"]:
        raise InputError(f"{path}: the header must be 'cause,effect', got {header.sep.join(header.names)!r}")
    position = {name: i for i, name in enumerate(names)}
    graph = np.zeros((len(names), len(names)), dtype=np.uint8)
    rows = read_rows(path, header.sep)[1:]
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != 2 or any(v.strip() not in position for v in row):
            raise InputError(f"{path}: line {line} must name two columns of the data file, got {','.join(row)!r}")
        cause, effect = (position[v.strip()] for v in row)
        if cause == effect:
            raise InputError(f"{path}: line {line} is a self-loop on {row[0].strip()!r}")
        graph[cause, effect] = 1
    return graph
