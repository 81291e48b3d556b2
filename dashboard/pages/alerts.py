"""Alerts page: what fires now, what is pending, the silences, the rules and the history.

Read from the alert engine's stored state (:mod:`twin.alerts.state`): the current state of
every (rule, series), the rules' last evaluations and the ``alert_event`` history of the last
24 h; the rules are those of the rule file the scheduler evaluates (the ``alert_rules``
setting, else the shipped file), named above the table. Silences are created and ended here
(written to the store, :mod:`twin.alerts.silences`). Each alert links to its asset's page and
to the Replay page at its own moment (:mod:`dashboard.alert_tables`); on a large fleet the
table draws the ACTIVE_ROWS most severe and oldest alerts, the KPIs count them all. Live ticks
(``settings.refresh_s``) redraw the page. While the rules are held (history loading, then the
grace period) a banner says so.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate
from plotly.io.json import to_json_plotly

from dashboard import ids
from dashboard.alert_tables import Href, active_table, format_time, history_table, table
from dashboard.auth import may_operate
from dashboard.components import static_kpi_card
from dashboard.figures import LOADING
from dashboard.links import ALERTS_PATH
from twin.alerts.engine import SeriesState
from twin.alerts.rules import RuleSet
from twin.alerts.silences import Silence, create_silence, end_silence, read_silences
from twin.alerts.state import load_states, read_events, read_rule_summaries
from twin.durations import duration_text
from twin.errors import CnetwinError
from twin.jobs.loading import alert_hold, read_history_load
from twin.views.assets import read_rules

if TYPE_CHECKING:
    from dashboard.app import PageContext, Services

log = logging.getLogger(__name__)

PATH = ALERTS_PATH
HISTORY = timedelta(hours=24)
"""How far back the history table reaches."""
HISTORY_ROWS = 200
ACTIVE_ROWS = 200
"""At most this many alerts firing or pending are drawn (the KPIs count them all)."""
SILENCE_DURATIONS = ("1h", "2h", "8h", "24h", "7d")
READ_ONLY = "Read only: creating and ending silences needs the operator role."


def layout(context: PageContext) -> Component:
    """The page shell, drawn at once; its content is filled by the refresh callback."""
    refresh_ms = int(context.settings.refresh_s * 1000)
    return html.Div(
        className="alerts",
        children=[
            dcc.Interval(id=ids.ALERTS_TICK, interval=refresh_ms),
            dcc.Store(id=ids.ALERTS_SENT, data=[]),
            html.Div(id=ids.ALERTS_HOLD, className="alerts-hold hidden"),
            html.Div(id=ids.ALERTS_KPIS, className="kpis alerts-kpis"),
            html.Div(
                className="alerts-grid",
                children=[
                    _panel("Alerting and pending", _loading(ids.ALERTS_ACTIVE)),
                    _panel("Silences", _silence_form(), _loading(ids.ALERTS_SILENCES)),
                    _panel("Rules", _loading(ids.ALERTS_RULES)),
                    _panel("History, last 24 h", _loading(ids.ALERTS_HISTORY)),
                ],
            ),
        ],
    )


def _loading(element_id: str) -> Component:
    """A panel's content until the first refresh has read the store."""
    return html.Div(id=element_id, children=html.Div(LOADING, className="alerts-empty"))


def _panel(title: str, *children: Component) -> Component:
    return html.Section(
        className="panel alerts-panel",
        children=[html.Div(title, className="panel-title"), *children],
    )


def _silence_form() -> Component:
    allowed = may_operate()
    return html.Div(
        className="alerts-form",
        children=[
            dcc.Input(
                id=ids.ALERTS_MATCHERS,
                placeholder='matchers, e.g. alertname="node_entropy_drift", site="nm-ulanqab"',
                className="alerts-input",
                debounce=False,
            ),
            dcc.Dropdown(
                id=ids.ALERTS_DURATION,
                options=list(SILENCE_DURATIONS),
                value="2h",
                clearable=False,
                className="alerts-duration",
            ),
            dcc.Input(id=ids.ALERTS_COMMENT, placeholder="comment", className="alerts-comment"),
            html.Button(
                "Silence", id=ids.ALERTS_CREATE, className="alerts-button", disabled=not allowed
            ),
            html.Div(
                id=ids.ALERTS_FEEDBACK,
                className="alerts-feedback",
                children=None if allowed else READ_ONLY,
            ),
        ],
    )


# --- pure content builders ----------------------------------------------------------------


def kpi_cards(states: list[SeriesState], silences: list[Silence]) -> list[Component]:
    """Counts [count] of firing, pending, no-data/error series and silences in force."""
    counts = (
        ("Firing", sum(s.state == "firing" for s in states), "alerts"),
        ("Pending", sum(s.state == "pending" for s in states), "waiting for their for"),
        ("No data / error", sum(s.state in ("nodata", "error") for s in states), "series"),
        ("Silences", len(silences), "in force"),
    )
    return [static_kpi_card(label, str(count), "", note) for label, count, note in counts]


def silences_table(silences: list[Silence]) -> Component:
    """The silences in force, each with an End button."""
    if not silences:
        return html.Div("No silences in force.", className="alerts-empty")
    allowed = may_operate()
    rows = [
        html.Tr(
            [
                html.Td(s.matchers_text()),
                html.Td(format_time(s.ends_at)),
                html.Td(s.comment),
                html.Td(
                    html.Button(
                        "End", id=ids.alerts_end(s.id), className="alerts-end", disabled=not allowed
                    )
                ),
            ]
        )
        for s in silences
    ]
    return table(["Matchers", "Until", "Comment", ""], rows, ids.ALERTS_SILENCE_TABLE)


def rules_table(rules: RuleSet, summaries: pd.DataFrame, source: str) -> Component:
    """Every rule of the file ``source`` with its condition, ``for`` and last evaluation
    (series, firing counts), under a caption naming the file."""
    last = {row["rule"]: row for row in summaries.to_dict("records")} if "rule" in summaries else {}
    rows = []
    for r in rules.rules:
        row = last.get(r.name, {})
        error = row.get("error") or ""
        rows.append(
            html.Tr(
                [
                    html.Td(r.name),
                    html.Td(r.severity),
                    html.Td(r.selector.text()),
                    html.Td(r.condition_text()),
                    html.Td(duration_text(r.for_)),
                    html.Td(format_time(row.get("ts"))),
                    html.Td(_count(row.get("series"))),
                    html.Td(_count(row.get("firing"))),
                    html.Td(error, className="alerts-error" if error else None),
                ]
            )
        )
    head = ["Rule", "Severity", "Metric", "Condition", "For", "Last evaluation", "Series"]
    return html.Div(
        className="alerts-rules",
        children=[
            html.P(f"Rules evaluated from {source}", className="alerts-caption"),
            table([*head, "Firing", "Error"], rows, ids.ALERTS_RULES_TABLE),
        ],
    )


def _count(value: Any) -> str:
    return "–" if value is None or value != value else f"{value:.0f}"


# --- callbacks -----------------------------------------------------------------------------


def register_callbacks(app: Dash, services: Services) -> None:
    """Refresh on every tick and after a silence was created or ended."""

    @app.callback(
        Output(ids.ALERTS_FEEDBACK, "children"),
        Output(ids.ALERTS_MATCHERS, "value"),
        Input(ids.ALERTS_CREATE, "n_clicks"),
        State(ids.ALERTS_MATCHERS, "value"),
        State(ids.ALERTS_DURATION, "value"),
        State(ids.ALERTS_COMMENT, "value"),
        prevent_initial_call=True,
    )
    def create(
        _n: int | None, matchers: str | None, duration: str, comment: str | None
    ) -> tuple[str, Any]:
        try:
            silence = create_silence(
                services.store,
                matchers or "",
                pd.Timedelta(duration).to_pytimedelta(),
                services.clock(),
                comment or "",
                "dashboard",
            )
        except CnetwinError as exc:
            return str(exc), matchers
        return f"Silenced {silence.matchers_text()} until {format_time(silence.ends_at)}.", ""

    @app.callback(
        Output(ids.ALERTS_FEEDBACK, "children", allow_duplicate=True),
        Input({"type": ids.ALERTS_END, "silence": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def end(clicks: list[int | None]) -> str:
        if not any(clicks) or not isinstance(ctx.triggered_id, dict):
            raise PreventUpdate
        silence_id = str(ctx.triggered_id["silence"])
        try:
            end_silence(services.store, silence_id, services.clock())
        except CnetwinError as exc:
            return str(exc)
        return f"Silence {silence_id} ended."

    @app.callback(
        Output(ids.ALERTS_KPIS, "children"),
        Output(ids.ALERTS_ACTIVE, "children"),
        Output(ids.ALERTS_SILENCES, "children"),
        Output(ids.ALERTS_RULES, "children"),
        Output(ids.ALERTS_HISTORY, "children"),
        Output(ids.ALERTS_HOLD, "children"),
        Output(ids.ALERTS_HOLD, "className"),
        Output(ids.ALERTS_SENT, "data"),
        Input(ids.ALERTS_TICK, "n_intervals"),
        Input(ids.ALERTS_FEEDBACK, "children"),
        State(ids.ALERTS_SENT, "data"),
    )
    def refresh(_n: int | None, _feedback: object, sent: list[str] | None) -> tuple[Any, ...]:
        try:
            drawn = content(services, services.clock(), app.get_relative_path)
        except CnetwinError as exc:
            log.warning("alerts page: store unavailable: %s", exc)
            raise PreventUpdate from None
        changed, digests = only_changed(drawn, sent or [])
        return (*changed, digests)


def only_changed(drawn: Sequence[Any], sent: Sequence[str]) -> tuple[list[Any], list[str]]:
    """``drawn`` with each part the page already shows (its digest in ``sent``, by position)
    replaced by ``no_update``, so an unchanged table is neither sent nor redrawn; and the
    digests of ``drawn``."""
    digests = [hashlib.sha256(to_json_plotly(part).encode()).hexdigest() for part in drawn]
    shown = [*sent, *[""] * len(digests)][: len(digests)]
    parts = zip(drawn, digests, shown, strict=True)
    return [no_update if d == s else part for part, d, s in parts], digests


def content(
    services: Services, now: datetime, href: Href, active_rows: int | None = ACTIVE_ROWS
) -> tuple[Any, ...]:
    """What a refresh draws at ``now``: the KPIs, the alerts firing and pending (at most
    ``active_rows``; None: all), the silences, the rules, the history and the hold banner
    (text, class). CnetwinError when the store cannot be read."""
    states = list(load_states(services.store, now).values())
    silences = read_silences(services.store, now)
    summaries = read_rule_summaries(services.store, now)
    events = read_events(services.store, now - HISTORY, now + timedelta(seconds=1))
    held = alert_hold(read_history_load(services.store, now), now, services.alert_load_grace)
    rules = read_rules(services.alert_rules)
    return (
        kpi_cards(states, silences),
        active_table(states, rules.rules, now, href, ids.ALERTS_ACTIVE_TABLE, limit=active_rows),
        silences_table(silences),
        rules_table(rules.rules, summaries, rules.source)
        if not rules.error
        else html.Div(rules.error, className="alerts-empty alerts-error"),
        history_table(
            events,
            rules.rules,
            href,
            ids.ALERTS_HISTORY_TABLE,
            HISTORY_ROWS,
            "No alert changes in the last 24 h.",
        ),
        f"Alerts held: {held}" if held else "",
        "alerts-hold" if held else "alerts-hold hidden",
    )
