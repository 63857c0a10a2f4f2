"""The app starts, lists its commands, and `python -m cli` works."""
import re
import subprocess
import sys

import typer
from typer.testing import CliRunner

from cli.app import app


def test_help_lists_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("simulate", "train", "eval", "predict"):
        assert name in result.output


def test_python_dash_m_cli_runs():
    out = subprocess.run([sys.executable, "-m", "cli", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert "simulate" in out.stdout


def _flat(text: str) -> str:
    """Help text with its line wrapping undone (click also breaks lines after hyphens)."""
    return re.sub(r"\s+", " ", re.sub(r"-\n\s*", "-", text)).strip()


def test_help_at_80_columns_shows_every_option_and_default_in_full():
    root = typer.main.get_command(app)
    runner = CliRunner()
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "80"}, terminal_width=80)
    summaries = top.output.split("Commands:")[1]
    assert top.exit_code == 0 and "..." not in summaries and "…" not in summaries
    for name, command in root.commands.items():
        result = runner.invoke(app, [name, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert result.exit_code == 0, result.output
        assert max(len(line) for line in result.output.splitlines()) <= 80, name
        assert "…" not in result.output, name
        shown = _flat(result.output)
        ctx = typer.Context(command, info_name=name)
        for param in command.params:
            record = param.get_help_record(ctx)
            if record is None:
                continue
            names, help_text = record
            if param.param_type_name == "option":
                for option in (*param.opts, *param.secondary_opts):
                    assert option in shown, (name, option)
            assert _flat(help_text) in shown, (name, param.name)  # the help, its [default: ...] included
            if getattr(param, "show_default", None) is not False and param.default not in (None, False, [], ()):
                assert "[default: " in help_text, (name, param.name)


def test_start_up_leaves_scipy_and_scikit_learn_unloaded():
    """Every `amort` command imports the whole CLI; scipy and scikit-learn (about 0.6 s) are
    imported only where a baseline, a pruning or a metric uses them."""
    code = "import sys, cli.app; print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'sklearn'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
