"""Wall time, peak memory and a time limit around one call, for per-dataset method costs."""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import torch

T = TypeVar("T")
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


class TimeLimitExceeded(Exception):
    """The measured call ran past its time limit."""


@dataclass(frozen=True)
class Cost:
    """Seconds and peak resident memory above the level before the call, in MiB."""

    seconds: float
    peak_mb: float


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's resident high-water mark (Linux); False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    # SIGALRM interrupts Python code between bytecodes; it only works in the main thread,
    # which is where both the CLI and pool workers run their jobs.
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def measured(fn: Callable[[], T], time_limit_s: float | None = None, device: str = "cpu") -> tuple[T, Cost]:
    """Run ``fn`` and return its result with its cost; raises TimeLimitExceeded past the limit.

    Peak memory is the process's resident high-water mark during the call minus the resident
    size before it (CPU), or the CUDA allocator's peak (GPU).
    """
    on_cuda = device.startswith("cuda") and torch.cuda.is_available()
    if on_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        can_reset = _reset_peak()
        base = _status_kib("VmRSS") or 0
    start = time.perf_counter()
    with _time_limit(time_limit_s):
        result = fn()
    if on_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if on_cuda:
        peak_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        high = _status_kib("VmHWM") if can_reset else None
        peak_mb = max(0.0, (high - base) / 1024) if high is not None else float("nan")
    return result, Cost(seconds=seconds, peak_mb=peak_mb)
