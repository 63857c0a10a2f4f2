"""Read a numeric CSV table in checked chunks, so a file larger than memory works.

The one reader of CSV data: `amort predict` streams it, and the CSV-folder format
(`simulators.storage.csvio`) reads whole files through it. It takes files as people have them: a
UTF-8 byte-order mark is dropped, the delimiter (comma, semicolon or tab) is sniffed from the
first line, a file without a header row is read with `CsvFormat(header=False)`, decimal commas
(``1,5``, as spreadsheets in much of Europe write them, with semicolons between fields) with
`CsvFormat(decimal=",")`, a first column of row labels (sample ids, or the index that pandas'
``to_csv`` writes) is skipped with `CsvFormat(index_col=True)`, and compressed files (``.gz``,
``.bz2``, ``.xz``, ``.zip``, ``.zst``) are decompressed on the fly.

Every problem is an `InputError` naming the file, the offending column and the line number
(1-based, the header being line 1), because a scientist has to find and fix it by hand.
"""
from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import io
import lzma
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, NamedTuple, TextIO

import numpy as np
import pandas as pd

from simulators.core.errors import InputError
from simulators.core.float32 import FLOAT32_MAX, as_float32, column_offsets

# Candidates for sniffing, in order of preference when they split the first line equally.
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
DECIMAL_MARKS: tuple[str, ...] = (".", ",")
"""The decimal marks a file may use."""
# Rows the parser reads per call: pandas' chunked reader costs up to twice a whole-file parse in
# calls of a few thousand rows, so `stream_csv` parses frames of up to 65,536 rows (fewer for wide
# files: at most 2^20 cells, 8 MB as float64, but never under 1,024 rows) and cuts them into chunks.
_FRAME_ROWS, _FRAME_CELLS, _MIN_FRAME_ROWS = 1 << 16, 1 << 20, 1024


def _unzip(raw: BinaryIO, path: Path) -> BinaryIO:
    archive = zipfile.ZipFile(raw)
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) != 1:
        raise InputError(f"{path}: a .zip must hold exactly one file, found {len(members)}")
    return archive.open(members[0])


def _unzstd(raw: BinaryIO, path: Path) -> BinaryIO:
    try:
        import zstandard  # optional, as for pandas
    except ImportError:
        raise InputError(f"{path}: reading .zst files needs the zstandard package (pip install zstandard)") from None
    return zstandard.open(raw, "rb")


# Compressions read by file extension, as pandas does; each wraps the raw file in a decompressing
# stream, so nothing is decompressed ahead of the parser.
_DECOMPRESSORS: dict[str, Callable[[BinaryIO, Path], BinaryIO]] = {
    ".gz": lambda raw, path: gzip.GzipFile(fileobj=raw, mode="rb"),
    ".bz2": lambda raw, path: bz2.BZ2File(raw),
    ".xz": lambda raw, path: lzma.LZMAFile(raw),
    ".zip": _unzip,
    ".zst": _unzstd,
}
CSV_SUFFIXES: tuple[str, ...] = (".csv",) + tuple(f".csv{ext}" for ext in _DECOMPRESSORS)
"""The names of CSV files in a folder: plain or compressed."""

# Where a first column looks like row labels (an unnamed or non-numeric one), the message says what to do.
_INDEX_HINT = " (row labels, as pandas' to_csv writes its index? --index-col skips the first column)"
# What a damaged or truncated file raises while it is decompressed.
_UNREADABLE = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


@dataclass(frozen=True)
class CsvFormat:
    """How to split a file: ``sep`` None sniffs the delimiter; ``header`` False names columns X0, X1, ...;
    ``decimal`` is the decimal mark, "." or "," (then never the delimiter); ``index_col`` True skips
    the first column (row labels, not a variable)."""

    sep: str | None = None
    header: bool = True
    decimal: str = "."
    index_col: bool = False

    def __post_init__(self) -> None:
        if self.decimal not in DECIMAL_MARKS:
            raise InputError(f"--decimal must be '.' or ',', got {self.decimal!r}")
        if self.sep == self.decimal:
            raise InputError(f"--sep and --decimal cannot both be {self.sep!r}")

    def number(self, text: str) -> float:
        """``text`` as a number written with this decimal mark; ValueError if it is not one."""
        return float(text.replace(self.decimal, "."))


class Header(NamedTuple):
    """The column names of a file and the delimiter it is read with."""

    names: list[str]
    sep: str


@dataclass
class CsvSummary:
    """What a full pass over the file saw: names, row counts, per-column extremes."""

    names: list[str]
    rows: int = 0
    dropped: int = 0
    col_min: np.ndarray = field(default_factory=lambda: np.empty(0))
    col_max: np.ndarray = field(default_factory=lambda: np.empty(0))
    # What `stream_csv` subtracted from each column before the float32 cast (``offset_columns``); None: nothing.
    offsets: np.ndarray | None = None


@dataclass(frozen=True)
class ReadProgress:
    """How far a pass has got: bytes of the file on disk consumed (compressed bytes for a
    compressed file), its size, and data rows parsed."""

    bytes_read: int
    bytes_total: int
    rows: int


def parse_sep(text: str) -> str:
    """The delimiter a user typed: one character, or ``tab`` / ``\\t`` for a tab."""
    sep = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}.get(text.lower(), text)
    if len(sep) != 1 or sep in "\"\r\n":
        raise InputError(f"--sep must be one character (or 'tab'), got {text!r}")
    return sep


def describe_sep(sep: str) -> str:
    """A delimiter in words, for messages: ``semicolon (';')``."""
    return f"{_DELIMITER_NAMES[sep]} ({sep!r})" if sep in _DELIMITER_NAMES else repr(sep)


def csv_stem(name: str) -> str | None:
    """``NAME`` of a file called ``NAME.csv`` or ``NAME.csv.gz`` (any compression read here), else None."""
    lower = name.lower()
    for suffix in CSV_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[tuple[TextIO, BinaryIO]]:
    """The decoded text of ``path`` and the raw file under it, whose position says how much of
    the file on disk has been consumed. A UTF-8 byte-order mark (spreadsheet exports) is dropped."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a CSV file")
    try:
        with open(path, "rb") as raw:
            decompress = _DECOMPRESSORS.get(path.suffix.lower())
            data = decompress(raw, path) if decompress else raw
            with io.TextIOWrapper(data, encoding="utf-8-sig", newline="") as text:
                yield text, raw
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: is not UTF-8 text (byte {exc.object[exc.start]:#04x}); save it as UTF-8 "
                         "(in a spreadsheet: 'CSV UTF-8')") from None
    except _UNREADABLE as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


def _fields(line: str, sep: str) -> list[str]:
    return next(csv.reader([line], delimiter=sep), [])


def read_header(path: Path, fmt: CsvFormat = CsvFormat()) -> Header:
    """Names from the first line (or X0, X1, ... without a header), less the row labels' column
    with ``fmt.index_col``, and the delimiter: the one given, or the candidate that splits the
    first line into the most fields (comma on a tie; never the decimal mark)."""
    with _open_text(path) as (text, _):
        first = text.readline()
    if not first:
        raise InputError(f"{path}: the file is empty")
    line = first.rstrip("\r\n")
    if not line.strip():
        raise InputError(f"{path}: line 1 is blank")
    candidates = [s for s in _DELIMITER_NAMES if s != fmt.decimal]
    sep = fmt.sep or max(candidates, key=lambda s: len(_fields(line, s)))
    fields = _fields(line, sep)[1 if fmt.index_col else 0 :]
    if not fmt.header:
        return Header([f"X{i}" for i in range(len(fields))], sep)
    names = [h.strip() for h in fields]
    seen: set[str] = set()
    for position, name in enumerate(names):
        if not name:
            hint = _INDEX_HINT if position == 0 and not fmt.index_col else ""
            raise InputError(f"{path}: empty column name in the header{hint}")
        if name in seen:
            raise InputError(f"{path}: duplicate column name {name!r}")
        seen.add(name)
    return Header(names, sep)


def read_rows(path: Path, sep: str) -> list[list[str]]:
    """Every row of a small text table (an edge list), header included, as strings."""
    with _open_text(path) as (text, _):
        return list(csv.reader(text, delimiter=sep))


def _is_number(text: str, fmt: CsvFormat) -> bool:
    try:
        fmt.number(text)
    except ValueError:
        return False
    return True


def _data_header(path: Path, fmt: CsvFormat) -> Header:
    """The header of a data table: at least 2 columns, and names that are not all numbers
    (which means the file has no header row, and its first row would be lost)."""
    header = read_header(path, fmt)
    if len(header.names) < 2:
        raise InputError(f"{path}: needs at least 2 columns (variables), found {len(header.names)} with the "
                         f"{describe_sep(header.sep)} delimiter; --sep sets another")
    if fmt.header and all(_is_number(name, fmt) for name in header.names):
        shown = header.sep.join(header.names[:3]) + (header.sep + "..." if len(header.names) > 3 else "")
        raise InputError(f"{path}: the first row ({shown}) is all numbers, not column names; if the file has "
                         "no header row, pass --no-header (the columns are then named X0, X1, ...)")
    return header


def _check_chunk(path: Path, frame: pd.DataFrame, names: list[str], first_line: int, drop_missing: bool,
                 fmt: CsvFormat) -> tuple[np.ndarray, int]:
    """Numeric float64 array of one chunk (rows with missing values dropped if asked) and drop count."""
    for col, name in zip(frame.columns, names):
        series = frame[col]
        if series.dtype.kind not in "fiub":
            numeric = pd.to_numeric(series, errors="coerce")
            bad = numeric.isna() & series.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                value = series.iloc[row]
                hint = ""
                if fmt.decimal == "." and _is_number(str(value), CsvFormat(decimal=",")):
                    hint = " (a decimal comma? --decimal ',' reads 1,5 as 1.5)"
                elif col == frame.columns[0] and not fmt.index_col:
                    hint = _INDEX_HINT
                raise InputError(f"{path}: column {name!r} is not numeric: {value!r} on line {first_line + row}{hint}")
            frame[col] = numeric
    values = frame.to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    beyond = np.argwhere(finite & (np.abs(values) > FLOAT32_MAX))
    if len(beyond):  # not missing, so --drop-missing does not skip it: the model reads float32
        row, col = beyond[0]
        raise InputError(f"{path}: column {names[col]!r} has a value beyond float32's range on line "
                         f"{first_line + int(row)} ({values[row, col]:g}; |x| must be at most {FLOAT32_MAX:.3g}): rescale it")
    if finite.all():
        return values, 0
    bad_rows = ~finite.all(axis=1)
    if drop_missing:
        return values[~bad_rows], int(bad_rows.sum())
    row, col = np.argwhere(~finite)[0]
    what = "a missing (NaN)" if np.isnan(values[row, col]) else "an infinite"
    raise InputError(
        f"{path}: column {names[col]!r} has {what} value on line {first_line + int(row)} "
        "(missing or infinite values are not allowed; `amort predict --drop-missing` skips such rows)"
    )


def _check_width(path: Path, frame: pd.DataFrame, width: int, first_line: int) -> None:
    """A chunk (its first row at line ``first_line``) must have ``width`` columns. The first row of
    the file sets the parser's width, so with more fields the first row that fills them is named."""
    if frame.shape[1] == width:
        return
    row, fields = 0, frame.shape[1]
    if frame.shape[1] > width:
        row = int(np.argmax(frame.iloc[:, width:].notna().any(axis=1).to_numpy()))
        fields = int(frame.iloc[row].notna().sum())
    raise InputError(f"{path}: line {first_line + row} has {fields} fields, expected {width}")


def block_rows(d: int) -> int:
    """Rows per parser block of a file with d columns (what `stream_csv` yields with no chunk size;
    a shorter first block is the whole file)."""
    return max(_MIN_FRAME_ROWS, min(_FRAME_ROWS, _FRAME_CELLS // d))


def stream_csv(path: str | Path, chunk_size: int | None, *, fmt: CsvFormat = CsvFormat(), drop_missing: bool = False,
               summary: CsvSummary | None = None, on_progress: Callable[[ReadProgress], None] | None = None,
               offset_columns: bool = False) -> Iterator[np.ndarray]:
    """Yield float32 chunks of ``chunk_size`` rows (the last may be shorter) from a CSV file; with
    ``chunk_size`` None, blocks as the parser reads them (up to 65,536 rows: fewest copies).
    With ``offset_columns``, each column far from zero relative to its spread is read less an offset
    fixed on the first rows parsed (`simulators.core.float32.column_offsets`, kept in the summary), so
    that float32 keeps its digits: for data a causal order is read from, not for a 0/1 mask.

    Pass a ``CsvSummary`` to collect row counts and per-column extremes during the pass; the
    caller checks constant columns with `check_summary` once the stream is exhausted. ``fmt``
    says how to split the file; ``on_progress`` is called after every block of rows parsed.
    """
    path = Path(path)
    names, sep = _data_header(path, fmt)
    if summary is None:
        summary = CsvSummary(names=names)
    summary.names = names
    frame_rows = block_rows(len(names))
    chunk_size = frame_rows if chunk_size is None else chunk_size
    summary.col_min = np.full(len(names), np.inf)
    summary.col_max = np.full(len(names), -np.inf)
    summary.offsets, offsets_fixed = None, False
    pending: list[np.ndarray] = []
    pending_rows = 0
    first_line = line = 2 if fmt.header else 1
    with _open_text(path) as (text, raw):
        size = os.fstat(raw.fileno()).st_size
        try:
            # No names: given names, pandas would take the extra fields of a first row that has more as an index.
            reader = pd.read_csv(text, sep=sep, chunksize=max(chunk_size, frame_rows), skiprows=first_line - 1,
                                 header=None, skipinitialspace=True, low_memory=False, decimal=fmt.decimal)
            for frame in reader:
                _check_width(path, frame, len(names) + fmt.index_col, line)
                if fmt.index_col:
                    frame = frame.iloc[:, 1:]
                values, dropped = _check_chunk(path, frame, names, line, drop_missing, fmt)
                if offset_columns and not offsets_fixed and len(values):
                    summary.offsets, offsets_fixed = column_offsets(values), True
                values = as_float32(values, summary.offsets)
                line += len(frame)
                if on_progress is not None:
                    on_progress(ReadProgress(raw.tell(), size, line - first_line))
                summary.dropped += dropped
                if len(values):
                    summary.col_min = np.minimum(summary.col_min, values.min(axis=0))
                    summary.col_max = np.maximum(summary.col_max, values.max(axis=0))
                pending.append(values)
                pending_rows += len(values)
                if pending_rows >= chunk_size:  # at most one copy per parsed frame; the chunks are views
                    rows = pending[0] if len(pending) == 1 else np.concatenate(pending)
                    full = pending_rows - pending_rows % chunk_size
                    for start in range(0, full, chunk_size):
                        yield rows[start : start + chunk_size]
                        summary.rows += chunk_size
                    pending, pending_rows = [rows[full:]], pending_rows - full
        except pd.errors.EmptyDataError:
            pass  # a header without rows: no chunks; the caller's row count says so
        except (InputError, UnicodeDecodeError):
            raise  # already one line; a decoding error is worded by _open_text
        except (pd.errors.ParserError, ValueError) as exc:
            raise InputError(f"{path}: malformed CSV ({str(exc).strip().splitlines()[0]})") from None
        if on_progress is not None:  # all read, though the parser never reaches a .zip's closing directory
            on_progress(ReadProgress(size, size, line - first_line))
    if pending_rows:
        summary.rows += pending_rows
        yield np.concatenate(pending)


def sample_rows(path: str | Path, rows: int, fmt: CsvFormat = CsvFormat(),
                offsets: np.ndarray | None = None) -> np.ndarray | None:
    """Up to ``rows`` data rows (float32, less ``offsets`` as `stream_csv` gave them) read at evenly
    spaced byte offsets of an uncompressed file: rows from every part of it, without a pass over it,
    whatever order its rows are in. A line that does not parse as numbers of the header's width is
    left out (the full pass reports it); None for a compressed file, which cannot be read from the
    middle."""
    path = Path(path)
    if path.suffix.lower() in _DECOMPRESSORS:
        return None
    names, sep = _data_header(path, fmt)
    sampled: list[list[float]] = []
    with open(path, "rb") as raw:
        if fmt.header:
            raw.readline()
        start, size, seen = raw.tell(), os.fstat(raw.fileno()).st_size, set()
        for k in range(rows):
            raw.seek(start + (size - start) * k // rows)
            if raw.tell() > start:
                raw.readline()  # the rest of the line the offset fell in
            if raw.tell() in seen or raw.tell() >= size:
                continue
            seen.add(raw.tell())
            fields = _fields(raw.readline().decode("utf-8", errors="replace").rstrip("\r\n"), sep)
            fields = fields[1:] if fmt.index_col else fields
            try:
                values = [fmt.number(field) for field in fields]
            except ValueError:
                continue
            if len(values) == len(names) and all(math.isfinite(v) for v in values):
                sampled.append(values)
    return as_float32(np.asarray(sampled, dtype=np.float64).reshape(-1, len(names)), offsets)


def check_summary(path: str | Path, summary: CsvSummary, min_rows: int) -> None:
    """Checks that need the whole file: enough rows, no constant column."""
    if summary.rows == 0:
        raise InputError(f"{path}: no data rows" + (" left after --drop-missing" if summary.dropped else ""))
    if summary.rows < min_rows:
        rows = f"{summary.rows} row{'' if summary.rows == 1 else 's'}"
        raise InputError(f"{path}: {rows}, but the model needs at least {min_rows} (one chunk)")
    constant = np.flatnonzero(summary.col_max <= summary.col_min)
    if constant.size:
        raise InputError(f"{path}: column {summary.names[constant[0]]!r} is constant; drop it, it carries no signal")
