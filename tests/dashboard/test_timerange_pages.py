"""The time-range picker on the Energy & Carbon and Entropy pages in a real headless Chromium.

The store holds the generated day of telemetry of tests/dashboard/conftest.py with the
product's derived energy (5 min windows, written up to a quarter hour past the pinned NOW so a
test can move the clock on) and hourly entropy. Ranges are read back from the plotted figures
(``layout.xaxis.range`` and the traces' x values) and from the browser's URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from dashboard import ids
from dashboard.pages import energy as energy_page
from dashboard.pages import entropy as entropy_page
from tests.dashboard.conftest import NOW, SCHEMAS, Telemetry
from tests.dashboard.serving import SCREENSHOTS, chromium_page, serving_store
from tests.dashboard.test_overview_page import MovableClock
from twin.inventory import example_fleet
from twin.jobs.energy import record_energy
from twin.jobs.entropy import backfill_entropy
from twin.store.duckdb import DuckDBStore

pytestmark = pytest.mark.e2e

WINDOW = pd.Timedelta(minutes=5)
DERIVED_UNTIL = NOW + pd.Timedelta(minutes=15)
"""Energy windows are derived up to here; the page shows those before its clock."""

PLOT = "(id) => document.querySelector('#' + id + ' .js-plotly-plot')"
X_RANGE = f"(id) => {{ const p = ({PLOT})(id); return p && p.layout.xaxis.range; }}"
X_VALUES = f"(id) => {{ const p = ({PLOT})(id); return p ? p.data.flatMap(t => t.x || []) : []; }}"
RANGE_IS = f"""([id, start, end]) => {{
    const p = ({PLOT})(id);
    if (!p || !p.layout.xaxis.range) return false;
    const r = p.layout.xaxis.range.map(v => Date.parse(String(v).replace(' ', 'T') + 'Z'));
    return Math.abs(r[0] - Date.parse(start)) < 1000 && Math.abs(r[1] - Date.parse(end)) < 1000;
}}"""
"""True once graph ``id``'s x-axis spans [start, end] (ISO, UTC) within a second."""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, telemetry: Telemetry) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path_factory.mktemp("timerange") / "timerange.duckdb")
    for measurement, frame in telemetry.frames.items():
        s.write_frame(measurement, frame, SCHEMAS[measurement])
    fleet = example_fleet()
    record_energy(s, fleet, DERIVED_UNTIL.to_pydatetime())
    backfill_entropy(s, fleet, NOW - pd.Timedelta(hours=12), NOW)
    yield s
    s.close()


@pytest.fixture
def served(store: DuckDBStore, tmp_path: Path) -> Iterator[tuple[str, MovableClock]]:
    clock = MovableClock(NOW)
    with serving_store(store, example_fleet(), clock, tmp_path / "data", refresh_s=5.0) as base:
        yield base, clock


def iso(t: pd.Timestamp) -> str:
    """A UTC time as the picker writes it: ``2025-06-01T06:00:00Z``."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(values: list[Any]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([pd.Timestamp(v, tz="UTC") for v in values])


def _query(page: Any) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(page.url).query).items()}


def _control(page: Any, part: str, name: str) -> Any:
    """The picker control ``part`` (an ids.TIMERANGE_* name) of page ``name``."""
    return page.locator(f'[id=\'{{"page":"{name}","type":"{part}"}}\']')


def _wait_range(page: Any, graphs: tuple[str, ...], start: pd.Timestamp, end: pd.Timestamp) -> None:
    for graph in graphs:
        page.wait_for_function(RANGE_IS, arg=[graph, iso(start), iso(end)])


def test_picking_last_6h_plots_6h_and_puts_it_in_the_url(
    served: tuple[str, MovableClock],
) -> None:
    base, _clock = served
    problems: list[str] = []
    graphs = energy_page.SERIES_GRAPHS
    with chromium_page(problems) as page:
        page.goto(f"{base}/energy")
        _wait_range(page, graphs, NOW - pd.Timedelta(hours=24), NOW)
        assert _query(page) == {}

        _control(page, ids.TIMERANGE_PRESET, "energy").click()
        page.get_by_role("option", name="Last 6 h", exact=True).click()
        _wait_range(page, graphs, NOW - pd.Timedelta(hours=6), NOW)
        page.wait_for_function("() => window.location.search.includes('from=-6h')")
        assert _query(page) == {"from": "-6h", "to": "now", "refresh": "5s"}
        # the series were read for the range: the power chart's points lie within it
        xs = _utc(page.evaluate(X_VALUES, ids.ENERGY_POWER))
        assert len(xs) and xs.min() >= (NOW - pd.Timedelta(hours=6)).floor(WINDOW)
        assert xs.max() < NOW
        assert xs.min() < NOW - pd.Timedelta(hours=5, minutes=50)  # the whole range is filled
        kpis = page.locator(".energy-kpis").text_content()
        assert "Emissions, 6 h" in kpis
        page.screenshot(path=str(SCREENSHOTS / "timerange-energy-6h.png"))
    assert not problems, "\n".join(problems)


def test_a_shared_url_opens_on_its_absolute_range(served: tuple[str, MovableClock]) -> None:
    base, _clock = served
    start, end = (
        pd.Timestamp("2025-05-31 20:00", tz="UTC"),
        pd.Timestamp("2025-05-31 23:00", tz="UTC"),
    )
    problems: list[str] = []
    with chromium_page(problems) as page:
        page.goto(f"{base}/energy?from={iso(start)}&to={iso(end)}")
        _wait_range(page, energy_page.SERIES_GRAPHS, start, end)
        xs = _utc(page.evaluate(X_VALUES, ids.ENERGY_SUPPLY))
        assert xs.min() == start and xs.max() == end - WINDOW
        assert _control(page, ids.TIMERANGE_START, "energy").input_value() == iso(start)
        assert _control(page, ids.TIMERANGE_END, "energy").input_value() == iso(end)
        assert "Custom" in page.locator(".timerange-preset").inner_text()
        assert "Emissions, 3 h" in page.locator(".energy-kpis").text_content()

        # a bad URL keeps the page usable and says what is wrong
        page.goto(f"{base}/energy?from=yesterday")
        page.wait_for_function(
            "() => document.querySelector('.timerange-error')"
            " && document.querySelector('.timerange-error').innerText.includes('yesterday')"
        )
        assert "URL parameter from" in page.locator(".timerange-error").inner_text()
        _wait_range(page, energy_page.SERIES_GRAPHS, NOW - pd.Timedelta(hours=24), NOW)
    assert not problems, "\n".join(problems)


def test_zooming_one_graph_zooms_the_others_and_a_double_click_goes_back(
    served: tuple[str, MovableClock],
) -> None:
    base, _clock = served
    graphs = energy_page.SERIES_GRAPHS
    start, end = NOW - pd.Timedelta(hours=3), NOW - pd.Timedelta(hours=1)
    problems: list[str] = []
    with chromium_page(problems) as page:
        page.goto(f"{base}/energy?from=-6h")
        _wait_range(page, graphs, NOW - pd.Timedelta(hours=6), NOW)
        page.evaluate(
            f"([id, a, b]) => Plotly.relayout(({PLOT})(id),"
            " {'xaxis.range[0]': a, 'xaxis.range[1]': b})",
            [ids.ENERGY_SUPPLY, f"{start:%Y-%m-%d %H:%M:%S}", f"{end:%Y-%m-%d %H:%M:%S}"],
        )
        _wait_range(page, graphs, start, end)
        page.wait_for_function("() => window.location.search.includes('to=2025')")
        assert _query(page) == {"from": iso(start), "to": iso(end), "refresh": "5s"}
        assert _control(page, ids.TIMERANGE_START, "energy").input_value() == iso(start)
        assert "Custom" in page.locator(".timerange-preset").inner_text()
        # the server redraws the page for the zoomed range (KPIs included)
        page.wait_for_function(
            "() => document.querySelector('.energy-kpis').textContent.includes('Emissions, 2 h')"
        )
        page.screenshot(path=str(SCREENSHOTS / "timerange-energy-zoomed.png"))

        # double-click: every graph back to the picker's range from before the zoom
        page.locator(f"#{ids.ENERGY_EMISSIONS} .nsewdrag").dblclick()
        _wait_range(page, graphs, NOW - pd.Timedelta(hours=6), NOW)
        page.wait_for_function("() => window.location.search.includes('from=-6h')")
        assert "Last 6 h" in page.locator(".timerange-preset").inner_text()
    assert not problems, "\n".join(problems)


def test_auto_refresh_moves_the_series_on_with_the_clock(
    served: tuple[str, MovableClock],
) -> None:
    base, clock = served
    last = NOW.floor(WINDOW)  # the newest derived window starting before the clock
    problems: list[str] = []
    with chromium_page(problems) as page:
        page.goto(f"{base}/energy?from=-1h&to=now&refresh=5s")
        _wait_range(page, energy_page.SERIES_GRAPHS, NOW - pd.Timedelta(hours=1), NOW)
        assert _utc(page.evaluate(X_VALUES, ids.ENERGY_POWER)).max() == last
        later = NOW + 2 * WINDOW
        clock.set(later)
        _wait_range(page, energy_page.SERIES_GRAPHS, later - pd.Timedelta(hours=1), later)
        assert _utc(page.evaluate(X_VALUES, ids.ENERGY_POWER)).max() == last + 2 * WINDOW
        assert "5 s" in page.locator(".timerange-refresh").inner_text()
    assert not problems, "\n".join(problems)


def test_entropy_series_follow_the_picker(served: tuple[str, MovableClock]) -> None:
    base, _clock = served
    graphs = entropy_page.SERIES_GRAPHS
    problems: list[str] = []
    with chromium_page(problems) as page:
        page.goto(f"{base}/entropy")
        _wait_range(page, graphs, NOW - pd.Timedelta(hours=24), NOW)
        _control(page, ids.TIMERANGE_PRESET, "entropy").click()
        page.get_by_role("option", name="Last 6 h", exact=True).click()
        _wait_range(page, graphs, NOW - pd.Timedelta(hours=6), NOW)
        assert _query(page)["from"] == "-6h"
        hours = _utc(page.evaluate(X_VALUES, ids.ENTROPY_NETWORK))
        assert hours.min() >= (NOW - pd.Timedelta(hours=6)).floor("h")
        assert hours.max() == NOW.floor("h")
        page.screenshot(path=str(SCREENSHOTS / "timerange-entropy-6h.png"))
    assert not problems, "\n".join(problems)
