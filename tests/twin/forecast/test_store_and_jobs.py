"""Stored forecasts on a real DuckDB file: issue-time stamping, "as of" reads, replay, and
the refresh job on a store filled by the fleet simulator through the parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.domain import Reading
from twin.forecast.jobs import HORIZON_H, refresh_forecasts
from twin.forecast.models import Forecast, valid_hours
from twin.forecast.sources import site_meter_kw
from twin.forecast.store import forecasts_as_of, write_forecast
from twin.inventory import example_fleet
from twin.store.duckdb import DuckDBStore
from twin.views.replay import state_at

from .conftest import NOW

T0 = pd.Timestamp("2025-01-10 00:00", tz="UTC")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "forecast.duckdb")
    yield s
    s.close()


def issue(store: DuckDBStore, hours_after_t0: int, level: float) -> None:
    issued = T0 + pd.Timedelta(hours=hours_after_t0)
    values = np.full(6, level)
    fc = Forecast(issued, valid_hours(issued, 6), values - 1, values, values + 1, "test")
    write_forecast(store, fc, "site-a", "load")


def test_the_reader_returns_the_latest_forecast_issued_by_t(store: DuckDBStore) -> None:
    for hours, level in ((0, 10.0), (1, 20.0), (2, 30.0)):
        issue(store, hours, level)
    at = T0 + pd.Timedelta(minutes=90)
    got = forecasts_as_of(store, at, "site-a", "load")
    assert got["p50"].tolist() == [20.0] * 6
    assert (got["issued_at"] == T0 + pd.Timedelta(hours=1)).all()
    assert got["valid_at"].tolist() == list(valid_hours(T0 + pd.Timedelta(hours=1), 6))
    assert got["horizon_h"].tolist() == list(range(6))
    assert forecasts_as_of(store, T0 - pd.Timedelta(seconds=1), "site-a", "load").empty
    assert forecasts_as_of(store, at, "site-b", "load").empty


def test_replay_at_t_never_sees_a_forecast_issued_after_t(store: DuckDBStore) -> None:
    issue(store, 0, 10.0)
    issue(store, 5, 99.0)  # issued later, about the same hours and beyond
    fleet = example_fleet()
    for minutes in (0, 59, 299):
        at = T0 + pd.Timedelta(minutes=minutes)
        frame = state_at(store, fleet, at).frame("forecast")
        assert (pd.to_datetime(frame["ts"], utc=True) <= at).all()
        assert set(frame["p50"]) == {10.0}
        assert set(forecasts_as_of(store, at, "site-a", "load")["p50"]) == {10.0}
    later = state_at(store, fleet, T0 + pd.Timedelta(hours=5)).frame("forecast")
    assert set(later["p50"]) == {99.0}


def test_the_refresh_job_issues_every_sites_targets_from_the_store(
    store: DuckDBStore, meter_readings: list[Reading]
) -> None:
    fleet = example_fleet()
    store.write(meter_readings)
    refresh_forecasts(store, fleet, NOW)
    issued = pd.Timestamp(NOW).floor("h")
    expected = {("load", s.id) for s in fleet.sites}
    expected |= {("pv", s.id) for s in fleet.sites if s.pv_kw_peak > 0}
    expected |= {("wind", s.id) for s in fleet.sites if s.wind_kw_rated > 0}
    found = set()
    for target, site_id in expected:
        got = forecasts_as_of(store, NOW, site_id, target)
        if got.empty:
            continue
        found.add((target, site_id))
        assert len(got) == HORIZON_H
        assert (got["issued_at"] == issued).all()
        assert (got["p10"] <= got["p50"]).all() and (got["p50"] <= got["p90"]).all()
        assert (got["p10"] >= 0).all()
    assert found == expected
    site = next(s for s in fleet.sites if s.wind_kw_rated > 0)
    assert (forecasts_as_of(store, NOW, site.id, "wind")["p90"] <= site.wind_kw_rated).all()
    pv_site = max(fleet.sites, key=lambda s: s.pv_kw_peak)
    pv_fc = forecasts_as_of(store, NOW, pv_site.id, "pv")
    assert pv_fc["p50"].max() > 0.1 * pv_site.pv_kw_peak  # a day with sun in it
    assert pv_fc["p90"].max() <= pv_site.pv_kw_peak
    # load forecasts stay near the metered IT load
    it = [float(r.fields["power_kw"]) for r in meter_readings if r.tags.get("kind") == "it_load"]
    assert (
        forecasts_as_of(store, NOW, fleet.sites[0].id, "load")["p50"]
        .between(0.2 * min(it), 2.0 * max(it))
        .all()
    )


def test_the_refresh_job_skips_targets_without_history(store: DuckDBStore) -> None:
    refresh_forecasts(store, example_fleet(), NOW)
    assert "forecast" not in store.measurements()


def test_the_scheduler_refreshes_forecasts_hourly(store: DuckDBStore) -> None:
    from datetime import timedelta

    from twin.jobs.scheduler import start_scheduler

    scheduler = start_scheduler(store, example_fleet(), first_run_delay=timedelta(hours=1))
    try:
        job = scheduler.get_job("forecast")
        assert job is not None
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert fields["minute"] == "7" and fields["hour"] == "*"
    finally:
        scheduler.shutdown(wait=True)


def test_metered_power_per_hour_or_per_bucket(
    store: DuckDBStore, meter_readings: list[Reading]
) -> None:
    store.write(meter_readings)
    site = example_fleet().sites[0].id
    stop = pd.Timestamp(NOW).floor("D")
    start = stop - pd.Timedelta(hours=24)
    hourly = site_meter_kw(store, site, "it_load", start, stop)
    assert len(hourly) == 24 and hourly.notna().all()
    sixes = site_meter_kw(store, site, "it_load", start, stop, bucket=pd.Timedelta(hours=6))
    assert list(sixes.index) == list(pd.date_range(start, periods=4, freq="6h"))
    assert sixes.iloc[1] == pytest.approx(hourly.iloc[6:12].mean(), rel=1e-9)
