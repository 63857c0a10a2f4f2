"""A training run's folder: refusal to overwrite, the resolved config, provenance, metrics.csv.

Layout (see docs/architecture.md): ``config.toml``, ``provenance.json``, ``metrics.csv``,
``checkpoints/`` (written by saver.CheckpointSaver).
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from causal_amort.config import RunConfig, config_to_toml, load_config
from causal_amort.runtime.threads import applied_threads
from simulators.core.atomic import atomic_write_text
from simulators.core.errors import InputError
from simulators.core.provenance import provenance

CONFIG = "config.toml"
PROVENANCE = "provenance.json"
METRICS = "metrics.csv"
CHECKPOINTS = "checkpoints"
METRIC_FIELDS = ("step", "loss", "lr", "tasks_per_s", "samples_per_s",
                 "val_frac_reversed", "val_frac_reversed_first", "elapsed_s")


def prepare_run_folder(out: Path, *, resume: bool, force: bool) -> bool:
    """Make ``out`` ready for training; return True when it holds a run to resume.

    A non-empty folder is never silently reused: it needs ``resume`` (continue it) or ``force``
    (delete it and start over). ``force`` deletes only a folder that is a run (has config.toml),
    so a mistyped ``--out`` cannot wipe unrelated files. ``resume`` on a missing or fresh folder
    starts from scratch, so that a SLURM script can pass ``--resume`` on its first launch too.
    """
    if resume and force:
        raise InputError("--resume and --force exclude each other: resume keeps the run, force deletes it")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    has_content = out.is_dir() and any(out.iterdir())
    is_run = (out / CONFIG).is_file()
    if has_content and not (resume or force):
        raise InputError(f"run folder {out} already exists; pass --resume to continue it or --force to start over")
    if has_content and not is_run:
        raise InputError(f"{out} is not empty and is not a run folder (no {CONFIG}); refusing to use it")
    if force and has_content:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return resume and is_run


def write_config(out: Path, cfg: RunConfig) -> None:
    """Save the resolved config as ``config.toml``."""
    atomic_write_text(out / CONFIG, config_to_toml(cfg))


def read_config(out: Path) -> RunConfig:
    """The resolved config saved in a run folder; InputError when it is unreadable."""
    return load_config(str(out / CONFIG))


def record_provenance(out: Path, step: int) -> None:
    """Append this start (versions, commit, command line, threads, the step it starts from) to provenance.json.

    Every (re)start is kept, because a resumed run may continue under different code.
    """
    path = out / PROVENANCE
    starts = []
    if path.is_file():
        try:
            starts = json.loads(path.read_text(encoding="utf-8"))["starts"]
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{path} is corrupted; fix or delete it") from None
    starts.append({"step": step, **provenance(), "threads": applied_threads()})
    atomic_write_text(path, json.dumps({"starts": starts}, indent=2) + "\n")


class MetricsLog:
    """``metrics.csv``: one row per logging step; columns METRIC_FIELDS, empty where not measured."""

    def __init__(self, out: Path) -> None:
        self.path = out / METRICS

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (the checkpoint a run resumes from): they will be logged again."""
        if not self.path.is_file():
            return
        with open(self.path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("step", "").isdigit() and int(r["step"]) <= step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, buf.getvalue())

    def append(self, row: dict[str, float | int | None]) -> None:
        """Append one row (flushed at once, so a killed job keeps what it logged)."""
        new = not self.path.is_file()
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=METRIC_FIELDS)  # an unknown column raises
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(v) for k, v in row.items()})


def _fmt(value: float | int | None) -> str:
    """Compact, lossless-enough text for a CSV cell; empty for missing values."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
