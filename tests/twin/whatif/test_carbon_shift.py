"""Carbon-aware shifting of deferrable training in time and space."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.whatif.carbon_shift import (
    SHIFT_POLICIES,
    ShiftSite,
    TrainingJobs,
    draw_jobs,
    intensity_outlook,
    plan,
)
from twin.whatif.presets import CARBON_SITES, run_carbon_shift


def occupancy(placements: tuple[tuple[str, int, int], ...], site: str, horizon: int) -> np.ndarray:
    busy = np.zeros(horizon, dtype=int)
    for s, start, hours in placements:
        if s == site:
            busy[start : start + hours] += 1
    return busy


def test_on_site_pv_lowers_daytime_intensity() -> None:
    sites = [ShiftSite("dark", "CN-NM", 1, 600.0), ShiftSite("sunny", "CN-NM", 1, 600.0, 1500.0)]
    outlook = intensity_outlook(sites, start_local_hour=0.0, horizon_h=24)
    assert outlook.shape == (2, 24)
    assert outlook[1, 12] < 0.5 * outlook[0, 12]  # PV covers most of the noon load
    assert outlook[1, 2] == pytest.approx(outlook[0, 2])  # no sun at 02:00


def test_one_job_with_a_flat_grid_and_no_transfer_cost() -> None:
    intensity = np.array([[500.0] * 10 + [100.0] * 20, [50.0] * 30])
    sites = [ShiftSite("o", "CN-BJ", 2, 100.0), ShiftSite("x", "CN-SC", 2, 100.0)]
    jobs = TrainingJobs(power_kw=10.0, slack_h=12.0, data_gb=0.0)
    arrivals, durations = np.array([0.5]), np.array([2.5])
    now = plan("run-now", sites, 0, jobs, arrivals, durations, intensity)
    later = plan("time-shift", sites, 0, jobs, arrivals, durations, intensity)
    away = plan("space-shift", sites, 0, jobs, arrivals, durations, intensity)
    # 3 whole hours at 10 kW: 30 kWh
    assert now.placements == (("o", 1, 3),)
    assert now.emissions_kg == pytest.approx(30 * 500 / 1000)
    assert later.placements == (("o", 10, 3),)  # the first low-carbon hour
    assert later.emissions_kg == pytest.approx(30 * 100 / 1000)
    assert away.placements == (("x", 1, 3),)
    assert away.emissions_kg == pytest.approx(30 * 50 / 1000)
    assert later.mean_delay_h == pytest.approx(9.5)


def test_transfer_energy_can_keep_a_job_at_home() -> None:
    intensity = np.array([[300.0] * 30, [250.0] * 30])
    sites = [ShiftSite("o", "CN-BJ", 2, 100.0), ShiftSite("x", "CN-SC", 2, 100.0, 0, 0, 1.0)]
    jobs = TrainingJobs(power_kw=10.0, data_gb=100.0)  # moving costs 100 kWh at 300 g/kWh
    result = plan("space-shift", sites, 0, jobs, np.array([0.0]), np.array([2.0]), intensity)
    assert result.placements == (("o", 0, 2),)
    assert result.transfer_kwh == 0.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), slots=st.integers(1, 4))
def test_slots_are_never_overbooked_and_every_job_is_placed(seed: int, slots: int) -> None:
    sites = [ShiftSite("a", "CN-BJ", slots, 500.0, 300.0), ShiftSite("b", "CN-SC", slots, 500.0)]
    jobs = TrainingJobs(rate_per_h=1.0, arrival_window_h=12.0)
    arrivals, durations = draw_jobs(jobs, np.random.default_rng(seed))
    outlook = intensity_outlook(sites, 0.0, 400)
    for policy in SHIFT_POLICIES:
        result = plan(policy, sites, 0, jobs, arrivals, durations, outlook)
        assert result.jobs == len(arrivals) == len(result.placements)
        for site in ("a", "b"):
            assert occupancy(result.placements, site, 400).max(initial=0) <= slots
        for (_, start, _), arrival in zip(result.placements, arrivals, strict=True):
            assert start >= arrival


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_with_ample_slots_more_freedom_never_emits_more(seed: int) -> None:
    sites = [
        ShiftSite(s.id, s.region, 10_000, s.other_load_kw, s.pv_kw_peak, s.wind_kw,
                  s.transfer_kwh_per_gb)
        for s in CARBON_SITES
    ]  # fmt: skip
    jobs = TrainingJobs()
    arrivals, durations = draw_jobs(jobs, np.random.default_rng(seed))
    outlook = intensity_outlook(sites, 0.0, 72)
    kg = {
        p: plan(p, sites, 0, jobs, arrivals, durations, outlook).emissions_kg
        for p in SHIFT_POLICIES
    }
    assert kg["time-shift"] <= kg["run-now"] + 1e-9
    assert kg["space-shift"] <= kg["run-now"] + 1e-9
    assert kg["carbon-aware"] <= min(kg["time-shift"], kg["space-shift"]) + 1e-9


def test_the_preset_cuts_emissions_by_shifting_and_repeats_under_a_seed() -> None:
    run = run_carbon_shift(seed=0)
    kg = {p: r.emissions_kg for p, r in run.results.items()}
    assert kg["carbon-aware"] < kg["space-shift"] < kg["time-shift"] < kg["run-now"]
    assert run.results["run-now"].transfer_kwh == 0.0
    assert run.results["space-shift"].transfer_kwh > 0.0
    assert run == run_carbon_shift(seed=0)
    assert run != run_carbon_shift(seed=1)


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        plan("greedy", CARBON_SITES, 0, TrainingJobs(), np.zeros(0), np.zeros(0), np.zeros((3, 5)))
