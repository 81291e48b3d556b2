"""The pure energy functions: IT power, the site power chain, meters, energy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.models.energy import (
    PowerCurve,
    SiteEnergyModel,
    climatology_temp_c,
    cooling_pue,
    facility_breakdown,
    facility_power_kw,
    fit_power_curve,
    integrate_kwh,
    it_power_w,
    metered_pue,
    model_gap,
    wind_power_kw,
)

power = st.floats(min_value=0.0, max_value=100_000.0, allow_nan=False)
fraction = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
exponents = st.floats(min_value=0.2, max_value=4.0, allow_nan=False)


def test_it_power_of_a_scalar_is_linear_by_default() -> None:
    assert it_power_w(0.0, 100.0, 300.0) == 100.0
    assert it_power_w(1.0, 100.0, 300.0) == 300.0
    assert it_power_w(0.5, 100.0, 300.0) == pytest.approx(200.0)
    assert isinstance(it_power_w(0.5, 100.0, 300.0), float)


def test_it_power_follows_a_power_law_with_an_exponent() -> None:
    assert it_power_w(0.5, 100.0, 300.0, exponent=2.0) == pytest.approx(150.0)


def test_it_power_of_an_array_is_an_array_with_per_node_parameters() -> None:
    out = it_power_w(np.array([0.0, 0.5, 1.0]), np.array([10.0, 20.0, 30.0]), 130.0)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [10.0, 75.0, 130.0])


def test_it_power_of_a_series_keeps_index_and_name() -> None:
    util = pd.Series([0.25, 0.75], index=["n1", "n2"], name="cpu_util")
    out = it_power_w(util, 200.0, 1000.0)
    assert isinstance(out, pd.Series)
    assert list(out.index) == ["n1", "n2"]
    assert out.name == "cpu_util"
    assert out.tolist() == pytest.approx([400.0, 800.0])


def test_it_power_clips_utilisation_outside_zero_to_one() -> None:
    np.testing.assert_allclose(it_power_w(np.array([-0.2, 1.3]), 50.0, 150.0), [50.0, 150.0])


@pytest.mark.parametrize(
    ("idle", "peak", "exponent"), [(500.0, 400.0, 1.0), (100.0, 200.0, 0.0), (1.0, 2.0, -1.0)]
)
def test_it_power_rejects_bad_parameters(idle: float, peak: float, exponent: float) -> None:
    with pytest.raises(ValueError):
        it_power_w(0.5, idle, peak, exponent)


@given(u1=fraction, u2=fraction, idle=power, extra=power, exponent=exponents)
def test_it_power_is_monotone_and_between_idle_and_max(
    u1: float, u2: float, idle: float, extra: float, exponent: float
) -> None:
    peak = idle + extra
    low, high = sorted((u1, u2))
    p_low = it_power_w(low, idle, peak, exponent)
    p_high = it_power_w(high, idle, peak, exponent)
    assert p_low <= p_high + 1e-9
    assert idle - 1e-9 <= p_low <= peak + 1e-9
    assert it_power_w(0.0, idle, peak, exponent) == pytest.approx(idle)
    assert it_power_w(1.0, idle, peak, exponent) == pytest.approx(peak)


def test_facility_power_is_it_power_times_pue_for_every_kind() -> None:
    assert facility_power_kw(100.0, 1.3) == pytest.approx(130.0)
    np.testing.assert_allclose(
        facility_power_kw(np.array([10.0, 20.0]), np.array([1.2, 1.5])), [12.0, 30.0]
    )
    out = facility_power_kw(pd.Series([1.0, 2.0], index=["a", "b"]), 1.1)
    assert isinstance(out, pd.Series)
    assert list(out.index) == ["a", "b"]


def test_facility_power_rejects_a_pue_below_one() -> None:
    with pytest.raises(ValueError, match="cannot be below 1"):
        facility_power_kw(100.0, 0.9)


@given(it_kw=power, pue=st.floats(min_value=1.0, max_value=3.0))
def test_facility_power_is_at_least_it_power(it_kw: float, pue: float) -> None:
    assert facility_power_kw(it_kw, pue) >= it_kw - 1e-9


# -- temperature-dependent PUE and the site power chain -------------------------------------------


def test_cooling_pue_takes_its_curve_as_parameters() -> None:
    pue = cooling_pue(
        np.array([0.0, 18.0, 20.0, 30.0, 90.0]),
        free_pue=1.2,
        free_cooling_below_c=18.0,
        pue_per_c=0.02,
        max_pue=1.5,
    )
    np.testing.assert_allclose(pue, [1.2, 1.2, 1.24, 1.44, 1.5])


@given(it=power, temp=st.floats(-40.0, 60.0), loss=st.floats(0.0, 0.2))
def test_facility_is_it_plus_cooling_plus_losses_at_every_step(
    it: float, temp: float, loss: float
) -> None:
    model = SiteEnergyModel(loss_fraction=loss, free_pue=1.3, max_pue=1.8, fallback_pue=1.5)
    chain = model.breakdown(np.array([it, it / 2]), np.array([temp, np.nan]))
    total = chain.it_kw + chain.cooling_kw + chain.losses_kw
    np.testing.assert_allclose(chain.facility_kw, total, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        chain.facility_kw, chain.it_kw * model.pue(np.array([temp, np.nan])), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(chain.losses_kw, loss * chain.facility_kw, rtol=1e-9, atol=1e-9)
    assert np.all(chain.cooling_kw >= 0.0)


def test_site_model_by_hand() -> None:
    model = SiteEnergyModel()  # 1.15 below 10 degC, +0.012 per degC, 10 % losses, 1.5 without
    chain = model.breakdown(np.array([100.0, 100.0, 100.0]), np.array([5.0, 35.0, np.nan]))
    np.testing.assert_allclose(chain.pue, [1.15, 1.45, 1.5])
    np.testing.assert_allclose(chain.losses_kw, [11.5, 14.5, 15.0])
    np.testing.assert_allclose(chain.cooling_kw, [3.5, 30.5, 35.0])
    # the classic model at the default PUE: IT two thirds, cooling 23 %, distribution 10 %
    assert chain.it_kw[2] / chain.facility_kw[2] == pytest.approx(2 / 3)
    assert chain.losses_kw[2] / chain.facility_kw[2] == pytest.approx(0.10)


def test_facility_breakdown_refuses_a_pue_that_cannot_carry_the_losses() -> None:
    with pytest.raises(ValueError, match="cannot carry"):
        facility_breakdown(np.array([10.0]), 1.05, loss_fraction=0.10)
    with pytest.raises(ValueError, match="loss_fraction"):
        facility_breakdown(np.array([10.0]), 1.5, loss_fraction=1.0)
    with pytest.raises(ValueError):
        SiteEnergyModel(free_pue=1.05)


def test_classic_model_when_no_temperature_is_known() -> None:
    model = SiteEnergyModel(fallback_pue=1.8)
    assert float(model.pue(np.array(np.nan))) == 1.8
    assert float(model.pue(np.array(40.0))) == pytest.approx(1.15 + 0.012 * 30)


def test_metered_pue_and_model_gap() -> None:
    np.testing.assert_allclose(
        metered_pue(np.array([130.0, 50.0, np.nan]), np.array([100.0, 0.0, 10.0])),
        [1.3, np.nan, np.nan],
    )
    gap_kw, gap_pct = model_gap(np.array([105.0, 90.0, 10.0]), np.array([100.0, 100.0, np.nan]))
    np.testing.assert_allclose(gap_kw, [5.0, -10.0, np.nan])
    np.testing.assert_allclose(gap_pct, [5.0, -10.0, np.nan])


# -- outdoor temperature climatology and the wind curve -------------------------------------------


def test_climatology_is_colder_north_in_winter_and_warmest_mid_afternoon() -> None:
    beijing, guangzhou = (39.9, 116.4), (23.1, 113.3)
    winter_bj = climatology_temp_c(6.0, 15, *beijing)  # 14 h in Beijing, mid-January
    summer_bj = climatology_temp_c(6.0, 196, *beijing)
    winter_gz = climatology_temp_c(6.0, 15, *guangzhou)
    winter_night_bj = climatology_temp_c(21.0, 15, *beijing)  # 05 h in Beijing
    assert winter_night_bj < 0.0 < winter_bj < 5.0 < 20.0 < summer_bj
    assert winter_gz > winter_bj + 10.0
    hours = np.arange(0.0, 24.0, 0.25)
    day = climatology_temp_c(hours, 100, 30.0, 120.0)  # solar time = UTC + 8 h
    assert float(hours[np.argmax(day)]) == 7.0  # 15 h local solar time
    assert float(np.ptp(day)) == pytest.approx(8.0, abs=0.01)


def test_wind_curve_has_its_parameters() -> None:
    out = wind_power_kw(np.array([2.0, 4.0, 10.0, 30.0]), np.array(100.0), 4.0, 10.0, 28.0)
    np.testing.assert_allclose(out, [0.0, 0.0, 100.0, 0.0])


# -- fitting a power curve to metered data ---------------------------------------------------------


@pytest.mark.parametrize("exponent", [0.7, 1.0, 1.6])
def test_fit_power_curve_recovers_idle_max_and_exponent(exponent: float) -> None:
    rng = np.random.default_rng(7)
    util = rng.uniform(0.0, 1.0, 400)
    power_w = 180.0 + 420.0 * util**exponent + rng.normal(0.0, 3.0, util.size)
    curve = fit_power_curve(util, power_w)
    assert curve.idle_w == pytest.approx(180.0, abs=4.0)
    assert curve.max_w == pytest.approx(600.0, abs=4.0)
    assert curve.exponent == pytest.approx(exponent, abs=0.05)
    assert isinstance(curve, PowerCurve)
    assert curve.power_w(np.array([0.0]))[0] == pytest.approx(curve.idle_w)


def test_fit_power_curve_skips_nan_and_refuses_too_little_data() -> None:
    util = np.array([0.1, 0.5, np.nan, 0.9])
    curve = fit_power_curve(util, 100.0 + 200.0 * np.nan_to_num(util))
    assert curve.idle_w == pytest.approx(100.0, abs=1e-3)
    assert curve.max_w == pytest.approx(300.0, abs=1e-3)
    with pytest.raises(ValueError, match="at least 3"):
        fit_power_curve(np.array([0.5, 0.5, 0.51]), np.array([1.0, 2.0, 3.0]))


# -- energy is the integral of power ---------------------------------------------------------------

steps = st.lists(st.integers(min_value=1, max_value=7200), min_size=1, max_size=30)


@given(p=power, gaps=steps, rule=st.sampled_from(["trapezoid", "step"]))
def test_energy_of_a_constant_power_is_power_times_time(
    p: float, gaps: list[int], rule: str
) -> None:
    ts = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.cumsum([0, *gaps]), unit="s")
    energy = integrate_kwh(ts, np.full(len(ts), p), rule)  # type: ignore[arg-type]
    assert energy[0] == 0.0
    assert energy[-1] == pytest.approx(p * sum(gaps) / 3600.0, rel=1e-9, abs=1e-9)
    assert np.all(np.diff(energy) >= -1e-9)


def test_trapezoid_is_exact_for_a_ramp_and_step_holds_each_value() -> None:
    ts = pd.date_range("2025-01-01", periods=3, freq="30min", tz="UTC")
    power_kw = np.array([0.0, 10.0, 20.0])  # 0 -> 20 kW over one hour
    np.testing.assert_allclose(integrate_kwh(ts, power_kw), [0.0, 2.5, 10.0])
    np.testing.assert_allclose(integrate_kwh(ts, power_kw, "step"), [0.0, 0.0, 5.0])


@given(values=st.lists(power, min_size=3, max_size=20), cut=st.integers(1, 18))
def test_energy_adds_up_over_split_intervals(values: list[float], cut: int) -> None:
    cut = min(cut, len(values) - 1)
    ts = pd.date_range("2025-01-01", periods=len(values), freq="10s", tz="UTC")
    whole = integrate_kwh(ts, np.array(values))
    head = integrate_kwh(ts[: cut + 1], np.array(values[: cut + 1]))
    tail = integrate_kwh(ts[cut:], np.array(values[cut:]))
    assert whole[-1] == pytest.approx(head[-1] + tail[-1], rel=1e-9, abs=1e-9)


def test_integrate_refuses_unsorted_or_mismatched_input() -> None:
    ts = pd.DatetimeIndex(["2025-01-01 01:00", "2025-01-01 00:00"], tz="UTC")
    with pytest.raises(ValueError, match="sorted"):
        integrate_kwh(ts, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="power values"):
        integrate_kwh(ts, np.array([1.0]))
    assert integrate_kwh(pd.DatetimeIndex([], tz="UTC"), np.array([])).size == 0
