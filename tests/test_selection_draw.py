"""The selection draw scripts (docs/selection-suites.md): scripts/selection_draw.sh simulates the twelve
selection suites of one seed, scripts/pairs_draw.sh the cause-effect pair suites (rule v71), and every draw
script (their arguments checked in scripts/draw_args.sh) refuses a missing seed or an existing draw. The
commands are checked through stand-ins for amort and python (a real draw takes minutes); the CLI flags they
use are the ones the simulate tests run."""
import os
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
SUITES = ["test-in-d20", "train-d2-60"] + [f"select-{shift}-d{d}" for shift in
                                          ("graph", "noise", "interaction", "shift", "out") for d in (20, 50)]
PAIR_PRESETS = ["train", "select-graph", "select-noise", "select-interaction", "select-shift", "select-out"]


def _draw(script, *args, cwd):
    env = {**os.environ, "AMORT": "echo amort", "PYTHON": "echo python"}
    return subprocess.run(["bash", str(SCRIPTS / script), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_twelve_suites_of_one_seed(tmp_path):
    out = tmp_path / "draw"
    done = _draw("selection_draw.sh", "4254", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    commands = [line.split() for line in done.stdout.splitlines()]
    assert sorted(Path(c[c.index("--out") + 1]).name for c in commands) == sorted(SUITES)
    for c in commands:
        suite = Path(c[c.index("--out") + 1]).name
        assert c[:2] == ["amort", "simulate"] and c[c.index("--seed") + 1] == "4254"
        assert c[c.index("--num-datasets") + 1] == "32" and c[c.index("--n") + 1] == "2000"
        assert c[c.index("--preset") + 1] == {"test-in-d20": "test-in", "train-d2-60": "train"}.get(suite, suite[:-4])
        if suite == "train-d2-60":
            assert c[c.index("--d-min") + 1] == "2" and c[c.index("--d-max") + 1] == "60"
        else:
            assert c[c.index("--d") + 1] == suite.rsplit("-d", 1)[1]


def test_pair_suites_of_one_seed(tmp_path):
    """The training prior and the five held-out presets at d = 2, then every external suite at d = 2."""
    out = tmp_path / "draw"
    done = _draw("pairs_draw.sh", "4327", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    *simulate, external = [line.split() for line in done.stdout.splitlines()]
    assert [c[c.index("--preset") + 1] for c in simulate] == PAIR_PRESETS
    for c in simulate:
        assert c[:2] == ["amort", "simulate"] and c[c.index("--seed") + 1] == "4327"
        assert c[c.index("--d") + 1] == "2" and c[c.index("--num-datasets") + 1] == "64"
        assert c[c.index("--n") + 1] == "2000" and c[c.index("--out") + 1] == f"{out}/{c[c.index('--preset') + 1]}-d2"
    assert external[:2] == ["python", "scripts/external_suites.py"] and "--suites" not in external  # every suite
    for flag, value in (("--out", str(out)), ("--seed", "4327"), ("--d", "2"), ("--n", "2000"), ("--num", "64")):
        assert external[external.index(flag) + 1] == value


@pytest.mark.parametrize("script", ["selection_draw.sh", "intervention_draw.sh", "pairs_draw.sh"])
def test_missing_seed_and_existing_draw_are_refused(tmp_path, script):
    done = _draw(script, cwd=tmp_path)
    assert done.returncode == 2 and f"{script}: give the seed" in done.stderr and done.stdout == ""
    (tmp_path / "draw").mkdir()
    done = _draw(script, "4254", str(tmp_path / "draw"), cwd=tmp_path)
    assert done.returncode == 2 and "exists" in done.stderr and done.stdout == ""
