"""Task model: hourly utilisation of the four state types, and the queueing mechanics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.simulate import hourly_engine_util
from twin.models.entropy import (
    TABLE_1,
    entropy_of,
    interval_probabilities,
    state_entropy,
    state_type,
)
from twin.models.workload import (
    Checkpoints,
    NodeLoadSimulator,
    StateType,
    TaskType,
    default_state_types,
)

STEP_S = 10.0
STEPS_PER_HOUR = 360
EDGES = [0.3, 0.6, 0.8]  # DOMAIN §3: idle | low | medium | high
PER_TYPE = 8


def hourly_means(sim: NodeLoadSimulator, hours: int) -> np.ndarray:
    """(hours, nodes) hourly mean utilisation."""
    samples = np.array([sim.step(STEP_S) for _ in range(hours * STEPS_PER_HOUR)])
    return samples.reshape(hours, STEPS_PER_HOUR, -1).mean(axis=1)


def interval_shares(hourly: np.ndarray) -> np.ndarray:
    """(4, nodes) share of hours per interval: idle, low, medium, high."""
    bins = np.digitize(hourly, EDGES)
    return np.stack([(bins == k).mean(axis=0) for k in range(4)])


def entropy_bits(shares: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(shares > 0, -shares * np.log2(shares), 0.0)
    return terms.sum(axis=0)


@pytest.fixture(scope="module")
def day() -> dict[str, np.ndarray]:
    """24 simulated hours of 10 s steps for eight nodes of each type (16 slots each)."""
    codes = [c for c in "ABCD" for _ in range(PER_TYPE)]
    sim = NodeLoadSimulator(codes, [16] * len(codes), np.random.default_rng(42), start_hour=0.0)
    shares = interval_shares(hourly_means(sim, 24))
    return {c: shares[:, i * PER_TYPE : (i + 1) * PER_TYPE] for i, c in enumerate("ABCD")}


def test_training_nodes_are_almost_always_high(day: dict[str, np.ndarray]) -> None:
    assert np.all(day["B"][3] >= 0.9)


def test_idle_nodes_are_always_idle(day: dict[str, np.ndarray]) -> None:
    assert np.all(day["D"][0] == 1.0)


def test_rendering_nodes_alternate_between_high_and_low(day: dict[str, np.ndarray]) -> None:
    high = day["C"][3] * 24
    low_or_idle = (day["C"][0] + day["C"][1]) * 24
    assert np.all(high >= 6)
    assert np.all(low_or_idle >= 6)


def test_inference_nodes_are_mostly_medium_to_high(day: dict[str, np.ndarray]) -> None:
    assert np.all(day["A"][2] + day["A"][3] >= 0.75)
    assert np.all(day["A"][0] == 0.0)
    assert np.all(day["A"][2] > 0) and np.all(day["A"][3] > 0)  # both, not one


def test_entropy_ranks_the_types_as_the_domain_describes(day: dict[str, np.ndarray]) -> None:
    h = {c: entropy_bits(shares).mean() for c, shares in day.items()}
    assert h["D"] == 0.0
    assert h["B"] < 0.5
    assert 0.7 < h["C"] < 1.6
    assert h["B"] < h["A"]


def test_mean_occupancy_follows_littles_law() -> None:
    """Busy slots = arrival rate x mean service time, for a constant offered load."""
    task = TaskType("t", mean_s=120.0, std_s=30.0, min_s=1.0)
    flat = StateType("X", "flat", task, (0.5,) * 24, queue_per_slot=4.0)
    sim = NodeLoadSimulator(
        ["X"] * 20, [50] * 20, np.random.default_rng(3), state_types={"X": flat}
    )
    util = np.array([sim.step(5.0) for _ in range(4 * 720)])
    assert util.mean() == pytest.approx(0.5, abs=0.02)


def test_service_times_are_truncated_not_clipped_at_the_minimum() -> None:
    """Normal(300 s, 600 s) truncated at 200 s has mean 716.9 s (clipping would give 492.7 s);
    by Little's law occupancy = offered load x E[S] / mu."""
    mu, sigma, low, load = 300.0, 600.0, 200.0, 0.2
    a = (low - mu) / sigma
    pdf = math.exp(-(a**2) / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + math.erf(a / math.sqrt(2)))
    truncated_mean = mu + sigma * pdf / (1 - cdf)
    task = TaskType("t", mean_s=mu, std_s=sigma, min_s=low)
    flat = StateType("X", "flat", task, (load,) * 24, queue_per_slot=4.0)
    sim = NodeLoadSimulator(
        ["X"] * 20, [50] * 20, np.random.default_rng(5), state_types={"X": flat}
    )
    util = np.array([sim.step(5.0) for _ in range(5 * 720)])[720:]  # drop the first hour
    assert util.mean() == pytest.approx(load * truncated_mean / mu, abs=0.03)


def test_same_seed_same_trajectory_other_seed_another() -> None:
    def run(seed: int) -> np.ndarray:
        sim = NodeLoadSimulator(list("ABCD") * 5, [8] * 20, np.random.default_rng(seed))
        return np.array([sim.step(STEP_S) for _ in range(200)])

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


@settings(max_examples=25, deadline=None)
@given(
    capacities=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=12),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    start_hour=st.floats(min_value=0.0, max_value=23.99),
)
def test_utilisation_stays_in_range_and_tasks_fit_their_slots(
    capacities: list[int], seed: int, start_hour: float
) -> None:
    codes = ["ABCD"[i % 4] for i in range(len(capacities))]
    sim = NodeLoadSimulator(codes, capacities, np.random.default_rng(seed), start_hour=start_hour)
    for _ in range(50):
        util = sim.step(30.0)
        assert np.all((util >= 0.0) & (util <= 1.0))
        assert np.all(sim.running <= np.array(capacities))
        assert np.all(sim.queued >= 0)
    assert sim.elapsed_s == pytest.approx(1500.0)


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown state types"):
        NodeLoadSimulator(["Z"], [4], np.random.default_rng(0))
    with pytest.raises(ValueError, match="capacity_slots"):
        NodeLoadSimulator(["A"], [0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="min_s"):
        TaskType("bad", mean_s=10.0, std_s=1.0, min_s=20.0)
    with pytest.raises(ValueError, match="24 values"):
        StateType("X", "short", default_state_types()["A"].task, (0.5,) * 12, 1.0)


def test_offered_load_holds_for_the_clock_hour() -> None:
    c = default_state_types()["C"]
    assert c.load_at(3.0) == c.offered_load[3]
    assert c.load_at(11.9) == c.offered_load[11] != c.offered_load[12]  # a step, not a ramp
    assert c.load_at(27.0) == c.load_at(3.0)  # wraps around the day


def test_checkpoint_windows_cycle_over_days_and_nodes() -> None:
    checkpoints = Checkpoints(start_hour=2, hours=(2, 3), activity=0.5)
    nodes = np.arange(2)
    assert checkpoints.activity_at(1.5, nodes).tolist() == [1.0, 1.0]
    assert checkpoints.activity_at(3.5, nodes).tolist() == [0.5, 0.5]
    assert checkpoints.activity_at(4.5, nodes).tolist() == [1.0, 0.5]  # node 1: 3 h on day 0
    assert checkpoints.activity_at(24 + 4.5, nodes).tolist() == [0.5, 1.0]  # and 2 h on day 1


def test_simulated_node_types_show_table_1_at_the_default_period() -> None:
    """Hourly compute utilisation (occupancy x activity x the simulator's intensity) of every
    type over two days of 10 s steps: each node is labelled its own type and each type's mean
    entropy over sliding 24 h windows is Table 1's, within the noise of whole hours."""
    capacities = [16, 16, 16, 16, 16, 16, 4, 32]  # as in the example fleet
    codes = [c for c in "ABCD" for _ in capacities]
    hourly = hourly_engine_util(codes, capacities * 4, 48, np.random.default_rng(11))
    for i, code in enumerate("ABCD"):
        columns = slice(i * len(capacities), (i + 1) * len(capacities))
        bits = []
        for end in range(24, 49, 4):
            window = pd.DataFrame(hourly[end - 24 : end, columns])
            assert set(state_type(interval_probabilities(window))) <= {code, "mixed"}
            bits.append(state_entropy(window).mean())
        assert np.mean(bits) == pytest.approx(entropy_of(TABLE_1[code]), abs=0.1), code
