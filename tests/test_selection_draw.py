"""scripts/selection_draw.sh simulates the twelve selection suites of one seed (docs/selection-suites.md),
and refuses a missing seed or an existing draw. The commands are checked through a stand-in for amort
(a real draw takes minutes); the CLI flags they use are the ones the simulate tests run."""
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "selection_draw.sh"
SUITES = ["test-in-d20", "train-d2-60"] + [f"select-{shift}-d{d}" for shift in
                                          ("graph", "noise", "interaction", "shift", "out") for d in (20, 50)]


def _draw(*args, cwd):
    env = {**os.environ, "AMORT": "echo amort"}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_twelve_suites_of_one_seed(tmp_path):
    out = tmp_path / "draw"
    done = _draw("4254", str(out), cwd=tmp_path)
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


def test_missing_seed_and_existing_draw_are_refused(tmp_path):
    done = _draw(cwd=tmp_path)
    assert done.returncode == 2 and "give the seed" in done.stderr and done.stdout == ""
    (tmp_path / "draw").mkdir()
    done = _draw("4254", str(tmp_path / "draw"), cwd=tmp_path)
    assert done.returncode == 2 and "exists" in done.stderr and done.stdout == ""
