"""Forecasts page: a site's load, PV or wind forecast against what was then measured.

Choose a site, a target and an issue time (newest first: the forecasts whose hours reach into
the range of the page's picker, :mod:`dashboard.timerange`, last 24 h by default); the chart
shows the P50 and the P10-P90 band of that forecast
(:func:`twin.forecast.store.forecasts_as_of` at the issue time, so only what was issued by then)
and the mean metered power per bucket (hourly up to 12 days) from the range's start to the last
hour measured. A range that ends now also shows the forecast's hours ahead; a custom or zoomed
range shows just itself. The skill panel scores the forecast on the hours measured since it was
issued.

With no forecast to show the chart says why: the site has no such source (no PV or turbine),
or none was issued yet (forecasts are issued hourly once enough metered history is stored).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from dash import Dash, Input, Output, State, ctx, dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from dashboard import figures, ids
from dashboard import forecast_figures as ff
from dashboard import timerange as tr
from twin.errors import CnetwinError
from twin.forecast.jobs import FORECAST_MINUTE, HORIZON_H, METER_OF, site_forecasters
from twin.forecast.models import HOUR, LOAD_HISTORY_H
from twin.forecast.sources import site_meter_kw
from twin.forecast.store import MEASUREMENT, TARGETS, forecasts_as_of

if TYPE_CHECKING:
    from dashboard.app import PageContext, Services

log = logging.getLogger(__name__)

PATH = "/forecasts"
PICKER = "forecasts"
"""The page's name for its time-range picker."""
DEFAULT_RANGE = "-24h"
REACH = timedelta(hours=HORIZON_H)
"""Issue times are offered from this long before the range's start: their hours reach into it."""
SOURCE_NAMES = {"pv": "PV", "wind": "wind turbines"}


def issue_times(
    services: Services, site: str, target: str, window: tr.Window
) -> list[dict[str, str]]:
    """Dropdown options (label ``YYYY-MM-DD HH:MM UTC``, value ISO time) of the issue times of
    the forecasts of ``target`` at ``site`` from REACH before ``window`` to its end, newest
    first."""
    rows = services.store.query(
        MEASUREMENT,
        window.start - REACH,
        window.end + timedelta(seconds=1),
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


def view(
    services: Services, site: str, target: str, issued: str | None, picked: dict[str, Any]
) -> tuple[Any, Component]:
    """The chart and the skill panel of one forecast over the range ``picked`` (the picker's
    store data)."""
    if not issued:
        return figures.empty_figure(missing_reason(services, site, target)), skill_panel({})
    at = pd.Timestamp(issued)
    forecast = forecasts_as_of(services.store, at, site, target)
    if forecast.empty:
        return figures.empty_figure("No forecast issued by this time"), skill_panel({})
    now = pd.Timestamp(services.clock())
    window = tr.window_of(picked, now, HOUR)
    end = forecast["valid_at"].max() + HOUR
    stop = max(min(end, now.floor(HOUR)), at)
    meter = METER_OF[target]
    actual = site_meter_kw(
        services.store, site, meter, min(window.first_bucket, at), stop, window.bucket
    )
    hourly = (
        actual if window.bucket == HOUR else site_meter_kw(services.store, site, meter, at, stop)
    )
    if tr.choice_of(picked).end.strip().lower() == tr.NOW:
        window = tr.Window(window.start, max(window.end, end), window.bucket)
    figure = tr.show_window(ff.forecast_figure(forecast, actual, target), window, picked)
    return figure, skill_panel(ff.skill_numbers(forecast, hourly))


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
    """The page with the first site, its load and the newest issue selected, over the last
    24 h (the URL's range, if it names one, follows at once)."""
    services = context.services
    site = services.fleet.sites[0].id
    initial = tr.TimeRange(DEFAULT_RANGE, tr.NOW, tr.refresh_near(context.settings.refresh_s))
    picked = tr.state_of(initial)
    options = issue_times(services, site, "load", tr.window_of(picked, services.clock()))
    issued = options[0]["value"] if options else None
    figure, skill = view(services, site, "load", issued, picked)
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
                    html.Div(className="energy-hint", children=tr.picker(PICKER, initial)),
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
                            dcc.Graph(id=ids.FORECASTS_GRAPH, figure=figure, config=tr.ZOOM_CONFIG),
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
    """The picker's callbacks; issue times follow the site, the target and the range (a chosen
    issue stays while it is offered); the chart and skill follow the issue time and the range,
    and auto-refresh redraws them as hours are measured."""
    tr.register_callbacks(app, PICKER, [ids.FORECASTS_GRAPH], services.clock)

    @app.callback(
        Output(ids.FORECASTS_ISSUE, "options"),
        Output(ids.FORECASTS_ISSUE, "value"),
        Input(ids.FORECASTS_SITE, "value"),
        Input(ids.FORECASTS_TARGET, "value"),
        tr.range_input(PICKER),
        tr.refresh_input(PICKER),
        State(ids.FORECASTS_ISSUE, "value"),
    )
    def choose_issue(
        site: str, target: str, picked: dict[str, Any], _n: int | None, chosen: str | None
    ) -> tuple[list[dict[str, str]], str | None]:
        try:
            window = tr.window_of(picked, services.clock())
        except CnetwinError as exc:  # a range the picker has already refused
            raise PreventUpdate from exc
        options = issue_times(services, site, target, window)
        offered = [o["value"] for o in options]
        if chosen in offered and ctx.triggered_id not in (ids.FORECASTS_SITE, ids.FORECASTS_TARGET):
            return options, chosen
        return options, offered[0] if offered else None

    @app.callback(
        Output(ids.FORECASTS_GRAPH, "figure"),
        Output(ids.FORECASTS_SKILL, "children"),
        Input(ids.FORECASTS_SITE, "value"),
        Input(ids.FORECASTS_TARGET, "value"),
        Input(ids.FORECASTS_ISSUE, "value"),
        tr.range_input(PICKER),
        tr.refresh_input(PICKER),
    )
    def draw(
        site: str, target: str, issued: str | None, picked: dict[str, Any], _n: int | None
    ) -> tuple[Any, Component]:
        try:
            return view(services, site, target, issued, picked)
        except CnetwinError as exc:  # a range the picker has already refused
            raise PreventUpdate from exc
