"""The Overview page in a real headless Chromium against a real server over a filled DuckDB store.

The expected numbers are computed here, straight from the generated telemetry frames.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dash import no_update
from dash.exceptions import PreventUpdate

from dashboard import ids, timerange
from dashboard.app import (
    PAGES,
    PageContext,
    Services,
    age_text,
    create_app,
    describe_store,
    header_status,
)
from dashboard.fleet_kpis import kpi_texts
from dashboard.pages import overview as overview_page
from tests.dashboard.conftest import NOW, SCHEMAS, Telemetry
from tests.dashboard.serving import SCREENSHOTS, chromium_page, serving
from twin.config import load_settings
from twin.jobs.loading import HistoryLoad, read_history_load, write_history_load
from twin.models.carbon import read_grid_factors
from twin.store.duckdb import DuckDBStore
from twin.views.overview import FALLBACK_PUE, OverviewKpis


class MovableClock:
    """A clock the test sets; the app reads it from every callback."""

    def __init__(self, now: pd.Timestamp) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now.to_pydatetime()

    def set(self, now: pd.Timestamp) -> None:
        with self._lock:
            self._now = now


# --- expectations, from the frames --------------------------------------------------------


def _fresh(frame: pd.DataFrame, at: pd.Timestamp, seconds: float) -> pd.DataFrame:
    return frame[(frame["ts"] <= at) & (frame["ts"] > at - pd.Timedelta(seconds=seconds))]


def expected_kpis(telemetry: Telemetry, at: pd.Timestamp) -> dict[str, str]:
    """The KPI texts of the page at ``at``, by the rules of the page's notes."""
    fleet = telemetry.fleet
    nodes = telemetry.latest("node", at)
    nodes = _fresh(nodes, at, 60)
    busiest = [max(c, g) for c, g in zip(nodes["cpu_util"], nodes["gpu_util"], strict=True)]
    meters = _fresh(telemetry.latest("meter", at), at, 60)
    grid = _fresh(telemetry.latest("grid", at), at, 3 * 3600)
    intensity = dict(zip(grid["region"], grid["intensity_g_per_kwh"], strict=True))
    factors = read_grid_factors()
    facility_total = renewable_total = grams = 0.0
    for site in fleet.sites:
        kw = {
            kind: float(
                meters[(meters["site"] == site.id) & (meters["kind"] == kind)]["power_kw"].sum()
            )
            for kind in ("facility", "it_load", "pv", "wind", "grid_import")
        }
        has_facility = ((meters["site"] == site.id) & (meters["kind"] == "facility")).any()
        facility = kw["facility"] if has_facility else kw["it_load"] * FALLBACK_PUE
        facility_total += facility
        renewable_total += kw["pv"] + kw["wind"]
        grams += max(kw["grid_import"], 0.0) * intensity.get(site.region, factors[site.region])
    power = f"{facility_total:,.0f}" if facility_total < 1000 else f"{facility_total / 1000:,.2f}"
    return {
        "Nodes reporting": f"{len(nodes)} / {len(fleet.nodes)}",
        "Fleet compute utilisation": f"{100 * sum(busiest) / len(busiest):.0f}",
        "Facility power": power,
        "Renewable share": f"{100 * renewable_total / facility_total:.0f}",
        "Carbon intensity": f"{grams / facility_total:,.0f}",
    }


def expected_window_mean(
    telemetry: Telemetry, meter_id: str, start: pd.Timestamp, minutes: int
) -> float:
    """Mean ``power_kw`` [kW] of one meter over ``[start, start + minutes)``."""
    frame = telemetry.frames["meter"]
    stop = start + pd.Timedelta(minutes=minutes)
    rows = frame[(frame["id"] == meter_id) & (frame["ts"] >= start) & (frame["ts"] < stop)]
    return float(rows["power_kw"].mean())


# --- the server -----------------------------------------------------------------------


@pytest.fixture
def served(
    filled_store: DuckDBStore, telemetry: Telemetry, tmp_path: Path
) -> Iterator[tuple[str, MovableClock, Path]]:
    """The dashboard on a free loopback port, in a background thread, with a movable clock."""
    clock = MovableClock(NOW)
    settings = load_settings(
        store=f"duckdb://{filled_store.path}", refresh_s=1.0, data_dir=tmp_path / "data"
    )
    app = create_app(settings, Services(store=filled_store, fleet=telemetry.fleet, clock=clock))
    with serving(app) as base:
        yield f"{base}/", clock, filled_store.path


@pytest.mark.e2e
def test_overview_page_in_a_real_browser(
    served: tuple[str, MovableClock, Path], telemetry: Telemetry
) -> None:
    url, clock, store_path = served
    problems: list[str] = []
    with chromium_page(problems) as page:
        # A request the browser aborts because the test navigates away is not a failure.
        page.on(
            "requestfailed",
            lambda r: (
                None
                if r.failure == "net::ERR_ABORTED"
                else problems.append(f"request failed: {r.url} ({r.failure})")
            ),
        )
        page.goto(url)
        # the layout comes with placeholders; its first callback draws the figures
        page.wait_for_function(
            "() => { const g = document.querySelector('#overview-series .js-plotly-plot');"
            f" return g && g.data && g.data.length === {3 * len(telemetry.fleet.sites)}; }}"
        )

        # KPI cards: values as computed from the frames, with their units
        page.wait_for_function(
            "() => { const v = [...document.querySelectorAll('.kpi-value')];"
            " return v.length === 6 && v.every(e => e.innerText && e.innerText !== '…'); }"
        )
        expected = expected_kpis(telemetry, NOW)
        units = {
            "Nodes reporting": "nodes",
            "Fleet compute utilisation": "%",
            "Facility power": "kW",
            "Renewable share": "%",
            "Carbon intensity": "gCO2/kWh",
        }
        for label, value in expected.items():
            card = page.locator(".kpi", has_text=label)
            assert card.locator(".kpi-value").inner_text() == value, label
            assert card.locator(".kpi-unit").inner_text() == units[label], label
        assert "average" in page.locator(".kpi", has_text="Carbon intensity").inner_text()
        assert "modelled" in page.locator(".kpi", has_text="Facility power").inner_text()
        alerts = page.locator("#overview-alerts")  # no rule has been evaluated on this store
        assert alerts.locator(".kpi-value").inner_text() == "0"
        assert alerts.locator(".kpi-note").inner_text() == "0 pending · open the list"

        # header: product, store, pinned clock and the age of the newest reading
        header = page.locator(".header")
        assert "cnetwin" in header.inner_text()
        assert f"DuckDB · {store_path}" in header.inner_text()
        page.wait_for_function(
            "() => document.querySelector('.clock').innerText.includes('06:02:30')"
        )
        assert page.locator(".last-data").inner_text() == "last data 30 s ago"
        assert page.locator(".nav-link").all_inner_texts() == [p.title for p in PAGES]

        # graphs: three plotly plots, a base map drawn from the bundled TopoJSON, a heatmap
        assert page.locator(".js-plotly-plot").count() == 3
        page.wait_for_function(
            "() => { const p = document.querySelector('#overview-map .layer.land path');"
            " return p && p.getAttribute('d') && p.getAttribute('d').length > 1000; }"
        )
        assert page.locator("#overview-map .scattergeo").count() > len(telemetry.fleet.links) / 10
        assert page.locator("#overview-heatmap .hm image").count() == 1
        heat_rows = page.evaluate(
            "() => document.querySelector('#overview-heatmap .js-plotly-plot').data[0].y"
        )
        assert heat_rows == [n.id for n in telemetry.fleet.nodes]
        series = "document.querySelector('#overview-series .js-plotly-plot')"
        n_sites = len(telemetry.fleet.sites)
        assert page.evaluate(f"() => {series}.data.length") == 3 * n_sites
        first_x = page.evaluate(f"() => {series}.data[0].x")
        assert len(first_x) == 24 * 12
        assert first_x[-1] == "2025-06-01 05:55:00"
        titles = page.evaluate(
            "() => [...document.querySelectorAll('#overview-series .infolayer text')]"
            ".filter(t => /^y\\d*title$/.test(t.getAttribute('class'))).map(t => t.textContent)"
        )
        assert len(titles) == 3
        assert any("[%]" in t for t in titles) and any("[kW]" in t for t in titles)
        assert any("[gCO2/kWh]" in t for t in titles)
        page.screenshot(path=str(SCREENSHOTS / "overview.png"))

        # one live refresh after the clock moves 20 min: new windows are appended
        clock.set(NOW + pd.Timedelta(minutes=20))
        page.wait_for_function(f"() => {series}.data[0].x.slice(-1)[0] === '2025-06-01 06:15:00'")
        x_after = page.evaluate(f"() => {series}.data[0].x")
        assert len(x_after) == 24 * 12  # the oldest windows dropped off the left
        assert x_after[-4:] == [f"2025-06-01 06:{m:02d}:00" for m in (0, 5, 10, 15)]
        power_trace = page.evaluate(f"() => {series}.data[{n_sites}]")
        site = telemetry.fleet.sites[0].id
        assert power_trace["name"] == site
        expected_power = expected_window_mean(
            telemetry, f"{site}-facility", pd.Timestamp("2025-06-01 06:15", tz="UTC"), 5
        )
        assert power_trace["y"][-1] == pytest.approx(expected_power, abs=0.005)  # sent to 0.01 kW
        page.wait_for_function(
            "() => document.querySelector('#overview-heatmap .js-plotly-plot')"
            ".data[0].x.slice(-1)[0] === '2025-06-01 06:00:00'"
        )
        page.wait_for_function(
            "() => document.querySelector('.clock').innerText.includes('06:22:30')"
        )
        page.screenshot(path=str(SCREENSHOTS / "overview-live.png"))

        # a path that is no page: status 404 (for probes and scrapers), and for people the
        # app's way back with no navigation entry marked active
        before = len(problems)
        response = page.goto(url + "no-such-page")
        assert response is not None and response.status == 404
        page.wait_for_selector(".not-found")
        assert page.locator(".nav-link.active").count() == 0
        assert [p for p in problems[before:] if "status of 404" not in p] == []
        del problems[before:]  # Chromium reports the 404 document itself as a console error
    assert not problems, "\n".join(problems)


# --- the shell and the page's texts, without a browser ---------------------------------------


def test_create_app_reads_no_data(tmp_path: Path, telemetry: Telemetry) -> None:
    store = DuckDBStore(tmp_path / "closed.duckdb")
    store.close()  # any read would now raise StoreError
    settings = load_settings(store=f"duckdb://{tmp_path / 'closed.duckdb'}")
    app = create_app(settings, Services(store=store, fleet=telemetry.fleet))
    client = app.server.test_client()
    assert client.get("/").status_code == 200
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert "Overview" in layout and "cnetwin" in layout


def test_describe_store_names_the_backend(tmp_path: Path) -> None:
    duck = load_settings(store=f"duckdb://{tmp_path / 'x.duckdb'}")
    assert describe_store(duck) == f"DuckDB · {tmp_path / 'x.duckdb'}"
    influx = load_settings(store="influxdb://influx.local:8086?org=noc&bucket=telemetry")
    assert describe_store(influx) == "InfluxDB · http://influx.local:8086 · telemetry"


@pytest.mark.parametrize(
    ("age_s", "text"),
    [
        (0, "last data 0 s ago"),
        (42, "last data 42 s ago"),
        (300, "last data 5 min ago"),
        (3 * 3600, "last data 3.0 h ago"),
    ],
)
def test_age_text(age_s: int, text: str) -> None:
    assert age_text(NOW - pd.Timedelta(seconds=age_s), NOW.to_pydatetime()) == text


def test_age_text_without_data() -> None:
    assert age_text(None, NOW.to_pydatetime()) == "no data in 24 h"


def _kpis(**changes: object) -> OverviewKpis:
    values: dict[str, object] = {
        "at": NOW,
        "nodes_reporting": 7,
        "nodes_expected": 9,
        "compute_util": 0.634,
        "facility_power_kw": 1520.0,
        "facility_modelled": False,
        "renewable_share": 0.251,
        "carbon_intensity_g_per_kwh": 412.6,
        "last_data": NOW,
    }
    values.update(changes)
    return OverviewKpis(**values)  # type: ignore[arg-type]


def test_kpi_texts_carry_units_and_notes() -> None:
    texts = kpi_texts(_kpis())
    assert texts["nodes"][:2] == ("7 / 9", "nodes")
    assert texts["util"][:2] == ("63", "%")
    assert texts["power"] == ("1.52", "MW", "metered")
    assert texts["renewable"][:2] == ("25", "%")
    assert texts["carbon"][:2] == ("413", "gCO2/kWh")
    assert "average" in texts["carbon"][2]


def test_kpi_texts_say_when_power_is_modelled_or_unknown() -> None:
    modelled = kpi_texts(_kpis(facility_power_kw=640.0, facility_modelled=True))
    assert modelled["power"] == ("640", "kW", f"partly modelled (PUE {FALLBACK_PUE:g})")
    unknown = kpi_texts(
        _kpis(compute_util=None, facility_power_kw=None, renewable_share=None,
              carbon_intensity_g_per_kwh=None)
    )  # fmt: skip
    assert {unknown[k][0] for k in ("util", "power", "renewable", "carbon")} == {"—"}


# --- the page over an empty store, then live ticks -------------------------------------------


def _state_of(tree: Any) -> dict[str, Any]:
    """The data of the page's state store, found in a layout tree."""
    if getattr(tree, "id", None) == ids.OVERVIEW_STATE:
        return dict(tree.data)
    children = getattr(tree, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found = _state_of(child)
            if found:
                return found
    return {}


def _context(services: Services, store: DuckDBStore) -> PageContext:
    return PageContext(
        settings=load_settings(store=f"duckdb://{store.path}"),
        services=services,
        asset_url=lambda path: f"/assets/{path}",
    )


def test_page_starts_empty_then_draws_and_extends(tmp_path: Path, telemetry: Telemetry) -> None:
    store = DuckDBStore(tmp_path / "late.duckdb")
    try:
        services = Services(store=store, fleet=telemetry.fleet, clock=lambda: NOW.to_pydatetime())
        state = _state_of(overview_page.layout(_context(services, store)))
        assert state["series_until"] is None  # the layout reads nothing; its first tick draws
        *_, state = overview_page.live_update(services, NOW, state)
        assert state["series_drawn"] is False
        assert state["complete"] is True  # no history load recorded: the store is complete
        with pytest.raises(PreventUpdate):  # no window completed yet
            overview_page.live_update(services, NOW, state)

        for measurement, frame in telemetry.frames.items():
            store.write_frame(measurement, frame, SCHEMAS[measurement])
        later = NOW + pd.Timedelta(minutes=20)
        series_ext, series_fig, heat_fig, state = overview_page.live_update(services, later, state)
        # drawn whole the first time data is there
        assert series_ext is no_update
        assert len(series_fig.data) == 3 * len(telemetry.fleet.sites)
        assert len(heat_fig.data) == 1
        assert len(overview_page.map_figure(services, later).data) > 0
        assert state["series_drawn"] is True
        assert pd.Timestamp(state["series_until"]) == pd.Timestamp("2025-06-01 06:20", tz="UTC")

        # then extended: one new 5 min window, no new heatmap column yet
        series_ext, series_fig, heat_fig, state = overview_page.live_update(
            services, later + pd.Timedelta(minutes=5), state
        )
        update, indices, max_points = series_ext
        assert series_fig is no_update and heat_fig is no_update
        assert indices == list(range(3 * len(telemetry.fleet.sites)))
        assert max_points == 24 * 12
        assert update["x"][0] == ["2025-06-01 06:20:00"]
    finally:
        store.close()


def _figure_points(fig: Any) -> list[tuple[Any, ...]]:
    """Every trace's name, x, y and z as plain lists (NaN as None), to compare two drawings."""

    def plain(values: Any) -> Any:
        if values is None:
            return None
        frame = pd.DataFrame(list(values)) if not isinstance(values, pd.DataFrame) else values
        return frame.astype(object).where(frame.notna(), None).values.tolist()

    return [(t.name, plain(t.x), plain(t.y), plain(getattr(t, "z", None))) for t in fig.data]


def test_a_page_opened_while_history_loads_catches_up(tmp_path: Path, telemetry: Telemetry) -> None:
    """Opened with 4 h of history loaded, left open: once the load is over and settled its
    figures are the ones a page opened afterwards draws, windows the load filled late included."""
    store = DuckDBStore(tmp_path / "loading.duckdb")
    clock = MovableClock(NOW)
    begin = NOW - pd.Timedelta(hours=24)
    loaded_to = begin + pd.Timedelta(hours=4)
    try:
        services = Services(store=store, fleet=telemetry.fleet, clock=clock)
        for measurement, frame in telemetry.frames.items():
            store.write_frame(measurement, frame[frame["ts"] < loaded_to], SCHEMAS[measurement])
        write_history_load(store, HistoryLoad(begin, loaded_to, NOW, True, NOW))
        load = read_history_load(store, NOW)
        state = _state_of(overview_page.layout(_context(services, store)))
        _, early_series, _, state = overview_page.live_update(services, NOW, state, load)
        assert state["complete"] is False
        assert load is not None
        assert overview_page.loading_texts(load)["nodes"][:2] == ("loading", "")

        # the rest of the history arrives; the load ends at NOW + 1 min
        for measurement, frame in telemetry.frames.items():
            rest = frame[(frame["ts"] >= loaded_to) & (frame["ts"] <= NOW)]
            store.write_frame(measurement, rest, SCHEMAS[measurement])
        done = NOW + pd.Timedelta(minutes=1)
        write_history_load(store, HistoryLoad(begin, done, done, False, done))
        settled_at = done + overview_page.SETTLE
        _, series, heatmap, state = overview_page.live_update(
            services, settled_at, state, read_history_load(store, settled_at)
        )
        assert state["complete"] is True

        fresh_state = _state_of(overview_page.layout(_context(services, store)))
        _, fresh_series, fresh_heatmap, _ = overview_page.live_update(
            services, settled_at, fresh_state, read_history_load(store, settled_at)
        )
        assert _figure_points(series) == _figure_points(fresh_series)
        assert _figure_points(heatmap) == _figure_points(fresh_heatmap)
        assert _figure_points(early_series) != _figure_points(fresh_series)
    finally:
        store.close()


def test_the_picker_range_sets_what_the_figures_cover(
    filled_store: DuckDBStore, telemetry: Telemetry
) -> None:
    """A new range draws the figures whole at its windows; a live one (ending now) then grows
    by appended windows, a fixed one stays as drawn."""
    services = Services(store=filled_store, fleet=telemetry.fleet)
    n_sites = len(telemetry.fleet.sites)
    state = _state_of(overview_page.layout(_context(services, filled_store)))
    *_, state = overview_page.live_update(services, NOW, state)
    assert pd.Timestamp(state["series_until"]) == NOW.floor("5min")

    six_hours = overview_page.span_of(timerange.state_of(timerange.TimeRange(start="-6h")), NOW)
    assert overview_page.panel_titles(six_hours)[0] == "Per site · last 6 h (5 min means)"
    _, series, heatmap, state = overview_page.live_update(services, NOW, state, None, six_hours)
    assert len(series.data) == 3 * n_sites and len(series.data[0].x) == 6 * 12
    assert len(heatmap.data[0].x) == 6 * 12  # at most about 100 columns: 5 min ones
    later = NOW + pd.Timedelta(minutes=5)
    live = overview_page.span_of(timerange.state_of(timerange.TimeRange(start="-6h")), later)
    extension, *_ = overview_page.live_update(services, later, state, None, live)
    assert extension[2] == 6 * 12  # appended, the oldest window dropped

    fixed = timerange.TimeRange(start="2025-05-31T12:00:00Z", end="2025-05-31T13:00:00Z")
    hour = overview_page.span_of(timerange.state_of(fixed), NOW)
    _, series, _, state = overview_page.live_update(services, NOW, state, None, hour)
    assert len(series.data[0].x) == 60  # 1 min means
    assert list(series.layout.xaxis.range) == ["2025-05-31 12:00:00", "2025-05-31 13:00:00"]
    with pytest.raises(PreventUpdate):  # a fixed range gains nothing as time goes on
        overview_page.live_update(
            services, later, state, None, overview_page.span_of(timerange.state_of(fixed), later)
        )


def test_the_header_shows_loading_not_an_old_data_alarm() -> None:
    begin = NOW - pd.Timedelta(hours=49)
    load = HistoryLoad(begin, begin + pd.Timedelta(hours=14), NOW, True, NOW)
    last = begin + pd.Timedelta(hours=14)
    age, age_class, loading, share = header_status(last, load, NOW.to_pydatetime())
    assert loading == "Loading history: 14 of 49 h"
    assert age_class == "last-data loading" and "ago" not in age
    assert share == pytest.approx(14 / 49)
    done = HistoryLoad(begin, NOW, NOW, False, NOW)
    age, age_class, loading, _ = header_status(last, done, NOW.to_pydatetime())
    assert (age, age_class, loading) == ("last data 35.0 h ago", "last-data stale", "")
