"""Pure figure builders of the asset pages: an asset's series in stacked panels sharing the time
axis, with the spells its alerts were pending (amber) or firing (red) shaded across every
panel and the moment the page was opened for marked. Theme of :mod:`dashboard.figures`; times
in UTC, every axis titled with its unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures import base_layout, empty_figure, site_colour, utc_strings

FIRED_COLOUR = "#fa5252"
PENDING_COLOUR = "#fab005"
MOMENT_COLOUR = "#e8edf5"


@dataclass(frozen=True)
class Panel:
    """One panel: its axis ``title`` with the unit (``Power [kW]``), the ``columns`` drawn
    as (column, legend name), and ``scale`` from the stored unit to the axis unit."""

    title: str
    columns: tuple[tuple[str, str], ...]
    scale: float = 1.0


def asset_series_figure(
    panels: Sequence[tuple[pd.DataFrame, Panel]],
    spans: pd.DataFrame,
    moment: pd.Timestamp | None = None,
    message: str = "No data in this window",
) -> go.Figure:
    """Stacked panels, one per (frame, panel); each frame has ``ts`` (UTC) and the panel's
    columns (NaN is a gap). ``spans`` (``start``, ``end``, ``fired``, ``rule``) are shaded
    across every panel and named above them; ``moment`` is drawn as a dashed line."""
    drawn = [
        (frame, panel)
        for frame, panel in panels
        if not frame.empty and any(c in frame and frame[c].notna().any() for c, _ in panel.columns)
    ]
    if not drawn:
        return empty_figure(message)
    rows = len(drawn)
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.05)
    colour = 0
    for row, (frame, panel) in enumerate(drawn, start=1):
        for column, name in panel.columns:
            if column not in frame or frame[column].isna().all():
                continue
            fig.add_trace(
                go.Scatter(
                    x=utc_strings(frame["ts"]),
                    y=(frame[column].astype(float) * panel.scale).tolist(),
                    mode="lines",
                    name=name,
                    line={"width": 2.5, "color": site_colour(colour)},
                    hovertemplate=f"{name} %{{y:.3g}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
            colour += 1
        fig.update_yaxes(
            title={"text": panel.title.replace(" [", "<br>["), "font": {"size": 13}},
            rangemode="tozero",
            row=row,
            col=1,
        )
    _shade(fig, spans)
    fig.add_annotation(
        text=spans_note(spans),
        xref="paper",
        yref="paper",
        x=1.0,
        y=1.0,
        xanchor="right",
        yanchor="bottom",
        yshift=22,
        showarrow=False,
        font={"size": 13},
    )
    if moment is not None:
        fig.add_vline(
            x=pd.Timestamp(moment).tz_convert("UTC").isoformat(sep=" "),
            line={"color": MOMENT_COLOUR, "dash": "dash", "width": 2},
        )
    fig.update_xaxes(type="date")
    fig.update_xaxes(title={"text": "Time [UTC]"}, row=rows, col=1)
    layout = base_layout(
        hovermode="x unified",
        margin={"l": 80, "r": 20, "t": 40, "b": 50},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.0, "font": {"size": 14}},
    )
    axis, y_axis = layout.pop("xaxis"), layout.pop("yaxis")
    fig.update_layout(**layout)
    fig.update_xaxes(**{k: v for k, v in axis.items() if k != "title"})
    fig.update_yaxes(**{k: v for k, v in y_axis.items() if k != "title"})
    return fig


def _shade(fig: go.Figure, spans: pd.DataFrame) -> None:
    """Shade each alert spell across every panel, with one legend entry per kind shown."""
    shown: set[bool] = set()
    for span in spans.to_dict("records"):
        fired = bool(span["fired"])
        colour = FIRED_COLOUR if fired else PENDING_COLOUR
        fig.add_vrect(
            x0=pd.Timestamp(span["start"]).isoformat(sep=" "),
            x1=pd.Timestamp(span["end"]).isoformat(sep=" "),
            fillcolor=colour,
            opacity=0.18,
            line_width=0,
            layer="below",
            row="all",
            col=1,
        )
        shown.add(fired)
    for fired in sorted(shown):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name="alert firing" if fired else "alert pending",
                line={"width": 10, "color": FIRED_COLOUR if fired else PENDING_COLOUR},
                hoverinfo="skip",
            )
        )


def spans_note(spans: pd.DataFrame) -> str:
    """A line under the figure naming the shaded alerts: ``shaded: link_loss (firing) …``."""
    if spans.empty:
        return "No alert in this window."
    names = {
        f"{r['rule']} ({'firing' if r['fired'] else 'pending'})" for r in spans.to_dict("records")
    }
    return "Shaded: " + ", ".join(sorted(names))
