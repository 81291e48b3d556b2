"""The Forecasts page in a real headless Chromium over a store filled by the simulator, with
forecasts issued by the product's refresh job at two times.

What the page must show is computed here from the raw meter readings with plain pandas.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from collectors.parsers import parse_message
from collectors.simulate import FleetSimulator
from dashboard.pages.forecasts import missing_reason
from tests.dashboard.serving import SCREENSHOTS, chromium_page, serving_store
from tests.dashboard.test_timerange_pages import RANGE_IS, iso
from twin.forecast.jobs import refresh_forecasts
from twin.forecast.store import forecasts_as_of
from twin.inventory import example_fleet
from twin.store.duckdb import DuckDBStore

START = datetime(2025, 6, 1, tzinfo=UTC)
EARLY = pd.Timestamp(START + timedelta(days=2, hours=1))
NOW = pd.Timestamp(START + timedelta(days=3, minutes=20))
SITE = "nm-ulanqab"
GRAPH = "forecasts-graph"


@pytest.fixture(scope="module")
def meters() -> pd.DataFrame:
    fleet = example_fleet()
    sim = FleetSimulator(fleet, seed=11, interval_s=600.0, start=START)
    stop = NOW.to_pydatetime()
    rows = [
        {"ts": pd.Timestamp(r.ts), **r.tags, **r.fields}
        for topic, payload in sim.backfill(START, stop)
        if "/meter/" in topic
        for r in parse_message(topic, payload, fleet=fleet, received_at=stop)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def store(tmp_path: Path, meters: pd.DataFrame) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "forecasts.duckdb")
    s.write_frame("meter", meters, tags=["site", "id", "kind"])
    refresh_forecasts(s, example_fleet(), EARLY.to_pydatetime())
    refresh_forecasts(s, example_fleet(), NOW.to_pydatetime())
    yield s
    s.close()


def test_forecasts_page_in_chromium(
    tmp_path: Path, store: DuckDBStore, meters: pd.DataFrame
) -> None:
    # expected: hourly mean PV power of the site against the early forecast's P50
    pv = meters[(meters["site"] == SITE) & (meters["kind"] == "pv")]
    hourly = pv.groupby(pv["ts"].dt.floor("h"))["power_kw"].mean()
    stored = store.query(
        "forecast", EARLY, EARLY + timedelta(seconds=1), tags={"site": SITE, "target": "pv"}
    )
    stored = stored.assign(valid=pd.to_datetime(stored["valid_at_epoch_s"], unit="s", utc=True))
    measured = stored[stored["valid"] < NOW.floor("h")].set_index("valid").sort_index()
    errors = np.abs(hourly.reindex(measured.index).to_numpy() - measured["p50"].to_numpy())
    assert len(measured) == 23
    load = meters[(meters["site"] == SITE) & (meters["kind"] == "it_load")]
    issued = NOW.floor("h")
    load = load[(load["ts"] >= issued - timedelta(hours=24)) & (load["ts"] < issued)]
    load_hours_before = sorted(set(load["ts"].dt.floor("h")))

    problems: list[str] = []
    with (
        serving_store(
            store, example_fleet(), lambda: NOW.to_pydatetime(), tmp_path / "data"
        ) as base,
        chromium_page(problems, height=900, width=1600) as page,
    ):
        page.goto(f"{base}/forecasts")
        graph = "document.querySelector('#forecasts-graph .js-plotly-plot')"
        page.wait_for_function(f"() => {graph} && {graph}.data && {graph}.data.length >= 3")
        assert page.locator(".nav-link.active").inner_text() == "Forecasts"
        # the newest issue is selected: nothing measured after it yet, the day before is drawn
        assert "0 h" in page.locator("#forecasts-skill").inner_text()
        actual_x = page.evaluate(f"() => {graph}.data.find(t => t.name === 'actual').x")
        assert len(actual_x) == len(load_hours_before)
        assert pd.Timestamp(actual_x[-1], tz="UTC") == load_hours_before[-1]

        page.locator("#forecasts-target").click()
        page.get_by_role("option", name="pv", exact=True).click()
        page.locator("#forecasts-issue").click()
        page.get_by_role("option", name=f"{EARLY:%Y-%m-%d %H:%M} UTC").click()
        page.wait_for_function(
            "() => !document.querySelector('#forecasts-skill').innerText.includes('\\n0 h')"
        )
        skill = page.locator("#forecasts-skill").inner_text()
        assert "23 h" in skill
        assert f"{float(np.mean(errors)):.2f} kW" in skill
        p50 = page.evaluate(f"() => {graph}.data.find(t => t.name === 'forecast P50').y")
        assert len(p50) == 48
        assert p50[: len(measured)] == pytest.approx(measured["p50"].tolist())
        page.screenshot(path=str(SCREENSHOTS / "forecasts.png"), full_page=True)
    assert problems == []


def test_a_missing_forecast_says_whether_the_source_exists(store: DuckDBStore) -> None:
    fleet = example_fleet()
    services = SimpleNamespace(fleet=fleet)
    calm = next(site for site in fleet.sites if site.wind_kw_rated == 0)
    assert missing_reason(services, calm.id, "wind") == (  # type: ignore[arg-type]
        f"{calm.id} has no wind turbines: nothing to forecast"
    )
    reason = missing_reason(services, SITE, "wind")  # type: ignore[arg-type]
    assert reason.startswith(f"No wind forecast issued for {SITE} yet")


def test_forecasts_follow_the_time_range_picker(tmp_path: Path, store: DuckDBStore) -> None:
    site = example_fleet().sites[0].id
    newest = forecasts_as_of(store, NOW, site, "load")
    ahead = newest["valid_at"].max() + timedelta(hours=1)
    start, end = EARLY - timedelta(hours=2), EARLY + timedelta(hours=6)
    problems: list[str] = []
    with (
        serving_store(
            store, example_fleet(), lambda: NOW.to_pydatetime(), tmp_path / "data"
        ) as base,
        chromium_page(problems) as page,
    ):
        # a range ending now: from its start to the end of the newest forecast's hours
        page.goto(f"{base}/forecasts")
        page.wait_for_function(RANGE_IS, arg=[GRAPH, iso(NOW - timedelta(hours=24)), iso(ahead)])
        assert f"{NOW.floor('h'):%Y-%m-%d %H}" in page.locator("#forecasts-issue").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "timerange-forecasts.png"))

        # a shared absolute range: just that range, and the forecasts issued by its end
        page.goto(f"{base}/forecasts?from={iso(start)}&to={iso(end)}")
        page.wait_for_function(RANGE_IS, arg=[GRAPH, iso(start), iso(end)])
        page.wait_for_function(
            f"() => document.querySelector('#forecasts-issue').innerText.includes('{EARLY:%H:%M}')"
        )
        page.locator("#forecasts-issue").click()
        offered = page.get_by_role("option").all_inner_texts()
        assert f"{EARLY:%Y-%m-%d %H:%M} UTC" in offered
        assert not any(f"{NOW:%Y-%m-%d}" in o for o in offered)
    assert problems == []
