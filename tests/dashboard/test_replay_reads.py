"""What the Replay page reads: one ``last`` per measurement for a moment, nothing for a settled
moment already read, answers equal to the Overview's own reads, and a map equal to the
Overview's map figure — against a real DuckDB store."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import cast

import pandas as pd
import pytest

from dashboard.app import Services
from dashboard.pages import replay as page
from tests.dashboard.conftest import NOW, CountingStore, Telemetry
from twin.store import TelemetryStore
from twin.store.duckdb import DuckDBStore
from twin.views.assets import AssetRef
from twin.views.overview import kpis, site_map
from twin.views.replay import replay_view, staleness_for
from twin.views.replay_cache import ReplayViews

LIVE = NOW - pd.Timedelta(seconds=20)
"""A moment closer to now than the cache's settle time: always read."""

SETTLED = NOW - pd.Timedelta(hours=2)
"""A moment well in the past: kept once read."""


def services_over(store: CountingStore, telemetry: Telemetry) -> Services:
    return Services(
        store=cast(TelemetryStore, store), fleet=telemetry.fleet, clock=NOW.to_pydatetime
    )


def test_a_moment_reads_each_measurement_once(
    filled_store: DuckDBStore, telemetry: Telemetry
) -> None:
    counting = CountingStore(filled_store)
    services = services_over(counting, telemetry)
    page.render_at(services, LIVE)
    assert counting.lasts, "the page read nothing"
    assert set(counting.lasts.values()) == {1}, counting.lasts
    assert {"node", "link", "meter", "grid"} <= set(counting.lasts)


def test_a_selected_site_adds_no_telemetry_read(
    filled_store: DuckDBStore, telemetry: Telemetry
) -> None:
    counting = CountingStore(filled_store)
    services = services_over(counting, telemetry)
    site = telemetry.fleet.sites[0].id
    view = services.replay_views.view(counting, telemetry.fleet, LIVE, NOW)
    read = Counter(counting.lasts)
    panel = page.asset_panel(services, AssetRef("site", site), view, lambda path: path)
    telemetry_reads = ("node", "link", "meter", "grid")
    assert [counting.lasts[m] for m in telemetry_reads] == [read[m] for m in telemetry_reads]
    assert f"Site {site}" in str(panel)


def test_a_settled_moment_is_answered_without_reading(
    filled_store: DuckDBStore, telemetry: Telemetry
) -> None:
    counting = CountingStore(filled_store)
    services = services_over(counting, telemetry)
    first = page.render_at(services, SETTLED)
    read = sum(counting.lasts.values())
    again = page.render_at(services, SETTLED)
    assert sum(counting.lasts.values()) == read
    assert first[: 3 * 5] == again[: 3 * 5]
    page.render_at(services, LIVE)
    page.render_at(services, LIVE)
    assert counting.lasts["node"] == 3  # the settled moment once, the live one each time


def test_kept_views_are_bounded_and_expire(filled_store: DuckDBStore, telemetry: Telemetry) -> None:
    counting = CountingStore(filled_store)
    views = ReplayViews(max_moments=3)
    moments = [SETTLED - pd.Timedelta(minutes=m) for m in range(5)]
    for at in moments:
        views.view(counting, telemetry.fleet, at, NOW)
    assert len(views) == 3
    reads = counting.lasts["node"]
    views.view(counting, telemetry.fleet, moments[-1], NOW)  # kept: the newest three
    assert counting.lasts["node"] == reads
    views.view(counting, telemetry.fleet, moments[0], NOW)  # dropped: read again
    assert counting.lasts["node"] == reads + 1
    stale = ReplayViews(max_age=timedelta(0))
    stale.view(counting, telemetry.fleet, SETTLED, NOW)
    stale.view(counting, telemetry.fleet, SETTLED, NOW)
    assert counting.lasts["node"] == reads + 3


@pytest.mark.parametrize("at", [LIVE, SETTLED, NOW - pd.Timedelta(minutes=9, seconds=55)])
def test_kpis_and_map_from_the_state_equal_the_overview_reads(
    filled_store: DuckDBStore, telemetry: Telemetry, at: pd.Timestamp
) -> None:
    fleet = telemetry.fleet
    fresh = staleness_for("node").fresh
    view = replay_view(filled_store, fleet, at)
    assert view.kpis == kpis(filled_store, fleet, at, stale_after=fresh)
    expected = site_map(filled_store, fleet, at, stale_after=fresh)
    pd.testing.assert_frame_equal(view.site_map.sites, expected.sites)
    pd.testing.assert_frame_equal(view.site_map.links, expected.links)
