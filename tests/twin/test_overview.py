"""Fleet overview queries against a real DuckDB file, with expectations worked out by hand."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.domain import Fleet, Link, Meter, Node, Site
from twin.store.duckdb import DuckDBStore
from twin.views import overview
from twin.views.replay import replay_view, staleness_for
from twin.views.window_cache import WindowCache

NOW = pd.Timestamp("2025-06-01 12:00:00", tz="UTC")
PUE = overview.FALLBACK_PUE
FACTORS_FILE = Path(__file__).resolve().parents[2] / "twin" / "data" / "grid_factors.json"


def shipped_factor(region: str) -> float:
    """The region's average factor [gCO2/kWh], read from the shipped file directly."""
    data = json.loads(FACTORS_FILE.read_text("utf-8"))
    return float(data["regions"][region]["average_g_per_kwh"])


def make_fleet() -> Fleet:
    """s1 (Beijing) fully metered, s2 (Shanghai) with an IT meter only, s3 (Guangdong) none."""
    return Fleet(
        sites=(
            Site("s1", "Site one", "CN-BJ", 39.9, 116.4, "p1"),
            Site("s2", "Site two", "CN-SH", 31.2, 121.5, "p2"),
            Site("s3", "Site three", "CN-GD", 22.5, 113.9, "p3"),
        ),
        nodes=(
            Node("n1", "s1", gpus=8),
            Node("n2", "s1"),
            Node("n3", "s2", gpus=4),
            Node("n4", "s3", gpus=1),
            Node("n5", "s3"),
        ),
        links=(Link("l1", "s1", "s2"), Link("l2", "s2", "s3")),
        meters=(
            Meter("s1-fac", "s1", "facility"),
            Meter("s1-it", "s1", "it_load"),
            Meter("s1-pv", "s1", "pv"),
            Meter("s1-wind", "s1", "wind"),
            Meter("s1-grid", "s1", "grid_import"),
            Meter("s2-it", "s2", "it_load"),
        ),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "overview.duckdb")
    yield s
    s.close()


def write_now_state(store: DuckDBStore) -> None:
    """The readings behind the KPI and map tests (see the expectations in each test)."""
    fresh = NOW - pd.Timedelta(seconds=10)
    stale = NOW - pd.Timedelta(minutes=5)
    nodes = pd.DataFrame(
        [
            (fresh, "s1", "n1", 0.3, 0.9, 5000.0),
            (fresh, "s1", "n2", 0.5, np.nan, 3000.0),
            (fresh, "s2", "n3", 0.7, 0.2, 4000.0),
            (fresh, "s3", "n4", 0.2, 0.0, 2000.0),
            (stale, "s3", "n5", 1.0, 0.0, 6000.0),
            (fresh, "s3", "ghost", 1.0, 1.0, 9000.0),  # not in the inventory
            (NOW + pd.Timedelta(seconds=30), "s1", "n2", 0.99, 0.99, 9999.0),  # after NOW
        ],
        columns=["ts", "site", "id", "cpu_util", "gpu_util", "power_w"],
    )
    store.write_frame("node", nodes, ["site", "id"])
    meters = pd.DataFrame(
        [
            (fresh, "s1", "s1-fac", "facility", 12.0),
            (fresh, "s1", "s1-it", "it_load", 8.0),
            (fresh, "s1", "s1-pv", "pv", 3.0),
            (fresh, "s1", "s1-wind", "wind", 1.0),
            (fresh, "s1", "s1-grid", "grid_import", 8.0),
            (fresh, "s2", "s2-it", "it_load", 4.0),
        ],
        columns=["ts", "site", "id", "kind", "power_kw"],
    )
    store.write_frame("meter", meters, ["site", "id", "kind"])
    grid = pd.DataFrame(
        [
            (NOW - pd.Timedelta(minutes=30), "CN-BJ", 500.0),
            (NOW - pd.Timedelta(hours=4), "CN-SH", 999.0),  # too old: the shipped factor counts
        ],
        columns=["ts", "region", "intensity_g_per_kwh"],
    )
    store.write_frame("grid", grid, ["region"])
    links = pd.DataFrame(
        [
            (fresh, "s1", "l1", 0.4, 5.0),
            (stale, "s2", "l2", 0.9, 9.0),
        ],
        columns=["ts", "site", "id", "util", "latency_ms"],
    )
    store.write_frame("link", links, ["site", "id"])


# --- KPIs ---------------------------------------------------------------------------------


def test_kpis_follow_the_documented_rules(store: DuckDBStore) -> None:
    write_now_state(store)
    k = overview.kpis(store, make_fleet(), NOW)
    # n1..n4 fresh; n5 stale; ghost is not in the inventory; the n2 row after NOW is ignored
    assert (k.nodes_reporting, k.nodes_expected) == (4, 5)
    assert k.compute_util == pytest.approx((0.9 + 0.5 + 0.7 + 0.2) / 4)
    # s1 metered 12 kW; s2 from its IT meter 4 kW x PUE; s3 from node power 2 kW x PUE
    facility = 12.0 + 4.0 * PUE + 2.0 * PUE
    assert k.facility_power_kw == pytest.approx(facility)
    assert k.facility_modelled is True
    assert k.renewable_share == pytest.approx((3.0 + 1.0) / facility)
    grams = 8.0 * 500.0 + 4.0 * PUE * shipped_factor("CN-SH") + 2.0 * PUE * shipped_factor("CN-GD")
    assert k.carbon_intensity_g_per_kwh == pytest.approx(grams / facility)
    assert k.last_data == NOW - pd.Timedelta(seconds=10)
    assert k.at == NOW


def test_kpis_stale_after_is_a_parameter(store: DuckDBStore) -> None:
    write_now_state(store)
    k = overview.kpis(store, make_fleet(), NOW, stale_after=timedelta(minutes=10))
    assert k.nodes_reporting == 5
    assert k.compute_util == pytest.approx((0.9 + 0.5 + 0.7 + 0.2 + 1.0) / 5)


def test_kpis_of_an_empty_store_are_unknown(store: DuckDBStore) -> None:
    k = overview.kpis(store, make_fleet(), NOW)
    assert (k.nodes_reporting, k.nodes_expected) == (0, 5)
    assert k.compute_util is None
    assert k.facility_power_kw is None
    assert k.renewable_share is None
    assert k.carbon_intensity_g_per_kwh is None
    assert k.last_data is None
    assert overview.last_data_at(store, NOW) is None


def test_one_sites_export_does_not_make_another_sites_load_renewable(
    store: DuckDBStore,
) -> None:
    fleet = Fleet(
        sites=(
            Site("s1", "Sunny", "CN-NM", 41.0, 113.1, "p1"),
            Site("s2", "Dark", "CN-NM", 41.0, 113.1, "p1"),
        ),
        meters=(
            Meter("f1", "s1", "facility"),
            Meter("pv1", "s1", "pv"),
            Meter("f2", "s2", "facility"),
        ),
    )
    ts = NOW - pd.Timedelta(seconds=5)
    meters = pd.DataFrame(
        [
            (ts, "s1", "f1", "facility", 10.0),
            (ts, "s1", "pv1", "pv", 25.0),
            (ts, "s2", "f2", "facility", 30.0),
        ],
        columns=["ts", "site", "id", "kind", "power_kw"],
    )
    store.write_frame("meter", meters, ["site", "id", "kind"])
    k = overview.kpis(store, fleet, NOW)
    assert k.renewable_share == pytest.approx(10.0 / 40.0)  # s1's 15 kW export does not count
    assert k.carbon_intensity_g_per_kwh == pytest.approx(30.0 * shipped_factor("CN-NM") / 40.0)


def test_renewable_share_is_clipped_to_one(store: DuckDBStore) -> None:
    fleet = Fleet(
        sites=(Site("s1", "Site one", "CN-NM", 41.0, 113.1, "p1"),),
        meters=(Meter("f", "s1", "facility"), Meter("pv", "s1", "pv")),
    )
    ts = NOW - pd.Timedelta(seconds=5)
    meters = pd.DataFrame(
        [(ts, "s1", "f", "facility", 10.0), (ts, "s1", "pv", "pv", 25.0)],
        columns=["ts", "site", "id", "kind", "power_kw"],
    )
    store.write_frame("meter", meters, ["site", "id", "kind"])
    k = overview.kpis(store, fleet, NOW)
    assert k.renewable_share == 1.0
    assert k.facility_modelled is False
    # no grid_import meter: import is facility - renewables, never below zero
    assert k.carbon_intensity_g_per_kwh == 0.0


# --- map ----------------------------------------------------------------------------------


def test_site_map_rows_per_site_and_link(store: DuckDBStore) -> None:
    write_now_state(store)
    fleet = make_fleet()
    m = overview.site_map(store, fleet, NOW)
    sites = m.sites.set_index("site")
    assert list(sites.index) == ["s1", "s2", "s3"]
    assert sites.loc["s1", "latitude"] == 39.9 and sites.loc["s3", "longitude"] == 113.9
    assert sites.loc["s1", "util"] == pytest.approx((0.9 + 0.5) / 2)
    assert sites.loc["s3", "util"] == pytest.approx(0.2)  # n5 is stale
    assert list(sites["nodes_reporting"]) == [2, 1, 1]
    assert list(sites["nodes_expected"]) == [2, 1, 2]
    assert sites.loc["s1", "facility_power_kw"] == pytest.approx(12.0)
    assert sites.loc["s3", "it_power_kw"] == pytest.approx(2.0)
    assert sites.loc["s1", "intensity_g_per_kwh"] == pytest.approx(8.0 * 500.0 / 12.0)
    assert sites.loc["s2", "intensity_g_per_kwh"] == pytest.approx(shipped_factor("CN-SH"))
    links = m.links.set_index("link")
    assert list(links.index) == ["l1", "l2"]
    assert links.loc["l1", "util"] == pytest.approx(0.4)
    assert links.loc["l1", "latency_ms"] == pytest.approx(5.0)
    assert links["util"].isna().to_numpy().tolist() == [False, True]  # l2 is stale
    assert (links.loc["l2", "lat_a"], links.loc["l2", "lon_b"]) == (31.2, 113.9)


# --- one read of the latest state -----------------------------------------------------------


def test_one_read_answers_the_kpis_and_the_map(store: DuckDBStore) -> None:
    write_now_state(store)
    fleet = make_fleet()
    latest = overview.read_latest(store, fleet, NOW)
    before_kpis, before_map = overview.kpis(store, fleet, NOW), overview.site_map(store, fleet, NOW)
    newer = pd.DataFrame(
        {"ts": NOW - pd.Timedelta(seconds=1), "site": ["s3"], "id": ["n5"], "cpu_util": [0.1]}
    )
    store.write_frame("node", newer, ["site", "id"])  # after the read: the state keeps its rows
    k, m = overview.overview_kpis(latest, fleet), overview.site_map_of(latest, fleet)
    assert k == before_kpis
    assert (k.nodes_reporting, k.last_data) == (4, NOW - pd.Timedelta(seconds=10))
    pd.testing.assert_frame_equal(m.sites, before_map.sites)
    pd.testing.assert_frame_equal(m.links, before_map.links)
    assert m.sites.set_index("site").loc["s3", "util"] == pytest.approx(0.2)
    assert overview.kpis(store, fleet, NOW).nodes_reporting == 5  # the store has moved on


def test_replay_answers_the_overview_numbers_of_its_moment(store: DuckDBStore) -> None:
    write_now_state(store)  # with a node outside the inventory and a grid signal 4 h old
    fleet = make_fleet()
    fresh = staleness_for("node").fresh
    view = replay_view(store, fleet, NOW)
    latest = overview.read_latest(store, fleet, NOW, stale_after=fresh)
    assert view.kpis == overview.overview_kpis(latest, fleet)
    expected = overview.site_map_of(latest, fleet)
    pd.testing.assert_frame_equal(view.site_map.sites, expected.sites)
    pd.testing.assert_frame_equal(view.site_map.links, expected.links)
    intensity = view.site_map.sites.set_index("site")["grid_intensity_g_per_kwh"]
    assert intensity["s2"] == pytest.approx(shipped_factor("CN-SH"))


# --- history ------------------------------------------------------------------------------

T0 = pd.Timestamp("2025-06-01 00:00", tz="UTC")


def write_history(store: DuckDBStore) -> dict[str, np.ndarray]:
    """15 one-minute readings from T0 for n1 and s1's meters; n1 silent in minutes 10-14."""
    minutes = np.arange(15)
    ts = [T0 + pd.Timedelta(minutes=int(m)) for m in minutes]
    cpu = 0.1 + 0.05 * minutes
    gpu = np.where(minutes < 5, 0.9, 0.2)
    facility = 10.0 + minutes
    grid_import = 6.0 + 0.5 * minutes
    keep = minutes < 10
    store.write_frame(
        "node",
        pd.DataFrame(
            {
                "ts": [t for t, k in zip(ts, keep, strict=True) if k],
                "site": "s1",
                "id": "n1",
                "cpu_util": cpu[keep],
                "gpu_util": gpu[keep],
                "power_w": 4000.0,
            }
        ),
        ["site", "id"],
    )
    meters = pd.concat(
        [
            pd.DataFrame({"ts": ts, "site": "s1", "id": "s1-fac", "kind": "facility",
                          "power_kw": facility}),
            pd.DataFrame({"ts": ts, "site": "s1", "id": "s1-grid", "kind": "grid_import",
                          "power_kw": grid_import}),
        ],
        ignore_index=True,
    )  # fmt: skip
    store.write_frame("meter", meters, ["site", "id", "kind"])
    grid = pd.DataFrame(
        {
            "ts": [T0 - pd.Timedelta(hours=1), T0 - pd.Timedelta(hours=4)],
            "region": ["CN-BJ", "CN-SH"],
            "intensity_g_per_kwh": [400.0, 999.0],
        }
    )
    store.write_frame("grid", grid, ["region"])
    return {"cpu": cpu, "gpu": gpu, "facility": facility, "grid_import": grid_import}


def test_site_series_windows_follow_the_rules(store: DuckDBStore) -> None:
    data = write_history(store)
    frame = overview.site_series(
        store, make_fleet(), T0 + pd.Timedelta(minutes=2), T0 + pd.Timedelta(minutes=15), "5min"
    )
    # windows from the one containing start: 00:00, 00:05, 00:10; sites in fleet order
    assert list(frame["ts"]) == [
        T0 + pd.Timedelta(minutes=m) for m in (0, 0, 0, 5, 5, 5, 10, 10, 10)
    ]
    assert list(frame["site"]) == ["s1", "s2", "s3"] * 3
    s1 = frame[frame["site"] == "s1"].reset_index(drop=True)
    for w in range(2):
        part = slice(5 * w, 5 * w + 5)
        assert s1.loc[w, "util"] == pytest.approx(
            max(data["cpu"][part].mean(), data["gpu"][part].mean())
        )
    assert math.isnan(s1["util"].to_numpy(float)[2])  # n1 silent in the last window
    for w in range(3):
        part = slice(5 * w, 5 * w + 5)
        facility, imported = data["facility"][part].mean(), data["grid_import"][part].mean()
        assert s1.loc[w, "facility_power_kw"] == pytest.approx(facility)
        # the Beijing signal of T0 - 1 h is carried forward
        assert s1.loc[w, "intensity_g_per_kwh"] == pytest.approx(imported * 400.0 / facility)
    others = frame[frame["site"] != "s1"]
    assert others["util"].isna().all()
    assert others["facility_power_kw"].isna().all()
    # the Shanghai signal is older than GRID_STALE_AFTER: the shipped factor stands in
    s2 = frame[frame["site"] == "s2"]
    assert s2["grid_intensity_g_per_kwh"].to_numpy() == pytest.approx([shipped_factor("CN-SH")] * 3)


def test_site_series_of_an_empty_range_is_empty(store: DuckDBStore) -> None:
    write_history(store)
    frame = overview.site_series(store, make_fleet(), T0, T0, "5min")
    assert frame.empty
    assert {"ts", "site", "util", "facility_power_kw", "intensity_g_per_kwh"} <= set(frame)


def test_heatmap_rows_are_nodes_and_columns_windows(store: DuckDBStore) -> None:
    data = write_history(store)
    nodes = [n.id for n in make_fleet().nodes]
    matrix = overview.utilisation_heatmap(
        store, T0, T0 + pd.Timedelta(minutes=15), timedelta(minutes=5), nodes=nodes
    )
    assert list(matrix.index) == nodes
    assert list(matrix.columns) == [T0 + pd.Timedelta(minutes=m) for m in (0, 5, 10)]
    n1 = matrix.loc["n1"].to_numpy(float)
    assert n1[0] == pytest.approx(max(data["cpu"][:5].mean(), 0.9))
    assert n1[1] == pytest.approx(max(data["cpu"][5:10].mean(), 0.2))
    assert math.isnan(n1[2])
    assert matrix.loc[["n2", "n3", "n4", "n5"]].isna().all(axis=None)
    found = overview.utilisation_heatmap(store, T0, T0 + pd.Timedelta(minutes=15), "5min")
    assert list(found.index) == ["n1"]


def test_cached_series_and_heatmap_answer_as_the_store_does(store: DuckDBStore) -> None:
    write_history(store)
    fleet, cache = make_fleet(), WindowCache(settle=timedelta(0))
    nodes = [n.id for n in fleet.nodes]
    for stop_min in (10, 15):  # the second read computes only the window after the first
        stop = T0 + pd.Timedelta(minutes=stop_min)
        series = overview.site_series(store, fleet, T0, stop, "5min", cache=cache)
        pd.testing.assert_frame_equal(series, overview.site_series(store, fleet, T0, stop, "5min"))
        heat = overview.utilisation_heatmap(store, T0, stop, "5min", nodes=nodes, cache=cache)
        direct = overview.utilisation_heatmap(store, T0, stop, "5min", nodes=nodes)
        pd.testing.assert_frame_equal(heat, direct)
    assert len(cache) == 2 and cache.rows() > 0


def test_heatmap_of_an_empty_store_keeps_the_rows(store: DuckDBStore) -> None:
    matrix = overview.utilisation_heatmap(
        store, T0, T0 + pd.Timedelta(hours=1), "15min", nodes=["a", "b"]
    )
    assert list(matrix.index) == ["a", "b"]
    assert matrix.shape == (2, 4)
    assert matrix.isna().all(axis=None)


# --- helpers ------------------------------------------------------------------------------


def test_compute_util_takes_the_busier_engine() -> None:
    frame = pd.DataFrame({"cpu_util": [0.2, 0.8, np.nan], "gpu_util": [0.6, 0.1, 0.4]})
    assert list(overview.compute_util(frame)) == [0.6, 0.8, 0.4]
    assert list(overview.compute_util(frame[["cpu_util"]]).fillna(-1)) == [0.2, 0.8, -1]
    assert overview.compute_util(pd.DataFrame({"x": [1.0]})).isna().all()


@given(
    start_s=st.integers(0, 10**9),
    windows_long=st.floats(0.0, 500.0),
    every_s=st.sampled_from([1, 60, 300, 900, 3600, 86400]),
)
def test_window_starts_cover_the_range(start_s: int, windows_long: float, every_s: int) -> None:
    length_s = int(windows_long * every_s)
    start = pd.Timestamp(start_s, unit="s", tz="UTC")
    stop = start + pd.Timedelta(seconds=length_s)
    every = pd.Timedelta(seconds=every_s)
    windows = overview.window_starts(start, stop, every)
    if length_s == 0:
        assert len(windows) == 0
        return
    assert windows[0] <= start < windows[0] + every
    assert windows[-1] < stop <= windows[-1] + every
    assert all(int(w.timestamp()) % every_s == 0 for w in windows)
    assert (np.diff(windows.asi8) == every.value).all()
    assert str(windows.tz) == "UTC"


def test_window_starts_refuse_a_non_positive_step() -> None:
    with pytest.raises(ValueError, match="positive"):
        overview.window_starts(T0, T0 + pd.Timedelta(hours=1), "0min")
