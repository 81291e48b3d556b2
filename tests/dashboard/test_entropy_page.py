"""The Entropy page in a real headless Chromium over a DuckDB store filled by the simulator.

Expected numbers are computed here from the parsed readings with plain pandas and Python
(:mod:`tests.twin.test_entropy_jobs`), not read back from the page's own data path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from dash.exceptions import PreventUpdate

from collectors.simulate import FleetSimulator
from dashboard import entropy_figures as efig
from dashboard import ids
from dashboard import timerange as tr
from dashboard.app import PageContext, Services, create_app
from dashboard.figures import LOADING
from dashboard.pages import entropy as entropy_page
from tests.dashboard.serving import TIMEOUT_MS, chromium_page, serving
from tests.dashboard.test_overview_page import (
    SCREENSHOTS,
    MovableClock,
)
from tests.twin.test_entropy_jobs import entropy_by_hand, hourly_by_hand
from twin.config import load_settings
from twin.domain import Fleet, Reading
from twin.inventory import example_fleet
from twin.jobs import entropy as jobs
from twin.store.duckdb import DuckDBStore

START = datetime(2024, 6, 21, tzinfo=UTC)
FIRST = pd.Timestamp(START + timedelta(hours=29))
"""The newest entropy hour written before the page opens."""
NOW = FIRST + timedelta(minutes=20)
LATER = FIRST + timedelta(hours=1, minutes=5)
"""The clock after the test writes one more entropy hour."""
H_STAR = -0.9 * math.log2(0.9) - 0.1 * math.log2(0.1)  # Table 1, type B


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return example_fleet()


@pytest.fixture(scope="module")
def readings(fleet: Fleet) -> list[Reading]:
    sim = FleetSimulator(fleet, seed=9, interval_s=30.0, start=START)
    return sim.backfill_readings(START, LATER, topics=lambda topic: "/node/" in topic)


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, readings: list[Reading], fleet: Fleet
) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path_factory.mktemp("entropy") / "page.duckdb")
    s.write(readings)
    jobs.backfill_entropy(s, fleet, FIRST - timedelta(hours=23), FIRST)
    yield s
    s.close()


class Expected:
    """Every number the page shows for the entropy hour ``end``, computed by hand."""

    def __init__(self, readings: list[Reading], fleet: Fleet, end: pd.Timestamp) -> None:
        self.hours = hourly_by_hand(readings, end)
        self.nodes = sorted(self.hours["c"].columns)
        self.combined = {
            n: sum(entropy_by_hand(self.hours[d][n])[0] for d in ("c", "l", "s")) / 3
            for n in self.nodes
        }
        values = np.array(list(self.combined.values()))
        counts, _ = np.histogram(values, bins=8, range=(0.0, 2.0))
        shares = counts[counts > 0] / len(values)
        self.network = float(-(shares * np.log2(shares)).sum())
        drift = np.abs(values - H_STAR)
        self.drifting = float(np.mean(drift > 0.5))
        self.mean_drift = float(drift.mean())
        self.drift = {n: abs(h - H_STAR) for n, h in self.combined.items()}
        # idle: at least 90 % of the reporting compute hours below 30 % (state type D)
        self.idle = {n: bool((self.hours["c"][n].dropna() < 0.3).mean() >= 0.9) for n in self.nodes}
        self.cause = {
            n: "idle capacity" if self.idle[n] else "drift" if self.drift[n] > 0.5 else "in balance"
            for n in self.nodes
        }
        self.idle_share = float(np.mean(list(self.idle.values())))
        self.out_of_balance = float(np.mean([c != "in balance" for c in self.cause.values()]))

    def sum_text(self, node: str, dimension: str) -> str:
        h, p = entropy_by_hand(self.hours[dimension][node])
        parts = " + ".join(f"{v:.2f}·log2 {v:.2f}" for v in p if v > 0)
        return f"H = −({parts}) = {h:.2f} bits"


@pytest.fixture
def served(store: DuckDBStore, fleet: Fleet, tmp_path: Path) -> Iterator[tuple[str, MovableClock]]:
    clock = MovableClock(NOW)
    settings = load_settings(
        store=f"duckdb://{store.path}", refresh_s=1.0, data_dir=tmp_path / "data"
    )
    app = create_app(settings, Services(store=store, fleet=fleet, clock=clock))
    with serving(app) as base:
        yield f"{base}/entropy", clock


def _kpi(page: object, label: str) -> str:
    card = page.locator(".kpi", has_text=label)  # type: ignore[attr-defined]
    return str(card.locator(".kpi-value").inner_text())


@pytest.mark.e2e
def test_entropy_page_in_a_real_browser(
    served: tuple[str, MovableClock],
    store: DuckDBStore,
    readings: list[Reading],
    fleet: Fleet,
) -> None:
    url, clock = served
    expected = Expected(readings, fleet, FIRST)
    problems: list[str] = []
    with chromium_page(problems, height=1260) as page:
        page.goto(url)
        page.wait_for_selector(f"#{ids.ENTROPY_HOURS} .js-plotly-plot .bars")
        page.wait_for_function(
            f"() => document.querySelector('#{ids.ENTROPY_SUM}').innerText.startsWith('H =')"
        )

        # headline numbers
        assert _kpi(page, "Network entropy H(R)") == f"{expected.network:.2f}"
        assert _kpi(page, "Balance entropy H*") == f"{H_STAR:.2f}"
        assert _kpi(page, "Out of balance") == f"{expected.out_of_balance * 100:.0f}"
        assert _kpi(page, "Idle capacity") == f"{expected.idle_share * 100:.0f}"
        assert 0 < expected.idle_share <= expected.out_of_balance  # the fleet has idle nodes
        assert _kpi(page, "Mean drift") == f"{expected.mean_drift:.2f}"
        assert _kpi(page, "Entropy as of") == f"{FIRST:%H:%M} UTC"
        assert page.locator(".nav-link.active").inner_text() == "Entropy"

        # the table: nodes out of balance first (idle ones with their own cause), then by
        # drift, with their entropy and drift as computed by hand
        rows = page.locator(f"#{ids.ENTROPY_TABLE} tbody tr")
        assert rows.count() == entropy_page.TABLE_ROWS
        order = sorted(
            expected.nodes, key=lambda n: (expected.cause[n] == "in balance", -expected.drift[n])
        )[: entropy_page.TABLE_ROWS]
        shown = [float(rows.nth(i).locator("td").nth(3).inner_text()) for i in range(rows.count())]
        assert shown == [pytest.approx(round(expected.drift[n], 2), abs=0.006) for n in order]
        causes = []
        for i in range(rows.count()):
            cells = rows.nth(i).locator("td").all_inner_texts()
            assert cells[2] == f"{expected.combined[cells[0]]:.2f}"
            assert cells[4] == expected.cause[cells[0]]
            causes.append(cells[4])
            assert len(cells[5]) == 24  # one sparkline block per hour
        assert "idle capacity" in causes

        # graphs: H(R) line, type counts, 3-D scatter of every reporting node, node heatmap
        network = page.evaluate(
            f"() => Array.from(document.querySelector('#{ids.ENTROPY_NETWORK} .js-plotly-plot')"
            "._fullData[0].y)"
        )
        assert network[-1] == pytest.approx(expected.network)
        assert len(network) == 24
        scatter = page.evaluate(
            f"() => {{ const t = document.querySelector('#{ids.ENTROPY_SCATTER} .js-plotly-plot')"
            "._fullData[0]; return [t.type, Array.from(t.x).length]; }"
        )
        assert scatter == ["scatter3d", len(expected.nodes)]
        heat = page.evaluate(
            f"() => document.querySelector('#{ids.ENTROPY_HEATMAP} .js-plotly-plot').data[0]"
        )
        assert heat["y"] == [n.id for n in fleet.nodes if n.id in expected.combined]
        axis_titles = page.evaluate(
            "() => [...document.querySelectorAll('.entropy-grid .infolayer text, "
            ".entropy-grid .g-xtitle text, .entropy-grid .g-ytitle text, "
            ".entropy-grid .cbtitle text')].map(t => t.textContent)"
        )
        assert "H, combined [bits]" in axis_titles and "Time [UTC]" in axis_titles
        assert "H(R), fleet: how node H spreads over 8 bins [bits]" in axis_titles
        assert any(t.startswith("mean node H, combined [bits] · band") for t in axis_titles)
        assert "Nodes [count]" in axis_titles and "Hour [UTC]" in axis_titles
        assert "Compute c [%]" in axis_titles

        # the scatter, last in the page (drawn last), stands top right, above the explanation
        scatter_box = page.locator(f"#{ids.ENTROPY_SCATTER}").bounding_box()
        types_box = page.locator(f"#{ids.ENTROPY_TYPES}").bounding_box()
        explain_box = page.locator(f"#{ids.ENTROPY_HOURS}").bounding_box()
        assert scatter_box is not None and types_box is not None and explain_box is not None
        assert scatter_box["x"] > types_box["x"] + types_box["width"]
        assert abs(scatter_box["y"] - types_box["y"]) < 60
        assert scatter_box["y"] + scatter_box["height"] <= explain_box["y"]

        # the explanation of the most out-of-balance node, opened on load
        first = rows.nth(0).locator("td").nth(0).inner_text()
        assert first in page.locator(f"#{ids.ENTROPY_EXPLAIN_TITLE}").inner_text()
        # the panel says which dimension it explains, and how the table's combined H is made
        combined = page.locator(f"#{ids.ENTROPY_COMBINED}").inner_text()
        first_cells = rows.nth(0).locator("td").all_inner_texts()
        assert combined.startswith("The table's H is the combined one: mean of compute c ")
        assert f"= {first_cells[2]} bits" in combined
        assert page.locator(f"#{ids.ENTROPY_SUM}").inner_text() == expected.sum_text(first, "c")
        page.screenshot(path=str(SCREENSHOTS / "entropy.png"))
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.wait_for_timeout(500)  # let the graphs resize (a screenshot, not a check)
        page.screenshot(path=str(SCREENSHOTS / "entropy-hr.png"))
        page.set_viewport_size({"width": 1920, "height": 1260})

        # click another row (one whose c and l differ): its 24 hourly values, its four
        # intervals, its sum
        names = [rows.nth(i).locator("td").nth(0).inner_text() for i in range(rows.count())]
        pick = next(
            i
            for i in range(1, len(names))
            if expected.sum_text(names[i], "c") != expected.sum_text(names[i], "l")
        )
        chosen = names[pick]
        rows.nth(pick).click()
        page.wait_for_function(
            f"() => document.querySelector('#{ids.ENTROPY_EXPLAIN_TITLE}')"
            f".innerText.includes('{chosen}')"
        )
        page.wait_for_function(
            f"() => document.querySelector('#{ids.ENTROPY_SUM}').innerText === "
            f"{expected.sum_text(chosen, 'c')!r}"
        )
        bars = page.evaluate(
            f"() => Array.from(document.querySelector('#{ids.ENTROPY_HOURS} .js-plotly-plot')"
            "._fullData[0].y)"
        )
        by_hand = expected.hours["c"][chosen].to_numpy() * 100.0
        assert bars == pytest.approx(list(by_hand))
        shapes = page.evaluate(
            f"() => document.querySelector('#{ids.ENTROPY_HOURS} .js-plotly-plot')"
            ".layout.shapes.map(s => s.y0)"
        )
        assert sorted(shapes) == pytest.approx([30.0, 60.0, 80.0])
        shares = page.evaluate(
            f"() => Array.from(document.querySelector('#{ids.ENTROPY_INTERVALS} .js-plotly-plot')"
            "._fullData[0].y)"
        )
        assert shares == pytest.approx([100 * p for p in entropy_by_hand(by_hand / 100)[1]])

        # the network dimension of the same node
        page.get_by_text("Network l", exact=True).click()
        page.wait_for_function(
            f"() => document.querySelector('#{ids.ENTROPY_EXPLAIN_TITLE}')"
            ".innerText.startsWith('Why H, network l = ')"
        )
        page.wait_for_function(
            f"() => document.querySelector('#{ids.ENTROPY_SUM}').innerText === "
            f"{expected.sum_text(chosen, 'l')!r}"
        )
        page.wait_for_function(
            f"() => document.querySelector('#{ids.ENTROPY_HOURS} .js-plotly-plot')"
            ".layout.yaxis.title.text === 'Network l [%]'"
        )
        page.screenshot(path=str(SCREENSHOTS / "entropy-explain.png"))

        # a click on the heatmap's top row explains that node
        page.get_by_text("Compute c", exact=True).click()
        page.wait_for_function(
            f"() => document.querySelector('#{ids.ENTROPY_SUM}').innerText === "
            f"{expected.sum_text(chosen, 'c')!r}"
        )
        box = page.locator(f"#{ids.ENTROPY_HEATMAP} .nsewdrag").bounding_box()
        assert box is not None
        row_height = box["height"] / len(heat["y"])
        # (left of the middle: the mode bar shows over the top right on hover)
        page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + row_height / 2)
        page.wait_for_function(
            f"() => document.querySelector('#{ids.ENTROPY_SUM}').innerText === "
            f"{expected.sum_text(heat['y'][0], 'c')!r}"
        )

        # colour the scatter by state type: one trace per type present
        page.get_by_text("by state type", exact=True).click()
        page.wait_for_function(
            f"() => document.querySelector('#{ids.ENTROPY_SCATTER} .js-plotly-plot')"
            ".data.length > 1",
            timeout=TIMEOUT_MS * 3,  # the whole page is redrawn; slow on a loaded machine
        )
        names = page.evaluate(
            f"() => document.querySelector('#{ids.ENTROPY_SCATTER} .js-plotly-plot')"
            ".data.map(t => t.name)"
        )
        assert "B training" in names and "D idle" in names

        # live: the next hour is written and the clock moves; the page follows
        jobs.record_entropy(store, fleet, LATER.to_pydatetime())
        clock.set(LATER)
        following = Expected(readings, fleet, FIRST + timedelta(hours=1))
        page.wait_for_function(
            "() => [...document.querySelectorAll('.kpi')].some(k => "
            f"k.innerText.includes('{FIRST + timedelta(hours=1):%H:%M} UTC'))"
        )
        assert _kpi(page, "Network entropy H(R)") == f"{following.network:.2f}"
        assert _kpi(page, "Mean drift") == f"{following.mean_drift:.2f}"
        newest = page.evaluate(
            f"() => {{ const d = document.querySelector('#{ids.ENTROPY_HEATMAP} .js-plotly-plot')"
            ".data[0]; return d.x[d.x.length - 1]; }"
        )
        assert newest == f"{FIRST + timedelta(hours=1):%Y-%m-%d %H:%M:%S}"
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.wait_for_timeout(1000)  # let the graphs resize (a screenshot, not a check)
        page.screenshot(path=str(SCREENSHOTS / "entropy-next-hour.png"))
    assert not problems, "\n".join(problems)


# --- without a browser ------------------------------------------------------------------------


def _drawn(services: Services, clock: MovableClock) -> dict[str, Any]:
    """What a refresh and the scatter callback draw at ``clock``'s time over the last 24 h."""
    picked = tr.state_of(tr.TimeRange())
    window = tr.window_of(picked, clock(), jobs.HOUR)
    at = jobs.latest_entropy_time(services.store, window.end)
    view = entropy_page.read_view(services, window, at)
    kpis, network, types, heatmap, table, state, _ = entropy_page.content(
        services, view, picked, None
    )
    scatter = entropy_page.scatter_figure(services, at, "entropy")
    return {
        "at": at,
        "kpis": str(kpis),
        "table": str(table),
        "state": state,
        **{
            name: pio.to_json(figure)
            for name, figure in zip(
                ("network", "types", "heatmap", "scatter"),
                (network, types, heatmap, scatter),
                strict=True,
            )
        },
        "network_y": list(network.data[0].y),
        "heatmap_x": list(heatmap.data[0].x),
        "scatter_n": len(scatter.data[0].x),
    }


def test_kept_hours_draw_what_a_fresh_read_draws_and_a_new_hour_shows(
    store: DuckDBStore, readings: list[Reading], fleet: Fleet
) -> None:
    clock = MovableClock(NOW)
    kept = Services(store=store, fleet=fleet, clock=clock)

    def fresh() -> Services:
        return Services(store=store, fleet=fleet, clock=clock)  # nothing kept yet

    first = _drawn(kept, clock)
    assert first["at"] == FIRST
    # the hourly rows (fleet and node entropy) and the last hour's state were kept
    assert len(kept.windows) == 3 and kept.windows.rows() > 0
    again = _drawn(kept, clock)  # from the kept hours
    assert again == first == _drawn(fresh(), clock)
    expected = Expected(readings, fleet, FIRST)
    assert first["network_y"][-1] == pytest.approx(expected.network)
    assert len(first["network_y"]) == 24
    assert first["scatter_n"] == len(expected.nodes)
    assert f"{expected.mean_drift:.2f}" in first["kpis"]

    # a new entropy hour completes: the kept read reads it and draws what a fresh read draws
    jobs.record_entropy(store, fleet, LATER.to_pydatetime())
    clock.set(LATER)
    later = _drawn(kept, clock)
    assert later["at"] == FIRST + timedelta(hours=1)
    assert later == _drawn(fresh(), clock)
    following = Expected(readings, fleet, FIRST + timedelta(hours=1))
    assert later["network_y"][-1] == pytest.approx(following.network)
    assert later["network_y"][-2] == first["network_y"][-1]  # the hour before, unchanged
    assert later["heatmap_x"][-1] == f"{FIRST + timedelta(hours=1):%Y-%m-%d %H:%M:%S}"
    assert f"{following.mean_drift:.2f}" in later["kpis"]
    assert later["state"]["at"] == (FIRST + timedelta(hours=1)).isoformat()


def test_heatmap_time_labels_stand_horizontal_with_their_unit() -> None:
    hours = pd.date_range("2025-06-01", periods=24, freq="1h", tz="UTC")
    matrix = pd.DataFrame(1.0, index=[f"n{k}" for k in range(1000)], columns=hours)
    axis = efig.entropy_heatmap_figure(matrix).layout.xaxis
    assert axis.tickangle == 0 and axis.nticks <= 6
    assert axis.type == "date" and axis.title.text == "Time [UTC]"
    # time over a short day, no year: side by side in a third of the page without touching
    assert axis.tickformat.startswith("%H:%M") and "%Y" not in axis.tickformat


def test_page_over_an_empty_store_says_what_to_do(tmp_path: Path, fleet: Fleet) -> None:
    empty = DuckDBStore(tmp_path / "empty.duckdb")
    try:
        services = Services(store=empty, fleet=fleet, clock=lambda: NOW.to_pydatetime())
        context = PageContext(
            settings=load_settings(store=f"duckdb://{empty.path}"),
            services=services,
            asset_url=lambda path: f"/assets/{path}",
        )
        shell = str(entropy_page.layout(context))  # drawn at once, reading nothing
        assert LOADING in shell and "entropy backfill" not in shell
        picked = tr.state_of(tr.TimeRange())
        window = tr.window_of(picked, NOW.to_pydatetime(), jobs.HOUR)
        at = jobs.latest_entropy_time(empty, window.end)
        assert at is None
        view = entropy_page.read_view(services, window, at)
        drawn = entropy_page.content(services, view, picked, None)
        assert "cnetwin entropy backfill --since 24h" in str(drawn)
        scatter = entropy_page.scatter_figure(services, at, "entropy")
        assert "cnetwin entropy backfill --since 24h" in str(scatter.layout.annotations[0].text)
        assert drawn[-1] is None  # no node to explain
        title, text, _hours, _bars, combined = entropy_page.explanation(services, None, None, "c")
        assert title == "Explain a node" and text == "" and combined == ""
    finally:
        empty.close()


def test_selected_node_from_each_kind_of_click() -> None:
    row = ids.entropy_row("n1")
    assert entropy_page.selected_node(row, 1, None, None) == "n1"
    with pytest.raises(PreventUpdate):  # a row drawn again, never clicked
        entropy_page.selected_node(row, 0, None, None)
    scatter = {"points": [{"customdata": ["n7", "1.20", "C"]}]}
    assert entropy_page.selected_node(ids.ENTROPY_SCATTER, None, scatter, None) == "n7"
    heat = {"points": [{"x": "2024-06-21 03:00:00", "y": "n3", "z": 1.2}]}
    assert entropy_page.selected_node(ids.ENTROPY_HEATMAP, None, None, heat) == "n3"
    with pytest.raises(PreventUpdate):
        entropy_page.selected_node(ids.ENTROPY_HEATMAP, None, None, None)


def test_sparkline_scales_bits_to_blocks() -> None:
    assert efig.sparkline([0.0, 1.0, 2.0, math.nan, 5.0]) == "▁▅█ █"
    assert efig.sparkline([]) == ""


def test_interval_labels_follow_the_edges() -> None:
    assert efig.interval_labels((0.0, 0.3, 0.6, 0.8, 1.0)) == [
        "idle<br>[0, 30 %)",
        "low<br>[30, 60 %)",
        "medium<br>[60, 80 %)",
        "high<br>[80, 100 %]",
    ]


def test_explanation_figures_colour_hours_by_interval() -> None:
    hours = pd.Series(
        [0.1, 0.3, 0.79, 0.8, math.nan],
        index=pd.date_range("2025-06-01", periods=5, freq="1h", tz="UTC"),
    )
    fig = efig.hours_figure(hours, (0.0, 0.3, 0.6, 0.8, 1.0), "Compute c")
    bar = fig.data[0]
    assert list(bar.y) == [pytest.approx(10.0), pytest.approx(30.0), pytest.approx(79.0),
                           pytest.approx(80.0), None]  # fmt: skip
    colours = list(bar.marker.color)
    assert colours[:4] == list(efig.INTERVAL_COLOURS)
    assert colours[4] == efig.NO_DATA
    assert fig.layout.yaxis.title.text == "Compute c [%]"
    empty = efig.hours_figure(hours * math.nan, (0.0, 0.3, 0.6, 0.8, 1.0), "Compute c")
    assert not empty.data


def test_network_entropy_and_node_entropy_each_have_their_own_scale() -> None:
    """H(R) (the spread of node entropies over the fleet) is drawn on its own axis with its
    maximum log2(bins) as reference; the band H* ± threshold is drawn only where node
    entropies are."""
    times = pd.date_range("2024-06-21", periods=4, freq="1h", tz="UTC")
    fleet_rows = pd.DataFrame({"ts": times, "network_entropy_bits": [2.4, 2.5, 2.6, 2.2]})
    mean = pd.Series([0.8, 0.7, 0.9, 0.6], index=times)
    fig = efig.network_entropy_figure(fleet_rows, mean, 0.469, 0.5, bins=8)
    h_r, node_h = fig.data[0], fig.data[1]
    assert h_r.name == "H(R), fleet" and list(h_r.y) == [2.4, 2.5, 2.6, 2.2]
    assert node_h.name == "mean node H, combined"
    assert h_r.yaxis != node_h.yaxis  # two scales
    band = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(band) == 1
    assert band[0].yref == node_h.yaxis  # the band sits with the node entropies
    assert (band[0].y0, band[0].y1) == pytest.approx((0.0, 0.969))
    reference = [s for s in fig.layout.shapes if s.type == "line" and s.yref == h_r.yaxis]
    assert [s.y0 for s in reference] == [pytest.approx(3.0)]  # log2 8
    h_r_axis = fig.layout[f"yaxis{h_r.yaxis[1:]}"]
    assert h_r_axis.title.text == "H(R) [bits]" and h_r_axis.range[1] > 3.0
    node_axis = fig.layout[f"yaxis{node_h.yaxis[1:]}"]
    assert node_axis.title.text == "node H [bits]"
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "H(R), fleet: how node H spreads over 8 bins [bits]"
    assert titles[1] == "mean node H, combined [bits] · band: node target H* 0.47 ± 0.5 bits"


def test_a_large_fleet_heatmap_names_nodes_on_hover_not_on_an_overlapping_axis() -> None:
    times = pd.date_range("2024-06-21", periods=3, freq="1h", tz="UTC")
    ids_small = [f"n{k}" for k in range(40)]
    ids_large = [f"n{k}" for k in range(1000)]
    small = efig.entropy_heatmap_figure(pd.DataFrame(0.5, index=ids_small, columns=times))
    large = efig.entropy_heatmap_figure(pd.DataFrame(0.5, index=ids_large, columns=times))
    assert small.layout.yaxis.showticklabels is True
    assert small.layout.yaxis.title.text == "Node"
    assert large.layout.yaxis.showticklabels is False
    assert large.layout.yaxis.title.text == "Node (1,000, names on hover)"
    assert "%{y}" in large.data[0].hovertemplate


def test_heatmap_sends_a_float32_array_with_gaps_as_nan() -> None:
    hours = pd.date_range("2025-06-01", periods=2, freq="1h", tz="UTC")
    matrix = pd.DataFrame([[1.25, np.nan], [0.5, 2.0]], index=["n1", "n2"], columns=hours)
    trace = efig.entropy_heatmap_figure(matrix).data[0]
    assert isinstance(trace.z, np.ndarray) and trace.z.dtype == np.float32
    assert trace.z[0, 0] == 1.25 and np.isnan(trace.z[0, 1])
    assert trace.hoverongaps is False and list(trace.y) == ["n1", "n2"]
