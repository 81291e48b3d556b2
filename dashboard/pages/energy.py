"""Energy & Carbon page: where the power goes, how clean it is, and where capacity is cleanest.

Everything is drawn from the derived ``site_energy`` series (:mod:`twin.jobs.energy`, 5 min
windows, or their means per bucket over long ranges) in the time range of the page's picker
(:mod:`dashboard.timerange`, last 24 h by default) plus the latest node state for spare
capacity. A site selector chooses one site or the sum of all for the power, supply and
model-gap charts. The KPIs stand at the end of the range (emissions: over it). Zooming one chart
zooms the others. Auto-refresh ticks (the picker's, by default the live refresh setting) redraw
the page when a new 5 min window has completed; a redraw asks the store only for the windows
the energy job may still rewrite (the others are kept on the Services' window cache), and the
capacity outlook takes each site's newest window from the rows read. The layout is drawn at
once with placeholders and reads nothing; the first redraw reads the store over the layout's
range (it does not wait for the picker's callback) and draws the figures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from dashboard import energy_figures as ef
from dashboard import figures, ids
from dashboard import timerange as tr
from dashboard.components import graph_panel, static_kpi_card
from twin.errors import CnetwinError, StoreError
from twin.jobs.energy import (
    ENERGY_EVERY,
    OUTLOOK_HOURS,
    OUTLOOK_WITHIN,
    capacity_outlook,
    newest_site_rows,
    read_site_energy,
)

if TYPE_CHECKING:
    from dashboard.app import PageContext, Services

log = logging.getLogger(__name__)

PATH = "/energy"
PICKER = "energy"
"""The page's name for its time-range picker."""
DEFAULT_RANGE = "-24h"
SERIES_GRAPHS = (
    ids.ENERGY_POWER,
    ids.ENERGY_SUPPLY,
    ids.ENERGY_HEATMAP,
    ids.ENERGY_EMISSIONS,
    ids.ENERGY_GAP,
)
"""The charts over time: they show the picker's range and zoom together."""


OUTLOOK_NOTE = (
    "Average intensity = grid-import emissions / consumption (on-site PV and wind count as "
    "zero); marginal = the grid's margin for one more kWh. Next hours are not a forecast: the "
    "grid's current average carried along its daily profile, PV along a typical clear day, "
    "load and wind as now. Spare = 1 − utilisation summed over fresh nodes."
)


@dataclass(frozen=True)
class EnergyView:
    """Everything the page shows at one time: the figures, the table and the KPI texts."""

    power: Any
    supply: Any
    heatmap: Any
    emissions: Any
    gap: Any
    table: Component
    kpis: list[Component]


def view(services: Services, now: pd.Timestamp, site: str, picked: dict[str, Any]) -> EnergyView:
    """The page's content at ``now`` for the site selection ``site`` (an id or ALL_SITES) over
    the range ``picked`` (the picker's store data)."""
    window = tr.window_of(picked, now, ENERGY_EVERY)
    fleet = services.fleet
    sites = [s.id for s in fleet.sites]
    rows = read_site_energy(
        services.store, window.first_bucket, window.end, window.bucket, services.windows
    )
    latest = rows[rows["ts"] == rows["ts"].max()] if not rows.empty and "site" in rows else rows
    outlook = capacity_outlook(services.store, fleet, now, latest=newest_of(rows, window, now))
    numbers = ef.fleet_kpis(latest, rows, window.bucket)

    def shown(figure: Any) -> Any:
        return tr.show_window(figure, window, picked)

    power, supply, gap = ef.site_figures(rows, site)
    return EnergyView(
        power=shown(power),
        supply=shown(supply),
        heatmap=shown(ef.intensity_heatmap(rows, sites)),
        emissions=shown(ef.emissions_figure(rows, sites, window.bucket)),
        gap=shown(gap),
        table=outlook_table(outlook),
        kpis=kpi_cards(numbers, tr.span_text(window)),
    )


def newest_of(rows: pd.DataFrame, window: tr.Window, now: pd.Timestamp) -> pd.DataFrame | None:
    """Each site's newest ``site_energy`` window at ``now`` from the range's ``rows`` when they
    are 5 min windows reaching ``now`` (the outlook then reads no more); None otherwise."""
    reaches_now = window.end >= now and window.start <= now - OUTLOOK_WITHIN
    if window.bucket > ENERGY_EVERY or not reaches_now:
        return None
    return newest_site_rows(rows, now)


def blank_view(message: str) -> EnergyView:
    """The page without data: ``message`` in place of every figure and of the table."""
    blank = figures.empty_figure(message)
    return EnergyView(
        blank, blank, blank, blank, blank, html.Div(message, className="energy-empty"), []
    )


def kpi_cards(numbers: dict[str, float | None], span: str) -> list[Component]:
    """The four headline cards of ``ef.fleet_kpis`` numbers, with units and notes; ``span``
    names the range the emissions are summed over (``24 h``)."""
    share = numbers["renewable_share"]
    cards = (
        (
            "PUE, metered",
            ef.format_number(numbers["pue_metered"], ".3f"),
            "",
            "facility / IT meters",
        ),
        ("Renewable share", figures.format_share(share), "%", "on-site PV + wind / consumption"),
        (
            "Carbon intensity",
            figures.format_intensity(numbers["intensity_avg"]),
            "gCO2/kWh",
            "average · grid import / consumption",
        ),
        (
            f"Emissions, {span}",
            ef.format_number(numbers["emissions_t"], ",.2f"),
            "tCO2",
            "average intensity",
        ),
    )
    return [static_kpi_card(*card) for card in cards]


OUTLOOK_ROWS = 15
"""Sites the cleanest-capacity table lists at most (the cleanest): a larger fleet's table
would cost the browser seconds to draw (1,100 cells at 100 sites) for rows nobody reads."""


def outlook_table(outlook: pd.DataFrame, limit: int = OUTLOOK_ROWS) -> Component:
    """The cleanest-capacity table, cleanest site first: the ``limit`` cleanest sites, under a
    caption counting all when there are more. Grouped headers name each unit once, so the
    table fits its panel; every header cell's tooltip spells its column out."""
    if outlook.empty:
        return html.Div("No derived carbon data in the last 15 min", className="energy-empty")
    total = len(outlook)
    outlook = outlook.head(limit)
    body = [
        html.Tr(
            [
                html.Td(row["site"], title=f"{row['site']} · {row['name']} · {row['region']}"),
                html.Td(figures.format_intensity(row["intensity_avg_g_per_kwh"])),
                *(html.Td(figures.format_intensity(row[f"ahead_{h}h"])) for h in OUTLOOK_HOURS),
                html.Td(figures.format_intensity(row["intensity_marginal_g_per_kwh"])),
                html.Td(figures.format_share(row["renewable_share"])),
                html.Td(ef.format_number(row["spare_nodes"], ".1f")),
                html.Td(ef.format_number(row["spare_gpus"], ".0f")),
            ]
        )
        for row in outlook.to_dict("records")
    ]
    caption = (
        [html.P(f"The {limit} cleanest of {total} sites", className="energy-note")]
        if total > limit
        else []
    )
    return html.Div(
        children=[
            *caption,
            html.Table(
                className="energy-table outlook-table",
                children=[outlook_head(), html.Tbody(body)],
            ),
            html.P(OUTLOOK_NOTE, className="energy-note"),
        ]
    )


def outlook_head() -> Component:
    """The outlook table's header: groups with their unit over the columns (carbon intensity
    in gCO2/kWh: average now and hours ahead, marginal now; spare node-equivalents and GPUs)."""
    ahead = len(OUTLOOK_HOURS) + 1  # average now and the hours ahead

    def head(text: str | list[Any], title: str, rows: int = 1, columns: int = 1) -> Component:
        # a span of 1 is left out: the table's style tells spanning cells by their attribute
        return html.Th(
            text,
            title=title,
            rowSpan=rows if rows > 1 else None,
            colSpan=columns if columns > 1 else None,
        )

    return html.Thead(
        [
            html.Tr(
                [
                    head("Site", "Site (id, name and region on hover)", rows=3),
                    head(
                        "Carbon intensity [gCO2/kWh]",
                        "Carbon intensity of consumption [gCO2/kWh]",
                        columns=ahead + 1,
                    ),
                    head(["Renewable", html.Br(), "[%]"], "Renewable share now [%]", rows=3),
                    head("Spare capacity", "Spare capacity now", columns=2),
                ]
            ),
            html.Tr(
                [
                    head("average", "Average intensity [gCO2/kWh]", columns=ahead),
                    head("marginal", "Marginal intensity [gCO2/kWh]"),
                    head("node-eq.", "Spare node-equivalents [node-eq.]", rows=2),
                    head("GPUs", "Spare GPUs [GPUs]", rows=2),
                ]
            ),
            html.Tr(
                [
                    head("now", "Average intensity now [gCO2/kWh]"),
                    *(
                        head(f"+{h} h", f"Average intensity in {h} h [gCO2/kWh]")
                        for h in OUTLOOK_HOURS
                    ),
                    head("now", "Marginal intensity now [gCO2/kWh]"),
                ]
            ),
        ]
    )


def layout(context: PageContext) -> Component:
    """The page with placeholders, all sites selected, over the last 24 h (the URL's range, if
    it names one, follows at once); it reads nothing, its first redraw reads the store."""
    services = context.services
    initial = tr.TimeRange(DEFAULT_RANGE, tr.NOW, tr.refresh_near(context.settings.refresh_s))
    options = [{"label": "All sites (sum)", "value": ef.ALL_SITES}] + [
        {"label": f"{s.id} · {s.name}", "value": s.id} for s in services.fleet.sites
    ]
    current = blank_view(figures.LOADING)
    state = {"until": pd.Timestamp(services.clock()).floor(ENERGY_EVERY).isoformat()}
    return html.Div(
        className="energy",
        children=[
            dcc.Store(id=ids.ENERGY_STATE, data=state),
            html.Section(id=ids.ENERGY_KPIS, className="kpis energy-kpis", children=current.kpis),
            html.Div(
                className="energy-toolbar",
                children=[
                    html.Label("Power, supply and model gap for", htmlFor=ids.ENERGY_SITE),
                    dcc.Dropdown(
                        id=ids.ENERGY_SITE,
                        options=options,
                        value=ef.ALL_SITES,
                        clearable=False,
                        className="energy-site",
                    ),
                    html.Div(className="energy-hint", children=tr.picker(PICKER, initial)),
                ],
            ),
            html.Div(
                className="energy-grid",
                children=[
                    graph_panel(
                        "Power: IT / cooling / losses [kW] and PUE [-]",
                        ids.ENERGY_POWER,
                        current.power,
                        config=tr.ZOOM_CONFIG,
                    ),
                    graph_panel(
                        "Supply: on-site renewables versus grid [kW]",
                        ids.ENERGY_SUPPLY,
                        current.supply,
                        config=tr.ZOOM_CONFIG,
                    ),
                    graph_panel(
                        "Carbon intensity, average, by site and hour [gCO2/kWh]",
                        ids.ENERGY_HEATMAP,
                        current.heatmap,
                        config=tr.ZOOM_CONFIG,
                    ),
                    html.Section(
                        className="panel",
                        children=[
                            html.H2(
                                "Cleanest capacity now and in the next hours",
                                className="panel-title",
                            ),
                            html.Div(
                                id=ids.ENERGY_TABLE,
                                className="energy-table-box",
                                children=current.table,
                            ),
                        ],
                    ),
                    graph_panel(
                        "Cumulative emissions, average [tCO2]",
                        ids.ENERGY_EMISSIONS,
                        current.emissions,
                        config=tr.ZOOM_CONFIG,
                    ),
                    graph_panel(
                        "Model versus meter: facility power gap",
                        ids.ENERGY_GAP,
                        current.gap,
                        config=tr.ZOOM_CONFIG,
                    ),
                ],
            ),
        ],
    )


def register_callbacks(app: Dash, services: Services) -> None:
    """The picker's callbacks, then two: an auto-refresh tick only moves the page state when a
    new window has completed (so frequent ticks stay cheap and never supersede a redraw in
    flight); the page's load, a new state, range or site selection redraws the page. The first
    redraw reads the layout's range and does not wait for the picker's callback."""
    tr.register_callbacks(app, PICKER, SERIES_GRAPHS, services.clock)

    @app.callback(
        Output(ids.ENERGY_STATE, "data"),
        tr.refresh_input(PICKER),
        State(ids.ENERGY_STATE, "data"),
        prevent_initial_call=True,
    )
    def tick(_n: int | None, state: dict[str, Any]) -> dict[str, Any]:
        until = pd.Timestamp(services.clock()).floor(ENERGY_EVERY)
        if until <= pd.Timestamp(state["until"]):
            raise PreventUpdate
        return {"until": until.isoformat()}

    @app.callback(
        Output(ids.ENERGY_POWER, "figure"),
        Output(ids.ENERGY_SUPPLY, "figure"),
        Output(ids.ENERGY_HEATMAP, "figure"),
        Output(ids.ENERGY_EMISSIONS, "figure"),
        Output(ids.ENERGY_GAP, "figure"),
        Output(ids.ENERGY_TABLE, "children"),
        Output(ids.ENERGY_KPIS, "children"),
        Input(ids.ENERGY_STATE, "data"),
        Input(ids.ENERGY_SITE, "value"),
        tr.range_change_input(PICKER),
        tr.range_state(PICKER),
    )
    def redraw(
        _state: dict[str, Any], site: str | None, _set_at: int | None, picked: dict[str, Any]
    ) -> tuple[Any, ...]:
        now = pd.Timestamp(services.clock())
        try:
            current = view(services, now, site or ef.ALL_SITES, picked)
        except StoreError as exc:
            log.warning("store unavailable for the energy page: %s", exc)
            current = blank_view(f"Store unavailable: {exc}")
        except CnetwinError as exc:  # a range the picker has already refused
            log.info("energy page range %s: %s", picked, exc)
            raise PreventUpdate from exc
        return (
            current.power,
            current.supply,
            current.heatmap,
            current.emissions,
            current.gap,
            current.table,
            current.kpis,
        )
