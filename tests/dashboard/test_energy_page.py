"""The Energy & Carbon page in a real headless Chromium over a store filled by the simulator.

The derived series are written by the product's job; the numbers the page must show are
computed here straight from the raw readings (window means and the formulas written out).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

from collectors.parsers import parse_message
from collectors.simulate import FleetSimulator
from dashboard import energy_figures as ef
from dashboard import timerange as tr
from dashboard.app import PageContext, Services
from dashboard.figures import LOADING
from dashboard.pages import energy as energy_page
from tests.dashboard.serving import SCREENSHOTS, chromium_page, serving_store
from twin.config import load_settings
from twin.domain import Fleet
from twin.inventory import example_fleet
from twin.jobs.energy import record_energy
from twin.store.duckdb import DuckDBStore

START = datetime(2025, 6, 1, 4, tzinfo=UTC)
NOW = pd.Timestamp(START + timedelta(hours=24, minutes=2, seconds=30))
WINDOW = pd.Timedelta(minutes=5)
LAST = NOW.floor(WINDOW) - WINDOW  # the newest completed window


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return example_fleet()


@pytest.fixture(scope="module")
def raw(fleet: Fleet) -> dict[str, pd.DataFrame]:
    """A simulated day at 120 s, as parsed readings per measurement."""
    sim = FleetSimulator(fleet, seed=21, interval_s=120.0, start=START)
    rows: dict[str, list[dict[str, object]]] = defaultdict(list)
    stop = NOW.to_pydatetime()
    for topic, payload in sim.backfill(START, stop):
        for r in parse_message(topic, payload, fleet=fleet, received_at=stop):
            rows[r.measurement].append({"ts": pd.Timestamp(r.ts), **r.tags, **r.fields})
    return {m: pd.DataFrame(v) for m, v in rows.items()}


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, fleet: Fleet, raw: dict[str, pd.DataFrame]
) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path_factory.mktemp("energy") / "energy.duckdb")
    tags = {"node": ["site", "id"], "meter": ["site", "id", "kind"], "grid": ["region"]}
    for measurement, frame in raw.items():
        if measurement in tags:
            s.write_frame(measurement, frame, tags=tags[measurement])
    record_energy(s, fleet, NOW.to_pydatetime())
    yield s
    s.close()


# --- expectations from the raw readings -------------------------------------------------------


def site_windows(fleet: Fleet, raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per 5 min window and site: mean metered facility, IT and grid import [kW], the region's
    mean average intensity [gCO2/kWh], the effective average intensity and kgCO2/h."""
    meters = raw["meter"].assign(window=raw["meter"]["ts"].dt.floor(WINDOW))
    kw = meters.pivot_table(index=["window", "site"], columns="kind", values="power_kw")
    grid = raw["grid"].assign(window=raw["grid"]["ts"].dt.floor(WINDOW))
    intensity = grid.groupby(["window", "region"])["intensity_g_per_kwh"].mean()
    region = pd.Series({s.id: s.region for s in fleet.sites})
    keys = [(w, region[s]) for w, s in kw.index]
    kw["grid_avg"] = intensity.reindex(pd.MultiIndex.from_tuples(keys)).to_numpy()
    kw["kg_per_h"] = kw["grid_import"].clip(lower=0.0) * kw["grid_avg"] / 1000.0
    kw["site_avg"] = kw["kg_per_h"] * 1000.0 / kw["facility"]
    return kw


def test_energy_page_in_a_real_browser(
    store: DuckDBStore, fleet: Fleet, raw: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    expected = site_windows(fleet, raw)
    latest = expected.xs(LAST, level="window")
    day = expected[expected.index.get_level_values("window") < NOW.floor(WINDOW)]
    now = [NOW]  # the app's clock; the test moves it
    problems: list[str] = []
    with (
        serving_store(
            store, fleet, lambda: now[0].to_pydatetime(), tmp_path / "data", refresh_s=1.0
        ) as base,
        chromium_page(problems, height=1500) as page,
    ):
        page.goto(f"{base}/energy")
        page.wait_for_selector(".energy-table tbody tr")
        assert page.locator(".nav-link.active").inner_text() == "Energy & Carbon"

        # the cleanest-capacity table: every site, cleanest first, values from the meters
        rows = page.locator(".energy-table tbody tr")
        assert rows.count() == len(fleet.sites)
        ranked = latest["site_avg"].sort_values()
        cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
        assert [c[0] for c in cells] == list(ranked.index)
        for c in cells:
            assert c[1] == f"{latest.loc[c[0], 'site_avg']:,.0f}", c[0]
        head = page.locator(".energy-table thead").inner_text()
        assert "Carbon intensity [gCO2/kWh]" in head and "marginal" in head
        assert page.locator(".energy-table thead th", has_text="+3 h").count() == 1
        assert "not a forecast" in page.locator(".energy-note").inner_text()

        # KPI cards: 24 h emissions and the metered PUE of the newest window
        cards = page.locator(".energy-kpis .kpi")
        emissions = cards.filter(has_text="Emissions, 24 h").locator(".kpi-value")
        hours = WINDOW / pd.Timedelta(hours=1)
        assert emissions.inner_text() == f"{day['kg_per_h'].sum() * hours / 1000:,.2f}"
        pue = latest["facility"].sum() / latest["it_load"].sum()
        assert cards.filter(has_text="PUE").locator(".kpi-value").inner_text() == f"{pue:.3f}"
        carbon = cards.filter(has_text="Carbon intensity")
        assert "average" in carbon.inner_text()

        # five graphs; the heatmap rows are the sites and a cell is an hourly mean
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length == 5")
        # values arrive as binary typed arrays: read them as plotly.js decoded them
        heat = "document.querySelector('#energy-heatmap .js-plotly-plot')._fullData[0]"
        page.wait_for_function(f"() => {heat} && {heat}.z")
        assert page.evaluate(f"() => Array.from({heat}.y)") == [s.id for s in fleet.sites]
        xs = page.evaluate(f"() => Array.from({heat}.x)")
        z = page.evaluate(f"() => Array.from({heat}.z, row => Array.from(row))")
        hour = pd.Timestamp(xs[5], tz="UTC")
        site = fleet.sites[3].id
        per_window = expected["site_avg"].xs(site, level="site")
        in_hour = per_window[
            (per_window.index >= hour) & (per_window.index < hour + pd.Timedelta(hours=1))
        ]
        assert z[3][5] == pytest.approx(in_hour.mean(), rel=1e-9)
        titles = page.evaluate(
            "() => [...document.querySelectorAll('.energy-grid .gtitle, .energy-grid .ytitle,"
            " .energy-grid .y2title, .energy-grid .cbtitle text')].map(t => t.textContent)"
        )
        for unit in ("[kW]", "PUE [-]", "[%]", "[tCO2]", "[gCO2/kWh]"):
            assert any(unit in t for t in titles), (unit, titles)
        page.screenshot(path=str(SCREENSHOTS / "energy.png"), full_page=True)

        # one site selected: the metered PUE line ends at that site's meter ratio
        chosen = "nm-ulanqab"
        page.locator("#energy-site").click()
        page.get_by_role("option", name=chosen).first.click()
        power = "document.querySelector('#energy-power .js-plotly-plot')._fullData"
        ratio = (
            latest["facility"].astype(float).to_dict()[chosen]
            / latest["it_load"].astype(float).to_dict()[chosen]
        )
        page.wait_for_function(
            f"() => {power}.length === 6 && {power}[5].y.length > 0 &&"
            f" Math.abs({power}[5].y[{power}[5].y.length - 1] - {ratio}) < 1e-9"
        )
        metered = page.evaluate(f"() => {power}[3].y[{power}[3].y.length - 1]")
        assert metered == pytest.approx(latest.loc[chosen, "facility"], rel=1e-9)
        page.screenshot(path=str(SCREENSHOTS / "energy-site.png"), full_page=True)

        # a live tick after a window completes: the 24 h window slides on by 5 min
        first = page.evaluate(f"() => {power}[0].x[0]")
        assert first == (LAST + WINDOW - pd.Timedelta(hours=24)).strftime("%Y-%m-%d %H:%M:%S")
        now[0] = NOW + WINDOW
        page.wait_for_function(f"() => {power}[0].x[0] !== '{first}'")
        later = (LAST + 2 * WINDOW - pd.Timedelta(hours=24)).strftime("%Y-%m-%d %H:%M:%S")
        assert page.evaluate(f"() => {power}[0].x[0]") == later
        assert page.evaluate(f"() => {power}[0].name") == "IT (model)"
    assert not problems, "\n".join(problems)


def test_the_outlook_table_fits_its_panel_at_1920_and_keeps_the_site_in_view_at_1280(
    store: DuckDBStore, fleet: Fleet, tmp_path: Path
) -> None:
    problems: list[str] = []
    box = "document.querySelector('.energy-table-box')"
    with serving_store(store, fleet, lambda: NOW.to_pydatetime(), tmp_path / "data") as base:
        with chromium_page(problems, width=1920, height=1080) as page:
            page.goto(f"{base}/energy")
            page.wait_for_selector(".energy-table tbody tr")
            widths = page.evaluate(f"() => [{box}.scrollWidth, {box}.clientWidth]")
            assert widths[0] <= widths[1], widths  # no horizontal scroll: every column shows
            right = page.evaluate(f"() => {box}.getBoundingClientRect().right")
            edges = page.evaluate(
                "() => [...document.querySelectorAll('.energy-table th, .energy-table td')]"
                ".map(c => c.getBoundingClientRect().right)"
            )
            assert max(edges) <= right + 0.5
            page.screenshot(path=str(SCREENSHOTS / "energy-1920x1080.png"))
        with chromium_page(problems, width=1280, height=800) as page:
            page.goto(f"{base}/energy")
            page.wait_for_selector(".energy-table tbody tr")
            page.evaluate(f"() => {{ {box}.scrollLeft = {box}.scrollWidth; }}")
            page.wait_for_function(f"() => {box}.scrollLeft > 0")
            left = page.evaluate(f"() => {box}.getBoundingClientRect().left")
            site = page.locator(".energy-table tbody tr").first.locator("td").first
            assert site.bounding_box()["x"] == pytest.approx(left, abs=1.0)  # stays in view
            page.screenshot(path=str(SCREENSHOTS / "energy-1280x800.png"))
    assert not problems, "\n".join(problems)


def _drawn(current: energy_page.EnergyView) -> list[str]:
    """A view as the browser gets it: figures as JSON, the table and cards as Dash JSON."""
    shown = (current.power, current.supply, current.heatmap, current.emissions, current.gap)
    parts = [current.table, current.kpis]
    return [pio.to_json(f) for f in shown] + [
        json.dumps(p, default=lambda c: c.to_plotly_json()) for p in parts
    ]


def test_a_redraw_from_kept_windows_draws_a_cold_read_and_the_newly_completed_window(
    tmp_path: Path, fleet: Fleet, raw: dict[str, pd.DataFrame]
) -> None:
    store = DuckDBStore(tmp_path / "kept.duckdb")
    tags = {"node": ["site", "id"], "meter": ["site", "id", "kind"], "grid": ["region"]}
    try:
        for measurement, frame in raw.items():
            if measurement in tags:
                store.write_frame(measurement, frame, tags=tags[measurement])
        picked = tr.state_of(tr.TimeRange("-24h", tr.NOW))
        services = Services(store=store, fleet=fleet, clock=lambda: NOW.to_pydatetime())
        before = NOW - 2 * WINDOW
        record_energy(store, fleet, before.to_pydatetime())
        energy_page.view(services, before, ef.ALL_SITES, picked)  # keeps the windows
        assert len(services.windows) == 1
        record_energy(store, fleet, NOW.to_pydatetime())  # two more windows complete
        for site in (ef.ALL_SITES, fleet.sites[1].id):
            kept = energy_page.view(services, NOW, site, picked)
            cold = Services(store=store, fleet=fleet, clock=services.clock)
            assert _drawn(kept) == _drawn(energy_page.view(cold, NOW, site, picked))
        newest = kept.power.data[0].x[-1]
        assert newest == LAST.strftime("%Y-%m-%d %H:%M:%S")
    finally:
        store.close()


# --- the page's pure parts -----------------------------------------------------------------


def _rows(**columns: Any) -> pd.DataFrame:
    ts = pd.date_range("2025-06-01", periods=2, freq="5min", tz="UTC")
    base = {
        "ts": np.repeat(ts, 2),
        "site": ["a", "b"] * 2,
        "it_kw": [100.0, 50.0, 100.0, 50.0],
        "cooling_kw": [30.0, 10.0, 30.0, 10.0],
        "losses_kw": [15.0, 7.0, 15.0, 7.0],
        "facility_kw": [145.0, 67.0, 145.0, 67.0],
        "it_metered_kw": [100.0, np.nan, 100.0, np.nan],
        "facility_metered_kw": [140.0, np.nan, 150.0, np.nan],
        "consumption_kw": [140.0, 67.0, 150.0, 67.0],
        "renewable_kw": [40.0, 100.0, 0.0, 0.0],
        "grid_import_kw": [100.0, -33.0, 150.0, 67.0],
        "model_gap_kw": [5.0, np.nan, -5.0, np.nan],
        "emissions_kg_per_h": [50.0, 0.0, 75.0, 33.5],
        "intensity_avg_g_per_kwh": [357.0, 0.0, 500.0, 500.0],
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_select_sites_sums_and_keeps_metered_ratios_like_for_like() -> None:
    data = ef.select_sites(_rows(), ef.ALL_SITES)
    assert data["it_kw"].tolist() == [150.0, 150.0]
    # only site a has both meters: its ratio, not one diluted by b's modelled power
    assert data["pue_metered"].tolist() == pytest.approx([1.4, 1.5])
    assert data["pue"].tolist() == pytest.approx([212.0 / 150.0] * 2)
    assert data["model_gap_pct"].tolist() == pytest.approx([100 * 5 / 140, -100 * 5 / 150])
    one = ef.select_sites(_rows(), "b")
    assert one["pue_metered"].isna().all() and one["model_gap_kw"].isna().all()


def test_fleet_kpis_by_hand() -> None:
    rows = _rows()
    latest = rows[rows["ts"] == rows["ts"].max()]
    numbers = ef.fleet_kpis(latest, rows, timedelta(minutes=5))
    assert numbers["pue_metered"] == pytest.approx(1.5)
    assert numbers["renewable_share"] == 0.0
    assert numbers["intensity_avg"] == pytest.approx((75.0 + 33.5) * 1000 / 217.0)
    assert numbers["emissions_t"] == pytest.approx((50 + 0 + 75 + 33.5) / 12 / 1000)
    empty = ef.fleet_kpis(pd.DataFrame(), pd.DataFrame(), timedelta(minutes=5))
    assert set(empty.values()) == {None}


def test_cumulative_emissions_are_stamped_at_window_ends() -> None:
    table = ef.cumulative_emissions(_rows(), timedelta(minutes=5))
    assert table["a"].tolist() == pytest.approx([50 / 12 / 1000, 125 / 12 / 1000])
    assert table.index[0] == pd.Timestamp("2025-06-01 00:05", tz="UTC")


def test_page_over_an_empty_store_explains_itself(tmp_path: Path, fleet: Fleet) -> None:
    store = DuckDBStore(tmp_path / "empty.duckdb")
    try:
        services = Services(store=store, fleet=fleet, clock=lambda: NOW.to_pydatetime())
        context = PageContext(
            settings=load_settings(store=f"duckdb://{store.path}"),
            services=services,
            asset_url=lambda path: f"/assets/{path}",
        )
        shell = str(energy_page.layout(context))  # drawn at once, reading nothing
        assert LOADING in shell and "No derived carbon data" not in shell
        current = energy_page.view(services, NOW, ef.ALL_SITES, tr.state_of(tr.TimeRange()))
        for fig in (current.power, current.supply, current.heatmap, current.emissions, current.gap):
            assert not fig.data and fig.layout.annotations
        assert "No derived carbon data" in str(current.table)
    finally:
        store.close()


def test_figures_send_numpy_arrays_and_keep_gaps_as_nan() -> None:
    rows = _rows()  # site b has no meters
    power = ef.power_figure(rows, "b")
    metered = next(t for t in power.data if t.name == "Facility (metered)")
    assert isinstance(metered.y, np.ndarray) and np.isnan(metered.y).all()
    assert list(next(t for t in power.data if t.name == "IT (model)").y) == [50.0, 50.0]
    heat = ef.intensity_heatmap(rows, ["a", "b", "c"])  # no window of site c
    z = heat.data[0].z
    assert isinstance(z, np.ndarray) and z.shape == (3, 1)
    assert z[0, 0] == pytest.approx(428.5) and np.isnan(z[2, 0])
    assert heat.data[0].hoverongaps is False and "%{z:,.0f} gCO2/kWh" in heat.data[0].hovertemplate
    encoded = json.loads(pio.to_json(heat))["data"][0]["z"]
    assert set(encoded) == {"dtype", "bdata", "shape"}  # a binary typed array, not a list


def test_the_outlook_table_lists_the_cleanest_sites_and_counts_all() -> None:
    sites = [f"s{i:03d}" for i in range(100)]
    outlook = pd.DataFrame(
        {
            "site": sites,
            "name": sites,
            "region": "CN-NM",
            "intensity_avg_g_per_kwh": np.linspace(100.0, 600.0, 100),  # cleanest first
            "intensity_marginal_g_per_kwh": 700.0,
            "renewable_share": 0.5,
            "spare_nodes": 1.0,
            "spare_gpus": 2.0,
            **{f"ahead_{h}h": 300.0 for h in energy_page.OUTLOOK_HOURS},
        }
    )
    table = energy_page.outlook_table(outlook, limit=15)
    text = json.dumps(table.to_plotly_json(), default=lambda c: c.to_plotly_json())
    assert "The 15 cleanest of 100 sites" in text
    assert '"s014"' in text and '"s015"' not in text
    small = energy_page.outlook_table(outlook.head(10), limit=15)
    assert "cleanest of" not in json.dumps(
        small.to_plotly_json(), default=lambda c: c.to_plotly_json()
    )
