"""Progress display: a rich bar on a terminal, plain periodic lines in a batch log (SLURM)."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextlib.contextmanager
def progress(total: int, description: str, every_s: float = 30.0) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, note="")``. On a TTY: a rich bar. Otherwise: a line every ``every_s`` s."""
    if sys.stderr.isatty():
        console = Console(stderr=True)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"))
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(description, total=total, note="")

            def advance(n: int = 1, note: str = "") -> None:
                bar.update(task, advance=n, note=note)

            yield advance
        return

    done = 0
    last = time.monotonic()
    start = last

    def advance(n: int = 1, note: str = "") -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= every_s or done >= total:
            last = now
            print(f"{description}: {done}/{total} ({now - start:.0f}s) {note}".rstrip(), file=sys.stderr, flush=True)

    yield advance
