"""Replay page: the fleet as it was at any stored moment, and playback at 1× to 3,600×.

A slider spans the stored history (the store's counts). Moving it, or playing, shows the
Overview's KPIs and map as of that time (:func:`twin.overview.kpis`, :func:`twin.overview.site_map`
with the replay's telemetry freshness), lists the stale and missing assets
(:func:`twin.replay.state_at`), the derived series as they stood then, and links to a what-if
forked from that moment (``/whatif?at=<ISO time>``).

The URL carries the time (``/replay?t=2026-11-21T03:10:00Z``), so a moment can be shared: loading
such a URL moves the slider there. Playback advances the slider in the browser (a clientside
callback on a one-second interval); the server renders each new time, and a tick waits until the
previous time is drawn. While playing, the URL is left alone (no history entry per tick) and is
brought up to date on pause.
"""

from __future__ import annotations

import logging
import math
from string import Template
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import pandas as pd
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component

from dashboard import figures, ids
from dashboard.pages.overview import GRAPH_CONFIG, KPI_CARDS, kpi_card, kpi_texts
from twin.errors import StoreError
from twin.overview import kpis, site_map
from twin.replay import FleetState, history_span, staleness_for, state_at

if TYPE_CHECKING:
    from dashboard.app import PageContext, Services

log = logging.getLogger(__name__)

TICK_S = 1.0
"""Playback tick [s] of wall time; each tick advances the replay by speed × TICK_S."""

SPEEDS: tuple[int, ...] = (1, 10, 60, 600, 3600)
"""Playback speeds [replay seconds per wall second]."""

SLIDER_MARKS = 6
"""Labelled times under the slider [count]."""

MARK_STEPS: tuple[int, ...] = (60, 300, 600, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)
"""Candidate spacings [s] of the slider labels, shortest first."""

STALE_ROWS = 40
"""Stale and missing assets listed at most [count]; the rest are counted."""

KPI_PARTS = (ids.REPLAY_KPI_VALUE, ids.REPLAY_KPI_UNIT, ids.REPLAY_KPI_NOTE)

PATH = "/replay"
"""Where the page lives."""

ADVANCE_JS = Template("""
function (clicks, ticks, paused, value, first, last, speed, rendered) {
    const nothing = window.dash_clientside.no_update;
    const trigger = window.dash_clientside.callback_context.triggered.map(t => t.prop_id);
    if (trigger.includes("$play.n_clicks")) {
        if (paused) {
            return [value >= last ? first : nothing, false, "\u275a\u275a Pause"];
        }
        return [nothing, true, "\u25b6 Play"];
    }
    if (paused || value === null || value === undefined || rendered !== value) {
        return [nothing, nothing, nothing];
    }
    const next = Math.min(value + speed * $tick, last);
    if (next >= last) {
        return [last, true, "\u25b6 Play"];
    }
    return [next, false, nothing];
}
""").substitute(play=ids.REPLAY_PLAY, tick=TICK_S)
"""Playback, in the browser: the play button toggles the tick (restarting from the first moment
when at the end); each tick moves the slider by speed × TICK_S [s] and pauses at the end. A tick
that comes before the server has drawn the current time is skipped, so a slow render slows
playback down instead of being cancelled by the next tick again and again."""


def format_time(t: pd.Timestamp) -> str:
    """A UTC time as the URL and the what-if link carry it: ``2026-11-21T03:10:00Z``."""
    return _utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time_query(search: str | None) -> pd.Timestamp | None:
    """The ``t`` of a URL query string (``?t=2026-11-21T03:10:00Z``; an offset or a naive time,
    read as UTC, also do) as a UTC time; None if absent or not a time."""
    values = parse_qs((search or "").lstrip("?")).get("t")
    if not values:
        return None
    text = values[-1].strip().replace(" ", "+")  # an unescaped "+hh:mm" offset arrives as " "
    try:
        return _utc(pd.Timestamp(text))
    except ValueError:
        return None


def clamp_seconds(t: pd.Timestamp, first: int, last: int) -> int:
    """``t`` as whole epoch seconds [s], kept within ``[first, last]``."""
    return int(min(max(math.floor(_utc(t).timestamp()), first), last))


def slider_marks(first: int, last: int, count: int = SLIDER_MARKS) -> dict[int, str]:
    """Slider labels ``MM-DD HH:MM`` (UTC) at round times over epoch seconds ``[first, last]``:
    every multiple of the shortest MARK_STEPS step [s] that gives at most ``count`` labels."""
    span = max(last - first, 0)
    step = next(
        (s for s in MARK_STEPS if span / s < count),
        MARK_STEPS[-1] * (span // (count * MARK_STEPS[-1]) + 1),
    )
    return {t: _label(t) for t in range(-(-first // step) * step, last + 1, step)}


def format_age(age_s: float) -> str:
    """How long ago [s] as a short text: ``45 s``, ``12 min``, ``3.5 h``; ``never`` if NaN."""
    if not math.isfinite(age_s):
        return "never"
    if age_s < 120:
        return f"{age_s:.0f} s"
    if age_s < 7200:
        return f"{age_s / 60:.0f} min"
    return f"{age_s / 3600:.1f} h"


def layout(context: PageContext) -> Component:
    """The page over the stored history, at its last moment (a ``?t=`` moves it on load)."""
    try:
        span = history_span(context.services.store)
    except StoreError as exc:
        log.warning("store unavailable for the replay: %s", exc)
        return _message(f"Store unavailable: {exc}")
    if span is None:
        return _message("No stored history to replay yet: start the collector or the demo.")
    first, last = (math.floor(t.timestamp()) for t in span)
    last = max(last, first)
    return html.Div(
        className="replay",
        children=[
            dcc.Location(id=ids.REPLAY_URL, refresh=False),
            dcc.Store(id=ids.REPLAY_RENDERED),
            dcc.Interval(
                id=ids.REPLAY_TICK, interval=int(TICK_S * 1000), disabled=True, n_intervals=0
            ),
            html.Section(
                className="replay-controls",
                children=[
                    html.Button("▶ Play", id=ids.REPLAY_PLAY, className="replay-play", n_clicks=0),
                    dcc.RadioItems(
                        id=ids.REPLAY_SPEED,
                        options=[{"label": f"{s:,}×", "value": s} for s in SPEEDS],
                        value=SPEEDS[2],
                        inline=True,
                        className="replay-speed",
                    ),
                    html.Div(
                        className="replay-slider",
                        children=dcc.Slider(
                            id=ids.REPLAY_SLIDER,
                            min=first,
                            max=last,
                            step=1,
                            value=last,
                            marks=slider_marks(first, last),
                            updatemode="mouseup",
                            allow_direct_input=False,
                            included=True,
                        ),
                    ),
                    html.Div(id=ids.REPLAY_AS_OF, className="replay-as-of"),
                    dcc.Link(
                        "Fork a what-if from here",
                        id=ids.REPLAY_FORK,
                        href="",
                        className="replay-fork",
                    ),
                ],
            ),
            html.Section(
                className="kpis", children=[kpi_card(n, label, KPI_PARTS) for n, label in KPI_CARDS]
            ),
            html.Div(
                className="replay-grid",
                children=[
                    html.Section(
                        className="panel",
                        children=[
                            html.H2(
                                "Sites and links at the chosen time (grey: stale or no data)",
                                className="panel-title",
                            ),
                            html.Div(
                                className="graph-box",
                                children=dcc.Graph(
                                    id=ids.REPLAY_MAP,
                                    config={
                                        **GRAPH_CONFIG,
                                        "topojsonURL": context.asset_url("topojson/"),
                                    },
                                    responsive=True,
                                ),
                            ),
                        ],
                    ),
                    html.Section(
                        className="panel replay-side",
                        children=[
                            html.H2("Stale and missing assets", className="panel-title"),
                            html.Div(id=ids.REPLAY_STALE, className="replay-stale"),
                            html.H2("Derived series then", className="panel-title"),
                            html.Div(id=ids.REPLAY_DERIVED, className="replay-derived"),
                        ],
                    ),
                ],
            ),
        ],
    )


def register_callbacks(app: Dash, services: Services) -> None:
    """Register the URL sync, the playback and the render callbacks on ``app``."""

    @app.callback(
        Output(ids.REPLAY_SLIDER, "value"),
        Output(ids.REPLAY_URL, "search"),
        Input(ids.REPLAY_URL, "search"),
        Input(ids.REPLAY_SLIDER, "value"),
        Input(ids.REPLAY_TICK, "disabled"),
        State(ids.REPLAY_SLIDER, "min"),
        State(ids.REPLAY_SLIDER, "max"),
        State(ids.REPLAY_URL, "pathname"),
    )
    def sync_url(
        search: str | None,
        value: int | None,
        paused: bool | None,
        first: int,
        last: int,
        pathname: str | None,
    ) -> tuple[Any, Any]:
        if "/" + (app.strip_relative_path(pathname or "") or "") != PATH:
            return no_update, no_update
        if ctx.triggered_id in (None, ids.REPLAY_URL):
            wanted = parse_time_query(search)
            if wanted is None:
                return no_update, no_update
            seconds = clamp_seconds(wanted, first, last)
            return (no_update if seconds == value else seconds), no_update
        if value is None or not paused:
            return no_update, no_update
        query = f"?t={format_time(pd.Timestamp(value, unit='s', tz='UTC'))}"
        return no_update, (no_update if query == search else query)

    app.clientside_callback(
        ADVANCE_JS,
        Output(ids.REPLAY_SLIDER, "value", allow_duplicate=True),
        Output(ids.REPLAY_TICK, "disabled"),
        Output(ids.REPLAY_PLAY, "children"),
        Input(ids.REPLAY_PLAY, "n_clicks"),
        Input(ids.REPLAY_TICK, "n_intervals"),
        State(ids.REPLAY_TICK, "disabled"),
        State(ids.REPLAY_SLIDER, "value"),
        State(ids.REPLAY_SLIDER, "min"),
        State(ids.REPLAY_SLIDER, "max"),
        State(ids.REPLAY_SPEED, "value"),
        State(ids.REPLAY_RENDERED, "data"),
        prevent_initial_call=True,
    )

    kpi_outputs = [
        Output(ids.kpi(part, name), "children") for name, _label in KPI_CARDS for part in KPI_PARTS
    ]

    @app.callback(
        *kpi_outputs,
        Output(ids.REPLAY_MAP, "figure"),
        Output(ids.REPLAY_STALE, "children"),
        Output(ids.REPLAY_DERIVED, "children"),
        Output(ids.REPLAY_AS_OF, "children"),
        Output(ids.REPLAY_FORK, "href"),
        Output(ids.REPLAY_RENDERED, "data"),
        Input(ids.REPLAY_SLIDER, "value"),
    )
    def render(value: int | None) -> tuple[Any, ...]:
        if value is None:
            return tuple([no_update] * (len(kpi_outputs) + 6))
        at = pd.Timestamp(value, unit="s", tz="UTC")
        fork = f"{app.get_relative_path('/whatif')}?at={format_time(at)}"
        as_of = f"As of {at.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        try:
            return (*render_at(services, at), as_of, fork, value)
        except StoreError as exc:
            log.warning("store unavailable for the replay at %s: %s", at, exc)
            texts = tuple(t for _ in KPI_CARDS for t in ("—", "", "store unavailable"))
            unavailable = figures.empty_figure(f"Store unavailable: {exc}")
            return (*texts, unavailable, "", "", as_of, fork, value)


def render_at(services: Services, at: pd.Timestamp) -> tuple[Any, ...]:
    """The KPI texts (card by card: value, unit, note), the map figure, the stale list and the
    derived-series list as of ``at``, by the replay's telemetry freshness."""
    fresh = staleness_for("node").fresh
    fleet = services.fleet
    state = state_at(services.store, fleet, at)
    texts = kpi_texts(kpis(services.store, fleet, at, stale_after=fresh), stale_after=fresh)
    current = site_map(services.store, fleet, at, stale_after=fresh)
    return (
        *(t for name, _label in KPI_CARDS for t in texts[name]),
        figures.site_map_figure(current.sites, current.links),
        stale_table(state),
        derived_list(state),
    )


def stale_table(state: FleetState, limit: int = STALE_ROWS) -> Component:
    """The stale and missing nodes, links and meters of ``state`` as a table (missing first),
    at most ``limit`` rows, or a line saying every asset is fresh."""
    rows = state.not_fresh()
    counts = state.status_counts()
    summary = " · ".join(
        f"{kind}s {c['fresh']} fresh, {c['stale']} stale, {c['missing']} missing"
        for kind, c in counts.items()
        if kind in ("node", "link", "meter")
    )
    if rows.empty:
        return html.Div([html.P(summary, className="replay-summary"), html.P("All assets fresh.")])
    body = [
        html.Tr(
            className=f"replay-{r['status']}",
            children=[
                html.Td(r["kind"]),
                html.Td(r["id"]),
                html.Td(r["site"]),
                html.Td(r["status"]),
                html.Td("—" if pd.isna(r["ts"]) else pd.Timestamp(r["ts"]).strftime("%H:%M:%S")),
                html.Td(format_age(float(r["age_s"]))),
            ],
        )
        for r in rows.head(limit).to_dict("records")
    ]
    more = len(rows) - limit
    return html.Div(
        [
            html.P(summary, className="replay-summary"),
            html.Table(
                className="replay-table",
                children=[
                    html.Thead(
                        html.Tr(
                            [
                                html.Th(h)
                                for h in ("Kind", "Asset", "Site", "Status", "Last [UTC]", "Age")
                            ]
                        )
                    ),
                    html.Tbody(body),
                ],
            ),
            *([html.P(f"… and {more} more", className="replay-summary")] if more > 0 else []),
        ]
    )


def derived_list(state: FleetState) -> Component:
    """One line per derived series measurement present at ``state.at``: series counted by
    status and, for a single series (fleet-wide ones), its numeric values."""
    if not state.derived:
        return html.P("No derived series stored (entropy, energy, forecasts, fleet status).")
    items = []
    for name, frame in sorted(state.derived.items()):
        counts = state.status_counts()[name]
        line = f"{name}: {counts['fresh']} fresh, {counts['stale']} stale"
        if len(frame) == 1:
            values = frame.drop(columns=["ts", "age_s", "status"]).iloc[0]
            numbers = [
                f"{k} {float(v):.3g}"
                for k, v in values.items()
                if isinstance(v, int | float) and math.isfinite(float(v))
            ]
            line += " · " + ", ".join(numbers) if numbers else ""
            line += f" · {format_age(float(frame['age_s'].iloc[0]))} old"
        items.append(html.Li(line))
    return html.Ul(items, className="replay-derived-list")


def _message(text: str) -> Component:
    return html.Div(className="replay replay-empty", children=html.P(text))


def _label(seconds: int) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%m-%d %H:%M")


def _utc(value: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
