"""Turn expected failures into a one-line message and a non-zero exit, never a traceback."""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from simulators.core.errors import InputError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable)


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    # escape: messages quote user input and ranges such as "[low, high]", which are not markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    """Print ``warning: message`` on stderr (one line); the command goes on."""
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", markup=True)


def guarded(fn: F) -> F:
    """Decorator for commands: InputError -> exit 2, OSError -> exit 1, Ctrl-C -> exit 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            raise _fail(str(exc), 2) from None
        except OSError as exc:
            raise _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), 1) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]
