"""Figures of the Replay page, built for redrawing at every playback tick.

:func:`site_map_figure` draws what :func:`dashboard.figures.site_map_figure` draws (sites and
links on the offline map, coloured by load, one site outlined) without plotly's per-property
validation: the traces are plain dicts whose numbers are numpy arrays sent as binary typed
arrays (``{"dtype": "f8", "bdata": …}``), and the load colours are sampled in one call. The
layout, which depends only on the sites' positions, is validated once per fleet. The figure
stays a ``go.Figure`` (attribute access as usual).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from _plotly_utils.utils import to_typed_array_spec
from plotly.colors import sample_colorscale

from dashboard import figures

LINK_WIDTH = 3
"""Width [px] of a link's line on the map."""


def site_map_figure(sites: pd.DataFrame, links: pd.DataFrame, selected: str | None) -> go.Figure:
    """Sites and links at one moment on the offline geo map (columns as
    :func:`dashboard.figures.site_map_figure` reads them); ``selected``: a site outlined."""
    if sites.empty:
        return figures.empty_figure("No sites in the inventory")
    traces = [*_link_traces(links), _site_trace(sites, selected), _colour_bar()]
    latitude = tuple(sites["latitude"].astype(float))
    longitude = tuple(sites["longitude"].astype(float))
    return go.Figure({"data": traces, "layout": _layout(latitude, longitude)}, _validate=False)


def load_colours(util: np.ndarray) -> list[str]:
    """The colour of each load ``util`` [0-1] on the load colour scale (clipped), grey where
    unknown: :func:`dashboard.figures.load_colour` for many values at once."""
    values = np.asarray(util, dtype=float)
    known = np.isfinite(values)
    out = [figures.NO_DATA] * len(values)
    if known.any():
        sampled = sample_colorscale(figures.LOAD_COLORSCALE, np.clip(values[known], 0.0, 1.0))
        for i, colour in zip(np.flatnonzero(known), sampled, strict=True):
            out[i] = str(colour)
    return out


def segments(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Coordinates of line segments start→end separated by NaN, which plotly draws as a gap
    (one line per segment)."""
    out = np.full(3 * len(start), np.nan)
    out[0::3] = start
    out[1::3] = end
    return out


def _link_traces(links: pd.DataFrame) -> list[dict[str, Any]]:
    if links.empty:
        return []
    util = links["util"].to_numpy(dtype=float)
    lat_a, lat_b = links["lat_a"].to_numpy(float), links["lat_b"].to_numpy(float)
    lon_a, lon_b = links["lon_a"].to_numpy(float), links["lon_b"].to_numpy(float)
    classes = np.where(
        np.isfinite(util),
        np.clip(np.floor(np.nan_to_num(util) * figures.LINK_BINS), 0, figures.LINK_BINS - 1),
        -1,
    ).astype(int)
    lines = [
        {
            "type": "scattergeo",
            "lat": to_typed_array_spec(segments(lat_a[classes == c], lat_b[classes == c])),
            "lon": to_typed_array_spec(segments(lon_a[classes == c], lon_b[classes == c])),
            "mode": "lines",
            "line": {
                "width": LINK_WIDTH,
                "color": figures.NO_DATA
                if c < 0
                else figures.load_colour((c + 0.5) / figures.LINK_BINS),
            },
            "hoverinfo": "skip",
            "showlegend": False,
        }
        for c in np.unique(classes).tolist()
    ]
    texts = [
        f"link {name}<br>load {figures.format_share(u)} %<br>latency {_number(lat)} ms"
        for name, u, lat in zip(
            figures.plain(links["link"]), util, links["latency_ms"].to_numpy(float), strict=True
        )
    ]
    midpoints = {
        "type": "scattergeo",
        "lat": to_typed_array_spec((lat_a + lat_b) / 2),
        "lon": to_typed_array_spec((lon_a + lon_b) / 2),
        "mode": "markers",
        "marker": {"size": 7, "color": load_colours(util)},
        "text": texts,
        "hovertemplate": "%{text}<extra></extra>",
        "showlegend": False,
    }
    return [*lines, midpoints]


def _site_trace(sites: pd.DataFrame, selected: str | None) -> dict[str, Any]:
    power = sites["facility_power_kw"].to_numpy(dtype=float)
    known = np.isfinite(power)
    biggest = float(power[known].max()) if known.any() and power[known].max() > 0 else 1.0
    smallest, span = (14, 22) if len(sites) <= figures.MAX_MAP_LABELS else (7, 13)
    sizes = smallest + span * np.sqrt(np.clip(np.nan_to_num(power), 0.0, None) / biggest)
    util = sites["util"].to_numpy(dtype=float)
    chosen = (sites["site"] == selected).to_numpy()
    names = figures.plain(sites["name"])
    shares = [figures.format_share(u) for u in util]
    powers = [" ".join(figures.format_power(p)) for p in power]
    reporting = sites["nodes_reporting"].tolist()
    expected = sites["nodes_expected"].tolist()
    ids = figures.plain(sites["site"])
    return {
        "type": "scattergeo",
        "lat": to_typed_array_spec(sites["latitude"].to_numpy(float)),
        "lon": to_typed_array_spec(sites["longitude"].to_numpy(float)),
        "mode": "markers+text",
        "text": figures.map_labels(sites),
        "textposition": figures.label_positions(sites["latitude"], sites["longitude"]),
        "textfont": {"size": 15, "color": figures.TEXT},
        "customdata": [
            [n, s, p, r, e, "none", i]
            for n, s, p, r, e, i in zip(
                names, shares, powers, reporting, expected, ids, strict=True
            )
        ],
        "hovertemplate": (
            "<b>%{customdata[0]}</b> (%{customdata[6]})<br>compute %{customdata[1]} %"
            "<br>facility %{customdata[2]}<br>nodes %{customdata[3]} / %{customdata[4]}"
            "<br>alerts %{customdata[5]}<extra></extra>"
        ),
        "marker": {
            "size": to_typed_array_spec(sizes),
            "color": load_colours(util),
            "line": {
                "width": to_typed_array_spec(np.where(chosen, 5.0, 1.5)),
                "color": [figures.SELECTED if c else figures.TEXT for c in chosen],
            },
            "opacity": 0.95,
        },
        "showlegend": False,
    }


@lru_cache(maxsize=1)
def _colour_bar() -> dict[str, Any]:
    trace: dict[str, Any] = figures._colour_bar_trace("Compute utilisation [%]").to_plotly_json()
    return trace


@lru_cache(maxsize=8)
def _layout(latitude: tuple[float, ...], longitude: tuple[float, ...]) -> dict[str, Any]:
    """The map's layout for sites at these positions [degrees], validated once."""
    positions = pd.DataFrame({"latitude": latitude, "longitude": longitude})
    layout = go.Layout(
        **figures.base_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}),
        geo=figures._geo(positions),
    )
    shown: dict[str, Any] = layout.to_plotly_json()
    return shown


def _number(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.1f}"
