"""Pure figure builders of the Entropy page: frames in, plotly figures out.

They share the wall theme of :mod:`dashboard.figures` (``base_layout``, ``empty_figure``,
``utc_strings``, the load colour scale). Entropy is drawn in bits on a fixed 0-2 scale,
utilisation in percent, times in UTC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figure_assembly import assemble, merged, stacked_axes
from dashboard.figures import (
    MUTED,
    NO_DATA,
    PANEL_TIME_FORMAT,
    TEXT,
    base_layout,
    empty_figure,
    load_colour,
    row_axis,
    utc_strings,
)
from twin.models.entropy import INTERVALS, MAX_BITS, NETWORK_BINS, STATE_TYPES

ENTROPY_COLORSCALE: list[list[float | str]] = [
    [0.0, "#1f3b73"],
    [0.25, "#1c7ed6"],
    [0.5, "#20c997"],
    [0.75, "#fab005"],
    [1.0, "#fa5252"],
]
"""Node entropy 0-2 bits to colour: deep blue (one state), green (about 1 bit), red (2 bits)."""

TYPE_COLOURS: dict[str, str] = {
    "A": "#15aabf",
    "B": "#51cf66",
    "C": "#fab005",
    "D": "#748ffc",
    "mixed": "#868e96",
}
"""One colour per state type."""

TYPE_NAMES: dict[str, str] = {
    "A": "A inference",
    "B": "B training",
    "C": "C render/cloud",
    "D": "D idle",
    "mixed": "mixed",
}

SPARK_CHARS = "▁▂▃▄▅▆▇█"
"""Unicode block heights of a sparkline, lowest first."""

INTERVAL_COLOURS = tuple(load_colour(v) for v in (0.15, 0.45, 0.7, 0.9))
"""Colour of each utilisation interval (idle, low, medium, high) on the load scale."""


def sparkline(values: Sequence[float] | pd.Series, top: float = MAX_BITS) -> str:
    """Values on ``[0, top]`` as unicode blocks, one per value; a space for a missing one."""
    out = []
    for v in np.asarray(values, dtype=float):
        if not math.isfinite(v):
            out.append(" ")
            continue
        level = round(min(max(v / top, 0.0), 1.0) * (len(SPARK_CHARS) - 1))
        out.append(SPARK_CHARS[level])
    return "".join(out)


def _axis(layout: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    return {**layout[name], **changes}


H_R_COLOUR = "#e8edf5"
NODE_H_COLOUR = "#15aabf"
BAND_COLOUR = "#51cf66"


def network_entropy_figure(
    fleet: pd.DataFrame,
    mean_node_bits: pd.Series,
    balance_bits: float,
    threshold_bits: float,
    bins: int = NETWORK_BINS,
) -> go.Figure:
    """Two panels over one time axis, since H(R) and a node's H are different quantities:

    * top: the fleet's H(R) [bits] (how spread the node entropies are over ``bins`` bins),
      on its own scale up to its maximum log2(bins) [bits], drawn as a reference;
    * bottom: the mean combined node entropy H [bits] with the balance band H* ± threshold,
      where node entropies are drawn.

    fleet : ``fleet_entropy`` rows: ``ts`` (UTC), ``network_entropy_bits`` [bits].
    mean_node_bits : mean combined node entropy [bits] indexed by time (UTC).
    """
    if fleet.empty or "network_entropy_bits" not in fleet:
        return empty_figure("No entropy computed in this time range")
    times = utc_strings(fleet["ts"])
    low, high = max(balance_bits - threshold_bits, 0.0), balance_bits + threshold_bits
    network = fleet["network_entropy_bits"].to_numpy(float)
    mean = mean_node_bits.reindex(pd.to_datetime(fleet["ts"], utc=True)).to_numpy(float)
    top_bits = math.log2(bins)
    traces = [
        {
            "type": "scatter",
            "x": times,
            "y": network,
            "mode": "lines+markers",
            "name": "H(R), fleet",
            "line": {"width": 3, "color": H_R_COLOUR},
            "hovertemplate": "H(R), fleet %{y:.2f} bits<extra></extra>",
            "xaxis": "x",
            "yaxis": "y",
        },
        {
            "type": "scatter",
            "x": times,
            "y": mean,
            "mode": "lines",
            "name": "mean node H, combined",
            "line": {"width": 2.5, "color": NODE_H_COLOUR},
            "hovertemplate": "mean node H, combined %{y:.2f} bits<extra></extra>",
            "xaxis": "x2",
            "yaxis": "y2",
        },
    ]
    layout = base_layout(
        margin={"l": 70, "r": 20, "t": 30, "b": 50}, hovermode="x unified", showlegend=False
    )
    style = layout.pop("xaxis")
    del layout["yaxis"]
    axes = stacked_axes((1.0, 1.0), spacing=0.2)
    for name, axis in axes.items():
        layout[name] = merged(style, axis)
    for name in ("xaxis", "xaxis2"):
        layout[name]["type"] = "date"
    layout["xaxis2"] = merged(layout["xaxis2"], {"title": {"text": "Time [UTC]"}})
    top = max(float(np.nanmax(network, initial=0.0)), top_bits) * 1.1
    node_top = max(float(np.nanmax(mean, initial=0.0)), high, 1.0) * 1.1
    layout["yaxis"] = merged(layout["yaxis"], {"title": {"text": "H(R) [bits]"}, "range": [0, top]})
    layout["yaxis2"] = merged(
        layout["yaxis2"], {"title": {"text": "node H [bits]"}, "range": [0, node_top]}
    )
    titles = (
        f"H(R), fleet: how node H spreads over {bins} bins [bits]",
        f"mean node H, combined [bits] · band: node target H* {balance_bits:.2f} ± "
        f"{threshold_bits:g} bits",
    )
    subtitle = {"font": {"size": 13, "color": MUTED}, "showarrow": False, "xref": "paper"}
    layout["annotations"] = [
        {**subtitle, "text": text, "x": 0, "xanchor": "left", "y": axes[axis]["domain"][1]}
        | {"yanchor": "bottom", "yref": "paper"}
        for text, axis in zip(titles, ("yaxis", "yaxis2"), strict=True)
    ]
    layout["annotations"].append(
        {
            "text": f"max log2 {bins} = {top_bits:g} bits: spread evenly",
            "font": {"size": 12, "color": MUTED},
            "showarrow": False,
            "x": 1,
            "xanchor": "right",
            "xref": "x domain",
            "y": top_bits,
            "yanchor": "top",
            "yref": "y",
        }
    )
    across = {"type": "line", "x0": 0, "x1": 1}
    layout["shapes"] = [
        {
            **across,
            "xref": "x domain",
            "yref": "y",
            "y0": top_bits,
            "y1": top_bits,
            "line": {"color": MUTED, "dash": "dot", "width": 1.5},
        },
        {
            "type": "rect",
            "x0": 0,
            "x1": 1,
            "xref": "x2 domain",
            "yref": "y2",
            "y0": low,
            "y1": high,
            "fillcolor": BAND_COLOUR,
            "opacity": 0.12,
            "line": {"width": 0},
            "layer": "below",
        },
        {
            **across,
            "xref": "x2 domain",
            "yref": "y2",
            "y0": balance_bits,
            "y1": balance_bits,
            "line": {"color": BAND_COLOUR, "dash": "dash", "width": 2},
        },
    ]
    return assemble(traces, layout)


MAX_NAMED_ROWS = 60
"""Heatmap rows up to which every node is named on the axis; beyond, names would overlap and
only the hover names them."""


HEATMAP_TIME_TICKS: dict[str, Any] = {
    "type": "date",
    "tickangle": 0,
    "nticks": 6,
    "tickformat": PANEL_TIME_FORMAT,
    "automargin": True,
}
"""The heatmap's time axis: labels kept horizontal, few enough (at most 6) and short enough
(time over day, no year) to stand side by side in its panel, a third of a 1920 px wide page
(plotly tilts them when they collide, and its default day labels carry the year)."""


def entropy_heatmap_figure(matrix: pd.DataFrame) -> go.Figure:
    """Node × hour combined entropy [bits]; rows are nodes (index), columns times (UTC). Up to
    MAX_NAMED_ROWS nodes each row is named on the axis, beyond only on hover. Time labels are
    horizontal (HEATMAP_TIME_TICKS)."""
    if matrix.empty or matrix.isna().all(axis=None):
        return empty_figure("No node entropy in this time range")
    heatmap = {
        "type": "heatmap",
        "x": utc_strings(matrix.columns),
        "y": [str(i) for i in matrix.index],
        "z": matrix.to_numpy(np.float32),
        "zmin": 0.0,
        "zmax": MAX_BITS,
        "colorscale": ENTROPY_COLORSCALE,
        "hoverongaps": False,
        "hovertemplate": "%{y}<br>%{x} UTC<br>H, combined %{z:.2f} bits<extra></extra>",
        "colorbar": {"title": {"text": "H, combined [bits]", "side": "right"}, "thickness": 14},
    }
    named = len(matrix.index) <= MAX_NAMED_ROWS
    layout = base_layout(margin={"l": 150 if named else 70, "r": 20, "t": 10, "b": 50})
    layout["xaxis"] = _axis(layout, "xaxis", title={"text": "Time [UTC]"}, **HEATMAP_TIME_TICKS)
    layout["yaxis"] = row_axis(layout, "Node", len(matrix.index), tick_size=11)
    return assemble([heatmap], layout)


def type_counts_figure(fleet: pd.DataFrame) -> go.Figure:
    """Nodes per state type [count] over time (UTC), stacked, from ``fleet_entropy`` rows."""
    columns = [f"nodes_{t}" for t in STATE_TYPES]
    if fleet.empty or not set(columns) <= set(fleet.columns):
        return empty_figure("No state types computed in this time range")
    times = utc_strings(fleet["ts"])
    bars = [
        {
            "type": "bar",
            "x": times,
            "y": fleet[column].fillna(0.0).to_numpy(float),
            "name": TYPE_NAMES[code],
            "marker": {"color": TYPE_COLOURS[code]},
            "hovertemplate": f"{TYPE_NAMES[code]} %{{y:.0f}} nodes<extra></extra>",
        }
        for code, column in zip(STATE_TYPES, columns, strict=True)
    ]
    layout = base_layout(
        barmode="stack",
        bargap=0.1,
        margin={"l": 70, "r": 20, "t": 10, "b": 50},
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": 13}},
    )
    layout["xaxis"] = _axis(layout, "xaxis", type="date", title={"text": "Time [UTC]"})
    layout["yaxis"] = _axis(layout, "yaxis", title={"text": "Nodes [count]"})
    return assemble(bars, layout)


def state_scatter_figure(nodes: pd.DataFrame, colour_by: str = "entropy") -> go.Figure:
    """Every node's current state (c, l, s) [%] in 3-D, coloured by entropy or state type.

    nodes : columns ``id``, ``c``, ``l``, ``s`` [0-1], ``entropy_bits`` [bits],
        ``state_type``; colour_by : ``entropy`` or ``type``. Each point's customdata is its id.
    """
    nodes = nodes.dropna(subset=["c", "l", "s"], how="all")
    if nodes.empty:
        return empty_figure("No node state in the last hour")
    hover = (
        "<b>%{customdata[0]}</b><br>compute %{x:.0f} %<br>network %{y:.0f} %"
        "<br>storage %{z:.0f} %<br>H, combined %{customdata[1]} bits · type %{customdata[2]}"
        "<extra></extra>"
    )
    custom = np.column_stack(
        [
            nodes["id"].astype(str),
            [_bits(v) for v in nodes["entropy_bits"].astype(float)],
            nodes["state_type"].fillna("—").astype(str),
        ]
    )
    if colour_by == "type":
        traces = []
        for code in STATE_TYPES:
            mask = (nodes["state_type"] == code).to_numpy()
            if mask.any():
                traces.append(
                    _scatter3d(
                        nodes[mask], custom[mask], hover, TYPE_COLOURS[code], TYPE_NAMES[code]
                    )
                )
    else:
        trace = _scatter3d(nodes, custom, hover, NO_DATA, "nodes")
        trace["marker"].update(
            color=nodes["entropy_bits"].astype(float).fillna(-1.0).to_numpy(),
            cmin=0.0,
            cmax=MAX_BITS,
            colorscale=ENTROPY_COLORSCALE,
            showscale=True,
            colorbar={"title": {"text": "H, combined [bits]", "side": "right"}, "thickness": 14},
        )
        traces = [trace]
    axis = {
        "range": [0, 100],
        "gridcolor": "#263042",
        "backgroundcolor": "#131a26",
        "color": TEXT,
        "tickfont": {"size": 11},
    }
    layout = base_layout(
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        legend={"orientation": "h", "y": 1.0, "x": 0, "font": {"size": 13}},
        scene={
            "xaxis": {**axis, "title": {"text": "c [%]"}},
            "yaxis": {**axis, "title": {"text": "l [%]"}},
            "zaxis": {**axis, "title": {"text": "s [%]"}},
            "bgcolor": "#131a26",
            "camera": {
                "eye": {"x": 1.5, "y": -1.5, "z": 0.8},
                "center": {"x": 0, "y": 0, "z": -0.1},
            },
            "aspectmode": "cube",
        },
    )
    return assemble(traces, layout)


def _scatter3d(
    nodes: pd.DataFrame, custom: np.ndarray, hover: str, colour: str, name: str
) -> dict[str, Any]:
    return {
        "type": "scatter3d",
        "x": nodes["c"].to_numpy(float) * 100.0,
        "y": nodes["l"].to_numpy(float) * 100.0,
        "z": nodes["s"].to_numpy(float) * 100.0,
        "mode": "markers",
        "name": name,
        "customdata": custom,
        "hovertemplate": hover,
        "marker": {"size": 6, "color": colour, "line": {"width": 0.5, "color": TEXT}},
    }


def _bits(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.2f}"


def hours_figure(hours: pd.Series, edges: Sequence[float], dimension_label: str) -> go.Figure:
    """One node's hourly mean utilisation [%] (axis ``<dimension_label> [%]``) as bars
    coloured by interval, with the inner interval edges (30/60/80 %) drawn; ``hours`` is
    indexed by hour start (UTC), NaN where the node was silent."""
    if hours.isna().all():
        return empty_figure("This node sent nothing in the window")
    values = hours.astype(float).to_numpy()
    inner = np.asarray(edges, dtype=float)[1:-1]
    index = np.searchsorted(inner, np.nan_to_num(values), side="right")
    colours = [
        NO_DATA if not math.isfinite(v) else INTERVAL_COLOURS[k]
        for v, k in zip(values, index, strict=True)
    ]
    fig = go.Figure(
        go.Bar(
            x=utc_strings(hours.index),
            y=[None if not math.isfinite(v) else v * 100.0 for v in values],
            marker={"color": colours},
            customdata=[INTERVALS[k] for k in index],
            hovertemplate="%{x} UTC<br>%{y:.1f} % · %{customdata}<extra></extra>",
            showlegend=False,
        )
    )
    for edge in inner:
        fig.add_hline(
            y=edge * 100.0,
            line={"color": MUTED, "dash": "dot", "width": 1.5},
            annotation_text=f"{edge * 100:.0f} %",
            annotation_position="top left",
            annotation_font={"size": 12, "color": MUTED},
        )
    layout = base_layout(margin={"l": 70, "r": 20, "t": 10, "b": 50}, bargap=0.15)
    layout["xaxis"] = _axis(layout, "xaxis", type="date", title={"text": "Hour [UTC]"})
    layout["yaxis"] = _axis(
        layout, "yaxis", title={"text": f"{dimension_label} [%]"}, range=[0, 100]
    )
    fig.update_layout(**layout)
    return fig


def interval_labels(edges: Sequence[float]) -> list[str]:
    """``idle<br>[0, 30 %)`` … ``high<br>[80, 100 %]``: each interval with its edges [%]."""
    bounds = [float(e) * 100.0 for e in edges]
    closing = [")"] * (len(INTERVALS) - 1) + ["]"]
    return [
        f"{name}<br>[{bounds[k]:.0f}, {bounds[k + 1]:.0f} %{closing[k]}"
        for k, name in enumerate(INTERVALS)
    ]


def intervals_figure(
    probabilities: pd.Series, terms: pd.Series, edges: Sequence[float]
) -> go.Figure:
    """The four interval shares P [%] as bars, each labelled with P and its term −P·log2 P
    [bits]; ``edges`` [0-1] name the intervals."""
    if probabilities.isna().any():
        return empty_figure("No hourly values: no distribution")
    p = probabilities.astype(float).to_numpy()
    t = terms.astype(float).to_numpy()
    labels = interval_labels(edges)
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=p * 100.0,
            marker={"color": list(INTERVAL_COLOURS)},
            text=[
                f"P = {pk:.3f} → {tk:.3f} bits" if pk > 0 else "P = 0"
                for pk, tk in zip(p, t, strict=True)
            ],
            textfont={"size": 13, "color": TEXT},
            textposition="outside",
            constraintext="none",
            cliponaxis=False,
            hovertemplate="%{x}<br>P %{y:.1f} %<extra></extra>",
            showlegend=False,
        )
    )
    layout = base_layout(margin={"l": 70, "r": 20, "t": 10, "b": 50})
    layout["xaxis"] = _axis(layout, "xaxis", tickangle=0, tickfont={"size": 13, "color": TEXT})
    layout["yaxis"] = _axis(layout, "yaxis", title={"text": "P [% of hours]"}, range=[0, 125])
    fig.update_layout(**layout)
    return fig
