"""Forecasts page: a site's load, PV or wind forecast against what was then measured.

Choose a site, a target and an issue time (the forecasts issued in the last ISSUE_WINDOW, newest
first); the chart shows the P50 and the P10-P90 band of that forecast
(:func:`twin.forecast.store.forecasts_as_of` at the issue time, so only what was issued by then)
and the hourly mean metered power from ACTUAL_BEFORE ahead of the issue time to the last hour
measured. The skill panel scores the forecast on the hours measured since it was issued.

With no forecast to show the chart says why: the site has no such source (no PV or turbine),
or none was issued yet (forecasts are issued hourly once enough metered history is stored).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from dash import Dash, Input, Output, dcc, html
from dash.development.base_component import Component

from dashboard import figures, ids
from dashboard import forecast_figures as ff
from dashboard.components import GRAPH_CONFIG
from twin.forecast.jobs import FORECAST_MINUTE, METER_OF, site_forecasters
from twin.forecast.models import LOAD_HISTORY_H
from twin.forecast.sources import site_meter_kw
from twin.forecast.store import MEASUREMENT, TARGETS, forecasts_as_of

if TYPE_CHECKING:
    from dashboard.app import PageContext, Services

log = logging.getLogger(__name__)

PATH = "/forecasts"
ISSUE_WINDOW = timedelta(hours=72)
"""How far back issue times are offered."""
ACTUAL_BEFORE = timedelta(hours=24)
"""Metered history drawn before the issue time, for context."""
SOURCE_NAMES = {"pv": "PV", "wind": "wind turbines"}


def issue_times(services: Services, site: str, target: str) -> list[dict[str, str]]:
    """Dropdown options (label ``YYYY-MM-DD HH:MM UTC``, value ISO time) of the issue times of
    the forecasts of ``target`` at ``site`` within ISSUE_WINDOW before now, newest first."""
    now = pd.Timestamp(services.clock())
    rows = services.store.query(
        MEASUREMENT,
        now - ISSUE_WINDOW,
        now + timedelta(seconds=1),
        tags={"site": site, "target": target, "horizon_h": "0"},
        fields=["p50"],
    )
    if rows.empty:
        return []
    times = sorted(set(pd.to_datetime(rows["ts"], utc=True)), reverse=True)
    return [{"label": f"{t:%Y-%m-%d %H:%M} UTC", "value": t.isoformat()} for t in times]


def missing_reason(services: Services, site: str, target: str) -> str:
    """Why no ``target`` forecast of ``site`` is offered: no such source, or none issued yet."""
    by_id = {s.id: s for s in services.fleet.sites}
    if site in by_id and target not in site_forecasters(by_id[site]):
        return f"{site} has no {SOURCE_NAMES.get(target, target)}: nothing to forecast"
    return (
        f"No {target} forecast issued for {site} yet: forecasts are issued hourly at minute "
        f"{FORECAST_MINUTE:02d} once enough metered history is stored "
        f"(the load model needs {LOAD_HISTORY_H} h)"
    )


def view(services: Services, site: str, target: str, issued: str | None) -> tuple[Any, Component]:
    """The chart and the skill panel of one forecast."""
    if not issued:
        return figures.empty_figure(missing_reason(services, site, target)), skill_panel({})
    at = pd.Timestamp(issued)
    forecast = forecasts_as_of(services.store, at, site, target)
    if forecast.empty:
        return figures.empty_figure("No forecast issued by this time"), skill_panel({})
    now = pd.Timestamp(services.clock())
    stop = min(forecast["valid_at"].max() + pd.Timedelta(hours=1), now.floor("h"))
    actual = site_meter_kw(
        services.store, site, METER_OF[target], at - ACTUAL_BEFORE, max(stop, at)
    )
    return ff.forecast_figure(forecast, actual, target), skill_panel(
        ff.skill_numbers(forecast, actual)
    )


def skill_panel(numbers: dict[str, Any]) -> Component:
    """Hours measured, MAE and pinball loss [kW] and P10-P90 coverage [%] of a forecast."""

    def text(value: float | None, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    cov = numbers.get("coverage")
    rows = (
        ("Hours measured", str(numbers.get("hours", 0)), "h"),
        ("MAE of P50", text(numbers.get("mae"), ".2f"), "kW"),
        ("Pinball loss", text(numbers.get("pinball"), ".2f"), "kW"),
        ("Within P10–P90", text(None if cov is None else 100 * cov, ".0f"), "% (ideal 80)"),
    )
    return html.Dl(
        className="forecasts-skill",
        children=[
            part
            for label, value, unit in rows
            for part in (html.Dt(label), html.Dd(f"{value} {unit}", className="forecasts-value"))
        ],
    )


def layout(context: PageContext) -> Component:
    """The page with the first site, its load and the newest issue selected."""
    services = context.services
    site = services.fleet.sites[0].id
    options = issue_times(services, site, "load")
    issued = options[0]["value"] if options else None
    figure, skill = view(services, site, "load", issued)
    return html.Div(
        className="forecasts",
        children=[
            html.Div(
                className="energy-toolbar",
                children=[
                    html.Label("Site", htmlFor=ids.FORECASTS_SITE),
                    dcc.Dropdown(
                        id=ids.FORECASTS_SITE,
                        options=[{"label": s.id, "value": s.id} for s in services.fleet.sites],
                        value=site,
                        clearable=False,
                        className="forecasts-select",
                    ),
                    html.Label("Target", htmlFor=ids.FORECASTS_TARGET),
                    dcc.Dropdown(
                        id=ids.FORECASTS_TARGET,
                        options=list(TARGETS),
                        value="load",
                        clearable=False,
                        className="forecasts-select",
                    ),
                    html.Label("Issued", htmlFor=ids.FORECASTS_ISSUE),
                    dcc.Dropdown(
                        id=ids.FORECASTS_ISSUE,
                        options=options,
                        value=issued,
                        clearable=False,
                        className="forecasts-issue",
                    ),
                    html.Span("hourly · UTC", className="energy-hint"),
                ],
            ),
            html.Div(
                className="forecasts-grid",
                children=[
                    html.Section(
                        className="panel",
                        children=[
                            html.H2(
                                "Forecast P50, P10–P90 band and actual [kW]",
                                className="panel-title",
                            ),
                            dcc.Graph(id=ids.FORECASTS_GRAPH, figure=figure, config=GRAPH_CONFIG),
                        ],
                    ),
                    html.Section(
                        className="panel",
                        children=[
                            html.H2("Skill so far", className="panel-title"),
                            html.Div(id=ids.FORECASTS_SKILL, children=skill),
                        ],
                    ),
                ],
            ),
        ],
    )


def register_callbacks(app: Dash, services: Services) -> None:
    """Issue times follow the site and target; the chart and skill follow the issue time."""

    @app.callback(
        Output(ids.FORECASTS_ISSUE, "options"),
        Output(ids.FORECASTS_ISSUE, "value"),
        Input(ids.FORECASTS_SITE, "value"),
        Input(ids.FORECASTS_TARGET, "value"),
    )
    def choose_issue(site: str, target: str) -> tuple[list[dict[str, str]], str | None]:
        options = issue_times(services, site, target)
        return options, options[0]["value"] if options else None

    @app.callback(
        Output(ids.FORECASTS_GRAPH, "figure"),
        Output(ids.FORECASTS_SKILL, "children"),
        Input(ids.FORECASTS_SITE, "value"),
        Input(ids.FORECASTS_TARGET, "value"),
        Input(ids.FORECASTS_ISSUE, "value"),
    )
    def draw(site: str, target: str, issued: str | None) -> tuple[Any, Component]:
        return view(services, site, target, issued)
