"""Discrete-event core: a time-ordered event queue, Poisson arrivals and latency percentiles.

The simulator owns time: events are popped in time order, ties in the order they were pushed,
so a run is a pure function of its inputs and its random generator's seed.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
E = TypeVar("E")

PERCENTILES = (50, 95, 99)
"""Percentiles reported for latency and time-to-first-token distributions [%]."""


@dataclass
class EventQueue(Generic[E]):
    """Events ordered by time [s]; equal times pop in push order. ``now_s`` is the last popped."""

    now_s: float = 0.0
    _heap: list[tuple[float, int, E]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def push(self, time_s: float, event: E) -> None:
        """Schedule ``event`` at ``time_s`` [s]; it must not be before ``now_s``."""
        if time_s < self.now_s:
            raise ValueError(f"cannot schedule at {time_s} s, before now ({self.now_s} s)")
        heapq.heappush(self._heap, (time_s, next(self._seq), event))

    def pop(self) -> tuple[float, E]:
        """The earliest event and its time [s]; advances ``now_s``. IndexError when empty."""
        time_s, _, event = heapq.heappop(self._heap)
        self.now_s = time_s
        return time_s, event

    def __len__(self) -> int:
        return len(self._heap)


def poisson_arrivals(rate_per_s: float, horizon_s: float, rng: np.random.Generator) -> FloatArray:
    """Arrival times [s] in [0, ``horizon_s``) of a Poisson process of ``rate_per_s`` [1/s]."""
    if rate_per_s < 0 or horizon_s < 0:
        raise ValueError("rate_per_s and horizon_s must not be negative")
    if rate_per_s == 0 or horizon_s == 0:
        return np.empty(0)
    count = rng.poisson(rate_per_s * horizon_s)
    return np.sort(rng.uniform(0.0, horizon_s, size=count))


def uniform_arrivals(rate_per_s: float, horizon_s: float, offset: float = 0.0) -> FloatArray:
    """Evenly spaced arrival times [s] in [0, ``horizon_s``) at ``rate_per_s`` [1/s].

    ``offset`` [0-1) shifts the grid by a fraction of one gap (interleaves several sources).
    """
    if rate_per_s <= 0:
        return np.empty(0)
    gap = 1.0 / rate_per_s
    times = (np.arange(int(np.ceil(horizon_s * rate_per_s)), dtype=float) + offset) * gap
    return np.asarray(times[times < horizon_s], dtype=np.float64)


def latency_percentiles(values_ms: Sequence[float] | FloatArray) -> dict[str, float | None]:
    """p50, p95 and p99 [ms] of a latency sample (``None`` for an empty sample)."""
    arr = np.asarray(values_ms, dtype=float)
    if arr.size == 0:
        return {f"p{p}": None for p in PERCENTILES}
    return {
        f"p{p}": float(v) for p, v in zip(PERCENTILES, np.percentile(arr, PERCENTILES), strict=True)
    }
