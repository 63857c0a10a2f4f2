"""How many CPU threads a command computes with, and applying that count to every thread pool.

torch and scikit-learn each load an OpenMP runtime whose waiting threads spin. With more
threads than the CPUs a process may really use (a SLURM task on a shared node, a container
quota), they spin against each other and against the neighbours, and everything runs many
times slower. So the default count comes from the CPUs this process is allowed (affinity,
cgroup quota, SLURM_CPUS_PER_TASK), not from the machine's core count, unless the user asked
for a count (--threads, or OMP_NUM_THREADS as scikit-learn honours it); it is applied to
torch, BLAS and OpenMP together, and processes that share it (pool workers, torchrun ranks)
each get an equal part.
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Collection, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from simulators.core.errors import InputError

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Read by OpenMP, MKL and OpenBLAS when they load: covers child processes and libraries
# imported later (scikit-learn's own OpenMP runtime), which threadpoolctl cannot reach yet.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class ThreadChoice:
    """``threads`` CPU threads for a whole command, shared by ``workers`` processes.

    ``source`` says what decided the count: ``flag`` (--threads), ``env`` (OMP_NUM_THREADS,
    read like the flag), ``affinity`` (the CPUs the process may run on), ``cgroup`` (a CPU
    quota), ``slurm`` (SLURM_CPUS_PER_TASK), or ``cpu_count`` where the platform cannot tell
    the affinity.
    """

    threads: int
    source: str
    workers: int = 1

    @property
    def per_worker(self) -> int:
        """Threads for each of the processes (at least 1)."""
        return max(1, self.threads // self.workers)

    def record(self) -> dict[str, int | str]:
        """The choice as a JSON-ready dict, for eval.json and a run's provenance."""
        return {"threads": self.threads, "source": self.source, "workers": self.workers,
                "per_worker": self.per_worker}


def cgroup_cpus(root: Path = CGROUP_ROOT) -> int | None:
    """CPUs a cgroup CPU quota allows (v2 ``cpu.max``, else v1 ``cpu/cpu.cfs_quota_us`` and
    ``cpu.cfs_period_us``), rounded up as joblib/loky do; None without a quota."""
    try:
        if (root / "cpu.max").is_file():
            quota, period = (root / "cpu.max").read_text().split()[:2]
            if quota == "max":
                return None
        else:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        quota_us, period_us = int(quota), int(period)
    except (OSError, ValueError):
        return None  # no cgroup CPU controller (not Linux, not mounted) or an unreadable file: no quota known
    if quota_us <= 0 or period_us <= 0:
        return None  # v1 writes -1 for "no quota"
    return max(1, math.ceil(quota_us / period_us))


def cpu_limits(affinity: Collection[int] | None = None, environ: Mapping[str, str] | None = None,
               cgroup_root: Path = CGROUP_ROOT) -> dict[str, int]:
    """The CPU count each source allows this process, by source name, in the order
    affinity (or cpu_count), cgroup, slurm; a source that sets no limit is left out.

    ``affinity`` (default: ``os.sched_getaffinity(0)``), ``environ`` (default: ``os.environ``)
    and ``cgroup_root`` can be given, so that tests can fake them.
    """
    environ = os.environ if environ is None else environ
    if affinity is None and hasattr(os, "sched_getaffinity"):
        affinity = os.sched_getaffinity(0)
    limits = {"affinity": len(affinity)} if affinity is not None else {"cpu_count": os.cpu_count() or 1}
    quota = cgroup_cpus(cgroup_root)
    if quota is not None:
        limits["cgroup"] = quota
    slurm = _env_count(environ, "SLURM_CPUS_PER_TASK")
    if slurm is not None:
        limits["slurm"] = slurm
    return limits


def choose_threads(flag: int = 0, workers: int = 1, *, affinity: Collection[int] | None = None,
                   environ: Mapping[str, str] | None = None, cgroup_root: Path = CGROUP_ROOT) -> ThreadChoice:
    """``flag`` threads when positive; else (0 = auto) OMP_NUM_THREADS when set; else the fewest
    CPUs any source allows (see ``cpu_limits``; on a tie the first source listed is named).
    ``workers`` processes share the count. InputError on a negative flag."""
    if flag < 0:
        raise InputError(f"--threads must be 0 (auto) or a positive count, got {flag}")
    workers = max(1, workers)
    if flag:
        return ThreadChoice(flag, "flag", workers)
    environ = os.environ if environ is None else environ
    asked = _env_count(environ, "OMP_NUM_THREADS")
    if asked is not None:
        return ThreadChoice(asked, "env", workers)
    limits = cpu_limits(affinity, environ, cgroup_root)
    source = min(limits, key=limits.__getitem__)
    return ThreadChoice(limits[source], source, workers)


def _env_count(environ: Mapping[str, str], name: str) -> int | None:
    """A positive count from an environment variable; None when unset or empty."""
    value = environ.get(name, "").strip()
    if not value:
        return None
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return count


def apply_threads(count: int, environ: MutableMapping[str, str] = os.environ) -> None:
    """Make this process compute with ``count`` threads: torch, every BLAS and OpenMP runtime
    loaded so far, and (through ``environ``) libraries loaded later and child processes.

    Also the initializer of pool workers, which each call it with their share. torch is set only
    when it is imported already: one imported later reads OMP_NUM_THREADS when it starts, and a
    command that never needs it (`amort simulate`) does not spend a second importing it.
    """
    from threadpoolctl import threadpool_limits

    for name in THREAD_ENV_VARS:
        environ[name] = str(count)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)
    # Called, not entered as a context manager: the limits stay for the life of the process.
    threadpool_limits(limits=count)


_applied: ThreadChoice | None = None


def use_threads(flag: int = 0, workers: int = 1) -> ThreadChoice:
    """Choose (``choose_threads``) and apply this process's share (``apply_threads``); what
    every computing command calls first. With ``workers`` > 1 the process applies one
    worker's share, which the pool's processes inherit."""
    global _applied
    choice = choose_threads(flag, workers)
    apply_threads(choice.per_worker)
    _applied = choice
    return choice


def applied_threads() -> dict[str, int | str] | None:
    """The record of this process's last ``use_threads`` (None if it never called it)."""
    return None if _applied is None else _applied.record()


def ranks_on_node(environ: Mapping[str, str] | None = None) -> int:
    """Processes torchrun started on this node (LOCAL_WORLD_SIZE); 1 outside torchrun."""
    environ = os.environ if environ is None else environ
    return int(environ.get("LOCAL_WORLD_SIZE", "1"))
