"""Plotly figures assembled from trace and layout dicts, without plotly's per-property checks.

Building a figure through plotly's graph objects validates every property on the way: the
wall theme's template alone costs about 10 ms a figure, a subplot grid from ``make_subplots``
8 ms and every ``update_*`` call a few more, so a page that redraws five charts spends a few
hundred ms before it reads a byte. Pages that redraw many figures per callback (Energy &
Carbon, Entropy) write their traces and layout as plain dicts and assemble them here in about
1 ms: the result is an ordinary ``go.Figure`` (attribute access, ``update_xaxes``), numbers given
as numpy arrays leave as plotly's binary typed arrays (NaN is a gap), and a named template
(``plotly_dark`` from :func:`dashboard.figures.base_layout`) is expanded from a copy made once.
What validation would have caught, the builders' unit tests and the browser tests check.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio


def assemble(traces: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """A figure of ``traces`` (dicts with their ``type``) and ``layout``, taken as written."""
    template = layout.get("template")
    if isinstance(template, str):
        layout = {**layout, "template": _template(template)}
    return go.Figure(data=traces, layout=layout, _validate=False)


@cache
def _template(name: str) -> dict[str, Any]:
    return pio.templates[name].to_plotly_json()


def stacked_axes(heights: tuple[float, ...], spacing: float | None = None) -> dict[str, Any]:
    """Layout axes of ``len(heights)`` rows sharing one x-axis, as ``make_subplots`` with
    ``shared_xaxes`` lays them out: ``heights`` relative, top first; ``spacing`` between rows
    as a share of the height (default 0.3 / rows). Row k's traces use ``xaxis="x<k>"``,
    ``yaxis="y<k>"`` (``x``/``y`` for row 1); only the bottom row's x-axis shows tick labels."""
    rows = len(heights)
    gap = 0.3 / rows if spacing is None else spacing
    scale = (1.0 - gap * (rows - 1)) / sum(heights)
    axes: dict[str, Any] = {}
    top = 1.0
    for row, height in enumerate(heights, start=1):
        suffix = "" if row == 1 else str(row)
        bottom = max(top - height * scale, 0.0) if row < rows else 0.0
        x_axis: dict[str, Any] = {"anchor": f"y{suffix}", "domain": [0.0, 1.0]}
        if row < rows:
            x_axis |= {"matches": f"x{rows}", "showticklabels": False}
        axes[f"xaxis{suffix}"] = x_axis
        axes[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [bottom, top]}
        top = bottom - gap
    return axes


def secondary_y_axes() -> dict[str, Any]:
    """Layout axes of one plot with a second y-axis on the right, as ``make_subplots`` with
    ``secondary_y`` lays them out: traces on it use ``yaxis="y2"``."""
    return {
        "xaxis": {"anchor": "y", "domain": [0.0, 0.94]},
        "yaxis": {"anchor": "x", "domain": [0.0, 1.0]},
        "yaxis2": {"anchor": "x", "overlaying": "y", "side": "right"},
    }


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, nested dicts merged key by key (``extra`` wins)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out
