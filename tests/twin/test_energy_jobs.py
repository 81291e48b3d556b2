"""Derived energy series from a store filled by the fleet simulator, checked against a direct
computation from the raw readings (pandas means and the formulas of DOMAIN §5 written out)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collectors.parsers import parse_message
from collectors.simulate import FleetSimulator
from twin.domain import Fleet, Meter, Node, Site
from twin.inventory import example_fleet
from twin.jobs.energy import (
    CATCH_UP,
    ENERGY_EVERY,
    capacity_outlook,
    derive_energy,
    energy_tables,
    grid_tables,
    read_site_energy,
    record_energy,
)
from twin.jobs.scheduler import start_scheduler
from twin.models.carbon import grid_profile
from twin.models.energy import SiteEnergyModel
from twin.store.duckdb import DuckDBStore
from twin.views.window_cache import WindowCache

START = datetime(2025, 6, 1, tzinfo=UTC)
HOURS = 3
NOW = START + timedelta(hours=HOURS, seconds=20)
WINDOW = pd.Timedelta(minutes=5)


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return example_fleet()


@pytest.fixture(scope="module")
def raw(fleet: Fleet) -> dict[str, pd.DataFrame]:
    """Three simulated hours at 60 s, as parsed readings per measurement."""
    sim = FleetSimulator(fleet, seed=5, interval_s=60.0, start=START)
    rows: dict[str, list[dict[str, object]]] = defaultdict(list)
    for topic, payload in sim.backfill(START, START + timedelta(hours=HOURS)):
        for r in parse_message(topic, payload, fleet=fleet, received_at=START + timedelta(days=1)):
            rows[r.measurement].append({"ts": pd.Timestamp(r.ts), **r.tags, **r.fields})
    return {m: pd.DataFrame(v) for m, v in rows.items()}


@pytest.fixture
def store(tmp_path: Path, raw: dict[str, pd.DataFrame]) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "energy.duckdb")
    tags = {"node": ["site", "id"], "meter": ["site", "id", "kind"], "grid": ["region"]}
    for measurement, frame in raw.items():
        if measurement in tags:
            s.write_frame(measurement, frame, tags=tags[measurement])
    yield s
    s.close()


def window_rows(frame: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    return frame[(frame["ts"] >= start) & (frame["ts"] < start + WINDOW)]


def by_hand(
    fleet: Fleet, raw: dict[str, pd.DataFrame], site_id: str, start: pd.Timestamp
) -> dict[str, float]:
    """The site_energy fields of one site and window, computed directly."""
    site = fleet.site(site_id)
    nodes = window_rows(raw["node"], start)
    it_w = 0.0
    for node in (n for n in fleet.nodes if n.site == site_id):
        rows = nodes[nodes["id"] == node.id]
        u = rows["gpu_util" if node.gpus else "cpu_util"].mean()
        it_w += node.idle_power_w + (node.max_power_w - node.idle_power_w) * u
    mid = start + WINDOW / 2
    solar_hour = (mid.hour + mid.minute / 60 + mid.second / 3600 + site.longitude / 15) % 24
    temp = (
        28.0
        - 0.75 * (site.latitude - 18.0)
        - (3.0 + 0.5 * (site.latitude - 18.0))
        * math.cos(2 * math.pi * (mid.day_of_year - 15) / 365.25)
        + 4.0 * math.cos(2 * math.pi * (solar_hour - 15.0) / 24.0)
    )
    pue = min(1.15 + 0.012 * max(temp - 10.0, 0.0), 1.6)
    meters = window_rows(raw["meter"], start)
    meters = meters[meters["site"] == site_id]
    kw = meters.groupby("kind")["power_kw"].mean()  # one meter of each kind per site
    grid = window_rows(raw["grid"], start)
    grid_avg = grid[grid["region"] == site.region]["intensity_g_per_kwh"].mean()
    grid_marginal = grid[grid["region"] == site.region]["marginal_g_per_kwh"].mean()
    it_kw = it_w / 1000.0
    grid_import = max(kw["grid_import"], 0.0)
    return {
        "it_kw": it_kw,
        "facility_kw": it_kw * pue,
        "losses_kw": 0.10 * it_kw * pue,
        "cooling_kw": it_kw * pue * 0.9 - it_kw,
        "pue": pue,
        "pue_metered": kw["facility"] / kw["it_load"],
        "model_gap_kw": it_kw * pue - kw["facility"],
        "renewable_share": min(kw.get("pv", 0.0) + kw.get("wind", 0.0), kw["facility"])
        / kw["facility"],
        "intensity_avg_g_per_kwh": grid_import * grid_avg / kw["facility"],
        "intensity_marginal_g_per_kwh": grid_marginal,
        "emissions_kg_per_h": grid_import * grid_avg / 1000.0,
    }


def test_job_writes_every_window_of_the_history_equal_to_a_direct_computation(
    store: DuckDBStore, fleet: Fleet, raw: dict[str, pd.DataFrame]
) -> None:
    record_energy(store, fleet, NOW)
    sites = store.query("site_energy", START, NOW)
    assert len(sites) == HOURS * 12 * len(fleet.sites)
    assert set(sites["site"]) == {s.id for s in fleet.sites}
    for site_id, minutes in (("nm-ulanqab", 0), ("gd-shenzhen", 95), ("nx-zhongwei", 175)):
        start = pd.Timestamp(START) + pd.Timedelta(minutes=minutes)
        row = sites[(sites["site"] == site_id) & (sites["ts"] == start)].iloc[0]
        for name, value in by_hand(fleet, raw, site_id, start).items():
            assert row[name] == pytest.approx(value, rel=1e-6, abs=1e-9), (site_id, name)
        assert row["grid_signal"] == 1.0
    # the model follows the meters within the simulator's weather noise
    assert sites["model_gap_pct"].abs().max() < 10.0
    assert (sites["pue_metered"] > 1.1).all() and (sites["pue_metered"] < 1.65).all()


def _site_windows(first: pd.Timestamp, count: int, base: float) -> pd.DataFrame:
    """``count`` 5 min windows of two sites from ``first``, values counting up from ``base``."""
    ts = pd.date_range(first, periods=count, freq=ENERGY_EVERY).repeat(2)
    return pd.DataFrame(
        {
            "ts": ts,
            "site": ["a", "b"] * count,
            "consumption_kw": base + np.arange(2 * count, dtype=float),
            "emissions_kg_per_h": base / 10.0,
        }
    )


def test_kept_site_energy_windows_read_as_a_cold_read_and_take_rewritten_and_new_windows(
    tmp_path: Path,
) -> None:
    store = DuckDBStore(tmp_path / "kept.duckdb")
    try:
        step = pd.Timedelta(ENERGY_EVERY)
        first = pd.Timestamp(START)
        store.write_frame("site_energy", _site_windows(first, 72, 100.0), tags=["site"])
        cache = WindowCache()
        buckets = (ENERGY_EVERY, timedelta(hours=1))

        def both(now: pd.Timestamp, bucket: timedelta) -> tuple[pd.DataFrame, pd.DataFrame]:
            start = (now - pd.Timedelta(hours=4)).floor(bucket)
            kept = read_site_energy(store, start, now, bucket, cache)
            return kept, read_site_energy(store, start, now, bucket)

        now = first + 72 * step + pd.Timedelta(seconds=40)
        for bucket in buckets:
            pd.testing.assert_frame_equal(*both(now, bucket))
        assert len(cache) == 2  # both reads are kept

        # the job recomputes the third newest window (late readings) and adds the next one
        recomputed = first + 69 * step
        store.write_frame("site_energy", _site_windows(recomputed, 4, 500.0), tags=["site"])
        later = now + step
        for bucket in buckets:
            kept, cold = both(later, bucket)
            pd.testing.assert_frame_equal(kept, cold)
        windows, _ = both(later, ENERGY_EVERY)
        assert windows["ts"].max() == first + 72 * step  # the newly completed window
        again = windows[(windows["ts"] == recomputed) & (windows["site"] == "a")]
        assert again["consumption_kw"].tolist() == [500.0]
        hourly, _ = both(later, timedelta(hours=1))
        hour = hourly[(hourly["ts"] == first + pd.Timedelta(hours=5)) & (hourly["site"] == "a")]
        assert hour["consumption_kw"].iloc[0] > 200.0  # the recomputed windows in its mean
    finally:
        store.close()


def test_site_energy_reader_returns_windows_or_their_means_per_bucket(
    store: DuckDBStore, fleet: Fleet
) -> None:
    record_energy(store, fleet, NOW)
    windows = read_site_energy(store, START, NOW)
    assert len(windows) == HOURS * 12 * len(fleet.sites)
    assert str(windows["ts"].dt.tz) == "UTC"
    hourly = read_site_energy(store, START, NOW, bucket=timedelta(hours=1))
    assert len(hourly) == HOURS * len(fleet.sites)
    site = fleet.sites[2].id
    second = pd.Timestamp(START) + pd.Timedelta(hours=1)
    later = second + pd.Timedelta(hours=1)
    in_hour = windows[
        (windows["site"] == site) & (windows["ts"] >= second) & (windows["ts"] < later)
    ]
    assert len(in_hour) == 12
    row = hourly[(hourly["site"] == site) & (hourly["ts"] == second)].iloc[0]
    assert row["facility_kw"] == pytest.approx(in_hour["facility_kw"].mean(), rel=1e-9)
    assert row["emissions_kg_per_h"] == pytest.approx(
        in_hour["emissions_kg_per_h"].mean(), rel=1e-9
    )


def test_node_energy_allocates_the_site_emissions(store: DuckDBStore, fleet: Fleet) -> None:
    record_energy(store, fleet, NOW)
    sites = store.query("site_energy", START, NOW)
    nodes = store.query("node_energy", START, NOW)
    assert len(nodes) == HOURS * 12 * len(fleet.nodes)
    per_site = nodes.groupby(["ts", "site"])[["emissions_kg", "facility_kwh", "energy_kwh"]].sum()
    joined = sites.set_index(["ts", "site"]).join(per_site)
    hours = WINDOW / pd.Timedelta(hours=1)
    np.testing.assert_allclose(
        joined["emissions_kg"], joined["emissions_kg_per_h"] * hours, rtol=1e-9
    )
    np.testing.assert_allclose(joined["facility_kwh"], joined["consumption_kw"] * hours, rtol=1e-9)
    np.testing.assert_allclose(joined["energy_kwh"], joined["it_kw"] * hours, rtol=1e-9)
    node = nodes.iloc[0]
    assert node["energy_kwh"] == pytest.approx(node["it_kw"] * hours)


def test_job_catches_up_once_then_only_recomputes_recent_windows(
    store: DuckDBStore, fleet: Fleet
) -> None:
    record_energy(store, fleet, NOW - timedelta(hours=1))
    first = store.counts()["site_energy"]["rows"]
    assert first == (HOURS - 1) * 12 * len(fleet.sites)
    record_energy(store, fleet, NOW)
    assert store.counts()["site_energy"]["rows"] == HOURS * 12 * len(fleet.sites)
    record_energy(store, fleet, NOW)  # again: idempotent
    assert store.counts()["site_energy"]["rows"] == HOURS * 12 * len(fleet.sites)


def test_job_over_an_empty_store_writes_nothing(tmp_path: Path, fleet: Fleet) -> None:
    store = DuckDBStore(tmp_path / "empty.duckdb")
    try:
        record_energy(store, fleet, NOW)
        assert "site_energy" not in store.measurements()
    finally:
        store.close()
    assert timedelta(hours=24) == CATCH_UP


def test_without_a_grid_signal_the_profile_is_used_and_labelled(
    tmp_path: Path, fleet: Fleet, raw: dict[str, pd.DataFrame]
) -> None:
    store = DuckDBStore(tmp_path / "nogrid.duckdb")
    try:
        store.write_frame("node", raw["node"], tags=["site", "id"])
        store.write_frame("meter", raw["meter"], tags=["site", "id", "kind"])
        series = derive_energy(store, fleet, START, START + timedelta(hours=1))
    finally:
        store.close()
    row = series.sites[series.sites["site"] == "bj-yizhuang"].iloc[0]
    assert row["grid_signal"] == 0.0
    # the profile at the window start, 08:00 local (00:00 UTC)
    solar = max(math.sin(math.pi * (8.0 - 6.0) / 12.0), 0.0)
    evening = math.exp(-(((8.0 - 20.0) / 2.5) ** 2))
    day = np.arange(0.0, 24.0, 1.0 / 60.0)
    mean = np.mean(
        0.06 * np.exp(-(((day - 20.0) / 2.5) ** 2))
        - 0.10 * np.clip(np.sin(np.pi * (day - 6.0) / 12.0), 0.0, None)
    )
    shaped = 555.4 * (1.0 + 0.06 * evening - 0.10 * solar - mean)
    assert row["grid_intensity_avg_g_per_kwh"] == pytest.approx(shaped, rel=1e-9)


def test_a_site_on_renewables_alone_emits_nothing_and_an_unmetered_site_is_modelled() -> None:
    fleet = Fleet(
        sites=(
            Site("green", "Green", "CN-QH", 36.6, 101.8, "p", pv_kw_peak=50.0),
            Site("dark", "Dark", "CN-SD", 36.7, 117.0, "p"),
        ),
        nodes=(
            Node("g1", "green", idle_power_w=1000.0, max_power_w=3000.0),
            Node("d1", "dark", idle_power_w=1000.0, max_power_w=3000.0),
        ),
        meters=(Meter("g-fac", "green", "facility"), Meter("g-pv", "green", "pv")),
    )
    times = pd.date_range("2025-06-01 04:00", periods=2, freq="5min", tz="UTC")
    util = pd.DataFrame({"g1": [0.5, 0.5], "d1": [0.5, 0.5]}, index=times)
    meters = {
        kind: pd.DataFrame(np.nan, index=times, columns=["green", "dark"])
        for kind in ("it_load", "facility", "pv", "wind", "grid_import")
    }
    meters["facility"]["green"] = 3.0
    meters["pv"]["green"] = [3.0, 40.0]  # all the load, then exporting
    grid = grid_tables(pd.DataFrame(), fleet.regions, times, pd.Timedelta(minutes=5))
    temp = np.full((2, 2), np.nan)  # unknown: the classic constant-PUE model
    out = energy_tables(
        fleet, times, pd.Timedelta(minutes=5), util, meters, grid, temp, SiteEnergyModel()
    )
    green = out.sites[out.sites["site"] == "green"]
    assert green["emissions_kg_per_h"].tolist() == [0.0, 0.0]
    assert green["intensity_avg_g_per_kwh"].tolist() == [0.0, 0.0]
    assert green["renewable_share"].tolist() == [1.0, 1.0]
    assert out.nodes[out.nodes["id"] == "g1"]["emissions_kg"].tolist() == [0.0, 0.0]
    dark = out.sites[out.sites["site"] == "dark"].iloc[0]
    assert dark["it_kw"] == pytest.approx(2.0)
    assert dark["consumption_kw"] == pytest.approx(3.0)  # modelled: 2 kW x PUE 1.5
    assert math.isnan(dark["facility_metered_kw"]) and math.isnan(dark["model_gap_kw"])
    assert dark["grid_import_kw"] == pytest.approx(3.0)
    assert dark["emissions_kg_per_h"] == pytest.approx(
        3.0 * dark["grid_intensity_avg_g_per_kwh"] / 1000
    )


def test_a_legacy_site_splits_power_as_the_papers_do() -> None:
    """A site with ``energy_profile = "legacy"``: IT 50 %, cooling 40 %, distribution 10 % of
    facility power (PUE 2) at any temperature; a modern site beside it keeps free cooling."""
    fleet = Fleet(
        sites=(
            Site("old", "Old", "CN-BJ", 39.9, 116.4, "p", energy_profile="legacy"),
            Site("new", "New", "CN-BJ", 39.9, 116.4, "p"),
        ),
        nodes=(
            Node("o1", "old", idle_power_w=1000.0, max_power_w=3000.0),
            Node("n1", "new", idle_power_w=1000.0, max_power_w=3000.0),
        ),
    )
    times = pd.date_range("2025-01-15 04:00", periods=2, freq="5min", tz="UTC")
    util = pd.DataFrame({"o1": [0.5, 0.5], "n1": [0.5, 0.5]}, index=times)
    meters = {
        kind: pd.DataFrame(np.nan, index=times, columns=["old", "new"])
        for kind in ("it_load", "facility", "pv", "wind", "grid_import")
    }
    grid = grid_tables(pd.DataFrame(), fleet.regions, times, pd.Timedelta(minutes=5))
    temp = np.array([[-5.0, -5.0], [35.0, 35.0]])  # a winter morning, a hot afternoon
    out = energy_tables(fleet, times, pd.Timedelta(minutes=5), util, meters, grid, temp)
    old = out.sites[out.sites["site"] == "old"]
    facility = old["facility_kw"].to_numpy()
    assert old["it_kw"].to_numpy() / facility == pytest.approx([0.5, 0.5])
    assert old["cooling_kw"].to_numpy() / facility == pytest.approx([0.4, 0.4])
    assert old["losses_kw"].to_numpy() / facility == pytest.approx([0.1, 0.1])
    new = out.sites[out.sites["site"] == "new"]
    assert new["pue"].iloc[0] == pytest.approx(1.15)  # free cooling in winter
    assert new["pue"].iloc[1] > new["pue"].iloc[0]


def test_the_scheduler_runs_the_energy_job(tmp_path: Path, fleet: Fleet) -> None:
    store = DuckDBStore(tmp_path / "sched.duckdb")
    scheduler = start_scheduler(store, fleet)
    try:
        job = scheduler.get_job("energy")
        assert job is not None
        assert job.func.__name__ == "record_energy"
    finally:
        scheduler.shutdown()
        store.close()


def test_capacity_outlook_ranks_sites_by_intensity_with_spare_capacity_by_hand(
    store: DuckDBStore, fleet: Fleet, raw: dict[str, pd.DataFrame]
) -> None:
    record_energy(store, fleet, NOW)
    at = pd.Timestamp(START) + pd.Timedelta(hours=HOURS) - pd.Timedelta(seconds=30)
    table = capacity_outlook(store, fleet, at)
    assert sorted(table["site"]) == sorted(s.id for s in fleet.sites)
    assert table["intensity_avg_g_per_kwh"].is_monotonic_increasing
    nodes = raw["node"][raw["node"]["ts"] <= at].sort_values("ts").groupby("id").last()
    site = "he-zhangbei"
    members = [n for n in fleet.nodes if n.site == site]
    cpu = nodes["cpu_util"].astype(float).to_dict()
    gpu = nodes["gpu_util"].astype(float).to_dict()
    spare_nodes = sum(1 - (gpu[n.id] if n.gpus else cpu[n.id]) for n in members)
    spare_gpus = sum(n.gpus * (1 - gpu[n.id]) for n in members)
    row = table.set_index("site").loc[site]
    assert row["spare_nodes"] == pytest.approx(spare_nodes)
    assert row["spare_gpus"] == pytest.approx(spare_gpus)
    # three hours ahead: grid along its profile, PV on a typical day, load and wind as now
    newest = store.last("site_energy", at=at, tags={"site": site}).iloc[0]
    local = (at.hour + at.minute / 60 + at.second / 3600 + 8.0) % 24
    solar = (at.hour + at.minute / 60 + at.second / 3600 + fleet.site(site).longitude / 15) % 24
    pv = 0.6 * fleet.site(site).pv_kw_peak * max(math.sin(math.pi * (solar + 3 - 6) / 12), 0.0)
    grid = newest["grid_intensity_avg_g_per_kwh"] * float(
        grid_profile(np.array((local + 3) % 24)) / grid_profile(np.array(local))
    )
    load = newest["consumption_kw"]
    hand = max(load - pv - newest["wind_kw"], 0.0) * grid / load
    assert row["ahead_3h"] == pytest.approx(hand, rel=1e-9)
    assert row["intensity_avg_g_per_kwh"] == pytest.approx(newest["intensity_avg_g_per_kwh"])
