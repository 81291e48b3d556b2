"""Carbon shift planned on the store's forecasts at a stored time, and its cost.

A real DuckDB file holds four days of the example fleet from the fleet simulator (parsed
readings) and forecasts issued by the refresh job; hand-written forecasts on an empty store
check the outlook's arithmetic.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collectors.simulate import FleetSimulator
from twin.domain import Fleet, Node, Site
from twin.forecast.jobs import refresh_forecasts
from twin.forecast.models import Forecast
from twin.forecast.store import write_forecast
from twin.inventory import example_fleet
from twin.jobs.energy import derive_energy
from twin.models.carbon import local_hour, profile_average_intensity
from twin.store.duckdb import DuckDBStore
from twin.whatif.carbon_fleet import (
    StoredCarbonRun,
    realised_emissions,
    run_carbon_shift_at,
)
from twin.whatif.carbon_shift import SHIFT_POLICIES, ShiftSite, TrainingJobs, plan
from twin.whatif.outlook import realised_intensity, stored_outlook
from twin.whatif.presets import CARBON_SITES, run_carbon_shift
from twin.whatif.report import carbon_shift_report

START = datetime(2024, 6, 18, tzinfo=UTC)
STOP = START + timedelta(days=4)
ISSUED = [START + timedelta(days=2, hours=14 + h) for h in range(3)]  # 14:00 … 16:00 UTC
AT = START + timedelta(days=2, hours=16, minutes=30)
CNETWIN = [sys.executable, "-m", "twin.cli"]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return example_fleet()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Path:
    """A store file: four simulated days and the forecasts issued at ISSUED."""
    path = tmp_path_factory.mktemp("carbon") / "history.duckdb"
    sim = FleetSimulator(fleet, seed=5, interval_s=300.0, start=START)
    store = DuckDBStore(path)
    store.write(sim.backfill_readings(START, STOP))
    for issued in ISSUED:
        refresh_forecasts(store, fleet, issued)
    store.close()
    return path


@pytest.fixture
def store(tmp_path: Path, built: Path) -> Iterator[DuckDBStore]:
    path = tmp_path / "copy.duckdb"
    shutil.copy(built, path)
    s = DuckDBStore(path)
    yield s
    s.close()


def poison_after(store: DuckDBStore, fleet: Fleet, at: datetime) -> None:
    """Absurd forecasts issued after ``at`` and grid signals stamped after it."""
    later = pd.Timestamp(at) + pd.Timedelta(minutes=1)
    for issued in (later.ceil("1h"), later.ceil("1h") + pd.Timedelta(hours=5)):
        hours = pd.date_range(issued, periods=48, freq="1h")
        huge = np.full(48, 1e6)
        for site in fleet.sites:
            for target in ("load", "pv", "wind"):
                write_forecast(
                    store, Forecast(issued, hours, huge, huge, huge, "x"), site.id, target
                )
    times = pd.date_range(later, pd.Timestamp(STOP), freq="1min")  # over every stored row
    grid = pd.DataFrame(
        [
            {"ts": t, "region": r, "intensity_g_per_kwh": 9_999.0, "marginal_g_per_kwh": 9_999.0}
            for t in times
            for r in fleet.regions
        ]
    )
    store.write_frame("grid", grid, tags=["region"])


def summary(run: StoredCarbonRun) -> dict[str, object]:
    return {
        "intensity": run.run.intensity_g_per_kwh,
        "plans": {
            n: (r.placements, r.emissions_kg, r.cost_cny) for n, r in run.run.results.items()
        },
    }


def test_no_hindsight_plans_ignore_later_rows_but_realised_sees_them(
    store: DuckDBStore, fleet: Fleet
) -> None:
    clean = run_carbon_shift_at(store, fleet, AT)
    assert set(clean.outlook_source.values()) == {"forecast"}
    poison_after(store, fleet, AT)
    poisoned = run_carbon_shift_at(store, fleet, AT)
    assert summary(poisoned) == summary(clean)
    assert poisoned.outlook_source == clean.outlook_source
    for name in SHIFT_POLICIES:
        before, after = clean.realised[name], poisoned.realised[name]
        assert before is not None and after is not None
        assert after.planned_emissions_kg == pytest.approx(before.planned_emissions_kg)
        assert after.emissions_kg > 5 * before.emissions_kg  # the 9,999 g/kWh grid followed


def test_plan_starts_at_the_next_whole_hour_and_covers_every_job(
    store: DuckDBStore, fleet: Fleet
) -> None:
    run = run_carbon_shift_at(store, fleet, AT)
    assert run.start == pd.Timestamp(AT).ceil("1h")
    assert run.origin == "bj-yizhuang"
    hubs = [s.id for s in fleet.sites if s.role == "compute_hub"]
    assert list(run.run.intensity_g_per_kwh) == ["bj-yizhuang", *hubs]
    horizon = len(run.run.intensity_g_per_kwh["bj-yizhuang"])
    assert horizon >= 72
    for result in run.run.results.values():
        assert all(start + hours <= horizon for _, start, hours in result.placements)
    # the tiny origin (2 GPU nodes) cannot run a day of 40 kW jobs on time; shifting can
    assert run.run.results["run-now"].deadline_misses > 0
    assert run.run.results["carbon-aware"].deadline_misses == 0
    assert run.run.results["carbon-aware"].emissions_kg < run.run.results["run-now"].emissions_kg


def test_realised_intensity_agrees_with_stored_site_energy(
    store: DuckDBStore, fleet: Fleet
) -> None:
    start = pd.Timestamp(AT).ceil("1h")
    sites = ("bj-yizhuang", "nm-ulanqab")
    derived = realised_intensity(store, fleet, sites, start, 30)
    # the store ends at STOP: hours after it are unknown
    assert np.isfinite(derived[:, :24]).all()
    assert np.isnan(derived[:, (pd.Timestamp(STOP) - start) // pd.Timedelta(hours=1) :]).all()
    rows = derive_energy(store, fleet, start, start + pd.Timedelta(hours=30)).sites
    store.write_frame("site_energy", rows, tags=["site"])
    stored = realised_intensity(store, fleet, sites, start, 30)
    np.testing.assert_allclose(stored, derived, rtol=1e-9)
    # one hour by hand: grid import emissions over consumption of its twelve windows
    hour = rows[(rows["site"] == "nm-ulanqab") & (rows["ts"] >= start + pd.Timedelta(hours=3))]
    hour = hour[hour["ts"] < start + pd.Timedelta(hours=4)]
    assert len(hour) == 12
    expected = 1000 * hour["emissions_kg_per_h"].sum() / hour["consumption_kw"].sum()
    assert derived[1, 3] == pytest.approx(expected)


def test_time_before_any_data_is_refused(store: DuckDBStore, fleet: Fleet) -> None:
    from twin.errors import ConfigError

    with pytest.raises(ConfigError, match="no meter readings or forecasts"):
        run_carbon_shift_at(store, fleet, START - timedelta(days=3))


# the outlook's arithmetic on hand-written forecasts ---------------------------------------

ISSUE = pd.Timestamp("2024-06-20T00:00Z")


def pv_fleet() -> Fleet:
    sites = tuple(
        Site(name, name, "CN-NM", 40.0, 111.0, "p", pv_kw_peak=1000.0, role="compute_hub")
        for name in ("sunny", "dark", "unknown")
    )
    nodes = (Node("unknown-1", "unknown", idle_power_w=200_000.0),)
    return Fleet(sites=sites, nodes=nodes)


def write_pv_forecasts(store: DuckDBStore) -> None:
    hours = pd.date_range(ISSUE, periods=48, freq="1h")
    load = np.full(48, 500.0)
    local = (hours.hour.to_numpy() + 8) % 24
    pv = 900.0 * np.clip(np.sin(np.pi * (local - 6) / 12), 0, None)
    for site, supply in (("sunny", pv), ("dark", np.zeros(48))):
        write_forecast(store, Forecast(ISSUE, hours, load, load, load, "t"), site, "load")
        write_forecast(store, Forecast(ISSUE, hours, supply, supply, supply, "t"), site, "pv")


def test_forecast_pv_lowers_intensity_in_its_hours(tmp_path: Path) -> None:
    fleet = pv_fleet()
    store = DuckDBStore(tmp_path / "pv.duckdb")
    write_pv_forecasts(store)
    outlook = stored_outlook(store, fleet, ("sunny", "dark", "unknown"), ISSUE, 72)
    store.close()
    assert outlook.source == {"sunny": "forecast", "dark": "forecast", "unknown": "profile"}
    hours = pd.date_range(ISSUE, periods=72, freq="1h")
    local = (hours.hour.to_numpy() + 8) % 24
    grid = profile_average_intensity("CN-NM", local_hour(hours.hour.to_numpy(float)))
    sunny, dark = outlook.intensity_g_per_kwh[0], outlook.intensity_g_per_kwh[1]
    night = (local < 6) | (local >= 18)
    noon = (local >= 10) & (local <= 14)
    # no PV: all consumption is imported at the grid's intensity (no signal: the profile)
    np.testing.assert_allclose(dark, grid, rtol=1e-9)
    np.testing.assert_allclose(sunny[night], grid[night], rtol=1e-9)
    assert (sunny[noon] < 0.5 * dark[noon]).all()
    # the same hour of the forecast's last day carries beyond its 48 h
    consumption = outlook.consumption_kw[0]
    assert (consumption > 500.0).all()  # facility power of a 500 kW IT load
    pv = 900.0 * np.clip(np.sin(np.pi * (local - 6) / 12), 0, None)
    share = np.maximum(consumption - pv, 0) / consumption
    np.testing.assert_allclose(sunny[noon], (grid * share)[noon], rtol=1e-9)
    assert sunny[60] == pytest.approx(sunny[36], rel=0.01)


def test_a_site_without_forecasts_falls_back_to_the_profile(tmp_path: Path) -> None:
    fleet = pv_fleet()
    store = DuckDBStore(tmp_path / "none.duckdb")
    outlook = stored_outlook(store, fleet, ("unknown", "sunny"), ISSUE, 24)
    store.close()
    assert outlook.source == {"unknown": "profile", "sunny": "profile"}
    local = (pd.date_range(ISSUE, periods=24, freq="1h").hour.to_numpy() + 8) % 24
    unknown, sunny = outlook.intensity_g_per_kwh
    # no meters: the nodes' idle power (200 kW) is the IT load; a typical PV day at noon
    assert outlook.consumption_kw[0].min() > 200.0
    assert np.isfinite(unknown).all()
    assert unknown[local == 12][0] < unknown[local == 2][0]
    assert np.isfinite(sunny).all()  # no load at all: the grid's intensity


def test_a_grid_signal_known_at_the_time_is_carried_along_the_profile(tmp_path: Path) -> None:
    fleet = pv_fleet()
    store = DuckDBStore(tmp_path / "grid.duckdb")
    write_pv_forecasts(store)
    signal = pd.DataFrame(
        [{"ts": ISSUE - pd.Timedelta(minutes=30), "region": "CN-NM", "intensity_g_per_kwh": 300.0}]
    )
    store.write_frame("grid", signal, tags=["region"])
    outlook = stored_outlook(store, fleet, ("dark",), ISSUE, 24)
    store.close()
    hours = pd.date_range(ISSUE, periods=24, freq="1h")
    profile = profile_average_intensity("CN-NM", local_hour(hours.hour.to_numpy(float)))
    then = profile_average_intensity("CN-NM", local_hour(23.5))
    np.testing.assert_allclose(outlook.intensity_g_per_kwh[0], 300.0 * profile / then)


# cost and realised emissions ----------------------------------------------------------------


def test_cost_is_energy_at_the_price_where_it_is_consumed() -> None:
    run = run_carbon_shift(seed=3)
    jobs = TrainingJobs()
    price = {s.id: s.price_cny_per_kwh for s in CARBON_SITES}
    transfer = {s.id: s.transfer_kwh_per_gb * jobs.data_gb for s in CARBON_SITES}
    assert price == {"bj": 0.70, "hl": 0.38, "tf": 0.45}
    for result in run.results.values():
        expected = sum(
            jobs.power_kw * hours * price[site] + transfer[site] * price["bj"]
            for site, _, hours in result.placements
        )
        assert result.cost_cny == pytest.approx(expected)
    assert run.results["run-now"].cost_cny == pytest.approx(
        run.results["run-now"].energy_kwh * 0.70
    )


def test_a_site_without_a_price_makes_only_its_jobs_cost_unknown() -> None:
    intensity = np.array([[500.0] * 30, [50.0] * 30])
    sites = [
        ShiftSite("o", "CN-BJ", 1, 100.0, price_cny_per_kwh=0.5),
        ShiftSite("x", "CN-SC", 1, 100.0),
    ]
    jobs = TrainingJobs(power_kw=10.0, data_gb=0.0)
    home = plan("run-now", sites, 0, jobs, np.array([0.0]), np.array([2.0]), intensity)
    away = plan("space-shift", sites, 0, jobs, np.array([0.0]), np.array([2.0]), intensity)
    assert home.cost_cny == pytest.approx(20 * 0.5)
    assert math.isnan(away.cost_cny)
    report = carbon_shift_report(run_carbon_shift(seed=0), 0)
    json.dumps(report, allow_nan=False)


def test_realised_emissions_count_only_known_hours() -> None:
    sites = [ShiftSite("o", "CN-BJ", 2, 100.0), ShiftSite("x", "CN-SC", 2, 100.0, 0, 0, 0.1)]
    jobs = TrainingJobs(power_kw=10.0, data_gb=100.0)  # a move costs 10 kWh
    planned = np.array([[400.0] * 10, [100.0] * 10])
    actual = np.array([[500.0] * 10, [200.0] * 4 + [np.nan] * 6])
    result = plan("space-shift", sites, 0, jobs, np.array([1.0]), np.array([5.0]), planned)
    assert result.placements == (("x", 1, 5),)
    real = realised_emissions(result, sites, 0, jobs, planned, actual)
    assert real is not None
    # hours 1-3 known at x (30 kWh), the move at the origin's hour 1 (10 kWh)
    assert real.emissions_kg == pytest.approx((30 * 200 + 10 * 500) / 1000)
    assert real.planned_emissions_kg == pytest.approx((30 * 100 + 10 * 400) / 1000)
    assert real.energy_share == pytest.approx(40 / 60)
    unknown = np.full_like(actual, np.nan)
    assert realised_emissions(result, sites, 0, jobs, planned, unknown) is None


def test_preset_json_is_todays_plus_cost() -> None:
    report = carbon_shift_report(run_carbon_shift(seed=0), 0)
    assert list(report) == [
        "preset",
        "seed",
        "intensity_g_per_kwh",
        "price_cny_per_kwh",
        "storage",
        "slots",
        "slack_h",
        "policies",
    ]
    assert report["slots"] == {s.id: s.slots for s in CARBON_SITES}
    assert report["slack_h"] == TrainingJobs().slack_h
    for entry in report["policies"].values():
        assert set(entry) == {
            "jobs", "emissions_kg", "energy_kwh", "cost_cny", "transfer_kwh", "mean_delay_h",
            "deadline_misses", "jobs_per_site", "emissions_per_hour_kg", "placements", "storage",
        }  # fmt: skip


def test_the_stored_plan_runs_the_inventory_s_batteries(store: DuckDBStore, fleet: Fleet) -> None:
    none = run_carbon_shift_at(store, fleet, AT, ("run-now",))
    price = run_carbon_shift_at(store, fleet, AT, ("run-now",), dispatch="price")
    assert price.run.batteries == none.run.batteries
    assert set(price.run.batteries) == {"bj-yizhuang", "nm-ulanqab", "gd-shaoguan"}
    assert price.run.batteries["bj-yizhuang"].capacity_kwh == 120.0
    idle, used = none.run.storage["run-now"], price.run.storage["run-now"]
    assert idle.cost_with_cny == idle.cost_without_cny == used.cost_without_cny
    # run-now keeps every job at the origin, bj-yizhuang, whose battery works the tariff; hour 0
    # is 17:00 UTC, 01:00 in Beijing, so the first window starts in the valley
    assert used.cost_with_cny < used.cost_without_cny
    assert 0 < max(used.soc_kwh["bj-yizhuang"]) <= 120.0


# the command ------------------------------------------------------------------------------


def whatif(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CNETWIN, "whatif", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_cli_plans_on_the_stored_fleet(tmp_path: Path, built: Path) -> None:
    path = tmp_path / "cli.duckdb"
    shutil.copy(built, path)
    result = whatif(
        "carbon-shift", "--at", AT.isoformat(), "--store", f"duckdb:///{path}", "--json",
        "--policy", "run-now", "--policy", "carbon-aware",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["at"] == pd.Timestamp(AT).isoformat()
    assert doc["origin"] == "bj-yizhuang"
    assert set(doc["outlook_source"].values()) == {"forecast"}
    assert list(doc["policies"]) == ["run-now", "carbon-aware"]
    assert doc["price_cny_per_kwh"]["bj-yizhuang"] == 0.70
    for entry in doc["policies"].values():
        assert entry["cost_cny"] > 0
        assert 0 < entry["realised"]["energy_share"] <= 1
    summary_run = whatif("carbon-shift", "--at", AT.isoformat(), "--store", f"duckdb:///{path}")
    assert summary_run.returncode == 0, summary_run.stderr
    assert "realised" in summary_run.stdout and "CNY" in summary_run.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["carbon-shift", "--at", "yesterday-ish"], "is not a time"),
        (["carbon-shift", "--at", "2020-01-01T00:00Z"], "no meter readings or forecasts"),
        (["carbon-shift", "--at", "2024-06-20T16:00Z", "--origin", "mars"], "unknown origin"),
        (["carbon-shift", "--origin", "bj-yizhuang"], "--origin goes with"),
        (["ioc-16-nodes", "--at", "2024-06-20T16:00Z"], "--at goes with the fork preset"),
    ],
)
def test_cli_bad_at_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "empty.duckdb"
    DuckDBStore(path).close()
    result = whatif(*args, "--store", f"duckdb:///{path}")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
