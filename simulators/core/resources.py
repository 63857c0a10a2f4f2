"""What a long job will take, said before it starts, and the memory this process may still use.

Estimates come from cost models fitted to measurements on the development machine (one core
of an AMD EPYC, see docs/benchmarks.md). They are meant to be right within a factor of a few:
enough to warn before an hour-long job and to refuse one that cannot fit in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulators.core.errors import InputError

_MEMINFO = Path("/proc/meminfo")
# cgroup v2, then v1: (limit, usage, the memory.stat key of reclaimable page cache in the usage).
_CGROUPS = (
    (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current"), "file"),
    (Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"), Path("/sys/fs/cgroup/memory/memory.usage_in_bytes"),
     "total_cache"),
)


@dataclass(frozen=True)
class Estimate:
    """A job's ``size`` in words, the bytes of data it writes or holds, its peak memory and wall time."""

    size: str
    data_bytes: int
    peak_bytes: int
    seconds: float


def describe_size(datasets: int, d: tuple[int, int], n: tuple[int, int]) -> str:
    """E.g. ``64 datasets, d = 5000, n = 1000`` (ranges as ``lo-hi``)."""
    span = lambda lo, hi: f"{lo}" if lo == hi else f"{lo}-{hi}"  # noqa: E731
    return f"{datasets} dataset{'s' if datasets != 1 else ''}, d = {span(*d)}, n = {span(*n)}"


def format_bytes(count: float) -> str:
    """``1.5 GiB`` and the like."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def format_seconds(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``, ``2.1 days``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def available_memory() -> int | None:
    """Bytes this process may still allocate: MemAvailable, lowered to the headroom of a cgroup
    limit (containers, SLURM jobs); None where neither can be read."""
    found = []
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    headroom = _cgroup_headroom()
    if headroom is not None:
        found.append(headroom)
    return min(found) if found else None


def _cgroup_headroom() -> int | None:
    for limit_path, usage_path, cache_key in _CGROUPS:
        try:
            limit_text = limit_path.read_text().strip()
            usage = int(usage_path.read_text())
            stat = dict(line.split() for line in (limit_path.parent / "memory.stat").read_text().splitlines())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or int(limit_text) >= 2**60:  # no limit (v1 writes a huge number)
            return None
        return int(limit_text) - (usage - int(stat.get(cache_key, 0)))
    return None


def check_memory(what: str, estimate: Estimate, hint: str) -> None:
    """InputError when the estimated peak memory of a job exceeds what is available."""
    available = available_memory()
    if available is not None and estimate.peak_bytes > available:
        raise InputError(f"{what} ({estimate.size}) needs about {format_bytes(estimate.peak_bytes)} of memory, "
                         f"only {format_bytes(available)} is available; {hint}")
