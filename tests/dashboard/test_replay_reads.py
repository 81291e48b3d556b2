"""What the Replay page reads: one ``last`` per measurement for a moment, nothing for a settled
moment already read, answers equal to the Overview's own reads, and a map equal to the
Overview's map figure — against a real DuckDB store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import pandas as pd
import pytest

from dashboard.app import Services
from dashboard.pages import replay as page
from tests.dashboard.conftest import NOW, Telemetry
from twin.store import TagFilter, TelemetryStore
from twin.store.duckdb import DuckDBStore
from twin.views.assets import AssetRef
from twin.views.overview import kpis, site_map
from twin.views.replay import StateReads, replay_view, staleness_for, state_at
from twin.views.replay_cache import ReplayViews

LIVE = NOW - pd.Timedelta(seconds=20)
"""A moment closer to now than the cache's settle time: always read."""

SETTLED = NOW - pd.Timedelta(hours=2)
"""A moment well in the past: kept once read."""


class CountingStore:
    """The real store, counting its ``last`` calls per measurement."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store
        self.lasts: Counter[str] = Counter()

    def last(
        self,
        measurement: str,
        at: datetime | pd.Timestamp | None = None,
        tags: TagFilter | None = None,
        fields: Sequence[str] | None = None,
        within: timedelta | None = None,
    ) -> pd.DataFrame:
        self.lasts[measurement] += 1
        return self.store.last(measurement, at=at, tags=tags, fields=fields, within=within)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


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


def test_state_reads_answer_only_at_the_state_time(
    filled_store: DuckDBStore, telemetry: Telemetry
) -> None:
    reads = StateReads(state_at(filled_store, telemetry.fleet, LIVE))
    with pytest.raises(ValueError, match="the state is at"):
        reads.last("node", at=LIVE - pd.Timedelta(seconds=1))
    node = telemetry.fleet.nodes[0].id
    one = reads.last("node", at=LIVE, tags={"id": node}, fields=["cpu_util"])
    assert one["id"].tolist() == [node]
    assert reads.last("node", fields=["no_such_field"]).empty
