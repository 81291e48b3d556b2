"""Timing helper shared by the benchmark scripts (run them as ``python bench/<name>.py``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def times_ms(call: Callable[[], object], repeat: int) -> list[float]:
    """Wall times of ``repeat`` runs of ``call`` [ms]."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1_000)
    return times


def median_ms(call: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``call`` over ``repeat`` runs [ms]."""
    return statistics.median(times_ms(call, repeat))
