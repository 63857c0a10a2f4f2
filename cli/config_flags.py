"""Command options that set config keys, declared once as rows of a table.

As timm's train.py declares each setting once in its parser, a command lists its config-backed
flags as `ConfigFlag` rows: `config_options` makes them the command's typer options and
`flag_overrides` turns the parsed values into dotted config overrides, so a flag's name, key,
type and help cannot disagree between the two.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ConfigFlag:
    """``flag VALUE`` sets config key ``key``, e.g. ``--batch-size 8`` -> ``data.batch_size = 8``."""

    flag: str
    key: str
    type: type
    help: str

    @property
    def param(self) -> str:
        """The keyword the command receives the value as: ``--batch-size`` -> ``batch_size``."""
        return self.flag.removeprefix("--").replace("-", "_")

    def parameter(self) -> inspect.Parameter:
        """The typer option, as a parameter of the command's signature (None when not given)."""
        option = typer.Option(None, self.flag, help=f"{self.help} ({self.key}).")
        return inspect.Parameter(self.param, inspect.Parameter.KEYWORD_ONLY, default=option,
                                 annotation=Optional[self.type])


def config_options(flags: tuple[ConfigFlag, ...]) -> Callable[[F], F]:
    """Decorator: the command's ``**settings`` parameter becomes one typer option per row of
    ``flags`` (typer reads the options from the signature, so the signature is rewritten)."""

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        command.__signature__ = signature.replace(parameters=[*kept, *(f.parameter() for f in flags)])
        return command

    return decorate


def flag_overrides(flags: tuple[ConfigFlag, ...], settings: dict[str, object]) -> dict[str, object]:
    """The dotted config overrides of the flags given on the command line."""
    return {f.key: settings[f.param] for f in flags if settings.get(f.param) is not None}
