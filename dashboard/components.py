"""Small layout pieces several pages share."""

from __future__ import annotations

from typing import Any

from dash import dcc, html
from dash.development.base_component import Component

GRAPH_CONFIG: dcc.Graph.Config = {"displaylogo": False}
"""Plotly toolbar settings of every graph on the pages."""


def graph_panel(
    heading: str | Component,
    graph_id: str,
    figure: Any,
    config: dcc.Graph.Config = GRAPH_CONFIG,
) -> Component:
    """A titled panel holding one responsive graph; ``heading`` is the title text or a
    ready-made heading (a title with tools beside it)."""
    title = html.H2(heading, className="panel-title") if isinstance(heading, str) else heading
    return html.Section(
        className="panel",
        children=[
            title,
            html.Div(
                className="graph-box",
                children=dcc.Graph(id=graph_id, figure=figure, config=config, responsive=True),
            ),
        ],
    )


def kpi_card_frame(label: str, value: Component, unit: Component, note: Component) -> Component:
    """A KPI card's markup around its value, unit and note elements."""
    return html.Div(
        className="kpi",
        children=[
            html.Div(label, className="kpi-label"),
            html.Div(className="kpi-reading", children=[value, unit]),
            note,
        ],
    )


def static_kpi_card(label: str, value: str, unit: str, note: str) -> Component:
    """A KPI card drawn with its value (pages that redraw their cards on every refresh)."""
    return kpi_card_frame(
        label,
        html.Span(value, className="kpi-value"),
        html.Span(unit, className="kpi-unit"),
        html.Div(note, className="kpi-note"),
    )
