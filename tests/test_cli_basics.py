"""The app starts, lists its commands, and `python -m cli` works."""
import subprocess
import sys

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
