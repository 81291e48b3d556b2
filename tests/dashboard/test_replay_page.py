"""The Replay page: its pure helpers, its render against ``state_at``, and the page in a real
headless Chromium against a real server over a filled DuckDB store.

Expected KPIs are worked out here from an independently computed ``state_at`` (the fresh rows
of each asset), by the Overview's written rules, not through ``twin.views.overview``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.app import Services, create_app
from dashboard.pages import replay as page
from tests.dashboard.conftest import NOW, SILENT_NODES, Telemetry
from tests.dashboard.serving import SCREENSHOTS, chromium_page, serving
from twin.config import load_settings
from twin.domain import Fleet
from twin.models.carbon import read_grid_factors
from twin.store.duckdb import DuckDBStore
from twin.views.overview import FALLBACK_PUE
from twin.views.replay import FleetState, state_at

CARDS = ("nodes", "util", "power", "renewable", "carbon")
LABELS = dict(
    zip(
        CARDS,
        (
            "Nodes reporting",
            "Fleet compute utilisation",
            "Facility power",
            "Renewable share",
            "Carbon intensity",
        ),
        strict=True,
    )
)

EARLY = pd.Timestamp("2025-06-01 03:10:10", tz="UTC")
LATE = NOW - pd.Timedelta(seconds=20)
"""After SILENT_NODES went quiet (10 min before NOW): they are stale then."""


# --- expectations from state_at -----------------------------------------------------------


def fresh(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """The fresh rows of a state frame, with ``columns`` (all NaN if no row carried them)."""
    rows = frame[frame["status"] == "fresh"]
    return rows.reindex(columns=list(dict.fromkeys([*rows.columns, *columns])))


def expected_kpis(state: FleetState, fleet: Fleet) -> dict[str, str]:
    """The five KPI values of the page for ``state``, from its fresh rows only."""
    nodes = fresh(state.nodes, "cpu_util", "gpu_util", "power_w")
    busiest = [max(c, g) for c, g in zip(nodes["cpu_util"], nodes["gpu_util"], strict=True)]
    meters = fresh(state.meters, "power_kw")
    grid = fresh(state.grid, "intensity_g_per_kwh")
    intensity = dict(zip(grid["region"], grid["intensity_g_per_kwh"], strict=True))
    factors = read_grid_factors()
    facility_total = renewable_total = grams = 0.0
    for site in fleet.sites:
        here = meters[meters["site"] == site.id]
        kw = {k: float(here.loc[here["kind"] == k, "power_kw"].sum()) for k in set(here["kind"])}
        if "facility" in kw:
            facility = kw["facility"]
        elif "it_load" in kw:
            facility = kw["it_load"] * FALLBACK_PUE
        elif (nodes["site"] == site.id).any():
            it_kw = float(nodes.loc[nodes["site"] == site.id, "power_w"].sum()) / 1000
            facility = it_kw * FALLBACK_PUE
        else:
            continue  # nothing known about the site
        renewable = kw.get("pv", 0.0) + kw.get("wind", 0.0)
        imported = kw.get("grid_import", max(facility - renewable, 0.0))
        facility_total += facility
        renewable_total += min(renewable, facility)  # export does not count for other sites
        grams += max(imported, 0.0) * intensity.get(site.region, factors[site.region])
    nodes_text = f"{len(nodes)} / {len(state.nodes)}"
    util = f"{100 * sum(busiest) / len(busiest):.0f}" if busiest else "—"
    if facility_total <= 0:
        return {"nodes": nodes_text, "util": util, "power": "—", "renewable": "—", "carbon": "—"}
    power = f"{facility_total:,.0f}" if facility_total < 1000 else f"{facility_total / 1000:,.2f}"
    return {
        "nodes": nodes_text,
        "util": util,
        "power": power,
        "renewable": f"{100 * renewable_total / facility_total:.0f}",
        "carbon": f"{grams / facility_total:,.0f}",
    }


# --- pure helpers ---------------------------------------------------------------------------


@settings(deadline=None)  # no timing assertions: the machine may be busy
@given(
    st.datetimes(
        min_value=pd.Timestamp("1971-01-01").to_pydatetime(),
        max_value=pd.Timestamp("2199-12-31").to_pydatetime(),
    )
)
def test_time_query_round_trips(moment: object) -> None:
    t = pd.Timestamp(moment, tz="UTC").floor("s")  # type: ignore[arg-type]
    text = page.format_time(t)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    assert page.parse_time_query(f"?t={text}") == t


def test_parse_time_query_accepts_offsets_and_refuses_junk() -> None:
    expected = pd.Timestamp("2026-11-21 03:10:00", tz="UTC")
    assert page.parse_time_query("?t=2026-11-21T11:10:00+08:00") == expected
    assert page.parse_time_query("?t=2026-11-21T11:10:00 08:00") == expected  # unescaped "+"
    assert page.parse_time_query("?x=1&t=2026-11-21T03:10:00") == expected  # naive: UTC
    for junk in (None, "", "?", "?t=", "?t=yesterday", "?t=2026-13-45T00:00:00Z"):
        assert page.parse_time_query(junk) is None, junk


def test_clamp_seconds() -> None:
    t = pd.Timestamp("2026-11-21 03:10:00.7", tz="UTC")
    seconds = int(pd.Timestamp("2026-11-21 03:10:00", tz="UTC").timestamp())
    assert page.clamp_seconds(t, 0, 2 * seconds) == seconds
    assert page.clamp_seconds(t, seconds + 5, seconds + 9) == seconds + 5
    assert page.clamp_seconds(t, 0, 10) == 10


@settings(deadline=None)  # no timing assertions: the machine may be busy
@given(st.integers(0, 4_000_000_000), st.integers(0, 400 * 86_400), st.integers(2, 12))
def test_slider_marks_are_round_and_inside(first: int, span: int, count: int) -> None:
    marks = page.slider_marks(first, first + span, count)
    assert len(marks) <= count
    assert all(first <= t <= first + span for t in marks)
    if len(marks) > 1:
        steps = {b - a for a, b in zip(sorted(marks), sorted(marks)[1:], strict=False)}
        assert len(steps) == 1
        step = steps.pop()
        assert all(t % step == 0 for t in marks)


@pytest.mark.parametrize(
    ("age", "text"), [(0.0, "0 s"), (45.4, "45 s"), (600.0, "10 min"), (9000.0, "2.5 h")]
)
def test_format_age(age: float, text: str) -> None:
    assert page.format_age(age) == text
    assert page.format_age(math.nan) == "never"


# --- render_at against state_at --------------------------------------------------------------


@pytest.mark.parametrize(
    "at",
    [EARLY, LATE, NOW - pd.Timedelta(hours=20, seconds=50), NOW - pd.Timedelta(hours=26)],
    ids=["early", "late", "between-minute-readings", "before-history"],
)
def test_render_matches_state_at(
    filled_store: DuckDBStore, telemetry: Telemetry, at: pd.Timestamp
) -> None:
    services = Services(store=filled_store, fleet=telemetry.fleet, clock=NOW.to_pydatetime)
    outputs = page.render_at(services, at)
    values = dict(zip(CARDS, outputs[0 : 3 * len(CARDS) : 3], strict=True))
    state = state_at(filled_store, telemetry.fleet, at)
    assert values == expected_kpis(state, telemetry.fleet)
    figure, stale, _derived = outputs[3 * len(CARDS) :]
    listed = str(stale)
    not_fresh = state.not_fresh()
    for row in not_fresh.head(page.STALE_ROWS).to_dict("records"):
        assert row["id"] in listed
    if len(not_fresh) > page.STALE_ROWS:
        assert f"… and {len(not_fresh) - page.STALE_ROWS} more" in listed
    if at == LATE:
        assert all(n in listed for n in SILENT_NODES)
    # map markers of sites whose every node is stale or missing are drawn grey
    sites = figure.data[-2]
    fresh_sites = set(state.nodes.loc[state.nodes["status"] == "fresh", "site"])
    for site, colour in zip(sites.text, sites.marker.color, strict=True):
        assert (colour == "#5c6678") == (site not in fresh_sites), site


# --- the page in a real browser ---------------------------------------------------------------


@pytest.fixture
def served(filled_store: DuckDBStore, telemetry: Telemetry, tmp_path: Path) -> Iterator[str]:
    settings = load_settings(
        store=f"duckdb://{filled_store.path}", refresh_s=1.0, data_dir=tmp_path / "data"
    )
    app = create_app(
        settings, Services(store=filled_store, fleet=telemetry.fleet, clock=NOW.to_pydatetime)
    )
    with serving(app) as base:
        yield f"{base}/"


def as_of(page_: object) -> pd.Timestamp:
    text = page_.locator("#replay-as-of").inner_text()  # type: ignore[attr-defined]
    return pd.Timestamp(text.removeprefix("As of ").removesuffix(" UTC"), tz="UTC")


def url_time(url: str) -> pd.Timestamp | None:
    values = parse_qs(urlsplit(url).query).get("t")
    return pd.Timestamp(values[-1]) if values else None


def shown_kpis(page_: object) -> dict[str, str]:
    return {
        name: page_.locator(".kpi", has_text=label).locator(".kpi-value").inner_text()  # type: ignore[attr-defined]
        for name, label in LABELS.items()
    }


@pytest.mark.e2e
def test_replay_page_in_a_real_browser(
    served: str, filled_store: DuckDBStore, telemetry: Telemetry
) -> None:
    fleet = telemetry.fleet
    problems: list[str] = []

    def wait_for_time(p: object, t: pd.Timestamp) -> None:
        text = f"As of {t.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        p.wait_for_function(  # type: ignore[attr-defined]
            "t => document.querySelector('#replay-as-of')?.innerText === t", arg=text
        )
        p.wait_for_function(  # type: ignore[attr-defined]
            "() => [...document.querySelectorAll('.kpi-value')].every(e => e.innerText !== '…')"
        )

    def settled_kpis(p: object, t: pd.Timestamp) -> None:
        expected = expected_kpis(state_at(filled_store, fleet, t), fleet)
        p.wait_for_function(  # type: ignore[attr-defined]
            "v => [...document.querySelectorAll('.kpi-value')]"
            ".map(e => e.innerText).join('|') === v",
            arg="|".join(expected[c] for c in CARDS),
        )
        assert shown_kpis(p) == expected

    with chromium_page(problems) as p:
        # a shared moment: the URL's time is restored, KPIs are those of state_at then
        p.goto(served + f"replay?t={page.format_time(EARLY)}")
        wait_for_time(p, EARLY)
        settled_kpis(p, EARLY)
        assert url_time(p.url) == EARLY
        fork = p.locator("#replay-fork").get_attribute("href")
        assert fork == f"/whatif?at={page.format_time(EARLY)}"
        assert p.locator(".nav-link.active").inner_text() == "Replay"
        p.screenshot(path=str(SCREENSHOTS / "replay-1.png"))

        # move the slider: the URL follows and the KPIs are state_at's at the new time
        track = p.locator("#replay-slider .dash-slider-track").bounding_box()
        assert track is not None
        p.mouse.click(track["x"] + track["width"] * 0.3, track["y"] + track["height"] / 2)
        p.wait_for_function(
            "t => document.querySelector('#replay-as-of').innerText !== t",
            arg=f"As of {EARLY.strftime('%Y-%m-%d %H:%M:%S')} UTC",
        )
        moved = as_of(p)
        assert moved < EARLY - pd.Timedelta(hours=3)
        p.wait_for_url(re.compile(re.escape(f"t={page.format_time(moved)}")))
        settled_kpis(p, moved)

        # play at 600x: time runs forward 10 min a tick; pause writes the time to the URL
        p.get_by_label("600×", exact=True).check()
        p.locator("#replay-play").click()
        p.wait_for_function(
            "t => document.querySelector('#replay-as-of').innerText !== t",
            arg=f"As of {moved.strftime('%Y-%m-%d %H:%M:%S')} UTC",
        )
        p.locator("#replay-play").click()
        paused = "() => document.querySelector('#replay-play').innerText.endsWith('Play')"
        p.wait_for_function(paused)
        p.wait_for_function("m => !location.search.includes(m)", arg=f"t={page.format_time(moved)}")
        played = url_time(p.url)
        assert played is not None and played > moved
        assert (played - moved) % pd.Timedelta(minutes=10) == pd.Timedelta(0)
        wait_for_time(p, played)
        settled_kpis(p, played)

        # late: the two silent nodes are listed as stale, and the state is shareable
        p.goto(served + f"replay?t={page.format_time(LATE)}")
        wait_for_time(p, LATE)
        settled_kpis(p, LATE)
        stale = p.locator("#replay-stale").inner_text()
        for node in SILENT_NODES:
            assert node in stale
        assert "stale" in stale
        p.screenshot(path=str(SCREENSHOTS / "replay-2.png"))
    assert not problems, "\n".join(problems)
