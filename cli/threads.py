"""`--threads N`, shared by the commands that compute; causal_amort.runtime.threads chooses and applies the count."""
from __future__ import annotations

import typer

THREADS: int = typer.Option(0, "--threads", help="CPU threads (torch, BLAS, OpenMP) for the whole command; 0 = "
                            "$OMP_NUM_THREADS if set, else the CPUs this process may use (affinity, cgroup quota, "
                            "SLURM_CPUS_PER_TASK).")
