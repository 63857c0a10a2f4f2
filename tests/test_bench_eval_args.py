"""scripts/bench_eval.py refuses an unknown baseline in one line, before any timing."""
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
