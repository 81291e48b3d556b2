"""Pure figure builders: frames in, plotly figures out, no server and no store.

Every builder draws the dark, high-contrast wall theme, puts units on every axis and colour bar,
and turns missing data into an explanatory empty figure rather than an error. The ``*_extension``
functions build the ``extendData`` payloads that append new windows to a figure already drawn,
so live ticks never redraw whole figures.

Times on the x axes are UTC and are sent to the browser as naive ISO strings (plotly.js ignores
time-zone offsets), so every time axis is titled ``[UTC]``.

plotly.js draws text (hover labels, text labels, legend names, tick labels) as a small HTML
subset: text a user or a device can set goes through :func:`plain` before it reaches a figure,
so ``<b>`` or ``<a href>`` in a display name shows as those characters.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale

from dashboard.figure_assembly import assemble

BACKGROUND = "#0b0f17"
PANEL = "#131a26"
GRID = "#263042"
TEXT = "#e8edf5"
MUTED = "#9aa7bd"
NO_DATA = "#5c6678"
FONT = "Inter, 'DejaVu Sans', 'Segoe UI', Arial, sans-serif"

LOAD_COLORSCALE: list[list[float | str]] = [
    [0.0, "#4c6ef5"],
    [0.3, "#15aabf"],
    [0.6, "#fab005"],
    [0.8, "#fd7e14"],
    [1.0, "#fa5252"],
]
"""Load [0-1] to colour: blue idle, cyan low, amber medium, orange-red high (the entropy
intervals 30/60/80 %), every stop visible on the dark background."""

SITE_COLOURS: tuple[str, ...] = tuple(qualitative.Plotly) + tuple(qualitative.Light24)
"""One distinct colour per site, in fleet order (cycled past the end)."""

LINK_BINS = 10
"""Links are drawn in this many load classes, one trace per class (a line has one colour)."""

ASIA_BOX = (25.0, 160.0, -15.0, 55.0)
"""Longitude and latitude bounds [degrees] of plotly's ``asia`` geo scope."""

SERIES_PANELS: tuple[tuple[str, str, float], ...] = (
    ("util", "Compute utilisation [%]", 100.0),
    ("facility_power_kw", "Facility power [kW]", 1.0),
    ("intensity_g_per_kwh", "Carbon intensity, average [gCO2/kWh]", 1.0),
)
"""The per-site time-series panels: (column of the series frame, axis title, scale to unit)."""

OTHERS_FILL = "rgba(154, 167, 189, 0.25)"
"""Fill of the band of the sites without their own line."""

MAX_MAP_LABELS = 12
"""Sites labelled on the map at most (the busiest); the others name themselves on hover."""

MAX_AXIS_LABELS = 40
"""Rows of a heatmap above which its row axis shows no tick labels (names on hover)."""


def base_layout(**overrides: Any) -> dict[str, Any]:
    """The wall theme as plotly layout keywords, with ``overrides`` merged on top."""
    axis = {
        "gridcolor": GRID,
        "zerolinecolor": GRID,
        "linecolor": GRID,
        "tickfont": {"size": 14, "color": TEXT},
        "title": {"font": {"size": 15, "color": MUTED}},
    }
    layout: dict[str, Any] = {
        "template": "plotly_dark",
        "paper_bgcolor": PANEL,
        "plot_bgcolor": PANEL,
        "font": {"family": FONT, "size": 14, "color": TEXT},
        "margin": {"l": 70, "r": 20, "t": 30, "b": 50},
        "xaxis": dict(axis),
        "yaxis": dict(axis),
        "legend": {"font": {"size": 14}, "bgcolor": "rgba(0,0,0,0)"},
        "hoverlabel": {"font": {"size": 15, "family": FONT}},
        "uirevision": "keep",
    }
    layout.update(overrides)
    return layout


PANEL_TIME_FORMAT = "%H:%M<br>%b %-d"
"""Date-axis labels of charts a third of a page wide: time over a short day on every tick.
Plotly's own labels carry the year under each day's first tick, and at 6 h ticks neighbouring
days then touch."""

LOADING = "Loading…"
"""What a page's placeholders say until its first callback has read the store."""


def empty_figure(message: str) -> go.Figure:
    """A figure with no axes and ``message`` in the middle: what to show instead of a chart
    (every page's placeholders, so assembled without plotly's per-property checks)."""
    layout = base_layout()
    layout["xaxis"] = {**layout["xaxis"], "visible": False}
    layout["yaxis"] = {**layout["yaxis"], "visible": False}
    layout["annotations"] = [
        {
            "text": message,
            "showarrow": False,
            "xref": "paper",
            "yref": "paper",
            "x": 0.5,
            "y": 0.5,
            "font": {"size": 18, "color": MUTED},
        }
    ]
    return assemble([], layout)


def load_colour(util: float) -> str:
    """The colour of a load ``util`` [0-1] on LOAD_COLORSCALE (clipped); grey when unknown."""
    if util is None or not math.isfinite(util):
        return NO_DATA
    return str(sample_colorscale(LOAD_COLORSCALE, [min(max(util, 0.0), 1.0)])[0])


def site_colour(index: int) -> str:
    """The line colour of the ``index``-th site in fleet order."""
    return SITE_COLOURS[index % len(SITE_COLOURS)]


def utc_strings(times: Sequence[Any] | pd.Series | pd.Index) -> list[str]:
    """Timestamps (tz-aware or naive UTC) as naive ISO strings plotly.js reads as given."""
    index = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).tz_convert(None)
    return [t.isoformat(sep=" ") for t in index]


def _json_values(values: Sequence[float] | np.ndarray | pd.Series, scale: float) -> list[Any]:
    """Floats times ``scale`` to 0.01 (short on the wire), NaN as None (JSON null: a gap in
    the line)."""
    array = np.round(np.asarray(values, float) * scale, 2)
    return [v if math.isfinite(v) else None for v in array.tolist()]


def format_power(power_kw: float | None) -> tuple[str, str]:
    """A power [kW] as (number, unit) for a card: kW below 1 MW, MW above; ``—`` if unknown."""
    if power_kw is None or not math.isfinite(power_kw):
        return "—", "kW"
    if abs(power_kw) >= 1000.0:
        return f"{power_kw / 1000.0:,.2f}", "MW"
    return f"{power_kw:,.0f}", "kW"


def format_share(share: float | None) -> str:
    """A share [0-1] as a whole percent number (``"42"``); ``—`` if unknown."""
    if share is None or not math.isfinite(share):
        return "—"
    return f"{share * 100.0:.0f}"


def format_intensity(intensity_g_per_kwh: float | None) -> str:
    """A carbon intensity [gCO2/kWh] as a whole number; ``—`` if unknown."""
    if intensity_g_per_kwh is None or not math.isfinite(intensity_g_per_kwh):
        return "—"
    return f"{intensity_g_per_kwh:,.0f}"


def plain(values: Sequence[object] | pd.Series) -> list[str]:
    """Each value as text plotly.js draws literally: ``&``, ``<`` and ``>`` escaped."""
    return [html.escape(str(v), quote=False) for v in values]


def site_map_figure(
    sites: pd.DataFrame,
    links: pd.DataFrame,
    alerts: Mapping[str, tuple[int, int]] | None = None,
    selected: str | None = None,
) -> go.Figure:
    """Sites and links on an offline geo map, coloured by load.

    alerts : per site id, its (firing, pending) alert counts: a site with firing alerts gets a
        red ring around its marker, one with pending alerts an amber ring, and the counts are
        hovered.
    selected : a site drawn with a thick accent outline (the asset the page is about).

    sites : columns ``site``, ``name``, ``latitude``, ``longitude`` [degrees], ``util`` [0-1],
        ``facility_power_kw`` [kW] (marker size), ``nodes_reporting``, ``nodes_expected``.
    links : columns ``link``, ``lat_a``, ``lon_a``, ``lat_b``, ``lon_b`` [degrees],
        ``util`` [0-1], ``latency_ms`` [ms].

    Base layers are land, coast, ocean and lakes only: no country borders are drawn.
    """
    if sites.empty:
        return empty_figure("No sites in the inventory")
    traces: list[dict[str, Any]] = []
    for bin_index, group in _link_classes(links):
        lats = _segments(group["lat_a"], group["lat_b"])
        lons = _segments(group["lon_a"], group["lon_b"])
        colour = NO_DATA if bin_index < 0 else load_colour((bin_index + 0.5) / LINK_BINS)
        traces.append(
            dict(
                type="scattergeo",
                lat=lats,
                lon=lons,
                mode="lines",
                line={"width": 3, "color": colour},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    if not links.empty:
        traces.append(
            dict(
                type="scattergeo",
                lat=(links["lat_a"] + links["lat_b"]) / 2,
                lon=(links["lon_a"] + links["lon_b"]) / 2,
                mode="markers",
                marker={"size": 7, "color": [load_colour(u) for u in links["util"]]},
                text=[
                    f"link {name}<br>load {format_share(util)} %<br>"
                    f"latency {_number(latency, '.1f')} ms"
                    for name, util, latency in zip(
                        plain(links["link"]),
                        links["util"].to_numpy(float),
                        links["latency_ms"].to_numpy(float),
                        strict=True,
                    )
                ],
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
            )
        )
    power = sites["facility_power_kw"].astype(float)
    biggest = float(power.max()) if power.notna().any() and power.max() > 0 else 1.0
    smallest, span = (14, 22) if len(sites) <= MAX_MAP_LABELS else (7, 13)
    sizes = smallest + span * np.sqrt(power.fillna(0.0).clip(lower=0.0) / biggest)
    util = sites["util"].astype(float)
    counts = [(alerts or {}).get(site, (0, 0)) for site in sites["site"]]
    rings = [i for i, (firing, pending) in enumerate(counts) if firing or pending]
    if rings:
        traces.append(
            dict(
                type="scattergeo",
                lat=sites["latitude"].iloc[rings].tolist(),
                lon=sites["longitude"].iloc[rings].tolist(),
                mode="markers",
                marker={
                    "symbol": "circle-open",
                    "size": (np.asarray(sizes, dtype=float)[rings] + 14).tolist(),
                    "color": [ALERT_RINGS["firing" if counts[i][0] else "pending"] for i in rings],
                    "line": {"width": 4},
                },
                hoverinfo="skip",
                showlegend=False,
            )
        )
    traces.append(
        dict(
            type="scattergeo",
            lat=sites["latitude"],
            lon=sites["longitude"],
            mode="markers+text",
            text=map_labels(sites),
            textposition=label_positions(sites["latitude"], sites["longitude"]),
            textfont={"size": 15, "color": TEXT},
            customdata=np.column_stack(
                [
                    plain(sites["name"]),
                    [format_share(u) for u in util],
                    [" ".join(format_power(p)) for p in power],
                    sites["nodes_reporting"],
                    sites["nodes_expected"],
                    [_alert_text(c) for c in counts],
                    plain(sites["site"]),
                ]
            ),
            hovertemplate=(
                "<b>%{customdata[0]}</b> (%{customdata[6]})<br>compute %{customdata[1]} %"
                "<br>facility %{customdata[2]}<br>nodes %{customdata[3]} / %{customdata[4]}"
                "<br>alerts %{customdata[5]}<extra></extra>"
            ),
            marker={
                "size": sizes,
                "color": [load_colour(u) for u in util],
                "line": {
                    "width": [5.0 if site == selected else 1.5 for site in sites["site"]],
                    "color": [SELECTED if site == selected else TEXT for site in sites["site"]],
                },
                "opacity": 0.95,
            },
            showlegend=False,
        )
    )
    traces.append(_colour_bar_trace("Compute utilisation [%]"))
    layout = {**base_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}), "geo": _geo(sites)}
    return assemble(traces, layout)


ALERT_RINGS = {"firing": "#fa5252", "pending": "#fab005"}
"""Colour of the ring around a site with firing (else pending) alerts."""
SELECTED = "#4dabf7"
"""Outline of the site a page is about."""


def _alert_text(counts: tuple[int, int]) -> str:
    firing, pending = counts
    return f"{firing} firing · {pending} pending" if firing or pending else "none"


def map_labels(sites: pd.DataFrame, limit: int = MAX_MAP_LABELS) -> list[str]:
    """The text drawn beside each site on the map: its id for the ``limit`` busiest sites
    (highest compute utilisation, then facility power), nothing for the others (their hover
    names them), so labels of a large fleet do not run into each other."""
    names = plain(sites["site"])
    if len(sites) <= limit:
        return names
    rank = sites.assign(
        _util=sites["util"].astype(float).fillna(-1.0),
        _power=sites["facility_power_kw"].astype(float).fillna(-1.0),
    ).sort_values(["_util", "_power"], ascending=False, kind="stable")
    busiest = set(rank.index[:limit])
    return [name if i in busiest else "" for i, name in zip(sites.index, names, strict=True)]


def row_axis(layout: dict[str, Any], title: str, rows: int, tick_size: int = 12) -> dict[str, Any]:
    """The category axis of a heatmap's ``rows`` (nodes or sites, top to bottom): tick labels
    when they fit, else none and the title says the names are on hover."""
    many = rows > MAX_AXIS_LABELS
    return {
        **layout["yaxis"],
        "type": "category",
        "autorange": "reversed",
        "automargin": True,  # long names widen the margin instead of being cut
        "showticklabels": not many,
        "title": {"text": f"{title} ({rows:,}, names on hover)" if many else title},
        "tickfont": {"size": tick_size, "color": TEXT},
    }


def label_positions(latitude: pd.Series, longitude: pd.Series) -> list[str]:
    """Where to put each site's label [plotly ``textposition``]: on the side facing away from
    its nearest neighbour, so labels of nearby sites do not overlap; above or below instead of
    outwards for sites in the west- and east-most fifth, so labels stay inside the map."""
    lat = np.radians(latitude.to_numpy(float))
    lon = np.radians(longitude.to_numpy(float))
    if len(lat) < 2:
        return ["top center"] * len(lat)
    west, east = lon.min(), lon.max()
    edge = (east - west) / 5
    positions = []
    for i in range(len(lat)):
        dx = (lon - lon[i]) * np.cos((lat + lat[i]) / 2)
        dy = lat - lat[i]
        distance = np.hypot(dx, dy)
        distance[i] = np.inf
        j = int(np.argmin(distance))
        vertical = "bottom center" if dy[j] > 0 else "top center"
        if abs(dx[j]) < abs(dy[j]):
            positions.append(vertical)
        elif dx[j] > 0:
            positions.append(vertical if lon[i] - west < edge else "middle left")
        else:
            positions.append(vertical if east - lon[i] < edge else "middle right")
    return positions


def _segments(start: pd.Series, end: pd.Series) -> list[float | None]:
    """Coordinates of line segments start→end, separated by None (one line per segment)."""
    out: list[float | None] = []
    for a, b in zip(start.to_numpy(float), end.to_numpy(float), strict=True):
        out += [float(a), float(b), None]
    return out


def _number(value: float | None, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return format(value, spec)


def _link_classes(links: pd.DataFrame) -> list[tuple[int, pd.DataFrame]]:
    """Links grouped by load class (0…LINK_BINS-1, -1 = no data), lowest load first."""
    if links.empty:
        return []
    util = links["util"].astype(float)
    classes = np.where(
        util.notna(), np.clip(np.floor(util.fillna(0.0) * LINK_BINS), 0, LINK_BINS - 1), -1
    ).astype(int)
    return [(int(c), links[classes == c]) for c in sorted(set(classes.tolist()))]


def _colour_bar_trace(title: str) -> dict[str, Any]:
    """An invisible trace that carries the load colour bar (0-100 %) for the map."""
    return dict(
        type="scattergeo",
        lat=[None],
        lon=[None],
        mode="markers",
        marker={
            "size": 0,
            "color": [0.0],
            "cmin": 0.0,
            "cmax": 100.0,
            "colorscale": LOAD_COLORSCALE,
            "showscale": True,
            "colorbar": {
                "title": {"text": title, "side": "top", "font": {"size": 14}},
                "tickfont": {"size": 13},
                "orientation": "h",
                "thickness": 12,
                "len": 0.8,
                "x": 0.5,
                "xanchor": "center",
                "y": 0.0,
                "yanchor": "bottom",
            },
        },
        hoverinfo="skip",
        showlegend=False,
    )


def _geo(sites: pd.DataFrame) -> dict[str, Any]:
    """Geo layout framing the sites (at least 8° × 6°), on the bundled base map."""
    lat = sites["latitude"].astype(float)
    lon = sites["longitude"].astype(float)
    lat_lo, lat_hi = float(lat.min()), float(lat.max())
    lon_lo, lon_hi = float(lon.min()), float(lon.max())
    lat_pad = max((lat_hi - lat_lo) * 0.12, 3.0)
    lon_pad = max((lon_hi - lon_lo) * 0.25, 5.0)
    lon_min, lon_max = ASIA_BOX[0], ASIA_BOX[1]
    lat_min, lat_max = ASIA_BOX[2], ASIA_BOX[3]
    in_asia = lon_lo >= lon_min and lon_hi <= lon_max and lat_lo >= lat_min and lat_hi <= lat_max
    if in_asia:
        lon_range = [max(lon_lo - lon_pad, lon_min), min(lon_hi + lon_pad, lon_max)]
        lat_range = [max(lat_lo - lat_pad, lat_min), min(lat_hi + lat_pad, lat_max)]
    else:
        lon_range = [max(lon_lo - lon_pad, -180.0), min(lon_hi + lon_pad, 180.0)]
        lat_range = [max(lat_lo - lat_pad, -85.0), min(lat_hi + lat_pad, 85.0)]
    return {
        "scope": "asia" if in_asia else "world",
        "resolution": 50 if in_asia else 110,
        "projection": {"type": "mercator"},
        "lonaxis": {"range": lon_range},
        "lataxis": {"range": lat_range},
        "showland": True,
        "landcolor": "#1c2533",
        "showocean": True,
        "oceancolor": "#0d1624",
        "showlakes": True,
        "lakecolor": "#0d1624",
        "showcoastlines": True,
        "coastlinecolor": "#4a5870",
        "showcountries": False,
        "showsubunits": False,
        "showframe": False,
        "bgcolor": PANEL,
        "domain": {"x": [0.0, 1.0], "y": [0.14, 1.0]},
    }


def site_series_figure(
    series: pd.DataFrame,
    sites: Sequence[str],
    shown: Sequence[str] | None = None,
    onsets: pd.DataFrame | None = None,
) -> go.Figure:
    """Per-site time series in three stacked panels sharing the time axis.

    series : columns ``ts`` (UTC), ``site`` and the columns of SERIES_PANELS (``util`` [0-1],
        ``facility_power_kw`` [kW], ``intensity_g_per_kwh`` [gCO2/kWh]); NaN is a gap.
    sites : every site id in fleet order (a site keeps its colour whatever is shown).
    shown : the sites drawn as their own line (default: all); the rest of ``sites`` are one
        shaded band per panel, from their lowest to their highest value at each time.

    onsets : alerts that began per window (``ts``, ``count``, ``text``;
    twin.views.assets.alert_onsets),
        marked above the utilisation panel with what began on hover.

    Traces of a panel are the band's lower and upper edge (if some sites are not shown), then
    one per shown site; panels follow each other (the order ``series_extension`` appends to);
    the alert marks come last.
    """
    if (
        not len(sites)
        or series.empty
        or series[[c for c, _, _ in SERIES_PANELS]].isna().all(axis=None)
    ):
        return empty_figure("No site data in the last 24 h")
    shown = list(sites) if shown is None else list(shown)
    others = [s for s in sites if s not in set(shown)]
    colour = {site: site_colour(index) for index, site in enumerate(sites)}
    traces: list[dict[str, Any]] = []
    count = len(SERIES_PANELS)
    for panel, (x, ys) in enumerate(_panel_columns(series, shown, others)):
        axes = {
            "xaxis": "x" if panel == 0 else f"x{panel + 1}",
            "yaxis": "y" if panel == 0 else f"y{panel + 1}",
        }
        if others:
            band = f"other {len(others)} sites (range)"
            for edge, y in zip(("lowest", "highest"), ys[:2], strict=True):
                traces.append(
                    dict(
                        type="scatter",
                        x=x,
                        y=y,
                        mode="lines",
                        name=band,
                        legendgroup="others",
                        showlegend=panel == 0 and edge == "highest",
                        line={"width": 0.5, "color": MUTED},
                        fill="tonexty" if edge == "highest" else None,
                        fillcolor=OTHERS_FILL,
                        hovertemplate=f"others, {edge} %{{y:.1f}}<extra></extra>",
                        **axes,
                    )
                )
            ys = ys[2:]
        for site, y in zip(shown, ys, strict=True):
            name = plain([site])[0]
            traces.append(
                dict(
                    type="scatter",
                    x=x,
                    y=y,
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    showlegend=panel == 0,
                    line={"width": 2.5, "color": colour.get(site, MUTED)},
                    hovertemplate=f"{name} %{{y:.1f}}<extra></extra>",
                    **axes,
                )
            )
    if onsets is not None and len(onsets):
        traces.append(_onset_trace(onsets))
    gap = 0.06
    height = (1.0 - gap * (count - 1)) / count
    layout = base_layout(
        hovermode="x unified",
        legend={
            "orientation": "h",
            "y": 1.0,
            "yanchor": "bottom",
            "x": 0.0,
            "font": {"size": 14},
            "bgcolor": "rgba(0,0,0,0)",
        },
        margin={"l": 80, "r": 20, "t": 40, "b": 50},
    )
    axis_style = layout.pop("xaxis")
    y_style = layout.pop("yaxis")
    for panel, (_column, title, _scale) in enumerate(SERIES_PANELS):
        suffix = "" if panel == 0 else str(panel + 1)
        top = 1.0 - panel * (height + gap)
        layout[f"xaxis{suffix}"] = {
            **axis_style,
            "anchor": f"y{suffix}",
            "domain": [0.0, 1.0],
            "matches": None if panel == 0 else "x",
            "showticklabels": panel == count - 1,
            "type": "date",
            "title": {"text": "Time [UTC]" if panel == count - 1 else ""},
        }
        layout[f"yaxis{suffix}"] = {
            **y_style,
            "anchor": f"x{suffix}",
            "domain": [top - height, top],
            "title": {"text": title.replace(" [", "<br>["), "font": {"size": 13}},
            "rangemode": "tozero",
        }
    return assemble(traces, layout)


def _onset_trace(onsets: pd.DataFrame) -> dict[str, Any]:
    """Alert marks at the top of the utilisation panel [%], one per window in which alerts
    began, larger for more; their rule and asset on hover."""
    counts = onsets["count"].to_numpy(float)
    return dict(
        type="scatter",
        x=utc_strings(onsets["ts"]),
        y=[100.0] * len(onsets),
        mode="markers",
        name="alerts began",
        legendgroup="alerts",
        marker={
            "symbol": "triangle-down",
            "size": (9 + 3 * np.sqrt(np.minimum(counts, 100))).tolist(),
            "color": ALERT_RINGS["firing"],
            "line": {"width": 1, "color": TEXT},
        },
        text=[
            f"{n:.0f} alert(s) began: {t}"
            for n, t in zip(counts, plain(onsets["text"]), strict=True)
        ],
        hovertemplate="%{text}<extra></extra>",
        xaxis="x",
        yaxis="y",
    )


def series_extension(
    series: pd.DataFrame, sites: Sequence[str], max_points: int, shown: Sequence[str] | None = None
) -> tuple[dict[str, list[list[Any]]], list[int], int] | None:
    """The ``extendData`` payload appending ``series`` rows to a ``site_series_figure`` drawn
    with the same ``sites`` and ``shown``.

    Returns ``(update, trace_indices, max_points)`` or None when there is nothing to add;
    ``max_points`` keeps each trace to that many points (older ones drop off the left).
    """
    if series.empty or not len(sites):
        return None
    shown = list(sites) if shown is None else list(shown)
    others = [s for s in sites if s not in set(shown)]
    xs: list[list[Any]] = []
    ys: list[list[Any]] = []
    for x, panel_ys in _panel_columns(series, shown, others):
        xs += [x] * len(panel_ys)
        ys += panel_ys
    if not any(xs):
        return None
    return {"x": xs, "y": ys}, list(range(len(xs))), max_points


def _panel_columns(
    series: pd.DataFrame, shown: Sequence[str], others: Sequence[str]
) -> list[tuple[list[str], list[list[Any]]]]:
    """Per SERIES_PANELS panel, the window times and the y values of its traces in figure
    order: the lowest and highest of ``others`` (if any), then each of ``shown``."""
    columns = [c for c, _title, _scale in SERIES_PANELS]
    wide = (
        series.assign(ts=pd.to_datetime(series["ts"], utc=True))
        .groupby(["ts", "site"])[columns]
        .mean()
        .unstack("site")
    )
    sites = list(dict.fromkeys([*shown, *others]))
    out = []
    for column, _title, scale in SERIES_PANELS:
        table = pd.DataFrame(wide[column]).reindex(columns=sites).astype(float)
        ys = []
        if others:
            rest = table[list(others)]
            ys += [
                _json_values(rest.min(axis=1), scale),
                _json_values(rest.max(axis=1), scale),
            ]
        ys += [_json_values(table[site], scale) for site in shown]
        out.append((utc_strings(table.index), ys))
    return out


def heatmap_figure(matrix: pd.DataFrame) -> go.Figure:
    """Node × time compute utilisation.

    matrix : index node ids (top to bottom), columns window start times (UTC), values
        compute utilisation [0-1], NaN where a node sent nothing (a gap). Sent as one binary
        array in percent to 0.1 (a 1,000 × 96 matrix: about 0.5 MB, built and encoded in a few
        ms, where lists of numbers take over 100 ms), drawn transposed (``z[i]`` is the column
        of time ``i``).
    """
    if matrix.empty or matrix.isna().all(axis=None):
        return empty_figure("No node data in the last 24 h")
    trace = dict(
        type="heatmap",
        x=utc_strings(matrix.columns),
        y=[str(i) for i in matrix.index],
        z=np.round(matrix.to_numpy(dtype=float).T * 100.0, 1).astype(np.float32),
        transpose=True,
        zmin=0.0,
        zmax=100.0,
        colorscale=LOAD_COLORSCALE,
        hoverongaps=False,
        hovertemplate="%{y}<br>%{x}<br>compute %{z:.0f} %<extra></extra>",
        colorbar={
            "title": {"text": "Compute utilisation [%]", "side": "right"},
            "thickness": 14,
        },
    )
    layout = base_layout(margin={"l": 110, "r": 20, "t": 10, "b": 50})
    time_axis = {
        "type": "date",
        "title": {"text": "Time [UTC]"},
        "tickformat": PANEL_TIME_FORMAT,
        "automargin": True,
    }
    layout["xaxis"] = {**layout["xaxis"], **time_axis}
    layout["yaxis"] = row_axis(layout, "Node", len(matrix.index))
    return assemble([trace], layout)
