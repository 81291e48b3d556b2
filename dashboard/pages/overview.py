"""Overview page: fleet KPIs, the site and link map, per-site series and the node heatmap over
the time-range picker's range (the last 24 h unless chosen otherwise, dashboard.timerange).

The layout is drawn at once with placeholders and reads nothing; its first callbacks draw the
figures. Live ticks (``settings.refresh_s``) then update the KPI cards, and every MAP_REFRESH
the map, from the latest readings (each its own callback; both read one latest state per
moment, kept on the services, :mod:`twin.views.latest_cache`) and,
while the range ends now, append each newly completed window to the series with ``extendData``
and draw the heatmap anew with it (its settled windows are kept, so that is cheap); between
windows that callback reads nothing. A new range draws both figures whole.

While history loads (:mod:`twin.jobs.loading`) windows already drawn still change, so the figures
are drawn whole every LOADING_REDRAW instead, and once more when the store is complete again
(SETTLE after loading ended): a page left open shows what a freshly opened one does. The KPIs
read "loading" meanwhile. Kiosk mode (``?kiosk``) hides the heatmap (style.css).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from dashboard import figures, ids, timerange
from dashboard.components import GRAPH_CONFIG, graph_panel
from dashboard.fleet_kpis import KPI_CARDS, kpi_card, kpi_texts
from dashboard.links import ALERTS_PATH, asset_path
from twin.alerts.state import alert_counts as alert_counts_now
from twin.domain import Site
from twin.durations import duration_text
from twin.errors import CnetwinError, StoreError
from twin.jobs.loading import HistoryLoad, alert_hold, loading_now, read_history_load, settled
from twin.views.assets import AssetRef, alert_onsets, read_rules, site_alert_counts
from twin.views.overview import (
    MAX_SITE_LINES,
    overview_kpis,
    shown_sites,
    site_map_of,
    site_series,
    utilisation_heatmap,
)
from twin.views.window_cache import WindowCache

if TYPE_CHECKING:
    from dashboard.app import PageContext, Services

log = logging.getLogger(__name__)

PICKER = "overview"
"""The page's name for its time-range picker (dashboard.timerange)."""

DEFAULT_RANGE = timerange.TimeRange(start="-24h")
"""What the series and the heatmap show until the picker says otherwise: the last 24 h, in
5 min windows for the series and 15 min windows for the heatmap."""

SERIES_FINEST = timedelta(minutes=1)
"""The finest window of the per-site series (telemetry comes every 10 s)."""

HEATMAP_COLUMNS = 100
"""The heatmap has at most about this many columns, so cells stay wide enough to see."""

LOADING_REDRAW = timedelta(seconds=15)
"""While history loads, the figures are drawn whole at most this often [s]."""

MAP_REFRESH = timedelta(seconds=30)
"""The map is redrawn at most this often [s]; the KPI cards follow every live tick."""

SETTLE = timedelta(seconds=30)
"""After history loading ended, the store is taken as complete once this has passed [s]: what
was published last is stored by then."""


def layout(context: PageContext) -> Component:
    """The page with placeholder figures; its first callback reads the store and draws them."""
    placeholder = figures.empty_figure(figures.LOADING)
    state: dict[str, Any] = {
        "series_until": None,
        "heatmap_until": None,
        "series_drawn": False,
        "complete": False,
        "redrawn_at": None,
        "range": None,
        "series_shown": [],
        "series_picked": [],
    }
    map_config: dcc.Graph.Config = {**GRAPH_CONFIG, "topojsonURL": context.asset_url("topojson/")}
    span = span_of(timerange.state_of(DEFAULT_RANGE), pd.Timestamp(context.services.clock()))
    series_title, heatmap_title = panel_titles(span)
    panels = [
        graph_panel(
            map_title(context.kiosk),
            ids.OVERVIEW_MAP,
            placeholder,
            map_config,
        ),
        graph_panel(
            _series_heading(context.services.fleet.sites, series_title),
            ids.OVERVIEW_SERIES,
            placeholder,
            timerange.ZOOM_CONFIG,
        ),
        graph_panel(
            html.H2(heatmap_title, id=ids.OVERVIEW_HEATMAP_TITLE, className="panel-title"),
            ids.OVERVIEW_HEATMAP,
            placeholder,
            timerange.ZOOM_CONFIG,
        ),
    ]
    return html.Div(
        className="overview",
        children=[
            dcc.Interval(id=ids.OVERVIEW_TICK, interval=int(context.settings.refresh_s * 1000)),
            dcc.Interval(id=ids.OVERVIEW_MAP_TICK, interval=int(map_refresh_s(context) * 1000)),
            dcc.Location(id=ids.OVERVIEW_GO, refresh="callback-nav"),
            dcc.Store(id=ids.OVERVIEW_STATE, data=state),
            html.Section(
                className="kpis overview-kpis",
                children=[*(kpi_card(n, label) for n, label in KPI_CARDS), alerts_card()],
            ),
            timerange.picker(PICKER, DEFAULT_RANGE),
            html.Div(className="overview-grid", children=panels),
        ],
    )


def alerts_card() -> Component:
    """The Alerts tile: how many alerts fire and wait, the whole card a link to the Alerts
    page (its href is set with the counts, under the app's path prefix)."""
    return dcc.Link(
        id=ids.OVERVIEW_ALERTS,
        href=ALERTS_PATH,
        className="kpi-link",
        children=kpi_card("alerts", "Alerts"),
    )


def alert_texts(counts: dict[str, int], held: str) -> tuple[str, str, str, str]:
    """The Alerts tile's value, unit, note and value class for the firing and pending
    ``counts``; ``held``: why rules are held ("" if they are not)."""
    firing, pending = counts.get("firing", 0), counts.get("pending", 0)
    level = "firing" if firing else "pending" if pending else "quiet"
    note = f"{pending} pending" + (f" · held: {held}" if held else " · open the list")
    return str(firing), "firing", note, f"kpi-value alerts-{level}"


def map_refresh_s(context: PageContext) -> float:
    """How often the map is redrawn [s]: MAP_REFRESH, or the live refresh if that is slower
    (a map of a thousand nodes' load costs a read of every latest reading)."""
    return max(context.settings.refresh_s, MAP_REFRESH.total_seconds())


def map_title(kiosk: bool) -> str:
    """The map panel's title; a wall screen (``kiosk``) is not clicked, so it says less."""
    hint = "ring: alerts" if kiosk else "ring: alerts; click a site to open it"
    return f"Sites and links · load now ({hint})"


def _series_heading(sites: Sequence[Site], title: str) -> Component:
    """The per-site panel's ``title`` and its site picker (empty: the busiest sites)."""
    busiest = f"the {MAX_SITE_LINES} busiest" if len(sites) > MAX_SITE_LINES else "all"
    return html.Div(
        className="overview-series-head",
        children=[
            html.H2(title, id=ids.OVERVIEW_SERIES_TITLE, className="panel-title"),
            dcc.Dropdown(
                id=ids.OVERVIEW_SITES,
                options=[{"label": f"{s.id} · {s.name}", "value": s.id} for s in sites],
                value=[],
                multi=True,
                placeholder=f"Sites: {busiest} · pick up to {MAX_SITE_LINES}",
                className="overview-sites",
            ),
        ],
    )


def loading_texts(load: HistoryLoad) -> dict[str, tuple[str, str, str]]:
    """Per KPI card name, the (value, unit, note) texts while history loads: no number of
    the present is known yet."""
    return {name: ("loading", "", load.text()) for name, _label in KPI_CARDS}


def card_texts(
    services: Services, now: datetime, load: HistoryLoad | None
) -> dict[str, tuple[str, str, str]]:
    """Per KPI card name, its (value, unit, note) texts at ``now``: "loading" while history
    ``load`` runs, else the KPIs of the latest state of ``now``'s moment (the map's too)."""
    if load is not None and loading_now(load):
        return loading_texts(load)
    latest = services.latest.state(services.store, services.fleet, now)
    return kpi_texts(overview_kpis(latest, services.fleet))


def register_callbacks(app: Dash, services: Services) -> None:
    """Register the page's live-update callbacks on ``app``."""
    kpi_outputs = [
        Output(ids.kpi(part, name), "children")
        for name, _label in KPI_CARDS
        for part in (ids.KPI_VALUE, ids.KPI_UNIT, ids.KPI_NOTE)
    ]

    alert_outputs = [
        *(
            Output(ids.kpi(p, "alerts"), "children")
            for p in (ids.KPI_VALUE, ids.KPI_UNIT, ids.KPI_NOTE)
        ),
        Output(ids.kpi(ids.KPI_VALUE, "alerts"), "className"),
        Output(ids.OVERVIEW_ALERTS, "href"),
    ]

    @app.callback(*kpi_outputs, *alert_outputs, Input(ids.OVERVIEW_TICK, "n_intervals"))
    def update_kpis(_n: int | None) -> tuple[str, ...]:
        now = services.clock()
        href = app.get_relative_path(ALERTS_PATH)
        try:
            load = read_history_load(services.store, now)
            texts = card_texts(services, now, load)
            held = alert_hold(load, now, services.alert_load_grace)
            alerts = alert_texts(alert_counts_now(services.store, now), held)
        except StoreError as exc:
            log.warning("store unavailable for the KPIs: %s", exc)
            unknown = ("—", "", "store unavailable")
            return (*(t for _ in KPI_CARDS for t in unknown), *unknown, "kpi-value", href)
        return (*(t for name, _label in KPI_CARDS for t in texts[name]), *alerts, href)

    @app.callback(Output(ids.OVERVIEW_MAP, "figure"), Input(ids.OVERVIEW_MAP_TICK, "n_intervals"))
    def update_map(_n: int | None) -> Any:
        now = pd.Timestamp(services.clock())
        try:
            return map_figure(services, now)
        except StoreError as exc:
            log.warning("store unavailable for the overview map: %s", exc)
            return figures.empty_figure(f"Store unavailable: {exc}")

    @app.callback(
        Output(ids.OVERVIEW_GO, "href"),
        Input(ids.OVERVIEW_MAP, "clickData"),
        prevent_initial_call=True,
    )
    def open_site(click: dict[str, Any] | None) -> str:
        site = clicked_site(click, {s.id for s in services.fleet.sites})
        if site is None:
            raise PreventUpdate
        return app.get_relative_path(asset_path(AssetRef("site", site)))

    @app.callback(
        Output(ids.OVERVIEW_SERIES, "extendData"),
        Output(ids.OVERVIEW_SERIES, "figure"),
        Output(ids.OVERVIEW_HEATMAP, "figure"),
        Output(ids.OVERVIEW_STATE, "data"),
        Output(ids.OVERVIEW_SERIES_TITLE, "children"),
        Output(ids.OVERVIEW_HEATMAP_TITLE, "children"),
        Input(ids.OVERVIEW_TICK, "n_intervals"),
        timerange.range_input(PICKER),
        timerange.refresh_input(PICKER),
        Input(ids.OVERVIEW_SITES, "value"),
        State(ids.OVERVIEW_STATE, "data"),
        # a draw may take longer than a tick: ticks wait for it rather than cancel it
        running=[(Output(ids.OVERVIEW_TICK, "disabled"), True, False)],
    )
    def extend(
        _n: int | None,
        chosen: dict[str, Any],
        _refresh: int | None,
        picked: list[str] | None,
        state: dict[str, Any],
    ) -> tuple[Any, ...]:
        now = pd.Timestamp(services.clock())
        try:
            span = span_of(chosen, now)
        except CnetwinError as exc:  # the picker refuses such ranges; a stale page may not
            log.warning("overview range %s: %s", chosen, exc)
            raise PreventUpdate from exc
        try:
            load = read_history_load(services.store, now)
            outputs = live_update(services, now, state, load, span, picked or [])
            return (*outputs, *panel_titles(span))
        except StoreError as exc:
            log.warning("store unavailable for the overview series: %s", exc)
            if state["series_until"] is not None:
                raise PreventUpdate from exc
            unavailable = figures.empty_figure(f"Store unavailable: {exc}")
            outputs = (no_update, unavailable, unavailable, state)
            return (*outputs, no_update, no_update)

    timerange.register_callbacks(
        app, PICKER, [ids.OVERVIEW_SERIES, ids.OVERVIEW_HEATMAP], services.clock
    )


class Span:
    """What the series and the heatmap cover for a picker range at one time: the windows of
    ``series_every`` and ``heatmap_every`` that end by ``end`` and reach ``length`` back;
    ``live`` when the range ends now (new windows are appended as they complete)."""

    def __init__(self, chosen: dict[str, Any], now: pd.Timestamp) -> None:
        window = timerange.window_of(chosen, now.to_pydatetime(), SERIES_FINEST)
        self.chosen = chosen
        self.window = window
        self.key = timerange.revision(chosen)
        self.live = str(chosen["to"]).strip().lower() == timerange.NOW
        self.end = window.end
        self.length = pd.Timedelta(window.span)
        self.series_every = pd.Timedelta(window.bucket)
        heatmap = timerange.bucket_for(window.span * (timerange.MAX_POINTS / HEATMAP_COLUMNS))
        self.heatmap_every = pd.Timedelta(max(heatmap, window.bucket))

    def points(self, every: pd.Timedelta) -> int:
        """How many windows of ``every`` the span holds."""
        return int(self.length / every)

    def show(self, fig: Any) -> Any:
        """``fig`` set to keep the user's zoom while the range stays; a fixed range also fixes
        the x-axes to it (a live one follows the appended windows)."""
        if self.live:
            fig.update_layout(uirevision=self.key)
            return fig
        return timerange.show_window(fig, self.window, self.chosen)


def span_of(chosen: dict[str, Any] | None, now: pd.Timestamp) -> Span:
    """The Span of the picker's range store data ``chosen`` (None: DEFAULT_RANGE) at ``now``;
    CnetwinError for a range the picker would refuse."""
    return Span(chosen or timerange.state_of(DEFAULT_RANGE), now)


def panel_titles(span: Span) -> tuple[str, str]:
    """The series' and the heatmap's panel titles for ``span``."""
    if span.live:
        hours = span.length / pd.Timedelta(hours=1)
        whole = hours <= 48 and hours == int(hours)
        reach = f"last {hours:.0f} h" if whole else f"last {duration_text(span.length)}"
    else:
        start, end = (t.strftime("%d %b %H:%M") for t in (span.end - span.length, span.end))
        reach = f"{start} to {end} UTC"
    series = duration_text(span.series_every.to_pytimedelta())
    heatmap = duration_text(span.heatmap_every.to_pytimedelta())
    return (
        f"Per site · {reach} ({series} means)",
        f"Node compute utilisation · {reach} ({heatmap} means)",
    )


def live_update(
    services: Services,
    now: pd.Timestamp,
    state: dict[str, Any],
    load: HistoryLoad | None = None,
    span: Span | None = None,
    picked: Sequence[str] = (),
) -> tuple[Any, ...]:
    """The outputs of one live tick at ``now`` given the page ``state``, the store's history
    ``load`` over ``span`` (default: DEFAULT_RANGE) and the ``picked`` sites of the per-site
    series: series extendData, series figure, heatmap figure, new state.

    The first tick, a tick with a new range or a new pick of sites, and the ticks while the
    store is not complete (history loading, then SETTLE) draw the figures whole (at most every
    LOADING_REDRAW, and once when it becomes complete). Otherwise windows completed since the
    state's ``*_until`` are appended to the series with extendData (a series drawn empty, or one
    with alerts begun in the new windows, is drawn whole instead) and the heatmap is drawn
    whole.
    Raises PreventUpdate when there is nothing to draw.
    """
    span = span or span_of(None, now)
    complete = settled(load, now, SETTLE)
    changed = state.get("range") != span.key or list(picked) != state.get("series_picked", [])
    if state["series_until"] is None or not state["complete"] or changed:
        return _redraw(services, now, state, complete, span, force=changed, picked=picked)
    series_from = pd.Timestamp(state["series_until"])
    heatmap_from = pd.Timestamp(state["heatmap_until"])
    series_until = span.end.floor(span.series_every)
    heatmap_until = span.end.floor(span.heatmap_every)
    window = span.length
    if series_until <= series_from and heatmap_until <= heatmap_from:
        raise PreventUpdate
    fleet = services.fleet
    site_ids = [s.id for s in fleet.sites]
    outputs: list[Any] = [no_update] * 3
    if series_until > series_from:
        drawn = state["series_drawn"]
        # windows in which alerts began redraw the series whole, so their marks show
        began = alert_onsets(services.store, series_from, series_until, span.series_every)
        if drawn and began.empty:
            start = max(series_from, series_until - window)
            frame = site_series(
                services.store,
                fleet,
                start,
                series_until,
                span.series_every,
                cache=services.windows,
            )
            points = span.points(span.series_every)
            shown = state.get("series_shown") or site_ids
            outputs[0] = figures.series_extension(frame, site_ids, points, shown)
            outputs[0] = no_update if outputs[0] is None else outputs[0]
        else:
            shown = state.get("series_shown") if drawn else None
            fig, shown = _series_figure(
                services, span, series_until, services.windows, shown or picked
            )
            outputs[1] = fig
            state = {**state, "series_drawn": bool(fig.data), "series_shown": shown}
        state = {**state, "series_until": series_until.isoformat()}
    if heatmap_until > heatmap_from:  # drawn whole: the kept windows make it cheap
        matrix = utilisation_heatmap(
            services.store,
            heatmap_until - window,
            heatmap_until,
            span.heatmap_every,
            nodes=[n.id for n in fleet.nodes],
            cache=services.windows,
        )
        fig = span.show(figures.heatmap_figure(matrix))
        outputs[2], state = fig, {**state, "heatmap_until": heatmap_until.isoformat()}
    return (*outputs, state)


def map_figure(services: Services, now: pd.Timestamp) -> Any:
    """The map at ``now``: every site's and link's load (from the latest state the KPI cards
    share), sites with alerts ringed."""
    latest = services.latest.state(services.store, services.fleet, now)
    current = site_map_of(latest, services.fleet)
    return figures.site_map_figure(current.sites, current.links, alert_counts(services, now))


def alert_counts(services: Services, now: pd.Timestamp) -> dict[str, tuple[int, int]]:
    """Per site, its (firing, pending) alert counts at ``now``, outlined on the map."""
    return site_alert_counts(
        services.store, read_rules(services.alert_rules).rules, services.fleet, now
    )


def clicked_site(click: dict[str, Any] | None, sites: set[str]) -> str | None:
    """The site id of a click on the map's site markers (the last entry of their customdata:
    large fleets label only some sites); None for a click elsewhere (a link, the background)."""
    points = (click or {}).get("points") or []
    data = points[0].get("customdata") if points else None
    site = data[-1] if isinstance(data, list) and data else None
    return site if isinstance(site, str) and site in sites else None


def _series_figure(
    services: Services,
    span: Span,
    until: pd.Timestamp,
    cache: WindowCache | None,
    picked: Sequence[str],
) -> tuple[Any, list[str]]:
    """The per-site series over ``span`` up to ``until``, drawn whole with the alerts that began
    in it; the sites drawn as their own line are ``picked`` (none: the busiest). Returns the
    figure and those sites."""
    start = until - span.length
    frame = site_series(
        services.store, services.fleet, start, until, span.series_every, cache=cache
    )
    site_ids = [s.id for s in services.fleet.sites]
    shown = shown_sites(frame, site_ids, picked)
    onsets = alert_onsets(services.store, start, until, span.series_every)
    return span.show(figures.site_series_figure(frame, site_ids, shown, onsets)), shown


def _redraw(
    services: Services,
    now: pd.Timestamp,
    state: dict[str, Any],
    complete: bool,
    span: Span,
    force: bool,
    picked: Sequence[str] = (),
) -> tuple[Any, ...]:
    """The outputs of a tick that draws the figures whole (see :func:`live_update`), the
    per-site series showing the ``picked`` sites (none: the busiest); while the store is
    incomplete at most every LOADING_REDRAW unless ``force``, and without the window cache
    (windows still being filled are read afresh)."""
    last = state["redrawn_at"]
    recent = last is not None and now - pd.Timestamp(last) < LOADING_REDRAW
    if recent and not complete and not force:
        raise PreventUpdate
    fleet = services.fleet
    cache = services.windows if complete else None
    series_until = span.end.floor(span.series_every)
    heatmap_until = span.end.floor(span.heatmap_every)
    series_fig, shown = _series_figure(services, span, series_until, cache, picked)
    heat_fig = span.show(
        figures.heatmap_figure(
            utilisation_heatmap(
                services.store,
                heatmap_until - span.length,
                heatmap_until,
                span.heatmap_every,
                nodes=[n.id for n in fleet.nodes],
                cache=cache,
            )
        )
    )
    state = {
        "series_until": series_until.isoformat(),
        "heatmap_until": heatmap_until.isoformat(),
        "series_drawn": bool(series_fig.data),
        "complete": complete,
        "redrawn_at": now.isoformat(),
        "range": span.key,
        "series_shown": shown,
        "series_picked": list(picked),
    }
    return no_update, series_fig, heat_fig, state
