"""PV and wind forecasters: the power models by hand, clear-sky scaling, the power-curve
inverse, and no hindsight."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.forecast import pv, wind
from twin.models.energy import wind_power_kw

START = pd.Timestamp("2025-06-01", tz="UTC")
LAT, LON, KWP = 36.1, -79.95, 200.0


def test_pv_power_by_hand() -> None:
    np.testing.assert_allclose(
        pv.pv_power_kw(np.array([0.0, 500.0, 1000.0, -5.0]), 200.0, derate=0.8),
        [0.0, 80.0, 160.0, 0.0],
    )


def test_daily_clear_sky_index_by_hand() -> None:
    index = pd.date_range(START, periods=48, freq="h")
    clear = np.tile(np.r_[np.zeros(6), np.full(12, 10.0), np.zeros(6)], 2)
    power = pd.Series(clear * np.r_[np.full(24, 0.5), np.full(24, 0.8)], index=index)
    daily = pv.daily_clear_sky_index(power, clear, longitude=0.0)
    np.testing.assert_allclose(daily.to_numpy(), [0.5, 0.8])
    # a missing daylight hour leaves its day out; a missing night hour does not
    gappy = power.copy()
    gappy.iloc[10] = np.nan  # day 1, 10:00, daylight
    gappy.iloc[26] = np.nan  # day 2, 02:00, night
    np.testing.assert_allclose(pv.daily_clear_sky_index(gappy, clear, 0.0).to_numpy(), [0.8])


def history_at_index(index_by_day: list[float]) -> tuple[pv.ClearSkyIndexPV, pd.Series]:
    model = pv.ClearSkyIndexPV(LAT, LON, KWP, alpha=0.5)
    hours = pd.date_range(START, periods=24 * len(index_by_day), freq="h")
    clear = model.clear_sky_kw(hours)
    return model, pd.Series(clear * np.repeat(index_by_day, 24), index=hours)


def test_pv_forecast_scales_clear_sky_by_the_smoothed_daily_index() -> None:
    # solar days at 80 degW start 05:20 UTC; issue at 12 UTC on day 4 after 3 solar days
    model, history = history_at_index([0.4, 0.4, 0.4, 0.8, 0.8])
    issued = START + pd.Timedelta(days=4, hours=12)
    fc = model.forecast(history, issued, 24)
    clear = model.clear_sky_kw(fc.valid_at)
    smoothed = fc.p50.sum() / clear.sum()
    assert 0.4 < smoothed < 0.8
    np.testing.assert_allclose(fc.p50, smoothed * clear, atol=1e-9)
    assert np.all(fc.p10 <= fc.p50) and np.all(fc.p50 <= fc.p90)
    assert np.all(fc.p50[clear == 0] == 0.0)


def test_pv_forecast_of_a_steady_sky_repeats_it() -> None:
    model, history = history_at_index([0.6] * 6)
    fc = model.forecast(history, START + pd.Timedelta(days=5), 48)
    np.testing.assert_allclose(fc.p50, 0.6 * model.clear_sky_kw(fc.valid_at), rtol=1e-9)
    np.testing.assert_allclose(fc.p10, fc.p50, rtol=1e-9)  # no spread seen, none forecast


def test_pv_forecast_ignores_data_after_the_issue_time() -> None:
    model, history = history_at_index([0.3, 0.9, 0.5, 0.7, 0.2, 0.6])
    issued = START + pd.Timedelta(days=4, hours=3)
    poisoned = history.copy()
    poisoned[poisoned.index >= issued] = 1e6
    a, b = model.forecast(history, issued, 24), model.forecast(poisoned, issued, 24)
    np.testing.assert_array_equal(a.p50, b.p50)
    np.testing.assert_array_equal(a.p90, b.p90)


@given(st.floats(3.0, 12.0), st.floats(1.0, 5000.0))
def test_speed_from_power_inverts_the_power_curve(speed: float, rated: float) -> None:
    power = wind_power_kw(np.array([speed]), np.asarray(rated))
    assert wind.speed_from_power_kw(power, rated)[0] == pytest.approx(speed, rel=1e-6)


def test_speed_from_power_at_the_ends_of_the_curve() -> None:
    np.testing.assert_allclose(
        wind.speed_from_power_kw(np.array([0.0, 100.0, np.nan]), 100.0), [3.0, 12.0, np.nan]
    )


def test_wind_speed_reverts_to_the_recent_mean() -> None:
    rng = np.random.default_rng(4)
    n = 24 * 10
    v = np.empty(n)
    v[0] = 8.0
    for i in range(1, n):  # AR(1) around 8 m/s, phi 0.9
        v[i] = 8.0 + 0.9 * (v[i - 1] - 8.0) + rng.normal(0, 0.8)
    v[-1] = 14.0
    history = pd.Series(v, index=pd.date_range(START, periods=n, freq="h"))
    fc = wind.MeanRevertingSpeed().forecast(history, START + pd.Timedelta(hours=n), 48)
    assert fc.p50[0] < 14.0
    assert np.all(np.diff(fc.p50) < 0)  # decays …
    assert abs(fc.p50[-1] - history.mean()) < 0.5  # … to the mean
    width = fc.p90 - fc.p10
    assert width[23] > width[0] > 0  # less is known further ahead
    power = wind.WindPower(rated_kw=100.0).forecast(history, fc.issued_at, 48)
    np.testing.assert_allclose(power.p50, wind_power_kw(fc.p50, np.asarray(100.0)))
    assert np.all(power.p10 <= power.p50) and np.all(power.p50 <= power.p90)
    poisoned = history.copy()
    poisoned.iloc[-24:] = 40.0
    early = START + pd.Timedelta(hours=n - 24)
    np.testing.assert_array_equal(
        wind.WindPower(100.0).forecast(history, early, 24).p50,
        wind.WindPower(100.0).forecast(poisoned, early, 24).p50,
    )
