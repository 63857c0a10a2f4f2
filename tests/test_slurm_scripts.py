"""The SLURM job scripts run locally (no SLURM) at small sizes, so that they cannot rot."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from simulators.storage.io import iter_datasets

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts" / "slurm"
AMORT = f"{sys.executable} -m cli"


def _run(script, env, cwd, timeout=240):
    full = {**os.environ, "AMORT": AMORT, "PYTHON": sys.executable, **env}
    full.pop("SLURM_JOB_ID", None)
    proc = subprocess.run(["bash", str(SCRIPTS / script)], env=full, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_simulate_array_then_eval_array_and_merge(tmp_path):
    suite = tmp_path / "suite"
    for task in range(2):
        _run("simulate_array.sbatch", {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": "2",
                                       "PRESET": "test-in", "NUM_DATASETS": "4", "D": "5", "N": "60",
                                       "OUT": str(suite)}, tmp_path)
    assert len(list(iter_datasets(suite))) == 4
    evals = tmp_path / "eval"
    for task in range(2):
        _run("eval_array.sbatch", {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": "2",
                                   "MODEL": "none", "DATA": str(suite), "BASELINES": "random,varsort",
                                   "OUT": str(evals), "WORKERS": "1"}, tmp_path)
    _run("eval_merge.sbatch", {"OUT": str(evals)}, tmp_path)
    results = pd.read_csv(evals / "results.csv")
    assert len(results) == 4 * 2 and sorted(results["index"].unique()) == [0, 1, 2, 3]


def test_train_ddp_script_checkpoints_on_usr1_and_resumes(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHON": sys.executable, "CONFIG": "tiny", "STEPS": "400", "OUT": str(out),
           "GPUS_PER_NODE": "2", "PORT": "29517",
           "EXTRA": "--d-max 4 --batch-size 2 --chunks-max 1 --chunk-size 20 --device cpu "
                    "--set train.val_every=0 --set train.log_every=1"}
    env.pop("SLURM_JOB_ID", None)
    proc = subprocess.Popen(["bash", str(SCRIPTS / "train_ddp.sbatch")], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = out / "metrics.csv"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > 3) and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGUSR1)  # what `#SBATCH --signal=B:USR1@...` sends before the time limit
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output[-2000:]
    saved = sorted((out / "checkpoints").glob("step-*.json"))
    assert saved, output[-2000:]
    stopped_at = int(saved[-1].stem.split("-")[1])
    assert 0 < stopped_at < 400
    # The requeued job finds the checkpoints and resumes; a smaller STEPS ends it quickly.
    env["STEPS"] = str(stopped_at + 2)
    again = subprocess.run(["bash", str(SCRIPTS / "train_ddp.sbatch")], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"from step {stopped_at}" in again.stdout + again.stderr
