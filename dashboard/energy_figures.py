"""Pure figure builders of the Energy & Carbon page: ``site_energy`` frames in, figures out.

Every builder takes rows of the ``site_energy`` series (:mod:`twin.energy_jobs`: ``ts`` UTC
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
from plotly.subplots import make_subplots

from dashboard.figures import (
    MUTED,
    TEXT,
    base_layout,
    empty_figure,
    plain,
    row_axis,
    site_colour,
    utc_strings,
)
from twin.overview import MAX_SITE_LINES

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


def _style_axes(fig: go.Figure) -> None:
    """The wall theme's axis style on every axis of a figure with subplots."""
    style = base_layout()["xaxis"]
    fig.update_xaxes(**style)
    fig.update_yaxes(**style)


def _time_axis(layout: dict[str, Any], name: str = "xaxis", title: bool = True) -> None:
    layout[name] = {
        **layout.get(name, {}),
        "type": "date",
        "title": {"text": "Time [UTC]" if title else ""},
    }


def power_figure(frame: pd.DataFrame, site: str) -> go.Figure:
    """Stacked IT, cooling and distribution-loss power [kW] (modelled) with metered facility
    power, and PUE [-] modelled versus metered, for one site or all."""
    data = select_sites(frame, site)
    if data.empty or data["facility_kw"].isna().all():
        return empty_figure("No derived energy data in this time range")
    x = utc_strings(data.index)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32])
    for field, name, colour in POWER_PARTS:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(data[field], float),
                name=f"{name} (model)",
                mode="lines",
                stackgroup="power",
                line={"width": 0.5, "color": colour},
                hovertemplate=f"{name} %{{y:,.1f}} kW<extra></extra>",
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=np.asarray(data["facility_metered_kw"], float),
            name="Facility (metered)",
            mode="lines",
            line={"width": 2, "color": TEXT, "dash": "dot"},
            hovertemplate="metered facility %{y:,.1f} kW<extra></extra>",
        ),
        row=1,
        col=1,
    )
    for field, name, colour in (
        ("pue", "PUE model", "#4c6ef5"),
        ("pue_metered", "PUE metered", METERED_COLOUR),
    ):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(data[field], float),
                name=name,
                mode="lines",
                line={"width": 2.5, "color": colour},
                hovertemplate=f"{name} %{{y:.3f}}<extra></extra>",
            ),
            row=2,
            col=1,
        )
    layout = base_layout(hovermode="x unified", margin={"l": 80, "r": 20, "t": 10, "b": 50})
    layout["legend"] = {**layout["legend"], "orientation": "h", "y": 1.0, "yanchor": "bottom"}
    fig.update_layout(**layout)
    fig.update_yaxes(title_text="Power [kW]", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="PUE [-]", row=2, col=1)
    fig.update_xaxes(type="date")
    fig.update_xaxes(title_text="Time [UTC]", row=2, col=1)
    _style_axes(fig)
    return fig


def supply_figure(frame: pd.DataFrame, site: str) -> go.Figure:
    """On-site renewable power used and grid import [kW], stacked, with the renewable share
    [%] on a second axis, for one site or all."""
    data = select_sites(frame, site)
    if data.empty or data["consumption_kw"].isna().all():
        return empty_figure("No derived energy data in this time range")
    x = utc_strings(data.index)
    consumption = data["consumption_kw"].to_numpy(float)
    used = np.minimum(data["renewable_kw"].to_numpy(float), consumption)
    grid = np.maximum(data["grid_import_kw"].to_numpy(float), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(consumption > 0, 100.0 * used / consumption, np.nan)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for values, name, colour in (
        (used, "On-site PV + wind", RENEWABLE_COLOUR),
        (grid, "Grid import", GRID_COLOUR),
    ):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(values, float),
                name=f"{name} [kW]",
                mode="lines",
                stackgroup="supply",
                line={"width": 0.5, "color": colour},
                hovertemplate=f"{name} %{{y:,.1f}} kW<extra></extra>",
            ),
            secondary_y=False,
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=np.asarray(share, float),
            name="Renewable share [%]",
            mode="lines",
            line={"width": 2.5, "color": TEXT},
            hovertemplate="renewable %{y:.0f} %<extra></extra>",
        ),
        secondary_y=True,
    )
    layout = base_layout(hovermode="x unified", margin={"l": 80, "r": 70, "t": 10, "b": 50})
    layout["legend"] = {**layout["legend"], "orientation": "h", "y": 1.0, "yanchor": "bottom"}
    fig.update_layout(**layout)
    fig.update_xaxes(type="date", title_text="Time [UTC]")
    _style_axes(fig)
    fig.update_yaxes(title_text="Power [kW]", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(
        title_text="Renewable share [%]",
        range=[0, 100],
        secondary_y=True,
        showgrid=False,
        tickmode="auto",
    )
    return fig


def gap_figure(frame: pd.DataFrame, site: str) -> go.Figure:
    """Modelled minus metered facility power [kW] (bars) and in percent of the metered power
    [%] (line, second axis), for one site or all."""
    data = select_sites(frame, site)
    if data.empty or data["model_gap_kw"].isna().all():
        return empty_figure("No facility meter to check the model against")
    x = utc_strings(data.index)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    gap = data["model_gap_kw"].to_numpy(float)
    fig.add_trace(
        go.Bar(
            x=x,
            y=np.asarray(gap, float),
            name="Model − meter [kW]",
            marker={"color": np.where(gap >= 0, "#4c6ef5", METERED_COLOUR).tolist()},
            hovertemplate="gap %{y:+,.2f} kW<extra></extra>",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=np.asarray(data["model_gap_pct"], float),
            name="Model − meter [%]",
            mode="lines",
            line={"width": 2.5, "color": TEXT},
            hovertemplate="gap %{y:+.2f} %<extra></extra>",
        ),
        secondary_y=True,
    )
    layout = base_layout(
        hovermode="x unified", margin={"l": 80, "r": 70, "t": 10, "b": 50}, bargap=0.05
    )
    layout["legend"] = {**layout["legend"], "orientation": "h", "y": 1.0, "yanchor": "bottom"}
    fig.update_layout(**layout)
    fig.update_xaxes(type="date", title_text="Time [UTC]")
    _style_axes(fig)
    fig.update_yaxes(title_text="Facility power gap [kW]", secondary_y=False)
    fig.update_yaxes(
        title_text="Gap [% of metered]", secondary_y=True, showgrid=False, tickmode="auto"
    )
    return fig


def hourly_intensity(frame: pd.DataFrame, sites: Sequence[str]) -> pd.DataFrame:
    """Site × hour mean effective **average** intensity [gCO2/kWh]: rows ``sites`` in that
    order, columns hour starts (UTC), NaN where a site has no window in the hour."""
    if frame.empty:
        return pd.DataFrame(index=pd.Index(list(sites), name="site"))
    rows = frame.assign(hour=pd.to_datetime(frame["ts"], utc=True).dt.floor("1h"))
    table = rows.pivot_table(
        index="site", columns="hour", values="intensity_avg_g_per_kwh", aggfunc="mean"
    )
    return table.reindex(index=list(sites)).astype(float)


def intensity_heatmap(frame: pd.DataFrame, sites: Sequence[str]) -> go.Figure:
    """Sites × hours effective **average** carbon intensity [gCO2/kWh]: which site is cleanest
    when (grid import emissions / consumption; on-site PV and wind count as zero)."""
    matrix = hourly_intensity(frame, sites)
    if matrix.empty or matrix.isna().all(axis=None):
        return empty_figure("No derived carbon data in this time range")
    fig = go.Figure(
        go.Heatmap(
            x=utc_strings(matrix.columns),
            y=[str(s) for s in matrix.index],
            z=matrix.to_numpy(float),
            colorscale=CARBON_COLORSCALE,
            zmin=0.0,
            hoverongaps=False,
            hovertemplate="%{y}<br>%{x}<br>average %{z:,.0f} gCO2/kWh<extra></extra>",
            colorbar={
                "title": {"text": "Average intensity [gCO2/kWh]", "side": "right"},
                "thickness": 14,
            },
        )
    )
    layout = base_layout(margin={"l": 110, "r": 20, "t": 10, "b": 50})
    _time_axis(layout)
    layout["yaxis"] = row_axis(layout, "Site", len(matrix.index))
    fig.update_layout(**layout)
    return fig


def cumulative_emissions(frame: pd.DataFrame, every: timedelta) -> pd.DataFrame:
    """Window × site cumulative emissions [tCO2] at each window's end: the sum of
    ``emissions_kg_per_h`` times the window length [h] (missing windows add nothing).
    Index: window end times (UTC)."""
    if frame.empty:
        return pd.DataFrame()
    hours = pd.Timedelta(every) / pd.Timedelta(hours=1)
    table = frame.assign(ts=pd.to_datetime(frame["ts"], utc=True)).pivot_table(
        index="ts", columns="site", values="emissions_kg_per_h", aggfunc="sum"
    )
    table = table.sort_index().fillna(0.0).cumsum() * hours / 1000.0
    table.index = table.index + pd.Timedelta(every)
    return table


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
    fig = go.Figure()
    for index, site in enumerate(sites):
        if site not in shown:
            continue
        name = plain([site])[0]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(table[site], float),
                name=name,
                mode="lines",
                line={"width": 2.5, "color": site_colour(index)},
                hovertemplate=f"{name} %{{y:,.3f}} tCO2<extra></extra>",
            )
        )
    rest = [s for s in present if s not in shown]
    if rest:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(table[rest].sum(axis=1), float),
                name=f"other {len(rest)} sites (sum)",
                mode="lines",
                line={"width": 2.5, "color": MUTED, "dash": "dot"},
                hovertemplate=f"other {len(rest)} sites %{{y:,.3f}} tCO2<extra></extra>",
            )
        )
    layout = base_layout(hovermode="x unified", margin={"l": 80, "r": 20, "t": 10, "b": 50})
    _time_axis(layout)
    layout["yaxis"] = {
        **layout["yaxis"],
        "title": {"text": "Emissions, average [tCO2]"},
        "rangemode": "tozero",
    }
    fig.update_layout(**layout)
    return fig


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
