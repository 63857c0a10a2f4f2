"""measure.measured: the result and its cost, and the SIGALRM time limit."""
import signal
import threading
import time

import pytest

from causal_amort.evaluation.measure import TimeLimitExceeded, measured


def test_returns_the_result_and_its_cost():
    result, cost = measured(lambda: sum(range(10_000)))
    assert result == 49_995_000 and cost.seconds >= 0 and cost.peak_mb >= 0


def test_a_call_past_the_limit_is_interrupted_and_the_alarm_is_restored():
    previous = signal.getsignal(signal.SIGALRM)
    start = time.perf_counter()
    with pytest.raises(TimeLimitExceeded):
        measured(lambda: time.sleep(5), time_limit_s=0.2)
    assert time.perf_counter() - start < 2  # interrupted, not run to the end
    assert signal.getsignal(signal.SIGALRM) is previous
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left to fire later


def test_a_call_within_the_limit_is_not_disturbed():
    result, cost = measured(lambda: time.sleep(0.05) or "done", time_limit_s=2.0)
    assert result == "done" and 0.04 < cost.seconds < 2.0
    time.sleep(0.1)  # the cancelled alarm does not fire afterwards


def test_outside_the_main_thread_there_is_no_limit_and_no_crash():
    # SIGALRM can only be handled in the main thread, so elsewhere the call runs unlimited.
    out = {}
    worker = threading.Thread(target=lambda: out.update(r=measured(lambda: time.sleep(0.3) or 1, time_limit_s=0.05)))
    worker.start()
    worker.join()
    assert out["r"][0] == 1 and out["r"][1].seconds >= 0.3
