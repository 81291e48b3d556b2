"""The Overview's KPI cards and map share one read of the latest state per moment, kept on
the services, bounded and safe under concurrent callbacks — against a real DuckDB store."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import cast

import pandas as pd
import pytest

from dashboard import figures
from dashboard.app import Services
from dashboard.fleet_kpis import kpi_texts
from dashboard.pages import overview as page
from tests.dashboard.conftest import NOW, CountingStore, Telemetry
from twin.store import TelemetryStore
from twin.store.duckdb import DuckDBStore
from twin.views.latest_cache import LatestStates
from twin.views.overview import kpis, site_map


@pytest.fixture
def counting(filled_store: DuckDBStore) -> CountingStore:
    return CountingStore(filled_store)


def services_over(counting: CountingStore, telemetry: Telemetry, period_s: float) -> Services:
    return Services(
        store=cast(TelemetryStore, counting),
        fleet=telemetry.fleet,
        clock=NOW.to_pydatetime,
        latest=LatestStates(period=timedelta(seconds=period_s)),
    )


def test_kpi_cards_and_map_of_one_moment_share_one_read(
    counting: CountingStore, telemetry: Telemetry
) -> None:
    services = services_over(counting, telemetry, period_s=5)
    tick = NOW + pd.Timedelta(seconds=1)  # both in the moment NOW (a multiple of 5 s)
    texts = page.card_texts(services, tick.to_pydatetime(), None)
    reads = Counter(counting.lasts)
    assert reads["node"] == 1
    drawn_at = tick + pd.Timedelta(seconds=3)
    fig = page.map_figure(services, drawn_at)
    telemetry_reads = ("node", "meter", "grid", "link")
    assert [counting.lasts[m] for m in telemetry_reads] == [reads[m] for m in telemetry_reads]
    # the numbers are those of the moment's own reads
    store, fleet = services.store, services.fleet
    assert texts == kpi_texts(kpis(store, fleet, NOW))
    current = site_map(store, fleet, NOW)
    alerts = page.alert_counts(services, drawn_at)
    assert fig.to_json() == figures.site_map_figure(current.sites, current.links, alerts).to_json()
    assert services.latest.state(store, fleet, tick) is services.latest.state(store, fleet, NOW)


def test_the_next_moment_is_read_again(counting: CountingStore, telemetry: Telemetry) -> None:
    services = services_over(counting, telemetry, period_s=5)
    page.card_texts(services, NOW.to_pydatetime(), None)
    page.map_figure(services, NOW + pd.Timedelta(seconds=5))
    assert counting.lasts["node"] == 2
    later = services.latest.state(services.store, services.fleet, NOW + pd.Timedelta(seconds=7))
    assert later.at == NOW + pd.Timedelta(seconds=5)


def test_callbacks_at_once_make_one_read(counting: CountingStore, telemetry: Telemetry) -> None:
    services = services_over(counting, telemetry, period_s=10)
    moments = [NOW + pd.Timedelta(seconds=s) for s in range(8)]  # one 10 s moment
    with ThreadPoolExecutor(max_workers=4) as pool:
        states = list(
            pool.map(lambda t: services.latest.state(services.store, services.fleet, t), moments)
        )
    assert counting.lasts["node"] == 1
    assert all(s is states[0] for s in states)


def test_kept_states_are_bounded(counting: CountingStore, telemetry: Telemetry) -> None:
    store = cast(TelemetryStore, counting)
    latest = LatestStates(period=timedelta(seconds=5), max_moments=3)
    for step in range(5):
        latest.state(store, telemetry.fleet, NOW + pd.Timedelta(seconds=5 * step))
    assert len(latest) == 3
    latest.state(store, telemetry.fleet, NOW + pd.Timedelta(seconds=20))  # kept
    assert counting.lasts["node"] == 5
    latest.state(store, telemetry.fleet, NOW)  # dropped: read again
    assert counting.lasts["node"] == 6


def test_a_moment_needs_a_positive_period() -> None:
    with pytest.raises(ValueError, match="positive period"):
        LatestStates(period=timedelta(0))
