"""Thread choice (faked affinity, cgroup quota, environment), applying it, and recording it."""
import json
import os
import subprocess
import sys

import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits
from typer.testing import CliRunner

from causal_amort.runtime import threads
from causal_amort.training.run_folder import record_provenance
from causal_amort.runtime.threads import THREAD_ENV_VARS, ThreadChoice, apply_threads, choose_threads, use_threads
from cli.app import app
from simulators.core.errors import InputError

runner = CliRunner()
FOUR = {0, 1, 2, 3}


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    """Whatever a test applies, the process gets its threads, limits and environment back."""
    for name in (*THREAD_ENV_VARS, "SLURM_CPUS_PER_TASK"):
        monkeypatch.setenv(name, "1")  # registers the original value for restoring
        monkeypatch.delenv(name)
    monkeypatch.setattr(threads, "_applied", None)
    before = torch.get_num_threads()
    with threadpool_limits(limits=None):  # on exit: every library's original limit
        yield
    torch.set_num_threads(before)


def _cgroup_v2(root, text):
    (root / "cpu.max").write_text(text)
    return root


def _cgroup_v1(root, quota, period="100000"):
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")
    return root


def test_auto_takes_the_affinity_without_other_limits(tmp_path):
    assert choose_threads(affinity=FOUR, environ={}, cgroup_root=tmp_path) == ThreadChoice(4, "affinity")


@pytest.mark.parametrize("text, expected", [("200000 100000\n", ThreadChoice(2, "cgroup")),
                                            ("150000 100000", ThreadChoice(2, "cgroup")),  # 1.5 CPUs round up
                                            ("50000 100000", ThreadChoice(1, "cgroup")),
                                            ("max 100000\n", ThreadChoice(4, "affinity")),  # no quota
                                            ("garbage", ThreadChoice(4, "affinity"))])
def test_cgroup_v2_quota(tmp_path, text, expected):
    root = _cgroup_v2(tmp_path, text)
    assert choose_threads(affinity=FOUR, environ={}, cgroup_root=root) == expected


@pytest.mark.parametrize("quota, expected", [("300000", ThreadChoice(3, "cgroup")),
                                             ("-1", ThreadChoice(4, "affinity"))])  # -1: no quota
def test_cgroup_v1_quota(tmp_path, quota, expected):
    root = _cgroup_v1(tmp_path, quota)
    assert choose_threads(affinity=FOUR, environ={}, cgroup_root=root) == expected


def test_slurm_and_the_smallest_limit_wins(tmp_path):
    slurm = {"SLURM_CPUS_PER_TASK": "2"}
    assert choose_threads(affinity=FOUR, environ=slurm, cgroup_root=tmp_path) == ThreadChoice(2, "slurm")
    root = _cgroup_v1(tmp_path, "100000")
    assert choose_threads(affinity=FOUR, environ=slurm, cgroup_root=root) == ThreadChoice(1, "cgroup")
    assert choose_threads(affinity={5}, environ=slurm, cgroup_root=root) == ThreadChoice(1, "affinity")  # tie
    with pytest.raises(InputError, match="SLURM_CPUS_PER_TASK must be a positive integer"):
        choose_threads(affinity=FOUR, environ={"SLURM_CPUS_PER_TASK": "two"}, cgroup_root=tmp_path)


def test_flag_overrides_and_omp_num_threads_is_honoured(tmp_path):
    env = {"SLURM_CPUS_PER_TASK": "2", "OMP_NUM_THREADS": "3"}
    assert choose_threads(8, affinity=FOUR, environ=env, cgroup_root=tmp_path) == ThreadChoice(8, "flag")
    assert choose_threads(affinity=FOUR, environ=env, cgroup_root=tmp_path) == ThreadChoice(3, "env")
    with pytest.raises(InputError, match="--threads must be 0"):
        choose_threads(-1, affinity=FOUR, environ={}, cgroup_root=tmp_path)


def test_workers_share_the_threads():
    assert choose_threads(4, workers=2).per_worker == 2
    assert choose_threads(3, workers=2).per_worker == 1
    assert choose_threads(2, workers=8).per_worker == 1  # never 0
    assert choose_threads(2, workers=0) == ThreadChoice(2, "flag", 1)  # --workers 0: in-process
    assert choose_threads(4, workers=2).record() == {"threads": 4, "source": "flag", "workers": 2, "per_worker": 2}


def test_apply_sets_torch_blas_openmp_and_the_environment():
    environ = {}
    apply_threads(2, environ)
    assert environ == {name: "2" for name in THREAD_ENV_VARS}
    assert torch.get_num_threads() == 2
    libraries = threadpool_info()
    assert {lib["user_api"] for lib in libraries} >= {"blas", "openmp"}
    assert all(lib["num_threads"] == 2 for lib in libraries), libraries


def test_use_threads_applies_one_workers_share_and_is_recorded_in_the_run_folder(tmp_path):
    assert threads.applied_threads() is None
    choice = use_threads(3, workers=2)
    assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    record_provenance(tmp_path, step=0)
    start = json.loads((tmp_path / "provenance.json").read_text())["starts"][0]
    assert start["threads"] == choice.record() == {"threads": 3, "source": "flag", "workers": 2, "per_worker": 1}


@pytest.mark.parametrize("command", [["simulate"], ["train", "--out", "{tmp}/run"], ["eval", "--out", "{tmp}/ev"],
                                     ["predict", "{tmp}/x.csv"]])
def test_negative_threads_is_a_one_line_error(tmp_path, command):
    args = [a.format(tmp=tmp_path) for a in command]
    result = runner.invoke(app, [*args, "--threads", "-1"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: --threads must be 0 (auto) or a positive count, got -1"], result.output
    assert not any(tmp_path.iterdir())  # refused before anything was written


@pytest.fixture(scope="module")
def csv_folder(small_suite):
    return small_suite / "csvs"


@pytest.mark.parametrize("flags, expected", [
    (["--threads", "2", "--workers", "2"], {"threads": 2, "source": "flag", "workers": 2, "per_worker": 1}),
    ([], {"threads": 1, "source": "affinity", "workers": 1, "per_worker": 1}),  # faked one-CPU affinity
])
def test_eval_json_records_the_choice(tmp_path, monkeypatch, csv_folder, flags, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    result = runner.invoke(app, ["eval", "--model", "none", "--baselines", "random", "--data", str(csv_folder),
                                 "--out", str(tmp_path / "ev"), *flags])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "ev" / "eval.json").read_text())["threads"] == expected


def test_commands_start_without_torch_and_a_later_import_honours_the_threads(tmp_path):
    """`amort --help` and `amort simulate` never import torch (it takes about a second); a process
    that sets its threads first and imports torch afterwards still gets that many."""
    code = ("import sys; from typer.testing import CliRunner; from cli.app import app\n"
            "assert 'torch' not in sys.modules, 'the app imported torch'\n"
            "done = CliRunner().invoke(app, ['simulate', '--preset', 'train', '--num-datasets', '1', '--d', '4',\n"
            "                               '--n', '50', '--seed', '1', '--threads', '1', '--out', sys.argv[1]])\n"
            "assert done.exit_code == 0, done.output\n"
            "assert 'torch' not in sys.modules, 'simulate imported torch'\n"
            "import torch; print(torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV_VARS}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "suite")], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
