"""Overview page: fleet KPIs, the site and link map, 24 h per-site series and the node heatmap.

The layout is drawn at once with placeholders and reads nothing; its first callback draws the
figures. Live ticks (``settings.refresh_s``) then update the KPI cards from the latest readings,
and append each newly completed window to the series and the heatmap with ``extendData`` (the
map is redrawn at that pace too); between windows a tick costs three ``last`` calls.

While history loads (:mod:`twin.loading`) windows already drawn still change, so the figures
are drawn whole every LOADING_REDRAW instead, and once more when the store is complete again
(SETTLE after loading ended): a page left open shows what a freshly opened one does. The KPIs
read "loading" meanwhile. Kiosk mode (``?kiosk``) hides the heatmap (style.css).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from dashboard import figures, ids
from dashboard.components import GRAPH_CONFIG, graph_panel, kpi_card_frame
from twin.errors import StoreError
from twin.loading import HistoryLoad, loading_now, read_history_load, settled
from twin.overview import (
    FALLBACK_PUE,
    STALE_AFTER,
    OverviewKpis,
    kpis,
    site_map,
    site_series,
    utilisation_heatmap,
)

if TYPE_CHECKING:
    from dashboard.app import PageContext, Services

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
"""How far back the series and the heatmap reach."""

SERIES_EVERY = timedelta(minutes=5)
"""Window of the per-site series; a point is added when a window completes."""

HEATMAP_EVERY = timedelta(minutes=15)
"""Window of the node heatmap columns."""

LOADING_REDRAW = timedelta(seconds=15)
"""While history loads, the figures are drawn whole at most this often [s]."""

SETTLE = timedelta(seconds=30)
"""After history loading ended, the store is taken as complete once this has passed [s]: what
was published last is stored by then."""

PLACEHOLDER = "Loading…"

KPI_CARDS: tuple[tuple[str, str], ...] = (
    ("nodes", "Nodes reporting"),
    ("util", "Fleet compute utilisation"),
    ("power", "Facility power"),
    ("renewable", "Renewable share"),
    ("carbon", "Carbon intensity"),
)
"""(name, label) of the KPI cards, left to right."""


def layout(context: PageContext) -> Component:
    """The page with placeholder figures; its first callback reads the store and draws them."""
    placeholder = figures.empty_figure(PLACEHOLDER)
    state: dict[str, Any] = {
        "series_until": None,
        "heatmap_until": None,
        "series_drawn": False,
        "heatmap_drawn": False,
        "complete": False,
        "redrawn_at": None,
    }
    map_config: dcc.Graph.Config = {**GRAPH_CONFIG, "topojsonURL": context.asset_url("topojson/")}
    panels = [
        graph_panel("Sites and links · load now", ids.OVERVIEW_MAP, placeholder, map_config),
        graph_panel("Per site · last 24 h (5 min means)", ids.OVERVIEW_SERIES, placeholder),
        graph_panel(
            "Node compute utilisation · last 24 h (15 min means)",
            ids.OVERVIEW_HEATMAP,
            placeholder,
        ),
    ]
    return html.Div(
        className="overview",
        children=[
            dcc.Interval(id=ids.OVERVIEW_TICK, interval=int(context.settings.refresh_s * 1000)),
            dcc.Store(id=ids.OVERVIEW_STATE, data=state),
            html.Section(className="kpis", children=[kpi_card(n, label) for n, label in KPI_CARDS]),
            html.Div(className="overview-grid", children=panels),
        ],
    )


def kpi_card(
    name: str, label: str, parts: tuple[str, str, str] = (ids.KPI_VALUE, ids.KPI_UNIT, ids.KPI_NOTE)
) -> Component:
    """The KPI card ``name``; ``parts`` are the id types of its value, unit and note."""
    value, unit, note = parts
    return kpi_card_frame(
        label,
        html.Span("…", id=ids.kpi(value, name), className="kpi-value"),
        html.Span(id=ids.kpi(unit, name), className="kpi-unit"),
        html.Div(id=ids.kpi(note, name), className="kpi-note"),
    )


def kpi_texts(
    k: OverviewKpis, stale_after: timedelta = STALE_AFTER
) -> dict[str, tuple[str, str, str]]:
    """Per KPI card name, the (value, unit, note) texts shown for ``k`` (computed with node
    readings fresh within ``stale_after``)."""
    power, power_unit = figures.format_power(k.facility_power_kw)
    power_note = f"partly modelled (PUE {FALLBACK_PUE:g})" if k.facility_modelled else "metered"
    stale = f"fresh within {stale_after.total_seconds():.0f} s"
    return {
        "nodes": (f"{k.nodes_reporting} / {k.nodes_expected}", "nodes", stale),
        "util": (figures.format_share(k.compute_util), "%", "mean of max(CPU, GPU)"),
        "power": (power, power_unit, power_note),
        "renewable": (figures.format_share(k.renewable_share), "%", "(PV + wind) / facility"),
        "carbon": (
            figures.format_intensity(k.carbon_intensity_g_per_kwh),
            "gCO2/kWh",
            "average · grid import",
        ),
    }


def loading_texts(load: HistoryLoad) -> dict[str, tuple[str, str, str]]:
    """Per KPI card name, the (value, unit, note) texts while history loads: no number of
    the present is known yet."""
    return {name: ("loading", "", load.text()) for name, _label in KPI_CARDS}


def register_callbacks(app: Dash, services: Services) -> None:
    """Register the page's live-update callbacks on ``app``."""
    kpi_outputs = [
        Output(ids.kpi(part, name), "children")
        for name, _label in KPI_CARDS
        for part in (ids.KPI_VALUE, ids.KPI_UNIT, ids.KPI_NOTE)
    ]

    @app.callback(*kpi_outputs, Input(ids.OVERVIEW_TICK, "n_intervals"))
    def update_kpis(_n: int | None) -> tuple[str, ...]:
        now = services.clock()
        try:
            load = read_history_load(services.store, now)
            if load is not None and loading_now(load):
                texts = loading_texts(load)
            else:
                texts = kpi_texts(kpis(services.store, services.fleet, now))
        except StoreError as exc:
            log.warning("store unavailable for the KPIs: %s", exc)
            return tuple(t for _ in KPI_CARDS for t in ("—", "", "store unavailable"))
        return tuple(t for name, _label in KPI_CARDS for t in texts[name])

    @app.callback(
        Output(ids.OVERVIEW_SERIES, "extendData"),
        Output(ids.OVERVIEW_SERIES, "figure"),
        Output(ids.OVERVIEW_HEATMAP, "extendData"),
        Output(ids.OVERVIEW_HEATMAP, "figure"),
        Output(ids.OVERVIEW_MAP, "figure"),
        Output(ids.OVERVIEW_STATE, "data"),
        Input(ids.OVERVIEW_TICK, "n_intervals"),
        State(ids.OVERVIEW_STATE, "data"),
        # a draw may take longer than a tick: ticks wait for it rather than cancel it
        running=[(Output(ids.OVERVIEW_TICK, "disabled"), True, False)],
    )
    def extend(_n: int | None, state: dict[str, Any]) -> tuple[Any, ...]:
        now = pd.Timestamp(services.clock())
        try:
            return live_update(services, now, state, read_history_load(services.store, now))
        except StoreError as exc:
            log.warning("store unavailable for the overview series: %s", exc)
            if state["series_until"] is not None:
                raise PreventUpdate from exc
            unavailable = figures.empty_figure(f"Store unavailable: {exc}")
            return no_update, unavailable, no_update, unavailable, unavailable, state


def live_update(
    services: Services,
    now: pd.Timestamp,
    state: dict[str, Any],
    load: HistoryLoad | None = None,
) -> tuple[Any, ...]:
    """The outputs of one live tick at ``now`` given the page ``state`` and the store's history
    ``load``: series extendData, series figure, heatmap extendData, heatmap figure, map figure,
    new state.

    The first tick, and the ticks while the store is not complete (history loading, then
    SETTLE), draw the figures whole (at most every LOADING_REDRAW, and once when it becomes
    complete). Otherwise windows completed since the state's ``*_until`` are appended with
    extendData; a figure that was drawn empty is drawn whole instead. Raises PreventUpdate
    when there is nothing to draw.
    """
    complete = settled(load, now, SETTLE)
    if state["series_until"] is None or not state["complete"]:
        return _redraw(services, now, state, complete)
    series_from = pd.Timestamp(state["series_until"])
    heatmap_from = pd.Timestamp(state["heatmap_until"])
    series_until = now.floor(SERIES_EVERY)
    heatmap_until = now.floor(HEATMAP_EVERY)
    if series_until <= series_from and heatmap_until <= heatmap_from:
        raise PreventUpdate
    fleet = services.fleet
    site_ids = [s.id for s in fleet.sites]
    outputs: list[Any] = [no_update] * 4
    if series_until > series_from:
        drawn = state["series_drawn"]
        start = max(series_from, series_until - WINDOW) if drawn else series_until - WINDOW
        frame = site_series(services.store, fleet, start, series_until, SERIES_EVERY)
        if drawn:
            outputs[0] = figures.series_extension(frame, site_ids, _points(SERIES_EVERY))
            outputs[0] = no_update if outputs[0] is None else outputs[0]
        else:
            fig = figures.site_series_figure(frame, site_ids)
            outputs[1], state = fig, {**state, "series_drawn": bool(fig.data)}
        state = {**state, "series_until": series_until.isoformat()}
    if heatmap_until > heatmap_from:
        drawn = state["heatmap_drawn"]
        start = max(heatmap_from, heatmap_until - WINDOW) if drawn else heatmap_until - WINDOW
        matrix = utilisation_heatmap(
            services.store, start, heatmap_until, HEATMAP_EVERY, nodes=[n.id for n in fleet.nodes]
        )
        if drawn:
            outputs[2] = figures.heatmap_extension(matrix, _points(HEATMAP_EVERY))
            outputs[2] = no_update if outputs[2] is None else outputs[2]
        else:
            fig = figures.heatmap_figure(matrix)
            outputs[3], state = fig, {**state, "heatmap_drawn": bool(fig.data)}
        state = {**state, "heatmap_until": heatmap_until.isoformat()}
    current = site_map(services.store, fleet, now)
    map_fig = figures.site_map_figure(current.sites, current.links)
    return (*outputs, map_fig, state)


def _redraw(
    services: Services, now: pd.Timestamp, state: dict[str, Any], complete: bool
) -> tuple[Any, ...]:
    """The outputs of a tick that draws the figures whole (see :func:`live_update`)."""
    last = state["redrawn_at"]
    if last is not None and not complete and now - pd.Timestamp(last) < LOADING_REDRAW:
        raise PreventUpdate
    fleet = services.fleet
    series_until = now.floor(SERIES_EVERY)
    heatmap_until = now.floor(HEATMAP_EVERY)
    series_fig = figures.site_series_figure(
        site_series(services.store, fleet, series_until - WINDOW, series_until, SERIES_EVERY),
        [s.id for s in fleet.sites],
    )
    heat_fig = figures.heatmap_figure(
        utilisation_heatmap(
            services.store,
            heatmap_until - WINDOW,
            heatmap_until,
            HEATMAP_EVERY,
            nodes=[n.id for n in fleet.nodes],
        )
    )
    current = site_map(services.store, fleet, now)
    map_fig = figures.site_map_figure(current.sites, current.links)
    state = {
        "series_until": series_until.isoformat(),
        "heatmap_until": heatmap_until.isoformat(),
        "series_drawn": bool(series_fig.data),
        "heatmap_drawn": bool(heat_fig.data),
        "complete": complete,
        "redrawn_at": now.isoformat(),
    }
    return no_update, series_fig, no_update, heat_fig, map_fig, state


def _points(every: timedelta) -> int:
    return int(WINDOW / every)
