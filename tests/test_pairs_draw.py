"""scripts/pairs_draw.sh simulates the cause-effect pair suites of one seed (rule v71): the training prior and
the five held-out presets at d = 2, then every external suite at d = 2, and refuses a missing seed or an
existing draw. The commands are checked through stand-ins for amort and python (a real draw takes minutes)."""
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pairs_draw.sh"
PRESETS = ["train", "select-graph", "select-noise", "select-interaction", "select-shift", "select-out"]


def _draw(*args, cwd):
    env = {**os.environ, "AMORT": "echo amort", "PYTHON": "echo python"}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_pair_suites_of_one_seed(tmp_path):
    out = tmp_path / "draw"
    done = _draw("4327", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    *simulate, external = [line.split() for line in done.stdout.splitlines()]
    assert [c[c.index("--preset") + 1] for c in simulate] == PRESETS
    for c in simulate:
        assert c[:2] == ["amort", "simulate"] and c[c.index("--seed") + 1] == "4327"
        assert c[c.index("--d") + 1] == "2" and c[c.index("--num-datasets") + 1] == "64"
        assert c[c.index("--n") + 1] == "2000" and c[c.index("--out") + 1] == f"{out}/{c[c.index('--preset') + 1]}-d2"
    assert external[:2] == ["python", "scripts/external_suites.py"] and "--suites" not in external  # every suite
    for flag, value in (("--out", str(out)), ("--seed", "4327"), ("--d", "2"), ("--n", "2000"), ("--num", "64")):
        assert external[external.index(flag) + 1] == value


def test_missing_seed_and_existing_draw_are_refused(tmp_path):
    done = _draw(cwd=tmp_path)
    assert done.returncode == 2 and "give the seed" in done.stderr and done.stdout == ""
    (tmp_path / "draw").mkdir()
    done = _draw("4327", str(tmp_path / "draw"), cwd=tmp_path)
    assert done.returncode == 2 and "exists" in done.stderr and done.stdout == ""
