"""From alert to cause in a real headless Chromium: the Alerts page links each alert to its
asset's page and to the Replay page at its own moment; the asset page shows that alert, the
asset's series with the alert shaded, and "Replay at this moment" opens the Replay page naming
the asset at the alert's time. Also the site and link pages, an unknown id, the Overview map's
click and the Entropy page's node links; screenshots of each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dashboard.app import Services, create_app
from dashboard.links import parse_time_query, query_value
from tests.dashboard.alerted import EVALUATED_AT, LINK, Alerted, fill_alerted
from tests.dashboard.conftest import NOW, SILENCE, SILENT_NODES, Telemetry
from tests.dashboard.serving import SCREENSHOTS, chromium_page, serving_store
from twin.config import load_settings
from twin.store.duckdb import DuckDBStore

SILENT = SILENT_NODES[1]  # gd-shenzhen-cpu03
NODATA_AT = min(t for t in EVALUATED_AT if t > NOW - SILENCE + pd.Timedelta(minutes=2))
"""When the silent node's no-data alert began: the first evaluation 2 min after it fell silent."""


@pytest.fixture(scope="module")
def alerted(tmp_path_factory: pytest.TempPathFactory, telemetry: Telemetry) -> Iterator[Alerted]:
    filled = fill_alerted(tmp_path_factory.mktemp("alerted"), telemetry)
    yield filled
    filled.store.close()


def drawn(page: Any, graph: str) -> None:
    """Wait until ``graph`` shows at least one line or bar."""
    page.wait_for_function(
        "g => document.querySelectorAll(`#${g} path.js-line, #${g} .barlayer .point`).length > 0",
        arg=graph,
    )


@pytest.mark.e2e
def test_from_alert_to_asset_to_replay(
    alerted: Alerted, telemetry: Telemetry, tmp_path: Path
) -> None:
    problems: list[str] = []
    with (
        serving_store(
            alerted.store,
            telemetry.fleet,
            lambda: NOW.to_pydatetime(),
            tmp_path / "data",
            refresh_s=30.0,
            alert_rules=alerted.rules_path,
        ) as base,
        chromium_page(problems) as page,
    ):
        # Alerts page: the rules of the configured file, values with units, own moments
        page.goto(f"{base}/alerts")
        page.wait_for_selector("#alerts-active-table tbody tr")
        caption = page.locator(".alerts-caption").inner_text()
        assert caption == f"Rules evaluated from {alerted.rules_path}"
        rule_names = page.locator("#alerts-rules-table tbody tr td:first-child").all_inner_texts()
        assert rule_names == [r.name for r in alerted.rules.rules]
        rows = page.locator("#alerts-active-table tbody tr")
        silent_row = rows.filter(has_text=f"id={SILENT},")
        cells = silent_row.locator("td").all_inner_texts()
        assert cells[:5] == ["critical", "node_silent", f"node {SILENT}", cells[3], "nodata"]
        assert cells[6].endswith(" W") or cells[6].endswith(" kW")
        busy = rows.filter(has_text="node_cpu_busy").locator("td").all_inner_texts()
        assert busy[6].endswith(" %")
        fleet = rows.filter(has_text="fleet_drift_watch").locator("a.alerts-asset")
        assert fleet.inner_text() == "fleet" and fleet.get_attribute("href") == "/entropy"
        moments = {
            parse_time_query((a.get_attribute("href") or "").split("?", 1)[1])
            for a in page.locator("#alerts-active-table a.alerts-replay").all()
        }
        assert NODATA_AT in moments and EVALUATED_AT[0] in moments  # not one shared moment
        page.screenshot(path=str(SCREENSHOTS / "asset-alerts.png"))

        # click the silent node: its page shows the alert, its series, the shaded spell
        silent_row.locator("a.alerts-asset").click()
        page.wait_for_url(f"**/node/{SILENT}?*")
        page.wait_for_selector("#asset-alerts-table tbody tr")
        alert = page.locator("#asset-alerts-table tbody tr").locator("td").all_inner_texts()
        assert alert[1:4] == ["node_silent", f"node {SILENT}", "nodata"]
        assert page.locator(".asset-title").inner_text() == f"Node {SILENT}"
        assert page.locator(".asset-status .kpi-value").inner_text() == "stale"
        history = page.locator("#asset-history-table tbody").inner_text()
        assert "normal → nodata" in history
        drawn(page, "asset-series")
        page.wait_for_function(
            "() => document.querySelectorAll('#asset-series .shapelayer path').length > 0"
        )
        # the time range runs from 12 h before the alert to now
        shown = page.evaluate(
            "() => document.querySelector('#asset-series .js-plotly-plot').layout.xaxis.range"
        )
        assert [pd.Timestamp(t, tz="UTC") for t in shown] == [
            NODATA_AT - pd.Timedelta(hours=12),
            NOW,
        ]
        legend = page.locator("#asset-series .legend").text_content() or ""
        assert "alert firing" in legend and "CPU" in legend
        drawn(page, "asset-entropy-hours")
        page.screenshot(path=str(SCREENSHOTS / "asset-node.png"))
        page.screenshot(path=str(SCREENSHOTS / "asset-node-full.png"), full_page=True)

        # "Replay at this moment": the Replay page names the node at the alert's time
        replay = page.locator("#asset-replay")
        query = (replay.get_attribute("href") or "").split("?", 1)[1]
        assert parse_time_query(query) == NODATA_AT
        assert query_value(query, "asset") == f"node:{SILENT}"
        replay.click()
        page.wait_for_url("**/replay?*")
        name = f"Node {SILENT} at {NODATA_AT:%Y-%m-%d %H:%M:%S} UTC"
        page.wait_for_function(
            "n => document.querySelector('#replay-asset-name')?.innerText === n", arg=name
        )
        panel = page.locator("#replay-asset").inner_text()
        assert "node_silent" in panel and "nodata" in panel
        assert page.locator(".replay-selected").inner_text().startswith(f"node\t{SILENT}")
        page.wait_for_selector("#replay-as-of:has-text('05:56:30')")
        page.wait_for_selector("#replay-map .layer.land path")
        page.screenshot(path=str(SCREENSHOTS / "asset-replay.png"))
        # the URL keeps the asset; the panel links back to the node's page
        assert query_value(page.url.split("?", 1)[1], "asset") == f"node:{SILENT}"
        page.locator("#replay-asset-link").click()
        page.wait_for_url(f"**/node/{SILENT}?*")
        page.wait_for_selector("#asset-alerts-table tbody tr")

        # a site's page: its own alerts and its link's, its nodes and links linked
        page.goto(f"{base}/site/sh-pudong")
        page.wait_for_selector("#asset-alerts-table tbody tr")
        rules = set(page.locator("#asset-alerts-table tbody tr td:nth-child(2)").all_inner_texts())
        assert rules == {"site_carbon_watch", "link_latency_watch"}
        carbon = page.locator("#asset-alerts-table tbody tr", has_text="site_carbon_watch")
        assert carbon.locator("td").nth(5).inner_text().endswith(" gCO2/kWh")
        members = page.locator("#asset-members-table a").all_inner_texts()
        assert "sh-pudong-infer01" in members and LINK in members
        drawn(page, "asset-series")
        titles = page.locator("#asset-series .infolayer text[class*='title']").all_text_contents()
        assert any("PUE" in t for t in titles) and any("gCO2/kWh" in t for t in titles)
        page.screenshot(path=str(SCREENSHOTS / "asset-site.png"))

        # a link's page
        page.goto(f"{base}/link/{LINK}")
        page.wait_for_selector("#asset-alerts-table tbody tr")
        latency = page.locator("#asset-alerts-table tbody tr").locator("td").all_inner_texts()
        assert latency[1] == "link_latency_watch" and latency[5].endswith(" ms")
        drawn(page, "asset-series")
        titles = page.locator("#asset-series .infolayer text[class*='title']").all_text_contents()
        assert any("Latency" in t and "[ms]" in t for t in titles)
        page.screenshot(path=str(SCREENSHOTS / "asset-link.png"))

        # an id the inventory does not know, drawn as text
        page.goto(f"{base}/node/%3Cb%3Enope")
        page.wait_for_selector(".not-found h2")
        assert page.locator(".not-found h2").inner_text() == "No such node: <b>nope"
        assert page.locator(".not-found b").count() == 0

        # the Entropy page's node names open node pages
        page.goto(f"{base}/entropy")
        first = page.locator(".entropy-table tbody a").first
        first.wait_for()
        node = first.inner_text()
        first.click()
        page.wait_for_url(f"**/node/{node}")
        page.wait_for_selector(f".asset-title:text-is('Node {node}')")

        # the Overview map: a site with firing alerts is outlined; clicking a site opens it
        page.goto(f"{base}/")
        sites = page.locator("#overview-map .scattergeo.trace").nth(-2).locator(".point")
        sites.first.wait_for()
        rings = page.evaluate(
            "() => document.querySelector('#overview-map .js-plotly-plot').data.slice(-3)[0]"
        )
        ringed = {
            (lat, colour)
            for lat, colour in zip(rings["lat"], rings["marker"]["color"], strict=True)
        }
        latitude = {s.id: s.latitude for s in telemetry.fleet.sites}
        assert (latitude["sh-pudong"], "#fa5252") in ringed  # firing alerts there
        assert latitude["gd-shenzhen"] not in {lat for lat, _ in ringed}  # no data only
        # the series mark when alerts began, naming them on hover
        page.wait_for_function(
            "() => { const g = document.querySelector('#overview-series .js-plotly-plot');"
            " return g && g.data && g.data.some(t => t.name === 'alerts began'); }"
        )
        marks = page.evaluate(
            "() => document.querySelector('#overview-series .js-plotly-plot').data.slice(-1)[0]"
        )
        assert any("node_silent" in text for text in marks["text"])
        # the Alerts tile counts what the header does and leads to the Alerts page
        tile = page.locator("#overview-alerts")
        page.wait_for_selector("#overview-alerts .kpi-value.alerts-firing")
        firing = tile.locator(".kpi-value").inner_text()
        assert page.locator("#header-alerts").inner_text().startswith(f"{firing} firing")
        assert int(firing) > 0 and "pending" in tile.locator(".kpi-note").inner_text()
        assert tile.get_attribute("href") == "/alerts"
        page.screenshot(path=str(SCREENSHOTS / "asset-overview.png"))
        box = sites.nth(0).bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_url("**/site/nm-ulanqab")
        page.wait_for_selector(".asset-title:text-is('Site nm-ulanqab')")
    assert problems == []


def test_asset_paths_are_pages_and_deeper_paths_are_not(
    filled_store: DuckDBStore, telemetry: Telemetry, tmp_path: Path
) -> None:
    settings = load_settings(store=f"duckdb://{filled_store.path}", data_dir=tmp_path / "data")
    app = create_app(settings, Services(store=filled_store, fleet=telemetry.fleet))
    client = app.server.test_client()
    for path in (f"/node/{SILENT}", "/site/sh-pudong", f"/link/{LINK}", "/node/unknown"):
        assert client.get(path).status_code == 200, path
    for path in ("/node/", "/node/a/b", "/meter/m1", "/nodes/x"):
        assert client.get(path).status_code == 404, path
