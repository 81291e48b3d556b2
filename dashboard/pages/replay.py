"""Replay page: the fleet as it was at any stored moment, and playback at 1× to 3,600×.

A slider spans the stored history (the store's counts). Moving it, or playing, shows the
Overview's KPIs and map as of that time, lists the stale and missing assets and the derived
series as they stood then, all from one read of the fleet at that time
(:func:`twin.views.replay.replay_view`: the Overview's KPI and map rules with the replay's telemetry
freshness, applied to :func:`twin.views.replay.state_at`'s rows; views of settled moments are kept
for every user), and links to a what-if forked from that moment (``/whatif?at=<ISO time>``).

The URL carries the time (``/replay?t=2026-11-21T03:10:00Z``), so a moment can be shared: loading
such a URL moves the slider there. An ``asset`` in the URL (``&asset=node:<id>``, ``site:<id>``,
``link:<id>``), as asset pages and alerts link here, selects that asset: the page names it,
outlines its site on the map, marks it in the stale list, shows its state and the alerts that
were pending or firing for it at the chosen time, and links back to its page.

Playback advances the slider in the browser (a clientside callback on a one-second interval);
the server renders each new time, and a tick waits until the previous time is drawn. While
playing, the URL is left alone (no history entry per tick) and is brought up to date on pause
(keeping the selected asset).
"""

from __future__ import annotations

import logging
import math
from string import Template
from typing import TYPE_CHECKING, Any

import pandas as pd
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component

from dashboard import figures, ids
from dashboard.alert_tables import Href, active_table
from dashboard.components import GRAPH_CONFIG
from dashboard.fleet_kpis import KPI_CARDS, kpi_card, kpi_texts
from dashboard.links import (
    asset_path,
    format_time,
    parse_time_query,
    query_value,
    replay_query,
)
from twin.domain import Fleet
from twin.errors import StoreError
from twin.views.assets import (
    AssetRef,
    asset_alerts,
    asset_state,
    find_asset,
    read_rules,
    sites_in_map,
)
from twin.views.replay import FleetState, ReplayView, history_span, staleness_for

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

ALERT_LOOKBACK = pd.Timedelta(hours=24)
"""How far back the selected asset's alert history is read for its alerts at the time."""

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
                            html.Div(id=ids.REPLAY_ASSET, className="replay-asset"),
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
        asset = AssetRef.parse(query_value(search, "asset"))
        query = replay_query(pd.Timestamp(value, unit="s", tz="UTC"), asset)
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
        Output(ids.REPLAY_ASSET, "children"),
        Input(ids.REPLAY_SLIDER, "value"),
        State(ids.REPLAY_URL, "search"),
    )
    def render(value: int | None, search: str | None) -> tuple[Any, ...]:
        if value is None:
            return tuple([no_update] * (len(kpi_outputs) + 7))
        at = pd.Timestamp(value, unit="s", tz="UTC")
        fork = f"{app.get_relative_path('/whatif')}?at={format_time(at)}"
        as_of = f"As of {at.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        asset = AssetRef.parse(query_value(search, "asset"))
        asset = asset if asset is not None and find_asset(services.fleet, asset) else None
        try:
            view = services.replay_views.view(services.store, services.fleet, at, services.clock())
            href = app.get_relative_path
            panel = asset_panel(services, asset, view, href) if asset else None
            drawn = draw_view(view, services.fleet, asset, href)
            return (*drawn, as_of, fork, value, panel)
        except StoreError as exc:
            log.warning("store unavailable for the replay at %s: %s", at, exc)
            texts = tuple(t for _ in KPI_CARDS for t in ("—", "", "store unavailable"))
            unavailable = figures.empty_figure(f"Store unavailable: {exc}")
            return (*texts, unavailable, "", "", as_of, fork, value, None)


def render_at(
    services: Services,
    at: pd.Timestamp,
    asset: AssetRef | None = None,
    href: Href | None = None,
) -> tuple[Any, ...]:
    """:func:`draw_view` of the fleet at ``at``: one read of the store, or none for a settled
    moment already read (:class:`twin.views.replay_cache.ReplayViews`)."""
    view = services.replay_views.view(services.store, services.fleet, at, services.clock())
    return draw_view(view, services.fleet, asset, href)


def draw_view(
    view: ReplayView,
    fleet: Fleet,
    asset: AssetRef | None = None,
    href: Href | None = None,
) -> tuple[Any, ...]:
    """The KPI texts (card by card: value, unit, note), the map figure, the stale list and the
    derived-series list of ``view``, by the replay's telemetry freshness; ``asset``'s site is
    outlined on the map and its row marked in the stale list, whose nodes and links link to
    their pages through ``href`` when given."""
    texts = kpi_texts(view.kpis, stale_after=staleness_for("node").fresh)
    current = view.site_map
    return (
        *(t for name, _label in KPI_CARDS for t in texts[name]),
        figures.site_map_figure(
            current.sites, current.links, selected=_site_of(fleet, asset) if asset else None
        ),
        stale_table(view.state, selected=asset, href=href),
        derived_list(view.state),
    )


def stale_table(
    state: FleetState,
    limit: int = STALE_ROWS,
    selected: AssetRef | None = None,
    href: Href | None = None,
) -> Component:
    """The stale and missing nodes, links and meters of ``state`` as a table (missing first),
    at most ``limit`` rows, or a line saying every asset is fresh; the ``selected`` asset's row
    is marked, and nodes and links link to their pages through ``href`` when given."""
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
            className=f"replay-{r['status']}"
            + (" replay-selected" if AssetRef(r["kind"], r["id"]) == selected else ""),
            children=[
                html.Td(r["kind"]),
                html.Td(_asset_link(r["kind"], r["id"], href)),
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


def asset_panel(services: Services, asset: AssetRef, view: ReplayView, href: Href) -> Component:
    """The selected asset at the view's time: its name, state and readings then (a site's from
    the view's map, a node's or link's read), the alerts pending or firing for it then, and a
    link back to its page (marking the time)."""
    kind = asset.kind.capitalize()
    at = view.state.at
    state = (
        sites_in_map(view.site_map.sites, [asset.id], at)[asset.id]
        if asset.kind == "site"
        else asset_state(services.store, services.fleet, asset, at, staleness_for("node"))
    )
    rules = read_rules(services.alert_rules).rules
    alerts = asset_alerts(services.store, rules, asset, at - ALERT_LOOKBACK, at)
    last = f" · last reading {state.ts:%H:%M:%S} UTC" if state.ts is not None else ""
    readings = " · ".join(f"{r.field} {r.text}" for r in state.readings)
    table = (
        active_table(
            alerts.current, rules, at.to_pydatetime(), href, ids.REPLAY_ASSET_ALERTS, series=False
        )
        if alerts.current
        else html.P("No alert was pending or firing for it then.", className="replay-summary")
    )
    return html.Div(
        [
            html.H2(
                f"{kind} {asset.id} at {at:%Y-%m-%d %H:%M:%S} UTC",
                id=ids.REPLAY_ASSET_NAME,
                className="panel-title",
            ),
            html.P(f"{state.status}{last}", className=f"replay-asset-state replay-{state.status}"),
            html.P(readings, className="replay-summary"),
            html.H2("Alerts for it then", className="panel-title"),
            table,
            dcc.Link(
                f"Open the {asset.kind}'s page",
                href=href(asset_path(asset, at)),
                id=ids.REPLAY_ASSET_LINK,
                className="replay-fork",
            ),
        ]
    )


def _site_of(fleet: Fleet, asset: AssetRef) -> str | None:
    return asset.id if asset.kind == "site" else fleet.asset_site(asset.kind, asset.id)


def _asset_link(kind: str, asset_id: str, href: Href | None) -> Component | str:
    if href is None or kind not in ("node", "link"):
        return asset_id
    return dcc.Link(asset_id, href=href(asset_path(AssetRef(kind, asset_id))))


def _message(text: str) -> Component:
    return html.Div(className="replay replay-empty", children=html.P(text))


def _label(seconds: int) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%m-%d %H:%M")


def _utc(value: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
