"""Progress display: a rich bar on a terminal, plain periodic lines in a batch log (SLURM)."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from simulators.core.resources import Estimate, format_bytes, format_seconds

LONG_JOB_S = 10.0  # jobs estimated to take longer get a line with their size and cost first


def on_terminal() -> bool:
    """Whether progress is drawn as a live bar: stderr is a terminal (not a log or a test's capture)."""
    return sys.stderr.isatty()


def announce(label: str, estimate: Estimate) -> None:
    """On stderr, before a long job: its size and its estimated time and peak memory."""
    if estimate.seconds >= LONG_JOB_S:
        print(f"{label}: {estimate.size}, {format_bytes(estimate.data_bytes)} of data; estimated "
              f"{format_seconds(estimate.seconds)} and {format_bytes(estimate.peak_bytes)} of memory "
              "(rough, from one core of the development machine)", file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress(total: int | None, description: str, every_s: float | None = 30.0, *,
             in_bytes: bool = False, start: int = 0) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, note="", *, completed=None, total=None)``: add ``n`` done (or set
    ``completed``), and set ``total`` once it is known. ``start`` is done already (a resumed run
    counts from its step, not from zero).

    On a TTY: a rich bar, counting file sizes with ``in_bytes``. Otherwise: a line every
    ``every_s`` s, or nothing at all when ``every_s`` is None.
    """
    if on_terminal():
        console = Console(stderr=True)
        amount = DownloadColumn() if in_bytes else MofNCompleteColumn()
        columns = (TextColumn("{task.description}"), BarColumn(), amount, TimeElapsedColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[note]}"))
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(description, total=total, completed=start, note="")

            def advance(n: int = 1, note: str = "", *, completed: int | None = None, total: int | None = None) -> None:
                if completed is None:
                    bar.update(task, advance=n, note=note, total=total)
                else:
                    bar.update(task, completed=completed, note=note, total=total)

            yield advance
        return

    done = start
    began = last = time.monotonic()
    size = total

    def advance(n: int = 1, note: str = "", *, completed: int | None = None, total: int | None = None) -> None:
        nonlocal done, last, size
        done = done + n if completed is None else completed
        size = size if total is None else total
        now = time.monotonic()
        if every_s is not None and (now - last >= every_s or (size is not None and done >= size)):
            last = now
            print(f"{description}: {done}/{size} ({now - began:.0f}s) {note}".rstrip(), file=sys.stderr, flush=True)

    yield advance
