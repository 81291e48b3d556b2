"""Small layout pieces several pages share."""

from __future__ import annotations

from dash import html
from dash.development.base_component import Component


def static_kpi_card(label: str, value: str, unit: str, note: str) -> Component:
    """A KPI card drawn with its value (pages that redraw their cards on every refresh)."""
    return html.Div(
        className="kpi",
        children=[
            html.Div(label, className="kpi-label"),
            html.Div(
                className="kpi-reading",
                children=[
                    html.Span(value, className="kpi-value"),
                    html.Span(unit, className="kpi-unit"),
                ],
            ),
            html.Div(note, className="kpi-note"),
        ],
    )
