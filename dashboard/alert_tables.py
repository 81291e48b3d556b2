"""Alert tables the Alerts page and the asset pages share: alerts firing and pending, and the
history of changes, each row linked to its asset's page and to the Replay page at its own
moment (when its spell began, or the change), values with the unit of the rule's metric."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import pandas as pd
from dash import dcc, html
from dash.development.base_component import Component

from dashboard.links import asset_path, fleet_path, replay_path
from twin.alerts.engine import ACTIVE, ALERTING, SeriesState, series_tags
from twin.alerts.rules import RuleSet
from twin.models.units import as_float
from twin.views.assets import alert_asset, alert_moment, alert_value_text, rule_measurement

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

Href = Callable[[str], str]
"""Maps an app path to its URL under the app's prefix (``app.get_relative_path``)."""


def format_time(ts: datetime | pd.Timestamp | None) -> str:
    """A time for a table cell: ``2025-06-01 06:05 UTC``; ``–`` if none."""
    return "–" if ts is None else pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M UTC")


def asset_cell(
    rules: RuleSet, rule: str, series: str, at: datetime | None, href: Href
) -> Component:
    """A link to the page of the alert's asset (marking ``at``), or to the fleet page of a
    fleet-wide alert."""
    measurement = rule_measurement(rules, rule)
    ref = alert_asset(measurement, series_tags(series))
    if ref is None:
        return html.Td(
            dcc.Link("fleet", href=href(fleet_path(measurement)), className="alerts-asset")
        )
    moment = pd.Timestamp(at) if at is not None else None
    return html.Td(
        dcc.Link(
            f"{ref.kind} {ref.id}", href=href(asset_path(ref, moment)), className="alerts-asset"
        )
    )


def replay_cell(
    rules: RuleSet, rule: str, series: str, at: datetime | pd.Timestamp | None, href: Href
) -> Component:
    """A link to the Replay page at ``at`` with the alert's asset selected."""
    if at is None:
        return html.Td("")
    ref = alert_asset(rule_measurement(rules, rule), series_tags(series))
    return html.Td(
        dcc.Link("replay", href=href(replay_path(pd.Timestamp(at), ref)), className="alerts-replay")
    )


def active_table(
    states: Sequence[SeriesState],
    rules: RuleSet,
    now: datetime,
    href: Href,
    table_id: str,
    series: bool = True,
    limit: int | None = None,
) -> Component:
    """Series that are pending or alerting, most severe and oldest first: severity, rule,
    asset, series (unless ``series`` is False), state, since, value; each with its asset and
    Replay links. With ``limit``, only that many rows are drawn, under a caption counting them
    all (a large fleet can have thousands of alerts)."""
    severity = {r.name: r.severity for r in rules.rules}
    loud = [s for s in states if s.state in ACTIVE | ALERTING]
    if not loud:
        return html.Div("Nothing is firing or pending.", className="alerts-empty")
    loud.sort(key=lambda s: (SEVERITY_ORDER.get(severity.get(s.rule, ""), 3), s.since or now))
    shown = loud if limit is None else loud[:limit]
    rows = []
    for s in shown:
        moment = alert_moment(s)
        level = severity.get(s.rule, "")
        rows.append(
            html.Tr(
                className=f"alerts-{s.state}",
                children=[
                    html.Td(html.Span(level, className=f"alerts-severity alerts-{level}")),
                    html.Td(s.rule),
                    asset_cell(rules, s.rule, s.series, moment, href),
                    *([html.Td(s.series or "(rule)", title=s.message or None)] if series else []),
                    html.Td(s.state, title=s.message or None),
                    html.Td(format_time(s.since), className="alerts-when"),
                    html.Td(alert_value_text(rules, s.rule, s.value), className="alerts-value"),
                    replay_cell(rules, s.rule, s.series, moment, href),
                ],
            )
        )
    head = ["Severity", "Rule", "Asset", *(["Series"] if series else []), "State", "Since"]
    drawn = table([*head, "Value", ""], rows, table_id)
    if len(shown) == len(loud):
        return drawn
    caption = f"The {len(shown)} most severe and oldest of {len(loud)} alerts firing or pending"
    return html.Div([html.P(caption, className="alerts-caption"), drawn])


def history_table(
    events: pd.DataFrame, rules: RuleSet, href: Href, table_id: str, limit: int, empty: str
) -> Component:
    """The newest transitions (at most ``limit``): time, rule, asset (the series key its
    tooltip), change, value, whether it was notified, and a Replay link at the moment of the
    change; ``empty`` is said when there are none."""
    if events.empty or "rule" not in events:
        return html.Div(empty, className="alerts-empty")
    rows = []
    for e in events.head(limit).to_dict("records"):
        at = pd.Timestamp(e["ts"]).to_pydatetime()
        notified = "silenced" if e.get("silenced") else ("sent" if e.get("notified") else "")
        rows.append(
            html.Tr(
                [
                    html.Td(format_time(at), className="alerts-when"),
                    html.Td(e["rule"]),
                    asset_cell(rules, e["rule"], e["series"] or "", at, href),
                    html.Td(f"{e['previous']} → {e['state']}", className="alerts-when"),
                    html.Td(
                        alert_value_text(rules, e["rule"], as_float(e.get("value"))),
                        className="alerts-value",
                    ),
                    html.Td(notified),
                    replay_cell(rules, e["rule"], e["series"] or "", at, href),
                ]
            )
        )
    head = ["Time", "Rule", "Asset", "Change", "Value", "Notified", ""]
    return table(head, rows, table_id)


def table(head: list[str], rows: Sequence[Component], table_id: str) -> Component:
    """A scrolling table with a sticky header."""
    return html.Div(
        className="alerts-table-box",
        children=html.Table(
            id=table_id,
            className="alerts-table",
            children=[html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)],
        ),
    )
