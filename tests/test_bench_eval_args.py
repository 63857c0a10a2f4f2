"""scripts/bench_eval.py: refusals in one line before any timing, and timing in several fresh processes."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_eval.py"


def test_unknown_baseline_is_refused_in_one_line():
    done = subprocess.run([sys.executable, str(SCRIPT), "--baselines", "score", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "unknown baselines: nope" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_processes_times_in_fresh_processes_and_reports_the_median_of_their_ratios():
    done = subprocess.run([sys.executable, str(SCRIPT), "--d", "5", "--n", "200", "--baselines", "score",
                           "--repeats", "1", "--processes", "2", "--batch", "3"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert done.stdout.count("== process") == 2
    assert sum(line.split()[:3] == ["5", "200", "amort/3"] for line in lines) == 2  # the batch, per dataset
    for model in ("amort", "amort in batches of 3"):  # the single stream, and 3 datasets read as one batch
        own = [float(line.split("=")[-1].rstrip("x")) for line in lines if f"score / {model} =" in line]
        assert len(own) == 2 and all(v > 0 for v in own)  # each process's own ratio
        summary = next(line for line in lines if f"score / {model}: median" in line)
        median, listed = summary.split("median ")[1].split("x (")
        assert [float(v) for v in listed.rstrip(")").split(", ")] == own
        assert abs(float(median) - (own[0] + own[1]) / 2) <= 0.051  # the median of two, as printed (one decimal)


def test_processes_below_one_or_with_decode_is_refused_in_one_line():
    for extra in (["--processes", "0"], ["--processes", "2", "--decode", "20"]):
        done = subprocess.run([sys.executable, str(SCRIPT), *extra], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "--processes" in done.stderr and "Traceback" not in done.stderr


def test_tuned_allocator_is_set_before_the_timing_and_named_in_the_header():
    done = subprocess.run([sys.executable, str(SCRIPT), "--d", "5", "--n", "200", "--baselines", "",
                           "--repeats", "1", "--allocator", "tuned"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr  # glibc took both thresholds (else a one-line refusal)
    assert "allocator tuned" in done.stdout.splitlines()[0]
    assert "5    200    amort" in done.stdout



def test_batch_below_one_is_refused_in_one_line():
    done = subprocess.run([sys.executable, str(SCRIPT), "--batch", "0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--batch must be at least 1" in done.stderr and "Traceback" not in done.stderr


def test_against_alternates_with_another_checkout_and_compares_the_medians(tmp_path):
    root = SCRIPT.parents[1]  # this checkout stands in for the other one: the same code, both labelled
    done = subprocess.run([sys.executable, str(SCRIPT), "--d", "4", "--n", "100", "--baselines", "score",
                           "--repeats", "1", "--against", str(root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("== process 1 of 1 (this tree") == 1 and out.count("== process 1 of 1 (against") == 1
    assert "[this tree] d=4" in out and "[against] d=4" in out
    line = next(line for line in out.splitlines() if line.strip().startswith("d=4") and "this tree" in line)
    assert "against" in line and line.rstrip().endswith("%")
    missing = subprocess.run([sys.executable, str(SCRIPT), "--against", str(tmp_path)], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2 and "not a checkout of this repository" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_suite_draws_the_scm_from_another_simulator_and_an_unknown_one_is_refused():
    done = subprocess.run([sys.executable, str(SCRIPT), "--d", "6", "--n", "300", "--baselines", "varsort",
                           "--repeats", "1", "--suite", "notears-linear-exp-SF2"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "SCMs from notears-linear-exp-SF2" in done.stdout.splitlines()[0]
    assert any(line.split()[:3] == ["6", "300", "amort"] for line in done.stdout.splitlines())
    done = subprocess.run([sys.executable, str(SCRIPT), "--suite", "nope"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--suite" in done.stderr and "Traceback" not in done.stderr
