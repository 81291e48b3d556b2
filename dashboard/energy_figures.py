"""Pure figure builders of the Energy & Carbon page: ``site_energy`` frames in, figures out.

Every builder takes rows of the ``site_energy`` series (:mod:`twin.jobs.energy`: ``ts`` UTC
window starts, ``site`` and the fields in their units) and draws the wall theme of
:mod:`dashboard.figures`, with units on every axis and **average** or **marginal** named
wherever a carbon intensity is shown. Missing data gives an explanatory empty figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figure_assembly import assemble, merged, secondary_y_axes, stacked_axes
from dashboard.figures import (
    MUTED,
    PANEL_TIME_FORMAT,
    TEXT,
    base_layout,
    empty_figure,
    plain,
    row_axis,
    site_colour,
    utc_strings,
)
from twin.views.overview import MAX_SITE_LINES

ALL_SITES = "__all__"
"""The site selection that sums every site."""

POWER_PARTS: tuple[tuple[str, str, str], ...] = (
    ("it_kw", "IT", "#4c6ef5"),
    ("cooling_kw", "Cooling", "#15aabf"),
    ("losses_kw", "Distribution losses", "#fab005"),
)
"""(field, legend name, colour) of the stacked power areas, bottom to top."""

RENEWABLE_COLOUR = "#51cf66"
GRID_COLOUR = "#868e96"
METERED_COLOUR = "#ff922b"

CARBON_COLORSCALE: list[list[float | str]] = [
    [0.0, "#2b8a3e"],
    [0.35, "#94d82d"],
    [0.6, "#fab005"],
    [0.8, "#fd7e14"],
    [1.0, "#fa5252"],
]
"""Carbon intensity to colour: green clean to red dirty, every stop visible on dark panels."""


def select_sites(frame: pd.DataFrame, site: str) -> pd.DataFrame:
    """Per window, the power and energy fields of one site, or summed over all sites
    (``ALL_SITES``), with ``pue`` and ``pue_metered`` [-] and ``model_gap_pct`` [%] recomputed
    from the sums. Index: window start ``ts`` (UTC)."""
    columns = [
        "it_kw",
        "cooling_kw",
        "losses_kw",
        "facility_kw",
        "it_metered_kw",
        "facility_metered_kw",
        "consumption_kw",
        "renewable_kw",
        "grid_import_kw",
        "model_gap_kw",
        "emissions_kg_per_h",
    ]
    rows = frame if site == ALL_SITES else frame[frame["site"] == site]
    if rows.empty:
        return pd.DataFrame(columns=[*columns, "pue", "pue_metered", "model_gap_pct"])
    rows = rows.assign(ts=pd.to_datetime(rows["ts"], utc=True))
    # metered sums only over sites where both meters reported, so the ratio is like for like
    both = rows["it_metered_kw"].notna() & rows["facility_metered_kw"].notna()
    rows = rows.assign(
        it_metered_kw=rows["it_metered_kw"].where(both),
        facility_metered_kw=rows["facility_metered_kw"].where(both),
        facility_for_gap=rows["facility_kw"].where(rows["facility_metered_kw"].notna()),
        metered_for_gap=rows["facility_metered_kw"].where(rows["model_gap_kw"].notna()),
    )
    sums = rows.groupby("ts")[[*columns, "facility_for_gap", "metered_for_gap"]].sum(min_count=1)
    sums["pue"] = sums["facility_kw"] / sums["it_kw"]
    sums["pue_metered"] = sums["facility_metered_kw"] / sums["it_metered_kw"]
    sums["model_gap_pct"] = 100.0 * sums["model_gap_kw"] / sums["metered_for_gap"]
    return sums.drop(columns=["facility_for_gap", "metered_for_gap"])


def _chart_layout(axes: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The wall theme (``overrides`` on top) with every axis of ``axes`` in its axis style, x
    axes on a time scale (PANEL_TIME_FORMAT labels), and the legend in a row above the plot."""
    layout = base_layout(**overrides)
    style = layout["xaxis"]
    for name, axis in axes.items():
        layout[name] = merged(style, axis)
        if name.startswith("xaxis"):
            layout[name] |= {"type": "date", "tickformat": PANEL_TIME_FORMAT}
    layout["legend"] = {**layout["legend"], "orientation": "h", "y": 1.0, "yanchor": "bottom"}
    return layout


def _time_axis(layout: dict[str, Any], name: str = "xaxis", title: bool = True) -> None:
    layout[name] = {
        **layout.get(name, {}),
        "type": "date",
        "tickformat": PANEL_TIME_FORMAT,
        "title": {"text": "Time [UTC]" if title else ""},
    }


def _title(text: str) -> dict[str, Any]:
    return {"title": {"text": text}}


def _line(x: list[str], y: Any, name: str, hover: str, **style: Any) -> dict[str, Any]:
    """A scatter trace of values ``y`` (a gap where NaN) over times ``x``."""
    return {
        "type": "scatter",
        "x": x,
        "y": np.asarray(y, float),
        "name": name,
        "mode": "lines",
        "hovertemplate": f"{hover}<extra></extra>",
        **style,
    }


def power_figure(frame: pd.DataFrame, site: str) -> go.Figure:
    """Stacked IT, cooling and distribution-loss power [kW] (modelled) with metered facility
    power, and PUE [-] modelled versus metered, for one site or all."""
    return _power_figure(select_sites(frame, site))


def _power_figure(data: pd.DataFrame) -> go.Figure:
    if data.empty or data["facility_kw"].isna().all():
        return empty_figure("No derived energy data in this time range")
    x = utc_strings(data.index)
    traces = [
        _line(
            x,
            data[field],
            f"{name} (model)",
            f"{name} %{{y:,.1f}} kW",
            stackgroup="power",
            line={"width": 0.5, "color": colour},
            xaxis="x",
            yaxis="y",
        )
        for field, name, colour in POWER_PARTS
    ]
    traces.append(
        _line(
            x,
            data["facility_metered_kw"],
            "Facility (metered)",
            "metered facility %{y:,.1f} kW",
            line={"width": 2, "color": TEXT, "dash": "dot"},
            xaxis="x",
            yaxis="y",
        )
    )
    for field, name, colour in (
        ("pue", "PUE model", "#4c6ef5"),
        ("pue_metered", "PUE metered", METERED_COLOUR),
    ):
        traces.append(
            _line(
                x,
                data[field],
                name,
                f"{name} %{{y:.3f}}",
                line={"width": 2.5, "color": colour},
                xaxis="x2",
                yaxis="y2",
            )
        )
    axes = merged(
        stacked_axes((0.68, 0.32)),
        {
            "yaxis": {**_title("Power [kW]"), "rangemode": "tozero"},
            "yaxis2": _title("PUE [-]"),
            "xaxis2": _title("Time [UTC]"),
        },
    )
    layout = _chart_layout(axes, hovermode="x unified", margin={"l": 80, "r": 20, "t": 10, "b": 50})
    return assemble(traces, layout)


def supply_figure(frame: pd.DataFrame, site: str) -> go.Figure:
    """On-site renewable power used and grid import [kW], stacked, with the renewable share
    [%] on a second axis, for one site or all."""
    return _supply_figure(select_sites(frame, site))


def _supply_figure(data: pd.DataFrame) -> go.Figure:
    if data.empty or data["consumption_kw"].isna().all():
        return empty_figure("No derived energy data in this time range")
    x = utc_strings(data.index)
    consumption = data["consumption_kw"].to_numpy(float)
    used = np.minimum(data["renewable_kw"].to_numpy(float), consumption)
    grid = np.maximum(data["grid_import_kw"].to_numpy(float), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(consumption > 0, 100.0 * used / consumption, np.nan)
    traces = [
        _line(
            x,
            values,
            f"{name} [kW]",
            f"{name} %{{y:,.1f}} kW",
            stackgroup="supply",
            line={"width": 0.5, "color": colour},
        )
        for values, name, colour in (
            (used, "On-site PV + wind", RENEWABLE_COLOUR),
            (grid, "Grid import", GRID_COLOUR),
        )
    ]
    traces.append(
        _line(
            x,
            share,
            "Renewable share [%]",
            "renewable %{y:.0f} %",
            line={"width": 2.5, "color": TEXT},
            yaxis="y2",
        )
    )
    axes = merged(
        secondary_y_axes(),
        {
            "xaxis": _title("Time [UTC]"),
            "yaxis": {**_title("Power [kW]"), "rangemode": "tozero"},
            "yaxis2": {
                **_title("Renewable share [%]"),
                "range": [0, 100],
                "showgrid": False,
                "tickmode": "auto",
            },
        },
    )
    layout = _chart_layout(axes, hovermode="x unified", margin={"l": 80, "r": 70, "t": 10, "b": 50})
    return assemble(traces, layout)


def gap_figure(frame: pd.DataFrame, site: str) -> go.Figure:
    """Modelled minus metered facility power [kW] (bars) and in percent of the metered power
    [%] (line, second axis), for one site or all."""
    return _gap_figure(select_sites(frame, site))


def _gap_figure(data: pd.DataFrame) -> go.Figure:
    if data.empty or data["model_gap_kw"].isna().all():
        return empty_figure("No facility meter to check the model against")
    x = utc_strings(data.index)
    gap = data["model_gap_kw"].to_numpy(float)
    traces = [
        {
            "type": "bar",
            "x": x,
            "y": gap,
            "name": "Model − meter [kW]",
            "marker": {"color": np.where(gap >= 0, "#4c6ef5", METERED_COLOUR).tolist()},
            "hovertemplate": "gap %{y:+,.2f} kW<extra></extra>",
        },
        _line(
            x,
            data["model_gap_pct"],
            "Model − meter [%]",
            "gap %{y:+.2f} %",
            line={"width": 2.5, "color": TEXT},
            yaxis="y2",
        ),
    ]
    axes = merged(
        secondary_y_axes(),
        {
            "xaxis": _title("Time [UTC]"),
            "yaxis": _title("Facility power gap [kW]"),
            "yaxis2": {**_title("Gap [% of metered]"), "showgrid": False, "tickmode": "auto"},
        },
    )
    layout = _chart_layout(
        axes, hovermode="x unified", margin={"l": 80, "r": 70, "t": 10, "b": 50}, bargap=0.05
    )
    return assemble(traces, layout)


def site_figures(frame: pd.DataFrame, site: str) -> tuple[go.Figure, go.Figure, go.Figure]:
    """The power, supply and model-gap figures of one site or all, from one selection."""
    data = select_sites(frame, site)
    return _power_figure(data), _supply_figure(data), _gap_figure(data)


def hourly_intensity(frame: pd.DataFrame, sites: Sequence[str]) -> pd.DataFrame:
    """Site × hour mean effective **average** intensity [gCO2/kWh]: rows ``sites`` in that
    order, columns hour starts (UTC), NaN where a site has no window in the hour."""
    if frame.empty:
        return pd.DataFrame(index=pd.Index(list(sites), name="site"))
    hours = pd.to_datetime(frame["ts"], utc=True).dt.floor("1h").rename("hour")
    sums, counts = _site_sums(hours, frame["site"], frame["intensity_avg_g_per_kwh"])
    with np.errstate(divide="ignore", invalid="ignore"):
        means = (sums / counts.where(counts > 0)).T
    means = means.loc[:, means.notna().any(axis=0)]  # an hour without any value is left out
    return means.reindex(index=list(sites)).astype(float)


def intensity_heatmap(frame: pd.DataFrame, sites: Sequence[str]) -> go.Figure:
    """Sites × hours effective **average** carbon intensity [gCO2/kWh]: which site is cleanest
    when (grid import emissions / consumption; on-site PV and wind count as zero)."""
    matrix = hourly_intensity(frame, sites)
    if matrix.empty or matrix.isna().all(axis=None):
        return empty_figure("No derived carbon data in this time range")
    heatmap = {
        "type": "heatmap",
        "x": utc_strings(matrix.columns),
        "y": [str(s) for s in matrix.index],
        "z": matrix.to_numpy(float),
        "colorscale": CARBON_COLORSCALE,
        "zmin": 0.0,
        "hoverongaps": False,
        "hovertemplate": "%{y}<br>%{x}<br>average %{z:,.0f} gCO2/kWh<extra></extra>",
        "colorbar": {
            "title": {"text": "Average intensity [gCO2/kWh]", "side": "right"},
            "thickness": 14,
        },
    }
    layout = base_layout(margin={"l": 110, "r": 20, "t": 10, "b": 50})
    _time_axis(layout)
    layout["yaxis"] = row_axis(layout, "Site", len(matrix.index))
    return assemble([heatmap], layout)


def cumulative_emissions(frame: pd.DataFrame, every: timedelta) -> pd.DataFrame:
    """Window × site cumulative emissions [tCO2] at each window's end: the sum of
    ``emissions_kg_per_h`` times the window length [h] (missing windows add nothing).
    Index: window end times (UTC)."""
    if frame.empty:
        return pd.DataFrame()
    hours = pd.Timedelta(every) / pd.Timedelta(hours=1)
    times = pd.to_datetime(frame["ts"], utc=True)
    sums, _ = _site_sums(times, frame["site"], frame["emissions_kg_per_h"])
    table = sums.cumsum() * hours / 1000.0
    table.index = table.index + pd.Timedelta(every)
    return table


def _site_sums(
    keys: pd.Series, sites: pd.Series, values: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per key (rows, sorted) and site (columns, sorted): the sum of the ``values`` that are
    not NaN (0 where none) and how many there are. Keys and sites are those of every row."""
    row, row_keys = pd.factorize(keys, sort=True)
    col, col_keys = pd.factorize(sites, sort=True)
    numbers = values.to_numpy(float)
    known = ~np.isnan(numbers)
    cells = row[known] * len(col_keys) + col[known]
    shape = (len(row_keys), len(col_keys))
    size = shape[0] * shape[1]
    index = pd.Index(row_keys, name=keys.name)
    columns = pd.Index(col_keys, name=sites.name)
    sums = np.bincount(cells, weights=numbers[known], minlength=size).reshape(shape)
    counts = np.bincount(cells, minlength=size).reshape(shape)
    return (
        pd.DataFrame(sums, index=index, columns=columns),
        pd.DataFrame(counts, index=index, columns=columns),
    )


def emissions_figure(frame: pd.DataFrame, sites: Sequence[str], every: timedelta) -> go.Figure:
    """Cumulative emissions per site [tCO2] over the window (grid import at the **average**
    intensity: attributional), one line per site in fleet colours; past ``MAX_SITE_LINES``
    sites, the largest emitters have a line each and the others one dotted line of their sum."""
    table = cumulative_emissions(frame, every)
    if table.empty:
        return empty_figure("No derived carbon data in this time range")
    present = [s for s in sites if s in table.columns]
    shown = set(present)
    if len(present) > MAX_SITE_LINES:
        shown = set(table[present].iloc[-1].nlargest(MAX_SITE_LINES).index)
    x = utc_strings(table.index)
    traces = []
    for index, site in enumerate(sites):
        if site not in shown:
            continue
        name = plain([site])[0]
        traces.append(
            _line(
                x,
                table[site],
                name,
                f"{name} %{{y:,.3f}} tCO2",
                line={"width": 2.5, "color": site_colour(index)},
            )
        )
    rest = [s for s in present if s not in shown]
    if rest:
        traces.append(
            _line(
                x,
                table[rest].sum(axis=1),
                f"other {len(rest)} sites (sum)",
                f"other {len(rest)} sites %{{y:,.3f}} tCO2",
                line={"width": 2.5, "color": MUTED, "dash": "dot"},
            )
        )
    layout = base_layout(hovermode="x unified", margin={"l": 80, "r": 20, "t": 10, "b": 50})
    _time_axis(layout)
    layout["yaxis"] = {
        **layout["yaxis"],
        "title": {"text": "Emissions, average [tCO2]"},
        "rangemode": "tozero",
    }
    return assemble(traces, layout)


def fleet_kpis(
    latest: pd.DataFrame, day: pd.DataFrame, every: timedelta
) -> dict[str, float | None]:
    """The page's headline numbers (None where unknown).

    latest : the newest ``site_energy`` row of each site; day : every row of the window.
    ``pue_metered`` [-] = sum of metered facility / sum of metered IT over sites with both;
    ``renewable_share`` [0-1] = renewable used / consumption; ``intensity_avg`` [gCO2/kWh] =
    grid import emissions / consumption (**average**); ``emissions_t`` [tCO2] over ``day``.
    """
    out: dict[str, float | None] = {
        "pue_metered": None,
        "renewable_share": None,
        "intensity_avg": None,
        "emissions_t": None,
    }
    if not latest.empty:
        both = latest["it_metered_kw"].notna() & latest["facility_metered_kw"].notna()
        it = float(latest.loc[both, "it_metered_kw"].sum())
        if it > 0:
            out["pue_metered"] = float(latest.loc[both, "facility_metered_kw"].sum()) / it
        consumption = float(latest["consumption_kw"].sum())
        if consumption > 0:
            used = np.minimum(latest["renewable_kw"], latest["consumption_kw"]).sum()
            out["renewable_share"] = float(used) / consumption
            out["intensity_avg"] = float(latest["emissions_kg_per_h"].sum()) * 1000.0 / consumption
    if not day.empty:
        hours = pd.Timedelta(every) / pd.Timedelta(hours=1)
        out["emissions_t"] = float(day["emissions_kg_per_h"].sum()) * hours / 1000.0
    return out


def format_number(value: float | None, spec: str) -> str:
    """``value`` formatted by ``spec``; ``—`` if unknown."""
    if value is None or not math.isfinite(value):
        return "—"
    return format(value, spec)
