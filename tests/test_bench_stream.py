"""scripts/bench_stream.py --widths: a fresh process per d, its time and peak memory beside the cost model's."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_stream.py"


def test_widths_print_time_and_memory_beside_the_estimates():
    done = subprocess.run([sys.executable, str(SCRIPT), "--widths", "12", "40", "--width-n", "300"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[2:]}
    assert set(rows) == {"12", "40"}
    for cells in rows.values():  # d, seconds, estimate, ratio, peak MiB, estimate MiB, ratio
        seconds, estimate, peak, estimate_mib = (float(cells[i]) for i in (1, 2, 4, 5))
        assert len(cells) == 7 and seconds > 0 and estimate > 0 and peak >= 0 and estimate_mib > 0
    assert float(rows["40"][5]) > float(rows["12"][5])  # the estimate grows with d
