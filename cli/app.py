"""The `amort` command: simulate SCM suites, train the order model, evaluate, predict."""
from __future__ import annotations

import typer

from cli import evaluate, predict, simulate, train

app = typer.Typer(
    name="amort",
    help="Amortized causal structure learning: simulate SCMs under shift, train an iterative "
    "causally masked order model, evaluate it against classical baselines, predict orders for a CSV.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich help cuts long defaults with "…" at 80 columns and takes "[...]" in
    # help texts for markup.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("simulate")(simulate.simulate)
app.command("train")(train.train)
app.command("eval")(evaluate.evaluate)
app.command("predict")(predict.predict)


def main() -> None:
    """Console-script entry point."""
    app()
