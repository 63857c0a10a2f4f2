"""`amort simulate`: a small suite end to end, and bad input as exit 2 with one line on stderr."""
import pytest
from typer.testing import CliRunner

from cli.app import app
from simulators.storage.io import iter_datasets


def _run(*args):
    return CliRunner().invoke(app, ["simulate", *args])


def test_simulate_writes_a_suite_and_prints_its_summary(tmp_path):
    out = tmp_path / "suite"
    args = ["--preset", "test-out", "--num-datasets", "3", "--d-min", "8", "--d-max", "10", "--n", "30",
            "--interventions", "2", "--no-standardize", "--out", str(out)]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert "complete" in result.stdout and "R²-sort" in result.stdout
    datasets = list(iter_datasets(out))
    assert len(datasets) == 3 and all(8 <= ds.d <= 10 and ds.mask is not None for ds in datasets)
    assert not datasets[0].meta["standardized"] and datasets[0].meta["preset"] == "test-out"
    again = _run(*args)
    assert again.exit_code == 2 and "--force" in again.stderr
    assert _run(*args, "--force").exit_code == 0


def test_slurm_environment_selects_the_shard(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    result = _run("--num-datasets", "2", "--d", "3", "--n", "5", "--out", str(tmp_path / "s"))
    assert result.exit_code == 0, result.output
    assert "incomplete" in result.stdout  # the only shard belongs to task 0


@pytest.mark.parametrize("args, message", [
    (["--preset", "nope"], "unknown preset or spec file 'nope'"),
    (["--n", "0"], "n must be >= 1"),
    (["--d", "1"], "d must be >= 2"),
    (["--preset", "test-graph", "--d", "5"], "impossible for d=5"),
    (["--num-datasets", "0"], "num-datasets must be >= 1"),
    (["--d-min", "5"], "both --d-min and --d-max"),
    (["--format", "parquet"], "--format must be one of npz, csv"),
    (["--interventions", "30"], "interventions must be between 0 and d=20"),
    (["--num-shards", "2", "--shard-index", "2"], "shard-index"),
    (["--preset", "train", "--spec", "x.toml"], "not both"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    result = _run(*args, "--out", str(tmp_path / "s"))
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_bad_spec_file_and_unwritable_out_exit_2(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[[graph.families]]\nkind = "erdos_renyi"\nshape = "round"\n'
                    '[[mechanism.families]]\nkind = "linear"\n[[noise.families]]\nkind = "gaussian"\n')
    result = _run("--spec", str(spec), "--out", str(tmp_path / "s"))
    assert result.exit_code == 2 and "unknown key 'shape'" in result.stderr and result.stderr.count("\n") == 1
    (tmp_path / "file").write_text("")
    result = _run("--num-datasets", "1", "--d", "3", "--n", "5", "--out", str(tmp_path / "file" / "s"))
    assert result.exit_code == 2 and "--out" in result.stderr and result.stderr.count("\n") == 1


_SPEC = ('[[graph.families]]\nkind = "erdos_renyi"\nedges_per_var = {edges}\n'
         '[[mechanism.families]]\nkind = "linear"\nweights = {weights}\nweight = {weight}\n'
         '[mechanism]\nmix_prob = {mix}\n[[noise.families]]\nkind = "gaussian"\n')
_GOOD = {"edges": "[1.0, 2.0]", "weights": "[0.5, 2.0]", "weight": "1.0", "mix": "0.0"}


@pytest.mark.parametrize("key, value, message", [
    ("edges", "[nan, 2.0]", "graph.families[0].edges_per_var must be a finite number, got nan"),
    ("weights", "[0.5, inf]", "mechanism.families[0].weights must be a finite number, got inf"),
    ("weight", "inf", "mechanism.families[0].weight must be a finite number"),
    ("mix", "nan", "mechanism.mix_prob must be a finite number"),
    ("edges", "[3.0, 1.0]", "edges_per_var must be [low, high] with low <= high, got [3.0, 1.0]"),
    ("weights", "[1e300, 1e301]", "simulated values overflow"),  # found while simulating, not before
])
def test_bad_spec_numbers_exit_2_and_leave_no_suite(tmp_path, key, value, message):
    spec = tmp_path / "spec.toml"
    spec.write_text(_SPEC.format(**{**_GOOD, key: value}))
    out = tmp_path / "suite"
    result = _run("--spec", str(spec), "--num-datasets", "2", "--d", "8", "--n", "20", "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert not out.exists()


def test_a_long_simulation_is_announced_and_one_that_cannot_fit_is_refused(tmp_path, monkeypatch):
    from cli import progress
    from simulators.core import resources

    monkeypatch.setattr(progress, "LONG_JOB_S", 0.0)  # announce even this small job
    result = _run("--num-datasets", "2", "--d", "5", "--n", "20", "--out", str(tmp_path / "small"))
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stderr.splitlines() if "estimated" in line]
    assert line.startswith("simulate train: 2 datasets, d = 5, n = 20,") and "of memory" in line

    monkeypatch.setattr(resources, "available_memory", lambda: 64 * 2**20)
    out = tmp_path / "big"
    result = _run("--num-datasets", "64", "--d", "5000", "--n", "1000", "--out", str(out))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "simulate (64 datasets, d = 5000, n = 1000) needs about" in result.stderr
    assert "only 64.0 MiB is available" in result.stderr and not out.exists()


def test_estimates_grow_with_the_size_of_the_suite():
    from simulators.core.resources import available_memory
    from simulators.prior.spec import load_spec
    from simulators.storage.suite import SuitePlan, estimate_suite

    small = estimate_suite(SuitePlan(load_spec("train"), 64, 1000, 20, 20))
    large = estimate_suite(SuitePlan(load_spec("train"), 64, 1000, 5000, 5000))
    assert small.seconds < 10 and small.peak_bytes < 2**30
    assert large.seconds > 30 * 60 and large.peak_bytes > 2**30  # measured: about 1 min per dataset
    assert large.data_bytes == 64 * 1000 * 5000 * 4
    assert estimate_suite(SuitePlan(load_spec("train"), 64, 1000, 5000, 5000), workers=4).seconds < large.seconds
    assert available_memory() is None or available_memory() > 0
