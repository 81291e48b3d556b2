"""Fleet simulator: contract, validity, determinism, history, and the physics of each series."""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pvlib
import pytest
from hypothesis import given
from hypothesis import strategies as st

import collectors.simulate as simulate
from collectors.parsers import FIELD_RULES, parse_message
from collectors.simulate import (
    FleetSimulator,
    capacity_slots,
    clear_sky_ghi,
    cooling_pue,
    grid_profile,
    marginal_intensity,
    wind_power_kw,
)
from twin.domain import Fleet, Reading
from twin.inventory import example_fleet, synthetic_fleet
from twin.models.carbon import read_grid_factors, read_source_factors

SUMMER = datetime(2024, 6, 21, tzinfo=UTC)
DAY = timedelta(days=1)


def parse_all(fleet: Fleet, messages: Iterable[tuple[str, bytes]]) -> list[Reading]:
    """Every message through the product's parser and validator (refusals raise)."""
    readings: list[Reading] = []
    for topic, payload in messages:
        readings.extend(parse_message(topic, payload, fleet=fleet, received_at=SUMMER + 2 * DAY))
    return readings


def frames(readings: list[Reading]) -> dict[str, pd.DataFrame]:
    rows: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in readings:
        rows[r.measurement].append({"ts": r.ts, **r.tags, **r.fields})
    return {m: pd.DataFrame(v) for m, v in rows.items()}


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return example_fleet()


@pytest.fixture(scope="module")
def day(fleet: Fleet) -> dict[str, pd.DataFrame]:
    """A summer day of the example fleet at 60 s, every message validated by the parser."""
    sim = FleetSimulator(fleet, seed=11, interval_s=60.0, start=SUMMER)
    return frames(parse_all(fleet, sim.backfill(SUMMER, SUMMER + DAY)))


# -- contract and validity -----------------------------------------------------------------------


def test_a_day_is_valid_complete_and_in_the_glossary(
    fleet: Fleet, day: dict[str, pd.DataFrame]
) -> None:
    steps = 24 * 60
    assert len(day["node"]) == steps * len(fleet.nodes)
    assert len(day["link"]) == steps * len(fleet.links)
    assert len(day["meter"]) == steps * len(fleet.meters)
    assert len(day["grid"]) == steps * len(fleet.regions)
    for measurement, frame in day.items():
        fields = set(FIELD_RULES[measurement])
        assert fields <= set(frame.columns), measurement
        values = frame[sorted(fields)].to_numpy(dtype=float)
        assert np.isfinite(values).all(), measurement
        for name in fields:
            rule = FIELD_RULES[measurement][name]
            low = -rule.hi if rule.signed else rule.lo
            assert frame[name].between(low, rule.hi).all(), f"{measurement}.{name}"


def test_live_messages_are_canonical_json_objects(fleet: Fleet) -> None:
    sim = FleetSimulator(fleet, seed=1, start=SUMMER)
    messages = sim.step()
    assert len(messages) == (
        len(fleet.nodes) + len(fleet.links) + len(fleet.meters) + len(fleet.regions)
    )
    for _, payload in messages:
        doc = json.loads(payload)
        assert set(doc) == {"ts", "fields"}
        assert doc["ts"] == "2024-06-21T00:00:00Z"
        assert json.dumps(doc, separators=(",", ":")).encode() == payload
    assert {t for t, _ in messages} >= {
        "cne/v1/grid/CN-NM",
        "cne/v1/bj-yizhuang/meter/bj-yizhuang-it",
    }
    assert len(parse_all(fleet, messages)) == len(messages)
    assert sim.now == SUMMER + timedelta(seconds=sim.interval_s)


def test_same_inputs_give_identical_bytes_other_seed_does_not(fleet: Fleet) -> None:
    def run(seed: int) -> list[tuple[str, bytes]]:
        sim = FleetSimulator(fleet, seed=seed, interval_s=10.0, start=SUMMER)
        live = [m for _ in range(30) for m in sim.step()]
        history = list(sim.backfill(SUMMER + timedelta(hours=1), SUMMER + timedelta(hours=3)))
        return live + history

    first = run(5)
    assert first == run(5)
    assert first != run(6)


# -- history -------------------------------------------------------------------------------------


def test_backfill_is_one_array_per_asset_and_clock_hour_in_time_order(fleet: Fleet) -> None:
    start = SUMMER + timedelta(minutes=30)
    stop = start + timedelta(hours=2)
    sim = FleetSimulator(fleet, seed=2, interval_s=10.0, start=start)
    messages = list(sim.backfill(start, stop))
    assets = len(fleet.nodes) + len(fleet.links) + len(fleet.meters) + len(fleet.regions)
    assert len(messages) == 3 * assets  # 00:30-01:00, 01:00-02:00, 02:00-02:30
    previous_first = start
    sizes = defaultdict(list)
    for topic, payload in messages:
        doc = json.loads(payload)
        stamps = [datetime.fromisoformat(r["ts"]) for r in doc]
        assert stamps == sorted(stamps) and len(doc) <= 360
        assert {t.replace(minute=0, second=0) for t in stamps} == {
            stamps[0].replace(minute=0, second=0)
        }
        assert start <= stamps[0] and stamps[-1] < stop
        assert stamps[0] >= previous_first
        previous_first = stamps[0]
        sizes[topic].append(len(doc))
    assert all(s == [180, 360, 180] for s in sizes.values())
    assert sim.now == stop


def test_backfill_holds_the_same_readings_as_live_steps(fleet: Fleet) -> None:
    live = FleetSimulator(fleet, seed=3, interval_s=30.0, start=SUMMER)
    stepped = defaultdict(list)
    for _ in range(240):
        for topic, payload in live.step():
            stepped[topic].append(json.loads(payload))
    history = FleetSimulator(fleet, seed=3, interval_s=30.0, start=SUMMER)
    backfilled = defaultdict(list)
    for topic, payload in history.backfill(SUMMER, SUMMER + timedelta(hours=2)):
        backfilled[topic].extend(json.loads(payload))
    assert backfilled == stepped


def test_backfill_skips_ahead_then_live_continues(fleet: Fleet) -> None:
    sim = FleetSimulator(fleet, seed=4, interval_s=60.0, start=SUMMER)
    later = SUMMER + timedelta(hours=1)
    first = next(iter(sim.backfill(later, later + timedelta(minutes=5))))
    assert json.loads(first[1])[0]["ts"] == "2024-06-21T01:00:00Z"
    list(sim.backfill(sim.now, SUMMER + timedelta(hours=2)))
    assert json.loads(sim.step()[0][1])["ts"] == "2024-06-21T02:00:00Z"
    with pytest.raises(ValueError, match="before the simulator clock"):
        list(sim.backfill(SUMMER, SUMMER + DAY))


def test_start_must_be_timezone_aware(fleet: Fleet) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FleetSimulator(fleet, seed=0, start=datetime(2024, 6, 21))


# -- physics -------------------------------------------------------------------------------------


def meters(day: dict[str, pd.DataFrame], kind: str) -> pd.DataFrame:
    frame = day["meter"]
    return frame[frame["kind"] == kind].set_index(["site", "ts"]).sort_index()


def test_it_load_is_the_sum_of_node_power(day: dict[str, pd.DataFrame]) -> None:
    nodes_kw = day["node"].groupby(["site", "ts"])["power_w"].sum() / 1000.0
    it = meters(day, "it_load")["power_kw"]
    ratio = (it / nodes_kw.reindex(it.index)).to_numpy()
    assert np.allclose(ratio, 1.0, atol=0.01)


def test_facility_over_it_is_a_pue_that_tracks_temperature(day: dict[str, pd.DataFrame]) -> None:
    pue = meters(day, "facility")["power_kw"] / meters(day, "it_load")["power_kw"]
    assert pue.between(1.14, 1.62).all()
    by_site = pue.groupby(level="site").mean()
    assert by_site["gd-shenzhen"] > by_site["nm-ulanqab"]  # southern summer is hotter


def test_grid_import_balances_facility_and_renewables(day: dict[str, pd.DataFrame]) -> None:
    facility = meters(day, "facility")["power_kw"]
    pv = meters(day, "pv")["power_kw"].reindex(facility.index, fill_value=0.0)
    wind = meters(day, "wind")["power_kw"].reindex(facility.index, fill_value=0.0)
    grid = meters(day, "grid_import")["power_kw"]
    assert np.allclose(grid, facility - pv - wind, atol=0.01 * (facility + pv + wind).max())


def test_pv_follows_the_sun_and_stays_under_its_peak(
    fleet: Fleet, day: dict[str, pd.DataFrame]
) -> None:
    pv = meters(day, "pv")["power_kw"].reset_index()
    hour = pv["ts"].dt.hour
    night = pv[(hour >= 15) & (hour < 20)]  # 23:00-04:00 China time, all sites dark
    noon = pv[(hour >= 3) & (hour < 6)]  # 11:00-14:00 China time
    assert (night["power_kw"] == 0).all()
    assert (noon.groupby("site")["power_kw"].mean() > 0).all()
    peak = {s.id: s.pv_kw_peak for s in fleet.sites}
    assert (pv["power_kw"] <= pv["site"].map(peak) * 1.01).all()


def test_wind_stays_between_zero_and_rating(fleet: Fleet, day: dict[str, pd.DataFrame]) -> None:
    wind = meters(day, "wind")["power_kw"].reset_index()
    rated = wind["site"].map({s.id: s.wind_kw_rated for s in fleet.sites})
    assert (wind["power_kw"] >= 0).all() and (wind["power_kw"] <= rated * 1.01).all()
    assert wind["power_kw"].max() > 0


def test_energy_registers_integrate_power(day: dict[str, pd.DataFrame]) -> None:
    for site, frame in meters(day, "it_load").groupby(level="site"):
        energy = frame["energy_kwh"].to_numpy()
        assert np.all(np.diff(energy) >= 0), site
        integral = frame["power_kw"].to_numpy()[:-1].sum() / 60.0  # 60 s steps
        assert energy[-1] - energy[0] == pytest.approx(integral, rel=0.001)
    for _, frame in meters(day, "grid_import").groupby(level="site"):
        assert np.all(np.diff(frame["energy_kwh"].to_numpy()) >= 0)  # imports only


def test_meters_report_plausible_electrical_values(
    fleet: Fleet, day: dict[str, pd.DataFrame]
) -> None:
    frame = day["meter"]
    assert frame["power_factor"].between(0.95, 0.99).all()
    assert frame["frequency_hz"].between(49.8, 50.2).all()
    tasmota = frame["id"].isin({m.id for m in fleet.meters if m.device})  # single-phase
    assert tasmota.any()
    assert frame.loc[tasmota, "voltage_v"].between(225.0, 235.0).all()
    assert frame.loc[~tasmota, "voltage_v"].between(390.0, 410.0).all()


def test_links_queue_and_lose_more_when_busy(fleet: Fleet, day: dict[str, pd.DataFrame]) -> None:
    links = day["link"]
    base = links["id"].map({k.id: k.base_latency_ms for k in fleet.links})
    capacity = links["id"].map({k.id: k.capacity_gbps for k in fleet.links})
    assert (links["latency_ms"] >= base).all()
    assert (links["throughput_gbps"] <= capacity).all()
    busy = links["util"] > links["util"].quantile(0.9)
    assert (links["latency_ms"] - base)[busy].mean() > (links["latency_ms"] - base)[~busy].mean()
    assert links.loc[busy, "loss_pct"].mean() >= links.loc[~busy, "loss_pct"].mean()


def test_nodes_draw_power_between_idle_and_max(fleet: Fleet, day: dict[str, pd.DataFrame]) -> None:
    nodes = day["node"]
    by_id = {n.id: n for n in fleet.nodes}
    idle = nodes["id"].map({k: n.idle_power_w for k, n in by_id.items()})
    peak = nodes["id"].map({k: n.max_power_w for k, n in by_id.items()})
    slots = nodes["id"].map({k: capacity_slots(n) for k, n in by_id.items()})
    assert (nodes["power_w"] >= idle - 0.1).all() and (nodes["power_w"] <= peak + 0.1).all()
    assert (nodes["tasks_running"] <= slots).all()
    gpu = nodes["id"].map({k: n.gpus > 0 for k, n in by_id.items()})
    assert (nodes.loc[~gpu, "gpu_util"] == 0).all()
    training = nodes["id"].map({k: n.workload == "B" for k, n in by_id.items()})
    compute = nodes["gpu_util"].where(gpu, nodes["cpu_util"])
    assert compute[training].mean() > 0.8 > compute[~training].mean()


def test_grid_signal_averages_the_shipped_factor(day: dict[str, pd.DataFrame]) -> None:
    grid = day["grid"]
    factors = read_grid_factors()
    sources = read_source_factors()
    mean = grid.groupby("region")["intensity_g_per_kwh"].mean()
    for region, value in mean.items():
        assert value == pytest.approx(factors[str(region)], rel=0.03)
    assert grid["marginal_g_per_kwh"].between(sources["natural_gas"], sources["coal"]).all()
    assert (grid["marginal_g_per_kwh"] > grid["intensity_g_per_kwh"]).all()
    share = grid.groupby("region")["renewable_share"].mean()
    assert share["CN-GD"] > share["CN-NM"]  # Guangdong's factor is lower than Inner Mongolia's


# -- pure models ---------------------------------------------------------------------------------


def test_clear_sky_matches_pvlibs_own_pipeline() -> None:
    times = pd.date_range(SUMMER, periods=289, freq="300s")
    ours = clear_sky_ghi(41.03, 113.13, times)
    location = pvlib.location.Location(41.03, 113.13, tz="UTC", altitude=1342)
    with warnings.catch_warnings():  # pvlib's own pipeline uses a pandas API pandas 3 deprecates
        warnings.simplefilter("ignore")
        reference = location.get_clearsky(times, model="ineichen")["ghi"].to_numpy()
    assert ours.max() == pytest.approx(reference.max(), rel=0.03)
    assert np.abs(ours - reference).max() < 40.0
    assert ours.min() == 0.0 and np.isfinite(ours).all()


def test_clear_sky_is_computed_once_per_pv_site_and_day(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[float, float]] = []
    real = simulate.clear_sky_ghi

    def counting(latitude: float, longitude: float, times: pd.DatetimeIndex) -> np.ndarray:
        calls.append((latitude, longitude))
        return real(latitude, longitude, times)

    monkeypatch.setattr(simulate, "clear_sky_ghi", counting)
    sim = FleetSimulator(fleet, seed=0, interval_s=600.0, start=SUMMER)
    for _ in range(2 * 144):  # two days
        sim.step()
    pv_sites = sum(1 for s in fleet.sites if s.pv_kw_peak > 0)
    assert len(calls) == 2 * pv_sites


def test_cooling_pue_is_free_cooling_then_rising() -> None:
    temps = np.array([-20.0, 0.0, 10.0, 20.0, 30.0, 60.0])
    pue = cooling_pue(temps)
    assert np.all(pue[:3] == pytest.approx(1.15))
    assert np.all(np.diff(pue) >= 0) and pue[4] > pue[3] > pue[2]
    assert pue.max() <= 1.6


@given(v1=st.floats(0.0, 40.0), v2=st.floats(0.0, 40.0))
def test_wind_power_curve(v1: float, v2: float) -> None:
    rated = np.array(2000.0)
    p = float(wind_power_kw(np.array(v1), rated))
    assert 0.0 <= p <= 2000.0
    if v1 < 3.0 or v1 >= 25.0:
        assert p == 0.0
    elif v1 >= 12.0:
        assert p == 2000.0
    low, high = sorted((v1, v2))
    if low >= 3.0 and high < 25.0:
        assert float(wind_power_kw(np.array(low), rated)) <= float(
            wind_power_kw(np.array(high), rated)
        )


def test_grid_profile_keeps_the_daily_mean_and_dips_at_noon() -> None:
    hours = np.arange(0.0, 24.0, 0.01)
    assert grid_profile(hours).mean() == pytest.approx(1.0, abs=1e-3)
    assert grid_profile(np.array(13.0)) < 1.0 < grid_profile(np.array(20.0))
    coal, gas = 995.0, 743.0
    assert (
        gas
        < marginal_intensity(np.array(20.0), coal, gas)
        < marginal_intensity(np.array(3.0), coal, gas)
        < coal
    )


def test_a_large_synthetic_fleet_steps_and_validates() -> None:
    fleet = synthetic_fleet(2000, 200, seed=1)
    sim = FleetSimulator(fleet, seed=1, start=SUMMER + timedelta(hours=4))
    messages = sim.step() + sim.step()
    assets = len(fleet.nodes) + len(fleet.links) + len(fleet.meters) + len(fleet.regions)
    assert len(messages) == 2 * assets
    assert len(parse_all(fleet, messages)) == 2 * assets


def test_backfill_readings_are_the_parsed_history_of_the_kept_topics() -> None:
    fleet = example_fleet()
    start = SUMMER
    stop = SUMMER + timedelta(hours=2)
    everything = FleetSimulator(fleet, seed=3, start=start).backfill_readings(start, stop)
    meters = FleetSimulator(fleet, seed=3, start=start).backfill_readings(
        start, stop, topics=lambda topic: "/meter/" in topic
    )
    assert {r.measurement for r in everything} >= {"node", "link", "meter", "grid"}
    assert meters == [r for r in everything if r.measurement == "meter"]
    assert all(start <= r.ts < stop for r in everything)


def test_a_battery_meter_leaves_every_other_series_as_it_was() -> None:
    """Battery meters draw no random numbers: a fleet with them simulates every other meter
    exactly as the same fleet without them, and the batteries report zero power."""
    with_batteries = example_fleet()
    without = Fleet(
        with_batteries.sites,
        with_batteries.nodes,
        with_batteries.links,
        tuple(m for m in with_batteries.meters if m.kind != "battery"),
    )
    assert len(without.meters) < len(with_batteries.meters)
    start = datetime(2024, 6, 21, 10, tzinfo=UTC)
    stop = start + timedelta(minutes=30)

    def meter_rows(fleet: Fleet) -> dict[tuple[str, datetime], dict[str, float | str]]:
        readings = FleetSimulator(fleet, seed=4, interval_s=60.0, start=start).backfill_readings(
            start, stop, topics=lambda topic: "/meter/" in topic
        )
        return {(r.tags["id"], r.ts): dict(r.fields) for r in readings}

    full, plain = meter_rows(with_batteries), meter_rows(without)
    batteries = {k: v for k, v in full.items() if k[0].endswith("-battery")}
    assert batteries and {v["power_kw"] for v in batteries.values()} == {0.0}
    assert {k: v for k, v in full.items() if k not in batteries} == plain
