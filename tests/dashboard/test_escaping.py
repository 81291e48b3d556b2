"""Text a user or a device can set is drawn as text on every page: markup in the sites' display
names, a silence's matchers and comment, and alert labels never becomes an element, in the
page or in plotly's hover labels."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pandas as pd

from dashboard.app import PAGES
from dashboard.figures import site_map_figure
from tests.dashboard.conftest import NOW, SCHEMAS, Telemetry
from tests.dashboard.serving import SCREENSHOTS, chromium_page, serving_store
from twin.alerts.silences import create_silence
from twin.domain import Fleet
from twin.store.duckdb import DuckDBStore

MARKUP = '<b class="injected">bold</b><img class="injected" src="x" onerror="window.pwned=1">'
LINK = '<a class="injected" href="https://example.invalid/">click</a>'
NO_INJECTED = "() => document.querySelectorAll('.injected').length === 0 && !window.pwned"


def marked_fleet(fleet: Fleet) -> Fleet:
    """``fleet`` with markup in every site's display name."""
    return replace(fleet, sites=tuple(replace(s, name=f"{s.id} {MARKUP}") for s in fleet.sites))


def test_the_map_draws_display_names_as_text() -> None:
    sites = pd.DataFrame(
        {
            "site": ["s1"], "name": [MARKUP + LINK], "latitude": [40.0], "longitude": [110.0],
            "util": [0.5], "facility_power_kw": [100.0], "nodes_reporting": [1],
            "nodes_expected": [1],
        }
    )  # fmt: skip
    links = pd.DataFrame(columns=["link", "lat_a", "lon_a", "lat_b", "lon_b", "util", "latency_ms"])
    names = [row[0] for row in site_map_figure(sites, links).data[-2].customdata]
    assert names == [
        '&lt;b class="injected"&gt;bold&lt;/b&gt;&lt;img class="injected" src="x" '
        'onerror="window.pwned=1"&gt;&lt;a class="injected" '
        'href="https://example.invalid/"&gt;click&lt;/a&gt;'
    ]


def test_no_markup_becomes_an_element_on_any_page(tmp_path: Path, telemetry: Telemetry) -> None:
    fleet = marked_fleet(telemetry.fleet)
    store = DuckDBStore(tmp_path / "twin.duckdb")
    for measurement, frame in telemetry.frames.items():
        store.write_frame(measurement, frame, SCHEMAS[measurement])
    create_silence(
        store,
        'site=~"<i class=injected>.*", alertname="x"',
        timedelta(hours=2),
        NOW.to_pydatetime(),
        comment=MARKUP + LINK,
        created_by=MARKUP,
    )
    problems: list[str] = []
    try:
        with (
            serving_store(store, fleet, lambda: NOW.to_pydatetime(), tmp_path / "data") as base,
            chromium_page(problems) as page,
        ):
            for page_spec in PAGES:
                page.goto(base + page_spec.path)
                page.wait_for_selector(".nav-link.active")
                page.wait_for_load_state("networkidle")
                assert page.evaluate(NO_INJECTED), page_spec.path

            page.goto(f"{base}/alerts")
            page.wait_for_selector("#alerts-silence-table tbody tr")
            row = page.locator("#alerts-silence-table tbody tr").inner_text()
            assert "<i class=injected>" in row and 'href="https://example.invalid/"' in row
            assert page.evaluate(NO_INJECTED)

            # the Overview map's hover label shows the name's markup as characters
            page.goto(base + "/")
            page.wait_for_selector("#overview-map .scattergeo .point")
            page.locator("#overview-map .scattergeo .point").last.hover(force=True)
            page.wait_for_selector("#overview-map .hoverlayer .hovertext")
            hover = page.locator("#overview-map .hoverlayer .hovertext").text_content() or ""
            assert '<b class="injected">bold</b><img class="injected"' in hover
            assert page.locator("#overview-map .hoverlayer tspan[style*=bold]").count() == 1
            page.screenshot(path=str(SCREENSHOTS / "overview-markup-hover.png"))
            assert page.evaluate(NO_INJECTED)
    finally:
        store.close()
    assert problems == []
