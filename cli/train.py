"""`amort train`: train the order model into a run folder (also under `torchrun ... -m cli train`)."""
from __future__ import annotations

import signal
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from cli.config_flags import ConfigFlag, config_options, flag_overrides
from cli.guard import guarded, warn
from cli.progress import progress
from cli.threads import THREADS
from simulators.core.errors import InputError

console = Console(highlight=False, soft_wrap=True)  # long paths stay on one line in logs

# The commonly changed config keys, each with its flag; every other key goes through --set key=value.
FLAGS = (
    ConfigFlag("--steps", "train.steps", int, "Optimizer steps in total"),
    ConfigFlag("--device", "train.device", str, "auto, cpu, cuda or cuda:N"),
    ConfigFlag("--batch-size", "data.batch_size", int, "Tasks per batch and rank"),
    ConfigFlag("--lr", "train.lr", float, "Peak learning rate"),
    ConfigFlag("--d-min", "data.d_min", int, "Fewest variables of a training task"),
    ConfigFlag("--d-max", "data.d_max", int, "Most variables of a training task"),
    ConfigFlag("--chunk-size", "data.chunk_size", int, "Rows per chunk"),
    ConfigFlag("--chunks-min", "data.chunks_min", int, "Fewest chunks per task"),
    ConfigFlag("--chunks-max", "data.chunks_max", int, "Most chunks per task"),
    ConfigFlag("--tbptt", "train.tbptt", int, "Chunks a gradient flows back through"),
    ConfigFlag("--seed", "train.seed", int, "Seed of everything random"),
    ConfigFlag("--workers", "data.workers", int, "DataLoader worker processes"),
    ConfigFlag("--decoder", "model.decoder", str, "causal or sort"),
    ConfigFlag("--state", "model.state", str, "carry, none, average or causal"),
    ConfigFlag("--init", "train.init", str, "Start from these weights (default, a checkpoint or a run folder) "
               "instead of random ones, to fine-tune; a resumed run continues from its own checkpoint"),
)


@guarded
@config_options(FLAGS)
def train(
    out: Path = typer.Option(..., "--out", "-o", help="Run folder, e.g. runs/NAME (never silently reused)."),
    config: Optional[str] = typer.Option(
        None, "--config", "-c", help="tiny, small, base, default-cpu (the shipped model's recipe) or a TOML file [default: tiny; on --resume: the run's own]."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Simulate training tasks from a preset or spec file."),
    data: Optional[Path] = typer.Option(None, "--data", help="Train on a stored suite or CSV folder instead of simulating."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint "
                                "(starts fresh when there is none yet)."),
    force: bool = typer.Option(False, "--force", help="Delete the run in --out and start over."),
    set_: list[str] = typer.Option([], "--set", help="Any config key, e.g. --set train.val_every=500; repeatable."),
    threads: int = THREADS,
    **settings: object,  # one option per row of FLAGS (config_options)
) -> None:
    """Train the order model into a run folder.

    Tasks are simulated on the fly from a preset (or drawn from a suite with --data).

    Under torchrun (`torchrun --standalone --nproc_per_node=2 -m cli train ...`) every rank
    trains on its own batches; rank 0 writes the run folder. SIGTERM / SIGUSR1 save a checkpoint
    at the next step and exit 0, Ctrl-C does the same and exits 130 (a second Ctrl-C stops at
    once); run again with --resume to continue.
    """
    from causal_amort.config import config_warnings, load_config
    from causal_amort.training.run_folder import CONFIG
    from causal_amort.runtime.threads import ranks_on_node, use_threads
    from causal_amort.training.train import Finished, Logged, Saved, Started, train_run

    use_threads(threads, ranks_on_node())  # torchrun's ranks on this node share the CPUs
    if preset is not None and data is not None:
        raise InputError("--preset and --data exclude each other: simulate from a preset or read a suite")
    overrides = _parse_sets(set_)
    overrides.update(flag_overrides(FLAGS, settings))
    if preset is not None:
        overrides.update({"data.preset": preset, "data.suite": ""})
    if data is not None:
        overrides["data.suite"] = str(data)
    # A resumed run starts from its own saved config unless --config names one.
    saved = out / CONFIG
    cfg = load_config(str(saved) if resume and config is None and saved.is_file() else (config or "tiny"), overrides)

    events = train_run(cfg, out, resume=resume, force=force)
    started = next(events, None)
    if started is None:
        return  # a torchrun rank other than 0: it trains silently
    assert isinstance(started, Started)
    for message in config_warnings(cfg):
        warn(message)
    what = "resuming" if started.resumed else "training"
    ranks = f" x {started.world_size} ranks" if started.world_size > 1 else ""
    console.print(f"{what} {out} from step {started.step}/{started.steps} on {started.device}{ranks} "
                  f"({started.parameters:,} parameters)")
    finished, best = None, None
    with progress(total=started.steps, description="train", start=started.step) as advance:
        done = started.step
        for event in events:
            if isinstance(event, Logged):
                note = f"loss {event.loss:.4f} lr {event.lr:.2e} {event.tasks_per_s:.1f} tasks/s"
                if event.val_frac_reversed is not None:
                    note += f" val reversed {event.val_frac_reversed:.3f}"
                advance(event.step - done, note=note)
                done = event.step
            elif isinstance(event, Saved) and event.best:
                best = event
            elif isinstance(event, Finished):
                finished = event
    if finished is None:
        return
    if finished.preempted:
        console.print(f"stopped by signal at step {finished.step}; checkpoint saved. "
                      f"Continue with: amort train --out {out} --resume")
        if finished.signum == signal.SIGINT:
            raise typer.Exit(130)  # what a shell expects of a program that Ctrl-C stopped
        return
    console.print(f"done: step {finished.step}; metrics in {out / 'metrics.csv'}, checkpoints in {out / 'checkpoints'}")
    if best is not None:
        console.print(f"best validation so far at step {best.step}: {best.path}")


def _parse_sets(items: list[str]) -> dict[str, object]:
    """``["train.lr=3e-4", ...]`` -> ``{"train.lr": "3e-4"}`` (load_config parses the values)."""
    overrides: dict[str, object] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InputError(f"--set expects key=value (e.g. train.val_every=500), got {item!r}")
        overrides[key.strip()] = value.strip()
    return overrides
