"""scripts/device_check.sh (the GPU checks a session lent an accelerator runs in one call) and the
bench_train flag it relies on, checked here on the CPU: the script parses and names scripts that exist,
and `bench_train` takes `--bf16` / `--no-bf16`."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_device_script_parses_and_names_only_scripts_that_exist():
    script = ROOT / "scripts" / "device_check.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    named = [word for word in script.read_text().split() if word.startswith("scripts/") and word.endswith(".py")]
    assert named and all((ROOT / word).is_file() for word in named)


def test_bench_train_takes_the_bf16_flags_and_keeps_autocast_off_on_a_cpu():
    for flag in ("--bf16", "--no-bf16"):
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_train.py"), "--sizes", "tiny", "--d", "4",
                               "--n", "150", "--steps", "1", flag], capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        row = next(line for line in done.stdout.splitlines() if line.startswith("| tiny |"))
        assert "| 16 x 4 x 150 (3) | False |" in row  # bf16 autocast runs only on a GPU


def test_the_device_training_script_brings_back_a_candidate_with_the_defaults_network(tmp_path):
    """scripts/device_train.sh dry-run on the CPU: two steps from the shipped default, its checkpoint under OUT."""
    import json
    import os

    env = dict(os.environ, DEVICE="cpu", STEPS="2", BATCH="2", WORKERS="1", BUDGET_S="240", PYTHON=sys.executable,
               OUT=str(tmp_path / "out"), TRAIN_OUT=str(tmp_path / "train"), OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", str(ROOT / "scripts" / "device_train.sh")], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    candidate = json.loads((tmp_path / "out" / "candidate.json").read_text())
    shipped = json.loads((ROOT / "causal_amort" / "weights" / "default.json").read_text())
    assert candidate["step"] == 2 and candidate["config"]["model"] == shipped["config"]["model"]
    assert (tmp_path / "out" / "candidate.safetensors").stat().st_size > 100_000
    assert (tmp_path / "out" / "metrics.csv").is_file()
