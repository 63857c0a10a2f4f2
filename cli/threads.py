"""`--threads N`, the option of every command that computes; causal_amort.threads chooses and applies the count."""
from __future__ import annotations

import typer
from typer.models import OptionInfo


def threads_option() -> OptionInfo:
    """A fresh ``--threads`` option (0 = auto) for a command's signature."""
    return typer.Option(0, "--threads", help="CPU threads (torch, BLAS, OpenMP) for the whole command; 0 = "
                        "$OMP_NUM_THREADS if set, else the CPUs this process may use (affinity, cgroup quota, "
                        "SLURM_CPUS_PER_TASK).")
