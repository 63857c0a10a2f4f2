"""`amort train` and checkpoints: files written, refused starts, load_model, SIGUSR1 -> checkpoint -> resume."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from causal_amort.model import checkpoint as ckpt
from causal_amort.config import SECTIONS, load_config
from causal_amort.model.order_model import OrderModel
from cli.app import app
from cli.train import FLAGS
from simulators.core.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
# A model and tasks small enough that a step takes tens of milliseconds on one core.
SMALL = ["--set", "model.dim=16", "--set", "model.heads=2", "--set", "model.enc_layers=1",
         "--set", "model.dec_layers=1", "--batch-size", "3", "--d-min", "3", "--d-max", "5",
         "--chunk-size", "16", "--chunks-max", "2", "--workers", "0", "--device", "cpu",
         "--set", "train.log_every=1", "--set", "train.val_every=2", "--set", "train.val_datasets=2",
         "--set", "train.val_d=4", "--set", "train.val_n=32", "--set", "train.checkpoint_every=2"]


def amort_train(*args):
    return CliRunner().invoke(app, ["train", *map(str, args)])


def test_train_writes_config_metrics_provenance_and_checkpoints(tmp_path):
    out = tmp_path / "run"
    result = amort_train("--out", out, "--steps", 3, "--lr", "2e-3", "--decoder", "sort", *SMALL)
    assert result.exit_code == 0, result.output
    cfg = load_config(str(out / "config.toml"))
    assert (cfg.train.steps, cfg.train.lr, cfg.model.decoder, cfg.model.dim) == (3, 2e-3, "sort", 16)
    with open(out / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert {"loss", "lr", "tasks_per_s", "samples_per_s", "val_frac_reversed"} <= set(rows[0])
    assert [r["val_frac_reversed"] != "" for r in rows] == [False, True, True]
    assert float(rows[0]["lr"]) < float(rows[1]["lr"])  # warmup
    starts = json.loads((out / "provenance.json").read_text())["starts"]
    assert starts[0]["step"] == 0 and "torch" in starts[0]["versions"]
    model, loaded = ckpt.load_model(out, "cpu")
    assert loaded == cfg and isinstance(model, OrderModel) and not model.training


def test_every_config_flag_is_an_option_that_sets_an_existing_key():
    command = typer.main.get_command(app).commands["train"]
    options = {name: param for param in command.params for name in param.opts}
    for row in FLAGS:
        assert row.flag in options, row.flag
        assert row.key in options[row.flag].help, row.flag
        section, _, name = row.key.partition(".")
        assert typing.get_type_hints(SECTIONS[section]).get(name) is row.type, row.key


def test_warmup_longer_than_the_run_is_warned_once(tmp_path):
    result = amort_train("--out", tmp_path / "run", "--steps", 2, *SMALL, "--set", "train.warmup_steps=5")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and "train.warmup_steps (5) >= train.steps (2)" in lines[0]
    quiet = amort_train("--out", tmp_path / "run2", "--steps", 2, *SMALL, "--set", "train.warmup_steps=1")
    assert quiet.exit_code == 0 and "warning:" not in quiet.output


def _one_line_error(result, fragment):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], result.output


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert amort_train("--out", out, "--steps", 2, *SMALL).exit_code == 0
    return out


def test_existing_run_folder_is_refused(finished_run):
    _one_line_error(amort_train("--out", finished_run, "--steps", 2, *SMALL), "already exists")


def test_unknown_config_key_is_refused(tmp_path):
    _one_line_error(amort_train("--out", tmp_path / "r", "--set", "train.bogus=1"), "train.bogus")
    assert not (tmp_path / "r").exists()


def test_init_from_another_network_or_nothing_is_refused(tmp_path, finished_run):
    _one_line_error(amort_train("--out", tmp_path / "a", "--init", finished_run, "--steps", 1, *SMALL,
                                "--set", "model.dim=32"), "model.dim is 16, this run's is 32")
    _one_line_error(amort_train("--out", tmp_path / "b", "--init", tmp_path / "none.safetensors", "--steps", 1),
                    "does not exist")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_changing_the_model_on_resume_is_refused(finished_run):
    _one_line_error(amort_train("--out", finished_run, "--resume", *SMALL, "--set", "model.dim=32"), "model.dim")


def test_corrupted_checkpoint_is_refused(tmp_path, finished_run):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(finished_run, out)
    weights = out / "checkpoints/step-00000002.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    _one_line_error(amort_train("--out", out, "--resume", "--steps", 4), "corrupted")
    (out / "checkpoints/step-00000002.json").write_text("{not json")
    _one_line_error(amort_train("--out", out, "--resume", "--steps", 4), "corrupted")


def test_force_starts_over_but_never_deletes_a_foreign_folder(tmp_path, finished_run):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    _one_line_error(amort_train("--out", foreign, "--force", "--steps", 2, *SMALL), "not a run folder")
    assert (foreign / "thesis.tex").exists()
    _one_line_error(amort_train("--out", tmp_path / "x", "--preset", "train", "--data", tmp_path), "exclude")


def test_load_model_accepts_checkpoint_files_and_run_folders(tmp_path):
    cfg = load_config("tiny", {"model.dim": 16, "model.heads": 2, "model.enc_layers": 1, "model.dec_layers": 1})
    torch.manual_seed(1)
    model = OrderModel(cfg.model)
    folder = tmp_path / "run" / "checkpoints"
    json_path = ckpt.save_checkpoint(folder, ckpt.step_stem(5), model, cfg, 5)
    chunk = torch.randn(2, 16, 4)

    def orders(net):
        return net.decode(net.advance(net.init_memory(2, 4, "cpu"), chunk))[0]

    model.eval()
    expected = orders(model)
    for ref in (json_path, json_path.with_suffix(".safetensors"), tmp_path / "run", folder):
        loaded, loaded_cfg = ckpt.load_model(ref, "cpu")
        assert loaded_cfg == cfg and torch.equal(orders(loaded), expected)
    # A run folder prefers the best checkpoint over the last one.
    torch.manual_seed(2)
    ckpt.save_checkpoint(folder, ckpt.BEST, OrderModel(cfg.model), cfg, 3)
    assert not torch.equal(orders(ckpt.load_model(tmp_path / "run", "cpu")[0]), expected)


def test_load_model_errors_are_input_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt, "DEFAULT_DIR", tmp_path / "weights")
    with pytest.raises(InputError, match="default weights are not installed"):
        ckpt.load_model("default", "cpu")
    with pytest.raises(InputError, match="holds no checkpoint"):
        ckpt.load_model(tmp_path, "cpu")
    with pytest.raises(InputError, match="does not exist"):
        ckpt.load_model(tmp_path / "nope.safetensors", "cpu")
    (tmp_path / "w.safetensors").write_bytes(b"weights without their config")
    with pytest.raises(InputError, match=r"w.safetensors needs w.json beside it in .*: the weights alone"):
        ckpt.load_model(tmp_path / "w.safetensors", "cpu")
    (tmp_path / "x.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(InputError, match="not an amort checkpoint"):
        ckpt.load_model(tmp_path / "x.json", "cpu")


def test_prune_keeps_the_newest_and_best(tmp_path):
    cfg = load_config("tiny", {"model.dim": 16, "model.heads": 2, "model.enc_layers": 1, "model.dec_layers": 1})
    model = OrderModel(cfg.model)
    for step in (1, 2, 3, 4):
        ckpt.save_checkpoint(tmp_path, ckpt.step_stem(step), model, cfg, step, train_state={"optimizer": {}})
    ckpt.save_checkpoint(tmp_path, ckpt.BEST, model, cfg, 1)
    ckpt.prune_checkpoints(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best.json", "best.safetensors",
        "step-00000003.json", "step-00000003.safetensors", "step-00000003.state.pt",
        "step-00000004.json", "step-00000004.safetensors", "step-00000004.state.pt"]


@pytest.mark.parametrize("sig, code, workers", [
    (signal.SIGUSR1, 0, 0),  # SLURM preemption: checkpoint, exit 0, requeue
    (signal.SIGINT, 130, 1),  # Ctrl-C reaches the whole foreground group, DataLoader workers too
])
def test_stop_signal_checkpoints_at_a_step_boundary_and_resume_continues(tmp_path, sig, code, workers):
    out = tmp_path / "run"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "cli", "train", "--out", str(out), *SMALL,
           "--set", "train.checkpoint_every=0", "--set", "train.val_every=0", "--workers", str(workers)]
    proc = subprocess.Popen([*cmd, "--steps", "100000"], cwd=ROOT, env=env, text=True, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (out / "metrics.csv").is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the first row lands after the first step
        os.killpg(proc.pid, sig)  # as a terminal or SLURM signals: every process of the group
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert "stopped by signal" in stdout and "Traceback" not in stderr
    (saved,) = ckpt.step_checkpoints(out / "checkpoints")  # checkpoint_every=0: only the signal's
    stopped_at = ckpt.read_checkpoint(saved).step
    assert 1 <= stopped_at < 100000

    resumed = amort_train(*cmd[4:], "--resume", "--steps", stopped_at + 2)
    assert resumed.exit_code == 0, resumed.output
    assert f"from step {stopped_at}/" in resumed.output
    assert f"train: {stopped_at + 2}/{stopped_at + 2} (" in resumed.output  # progress counts the run's steps
    assert ckpt.read_checkpoint(ckpt.step_checkpoints(out / "checkpoints")[-1]).step == stopped_at + 2
    assert len(json.loads((out / "provenance.json").read_text())["starts"]) == 2
