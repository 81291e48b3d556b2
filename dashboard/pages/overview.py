"""Overview page: fleet KPIs, the site and link map, 24 h per-site series and the node heatmap.

The layout draws everything once on page load. Live ticks (``settings.refresh_s``) then update
the KPI cards from the latest readings, and append each newly completed window to the series and
the heatmap with ``extendData`` (the map is redrawn at that pace too); between windows a tick
costs three ``last`` calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from dashboard import figures, ids
from dashboard.components import GRAPH_CONFIG, graph_panel, kpi_card_frame
from twin.errors import StoreError
from twin.model import Site
from twin.overview import (
    FALLBACK_PUE,
    MAX_SITE_LINES,
    STALE_AFTER,
    OverviewKpis,
    kpis,
    shown_sites,
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

KPI_CARDS: tuple[tuple[str, str], ...] = (
    ("nodes", "Nodes reporting"),
    ("util", "Fleet compute utilisation"),
    ("power", "Facility power"),
    ("renewable", "Renewable share"),
    ("carbon", "Carbon intensity"),
)
"""(name, label) of the KPI cards, left to right."""


def layout(context: PageContext) -> Component:
    """The page as it stands at ``context.services.clock()``."""
    services = context.services
    now = pd.Timestamp(services.clock())
    series_until = now.floor(SERIES_EVERY)
    heatmap_until = now.floor(HEATMAP_EVERY)
    site_ids = [s.id for s in services.fleet.sites]
    shown = site_ids[:MAX_SITE_LINES]
    try:
        series = site_series(
            services.store,
            services.fleet,
            series_until - WINDOW,
            series_until,
            SERIES_EVERY,
            cache=services.windows,
        )
        shown = shown_sites(series, site_ids)
        series_fig = figures.site_series_figure(series, site_ids, shown)
        heat_fig = figures.heatmap_figure(
            utilisation_heatmap(
                services.store,
                heatmap_until - WINDOW,
                heatmap_until,
                HEATMAP_EVERY,
                nodes=[n.id for n in services.fleet.nodes],
                cache=services.windows,
            )
        )
        current = site_map(services.store, services.fleet, now)
        map_fig = figures.site_map_figure(current.sites, current.links)
    except StoreError as exc:
        log.warning("store unavailable for the overview: %s", exc)
        series_fig = heat_fig = map_fig = figures.empty_figure(f"Store unavailable: {exc}")
    state = {
        "series_until": series_until.isoformat(),
        "heatmap_until": heatmap_until.isoformat(),
        "series_drawn": bool(series_fig.data),
        "series_shown": shown,
        "series_picked": [],
        "heatmap_drawn": bool(heat_fig.data),
    }
    map_config: dcc.Graph.Config = {**GRAPH_CONFIG, "topojsonURL": context.asset_url("topojson/")}
    return html.Div(
        className="overview",
        children=[
            dcc.Interval(id=ids.OVERVIEW_TICK, interval=int(context.settings.refresh_s * 1000)),
            dcc.Store(id=ids.OVERVIEW_STATE, data=state),
            html.Section(className="kpis", children=[kpi_card(n, label) for n, label in KPI_CARDS]),
            html.Div(
                className="overview-grid",
                children=[
                    graph_panel(
                        "Sites and links · load now", ids.OVERVIEW_MAP, map_fig, map_config
                    ),
                    graph_panel(
                        _series_heading(services.fleet.sites),
                        ids.OVERVIEW_SERIES,
                        series_fig,
                    ),
                    graph_panel(
                        "Node compute utilisation · last 24 h (15 min means)",
                        ids.OVERVIEW_HEATMAP,
                        heat_fig,
                    ),
                ],
            ),
        ],
    )


def _series_heading(sites: Sequence[Site]) -> Component:
    """The per-site panel's title and its site picker (empty: the busiest sites)."""
    busiest = f"the {MAX_SITE_LINES} busiest" if len(sites) > MAX_SITE_LINES else "all"
    return html.Div(
        className="overview-series-head",
        children=[
            html.H2("Per site · last 24 h (5 min means)", className="panel-title"),
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


def register_callbacks(app: Dash, services: Services) -> None:
    """Register the page's live-update callbacks on ``app``."""
    kpi_outputs = [
        Output(ids.kpi(part, name), "children")
        for name, _label in KPI_CARDS
        for part in (ids.KPI_VALUE, ids.KPI_UNIT, ids.KPI_NOTE)
    ]

    @app.callback(*kpi_outputs, Input(ids.OVERVIEW_TICK, "n_intervals"))
    def update_kpis(_n: int | None) -> tuple[str, ...]:
        try:
            texts = kpi_texts(kpis(services.store, services.fleet, services.clock()))
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
        Input(ids.OVERVIEW_SITES, "value"),
        State(ids.OVERVIEW_STATE, "data"),
        prevent_initial_call=True,
    )
    def extend(_n: int | None, picked: list[str] | None, state: dict[str, Any]) -> tuple[Any, ...]:
        now = pd.Timestamp(services.clock())
        try:
            return live_update(services, now, state, picked or [])
        except StoreError as exc:
            log.warning("store unavailable for the overview series: %s", exc)
            raise PreventUpdate from exc


def live_update(
    services: Services, now: pd.Timestamp, state: dict[str, Any], picked: Sequence[str] = ()
) -> tuple[Any, ...]:
    """The outputs of one live tick at ``now`` given the page ``state`` and the ``picked``
    sites of the per-site series: series extendData, series figure, heatmap extendData,
    heatmap figure, map figure, new state.

    Windows completed since the state's ``*_until`` are appended with extendData; a figure that
    was drawn empty, or whose picked sites changed, is drawn whole instead. Raises
    PreventUpdate when no window completed and the pick is unchanged.
    """
    series_from = pd.Timestamp(state["series_until"])
    heatmap_from = pd.Timestamp(state["heatmap_until"])
    series_until = now.floor(SERIES_EVERY)
    heatmap_until = now.floor(HEATMAP_EVERY)
    repick = list(picked) != state.get("series_picked", [])
    if series_until <= series_from and heatmap_until <= heatmap_from and not repick:
        raise PreventUpdate
    fleet = services.fleet
    site_ids = [s.id for s in fleet.sites]
    outputs: list[Any] = [no_update] * 4
    if series_until > series_from or repick:
        drawn = state["series_drawn"] and not repick
        start = max(series_from, series_until - WINDOW) if drawn else series_until - WINDOW
        frame = site_series(
            services.store, fleet, start, series_until, SERIES_EVERY, cache=services.windows
        )
        if drawn:
            shown = state.get("series_shown", site_ids)
            outputs[0] = figures.series_extension(frame, site_ids, _points(SERIES_EVERY), shown)
            outputs[0] = no_update if outputs[0] is None else outputs[0]
        else:
            shown = shown_sites(frame, site_ids, picked)
            fig = figures.site_series_figure(frame, site_ids, shown)
            outputs[1] = fig
            state = {
                **state,
                "series_drawn": bool(fig.data),
                "series_shown": shown,
                "series_picked": list(picked),
            }
        state = {**state, "series_until": series_until.isoformat()}
    if heatmap_until > heatmap_from:
        drawn = state["heatmap_drawn"]
        start = max(heatmap_from, heatmap_until - WINDOW) if drawn else heatmap_until - WINDOW
        matrix = utilisation_heatmap(
            services.store,
            start,
            heatmap_until,
            HEATMAP_EVERY,
            nodes=[n.id for n in fleet.nodes],
            cache=services.windows,
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


def _points(every: timedelta) -> int:
    return int(WINDOW / every)
