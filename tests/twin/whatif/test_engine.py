"""The discrete-event core: event order, arrival processes, percentiles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.whatif.engine import (
    EventQueue,
    latency_percentiles,
    poisson_arrivals,
    uniform_arrivals,
)


def test_events_pop_in_time_order_and_ties_in_push_order() -> None:
    queue: EventQueue[str] = EventQueue()
    for time_s, name in [(2.0, "c"), (1.0, "a"), (2.0, "d"), (1.0, "b")]:
        queue.push(time_s, name)
    popped = [queue.pop() for _ in range(4)]
    assert popped == [(1.0, "a"), (1.0, "b"), (2.0, "c"), (2.0, "d")]
    assert queue.now_s == 2.0
    assert len(queue) == 0


def test_an_event_cannot_be_scheduled_in_the_past() -> None:
    queue: EventQueue[int] = EventQueue()
    queue.push(5.0, 1)
    queue.pop()
    with pytest.raises(ValueError, match="before now"):
        queue.push(4.0, 2)


@given(rate=st.floats(0.0, 200.0), horizon=st.floats(0.0, 20.0), seed=st.integers(0, 2**32 - 1))
def test_poisson_arrivals_are_sorted_and_inside_the_horizon(
    rate: float, horizon: float, seed: int
) -> None:
    times = poisson_arrivals(rate, horizon, np.random.default_rng(seed))
    assert np.all(np.diff(times) >= 0)
    assert np.all((times >= 0) & (times < horizon)) if times.size else True


def test_poisson_arrival_count_is_near_rate_times_horizon() -> None:
    # 100 req/s over 100 s: the count has sd 100, so 10,000 ± 500 fails with p < 1e-6
    times = poisson_arrivals(100.0, 100.0, np.random.default_rng(7))
    assert abs(times.size - 10_000) < 500


def test_poisson_arrivals_repeat_under_a_seed() -> None:
    a = poisson_arrivals(30.0, 5.0, np.random.default_rng(3))
    b = poisson_arrivals(30.0, 5.0, np.random.default_rng(3))
    c = poisson_arrivals(30.0, 5.0, np.random.default_rng(4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_uniform_arrivals_are_evenly_spaced_at_the_rate() -> None:
    times = uniform_arrivals(4.0, 2.0, offset=0.5)
    assert times.tolist() == [0.125, 0.375, 0.625, 0.875, 1.125, 1.375, 1.625, 1.875]


def test_percentiles_of_one_to_a_hundred() -> None:
    out = latency_percentiles(np.arange(1.0, 101.0))
    assert out == pytest.approx({"p50": 50.5, "p95": 95.05, "p99": 99.01})


def test_percentiles_of_nothing_are_none() -> None:
    assert latency_percentiles([]) == {"p50": None, "p95": None, "p99": None}
