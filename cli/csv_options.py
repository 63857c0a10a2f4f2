"""The options that say how to read a user's CSV files, shared by the commands that read them."""
from __future__ import annotations

from typing import Optional

import typer

from simulators.storage.csv_read import CsvFormat, parse_sep

SEP: Optional[str] = typer.Option(None, "--sep", metavar="CHAR", show_default=False,
                                  help="Delimiter: one character, or 'tab'. Default: sniffed from the first "
                                  "line (comma, semicolon or tab).")
NO_HEADER: bool = typer.Option(False, "--no-header", help="The CSV has no header row: the first row is data and "
                               "the columns are named X0, X1, ...")
DECIMAL: str = typer.Option(".", "--decimal", metavar="MARK", help="Decimal mark: '.' or ',' (1,5 as spreadsheets "
                            "in much of Europe write it; the delimiter is then sniffed from semicolon or tab).")

INDEX_COL: bool = typer.Option(False, "--index-col", help="The first column holds row labels (sample ids, or the "
                               "index pandas' to_csv writes), not a variable: skip it.")


def csv_format(sep: str | None, no_header: bool, decimal: str, index_col: bool) -> CsvFormat:
    """The reading format the options ask for."""
    return CsvFormat(sep=None if sep is None else parse_sep(sep), header=not no_header, decimal=decimal,
                     index_col=index_col)
