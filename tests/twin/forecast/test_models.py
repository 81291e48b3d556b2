"""The generic forecasters: hand-checkable forecasts, quantile order and no hindsight."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.forecast import models as m
from twin.forecast.backtest import rolling_origin

START = pd.Timestamp("2025-03-01", tz="UTC")


def hourly(values: np.ndarray, start: pd.Timestamp = START) -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="h"))


def daily_pattern(days: int, noise: float = 0.0, seed: int = 0) -> pd.Series:
    hours = np.arange(days * 24)
    rng = np.random.default_rng(seed)
    return hourly(100 + 30 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, noise, hours.size))


def test_known_at_keeps_only_hours_complete_by_the_issue_time() -> None:
    series = hourly(np.arange(10.0))
    known = m.known_at(series, START + pd.Timedelta(hours=4))
    assert known.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_persistence_holds_the_last_hour() -> None:
    series = hourly(np.array([1.0, 2.0, 3.0, 5.0]))
    fc = m.Persistence().forecast(series, START + pd.Timedelta(hours=4), 3)
    assert fc.p50.tolist() == [5.0, 5.0, 5.0]
    assert fc.horizon_h.tolist() == [0, 1, 2]
    assert fc.valid_at[0] == START + pd.Timedelta(hours=4)


def test_seasonal_naive_repeats_yesterday() -> None:
    series = daily_pattern(3)
    issued = START + pd.Timedelta(days=3)
    fc = m.SeasonalNaive().forecast(series, issued, 30)
    expected = series.iloc[-24:].to_numpy()
    np.testing.assert_allclose(fc.p50[:24], expected)
    np.testing.assert_allclose(fc.p50[24:], expected[:6])  # 24-29 h ahead: two days back
    # a pure daily pattern has no seasonal-naive error, so no band
    np.testing.assert_allclose(fc.p10, fc.p50)
    np.testing.assert_allclose(fc.p90, fc.p50)


def test_issue_times_must_be_whole_hours() -> None:
    with pytest.raises(ValueError, match="whole hours"):
        m.Persistence().forecast(daily_pattern(2), START + pd.Timedelta(minutes=90), 4)


def test_exponential_smoothing_learns_a_daily_pattern_and_beats_yesterday() -> None:
    series = daily_pattern(15, noise=5.0, seed=1)
    issued = START + pd.Timedelta(days=14)
    truth = 100 + 30 * np.sin(2 * np.pi * np.arange(24) / 24)
    ets = m.DailyExponentialSmoothing().forecast(series, issued, 24)
    naive = m.SeasonalNaive().forecast(series, issued, 24)
    ets_error = np.mean(np.abs(ets.p50 - truth))
    assert ets_error < np.mean(np.abs(naive.p50 - truth))
    assert ets_error < 3.0
    # noise sd 5: the 80 % band of one hour is about 2 * 1.28 * 5 wide
    assert 8.0 < float(np.mean(ets.p90 - ets.p10)) < 40.0


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 48))
def test_quantiles_are_ordered_and_floored(seed: int, horizon: int) -> None:
    rng = np.random.default_rng(seed)
    series = hourly(np.maximum(rng.normal(5, 4, 24 * 5), 0.0))
    issued = START + pd.Timedelta(days=5)
    for model in (m.Persistence(floor=0.0), m.SeasonalNaive(floor=0.0)):
        fc = model.forecast(series, issued, horizon)
        assert len(fc.p50) == horizon
        assert np.all(fc.p10 <= fc.p50) and np.all(fc.p50 <= fc.p90)
        assert np.all(fc.p10 >= 0.0)


class Recording:
    """A forecaster that remembers the newest hour of every history it is given."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    def forecast(self, history: pd.Series, issued_at: pd.Timestamp, horizon_h: int) -> m.Forecast:
        self.seen.append((pd.Timestamp(history.index.max()), issued_at))
        return m.Persistence().forecast(history, issued_at, horizon_h)


def test_the_backtest_never_hands_a_forecaster_data_from_after_the_issue_time() -> None:
    series = daily_pattern(6)
    recorder = Recording()
    rolling_origin(series, {"r": (recorder, series)}, issue_hour=5, warmup_days=2)
    assert len(recorder.seen) == 3  # issued on days 2, 3, 4 (day 5 lacks a whole horizon)
    for newest, issued_at in recorder.seen:
        assert newest < issued_at


@pytest.mark.parametrize(
    "model",
    [m.Persistence(), m.SeasonalNaive(), m.DailyExponentialSmoothing()],
    ids=lambda x: x.name,
)
def test_poisoned_future_data_changes_no_forecast(model: m.Forecaster) -> None:
    series = daily_pattern(6, noise=2.0, seed=3)
    issued = START + pd.Timedelta(days=4, hours=7)
    poisoned = series.copy()
    poisoned[poisoned.index >= issued] = 1e9
    clean = model.forecast(series, issued, 24)
    dirty = model.forecast(poisoned, issued, 24)
    np.testing.assert_array_equal(clean.p50, dirty.p50)
    np.testing.assert_array_equal(clean.p10, dirty.p10)
    np.testing.assert_array_equal(clean.p90, dirty.p90)
