"""Derived energy and carbon series: per-site power chain and emissions, per-node energy.

:func:`derive_energy` reads node, meter and grid telemetry in windows of ``every`` and returns
two frames; :func:`record_energy` is the scheduler job that writes them back to the store as
the measurements below, one row per window, stamped at the window start (UTC).

=============  ==========  ==========================================================
measurement    tags        fields [unit]
=============  ==========  ==========================================================
site_energy    site        it_kw, cooling_kw, losses_kw, facility_kw [kW] (modelled);
                           pue [-] (modelled); it_metered_kw, facility_metered_kw [kW];
                           pue_metered [-]; model_gap_kw [kW], model_gap_pct [%];
                           consumption_kw, pv_kw, wind_kw, renewable_kw,
                           grid_import_kw [kW];
                           renewable_share [0-1]; grid_intensity_avg_g_per_kwh,
                           intensity_avg_g_per_kwh, intensity_marginal_g_per_kwh
                           [gCO2/kWh]; grid_signal [0/1]; emissions_kg_per_h [kgCO2/h]
node_energy    site, id    it_kw [kW]; energy_kwh, facility_kwh [kWh]; emissions_kg [kgCO2]
=============  ==========  ==========================================================

Rules, per window and site (means of the window; energy = mean power x window length):

* **Modelled** IT power is the sum over the site's reporting nodes of their IT power curve
  (:func:`twin.models.energy.it_power_w` with the node's idle and max power) at the window mean of
  the utilisation that drives power: ``gpu_util`` on nodes with GPUs, ``cpu_util`` otherwise.
  Cooling, losses and facility power follow from the outdoor temperature at the window's
  middle (default: :func:`twin.models.energy.climatology_temp_c`) by the site model
  (:class:`twin.models.energy.SiteEnergyModel`).
* **Metered** IT and facility power are the sums of the site's ``it_load`` and ``facility``
  meters; ``pue_metered`` is their ratio, ``model_gap_*`` is modelled - metered facility power.
* **Consumption** is metered facility power, else the modelled one. Renewable power is the
  sum of ``pv`` and ``wind`` meters (0 without); grid import is the ``grid_import`` meters,
  else ``max(consumption - renewable, 0)``.
* **Grid intensity** per region is the ``grid`` signal (window means, carried forward for at
  most :data:`twin.views.overview.GRID_STALE_AFTER`); without one, the shipped factor along the
  daily profile for the **average** and the coal/gas blend for the **marginal** intensity
  (:mod:`twin.models.carbon`); ``grid_signal`` says which (1 = telemetry).
* ``intensity_avg_g_per_kwh`` is the site's effective **average** intensity (grid import
  emissions / consumption); ``intensity_marginal_g_per_kwh`` is the grid's **marginal**
  intensity: one more kWh at a grid-connected site is met at the grid's margin, by more
  import or less export. ``emissions_kg_per_h`` is attributional: grid import times the
  average grid intensity.
* Each node's ``facility_kwh`` and ``emissions_kg`` are the site's consumption and emissions
  in the window allocated by the node's share of the site's modelled IT energy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.domain import Fleet, Node
from twin.models.carbon import (
    GRID_UTC_OFFSET_H,
    local_hour,
    outlook_intensity,
    profile_average_intensity,
    profile_marginal_intensity,
    renewable_share,
    site_emission_rate_kg_per_h,
    site_intensity_g_per_kwh,
)
from twin.models.energy import (
    SITE_PROFILES,
    SiteEnergyModel,
    climatology_temp_c,
    it_power_w,
    metered_pue,
    model_gap,
    sites_breakdown,
)
from twin.store import TelemetryStore
from twin.views.overview import GRID_STALE_AFTER, STALE_AFTER, window_starts

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

TemperatureSource = Callable[[pd.DatetimeIndex, FloatArray, FloatArray], FloatArray]
"""Outdoor temperature [degC] at times (UTC) × places (latitudes, longitudes [degrees])."""

ENERGY_EVERY = timedelta(minutes=5)
"""Window of the derived series and period of the job [s]."""

ENERGY_CRON_MINUTE = "*/5"
ENERGY_CRON_SECOND = 20
"""When the job runs: every 5 min, 20 s past the window end so its last readings are in."""

CATCH_UP = timedelta(hours=24)
"""How far back the job fills windows that have no derived row yet."""

RECOMPUTE = 3
"""Windows before the newest derived one that every run computes again (late readings)."""

SITE_FIELDS = (
    "it_kw",
    "cooling_kw",
    "losses_kw",
    "facility_kw",
    "pue",
    "it_metered_kw",
    "facility_metered_kw",
    "pue_metered",
    "model_gap_kw",
    "model_gap_pct",
    "consumption_kw",
    "pv_kw",
    "wind_kw",
    "renewable_kw",
    "grid_import_kw",
    "renewable_share",
    "grid_intensity_avg_g_per_kwh",
    "intensity_avg_g_per_kwh",
    "intensity_marginal_g_per_kwh",
    "grid_signal",
    "emissions_kg_per_h",
)
NODE_FIELDS = ("it_kw", "energy_kwh", "facility_kwh", "emissions_kg")


@dataclass(frozen=True)
class EnergySeries:
    """Derived rows: ``sites`` (``ts``, ``site``, SITE_FIELDS) and ``nodes`` (``ts``,
    ``site``, ``id``, NODE_FIELDS), sorted by ``ts`` then inventory order."""

    sites: pd.DataFrame
    nodes: pd.DataFrame


def climatology(times: pd.DatetimeIndex, latitude: FloatArray, longitude: FloatArray) -> FloatArray:
    """The default temperature source: :func:`twin.models.energy.climatology_temp_c` [degC] at
    ``times`` (rows) and places (columns)."""
    doy = times.tz_convert("UTC").day_of_year.to_numpy(float)[:, None]
    return climatology_temp_c(
        _utc_hours(times)[:, None], doy, latitude[None, :], longitude[None, :]
    )


def derive_energy(
    store: TelemetryStore,
    fleet: Fleet,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    every: timedelta = ENERGY_EVERY,
    model: SiteEnergyModel | None = None,
    temperature: TemperatureSource = climatology,
) -> EnergySeries:
    """Derived site and node rows for the windows of ``every`` overlapping ``[start, stop)``
    (three store queries). Windows where a site has neither modelled nor metered power are left
    out, as are nodes that did not report in a window."""
    times = window_starts(start, stop, every)
    if times.empty or not fleet.sites:
        return EnergySeries(_empty(["site"], SITE_FIELDS), _empty(["site", "id"], NODE_FIELDS))
    step = pd.Timedelta(every)
    begin, end = times[0], times[-1] + step
    nodes = store.query("node", begin, end, fields=["cpu_util", "gpu_util"], every=step)
    meters = store.query("meter", begin, end, fields=["power_kw"], every=step)
    grid = store.query(
        "grid",
        begin - GRID_STALE_AFTER,
        end,
        fields=["intensity_g_per_kwh", "marginal_g_per_kwh"],
        every=step,
    )
    lat = np.array([s.latitude for s in fleet.sites], dtype=float)
    lon = np.array([s.longitude for s in fleet.sites], dtype=float)
    temp_c = temperature(pd.DatetimeIndex(times + step / 2), lat, lon)
    avg, marginal, signal = grid_tables(grid, fleet.regions, times, step)
    return energy_tables(
        fleet,
        times,
        step,
        driving_util(nodes, fleet, times),
        meter_tables(meters, fleet, times),
        (avg, marginal, signal),
        temp_c,
        model,
    )


def driving_util(nodes: pd.DataFrame, fleet: Fleet, times: pd.DatetimeIndex) -> pd.DataFrame:
    """Window × node utilisation that drives power [0-1]: ``gpu_util`` on nodes with GPUs,
    ``cpu_util`` on the others; NaN where a node did not report. Columns: fleet node ids."""
    ids = [n.id for n in fleet.nodes]
    tables = {}
    for name in ("cpu_util", "gpu_util"):
        if nodes.empty or name not in nodes.columns or "id" not in nodes.columns:
            tables[name] = np.full((len(times), len(ids)), np.nan)
            continue
        frame = nodes.assign(ts=pd.to_datetime(nodes["ts"], utc=True))
        table = frame.pivot_table(index="ts", columns="id", values=name, aggfunc="mean")
        tables[name] = table.reindex(index=times, columns=ids).to_numpy(dtype=float)
    has_gpu = np.array([n.gpus > 0 for n in fleet.nodes], dtype=bool)
    util = np.where(has_gpu[None, :], tables["gpu_util"], tables["cpu_util"])
    return pd.DataFrame(util, index=times, columns=ids)


def meter_tables(
    meters: pd.DataFrame, fleet: Fleet, times: pd.DatetimeIndex
) -> dict[str, pd.DataFrame]:
    """Per meter kind, window × site summed ``power_kw`` [kW]; NaN where the site has no
    reading of that kind. Columns: fleet site ids."""
    site_ids = [s.id for s in fleet.sites]
    kinds = ("it_load", "facility", "pv", "wind", "grid_import")
    needed = {"site", "kind", "power_kw"}
    if meters.empty or not needed <= set(meters.columns):
        return {k: pd.DataFrame(np.nan, index=times, columns=site_ids) for k in kinds}
    frame = meters.dropna(subset=["power_kw"]).assign(
        ts=lambda f: pd.to_datetime(f["ts"], utc=True)
    )
    out = {}
    for kind in kinds:
        part = frame[frame["kind"] == kind].pivot_table(
            index="ts", columns="site", values="power_kw", aggfunc="sum"
        )
        out[kind] = part.reindex(index=times, columns=site_ids).astype(float)
    return out


def grid_tables(
    grid: pd.DataFrame, regions: tuple[str, ...], times: pd.DatetimeIndex, step: pd.Timedelta
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Window × region (average [gCO2/kWh], marginal [gCO2/kWh], signal [0/1]): window means
    of the ``grid`` signal carried forward for at most GRID_STALE_AFTER, else the daily-profile
    values of :mod:`twin.models.carbon` (signal 0)."""
    hours = local_hour(_utc_hours(times), GRID_UTC_OFFSET_H)
    profile_avg = pd.DataFrame(
        {r: profile_average_intensity(r, hours) for r in regions}, index=times, dtype=float
    )
    marginal_profile = profile_marginal_intensity(hours)
    profile_marginal = pd.DataFrame(
        {r: marginal_profile for r in regions}, index=times, dtype=float
    )
    measured = {}
    for name in ("intensity_g_per_kwh", "marginal_g_per_kwh"):
        if grid.empty or "region" not in grid.columns or name not in grid.columns:
            measured[name] = pd.DataFrame(np.nan, index=times, columns=list(regions))
            continue
        table = grid.assign(ts=pd.to_datetime(grid["ts"], utc=True)).pivot_table(
            index="ts", columns="region", values=name, aggfunc="mean"
        )
        lookback = window_starts(times[0] - GRID_STALE_AFTER, times[-1] + step, step)
        limit = max(int(GRID_STALE_AFTER / step), 1)
        table = table.reindex(lookback).ffill(limit=limit)
        measured[name] = table.reindex(index=times, columns=list(regions)).astype(float)
    avg = measured["intensity_g_per_kwh"]
    signal = avg.notna().astype(float)
    marginal = measured["marginal_g_per_kwh"].fillna(profile_marginal)
    return avg.fillna(profile_avg), marginal, signal


def energy_tables(
    fleet: Fleet,
    times: pd.DatetimeIndex,
    step: pd.Timedelta,
    util: pd.DataFrame,
    meters: dict[str, pd.DataFrame],
    grid: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    temp_c: FloatArray,
    model: SiteEnergyModel | None = None,
) -> EnergySeries:
    """The derived rows from window × asset tables, by the rules of the module docstring.

    util : window × node driving utilisation [0-1] (fleet node order); meters : per kind,
    window × site power [kW]; grid : window × region (average, marginal [gCO2/kWh], signal
    [0/1]); temp_c : window × site outdoor temperature [degC]; model : one power chain for
    every site, or None for each site's ``energy_profile``
    (:data:`twin.models.energy.SITE_PROFILES`; node power curves then follow the default profile's
    exponent).
    """
    models = [model or SITE_PROFILES[s.energy_profile] for s in fleet.sites]
    exponent = (model or SiteEnergyModel()).power_exponent
    site_ids = [s.id for s in fleet.sites]
    site_index = {s: i for i, s in enumerate(site_ids)}
    node_site = np.array([site_index[n.site] for n in fleet.nodes], dtype=np.int64)
    idle = np.array([n.idle_power_w for n in fleet.nodes], dtype=float)
    peak = np.array([n.max_power_w for n in fleet.nodes], dtype=float)
    node_w = it_power_w(util.to_numpy(dtype=float), idle, peak, exponent)
    member = np.zeros((len(fleet.nodes), len(site_ids)))
    member[np.arange(len(fleet.nodes)), node_site] = 1.0
    reporting = np.isfinite(node_w).astype(float) @ member
    it_kw = np.where(reporting > 0, (np.nan_to_num(node_w) @ member) / 1000.0, np.nan)
    chain = sites_breakdown(it_kw, temp_c, models)

    def kw(kind: str) -> FloatArray:
        return meters[kind].to_numpy(dtype=float)

    facility_metered = kw("facility")
    gap_kw, gap_pct = model_gap(chain.facility_kw, facility_metered)
    consumption = np.where(np.isfinite(facility_metered), facility_metered, chain.facility_kw)
    pv, wind = np.nan_to_num(kw("pv")), np.nan_to_num(kw("wind"))
    renewable = pv + wind
    grid_import = np.where(
        np.isfinite(kw("grid_import")), kw("grid_import"), np.maximum(consumption - renewable, 0.0)
    )
    region_of = [s.region for s in fleet.sites]
    avg, marginal, signal = (t.reindex(columns=region_of).to_numpy(dtype=float) for t in grid)
    rate = site_emission_rate_kg_per_h(grid_import, avg)
    columns = {
        "it_kw": chain.it_kw,
        "cooling_kw": chain.cooling_kw,
        "losses_kw": chain.losses_kw,
        "facility_kw": chain.facility_kw,
        "pue": chain.pue,
        "it_metered_kw": kw("it_load"),
        "facility_metered_kw": facility_metered,
        "pue_metered": metered_pue(facility_metered, kw("it_load")),
        "model_gap_kw": gap_kw,
        "model_gap_pct": gap_pct,
        "consumption_kw": consumption,
        "pv_kw": pv,
        "wind_kw": wind,
        "renewable_kw": renewable,
        "grid_import_kw": grid_import,
        "renewable_share": renewable_share(renewable, consumption),
        "grid_intensity_avg_g_per_kwh": avg,
        "intensity_avg_g_per_kwh": site_intensity_g_per_kwh(grid_import, consumption, avg),
        "intensity_marginal_g_per_kwh": marginal,
        "grid_signal": signal,
        "emissions_kg_per_h": rate,
    }
    known = np.isfinite(consumption)
    sites = pd.DataFrame(
        {
            "ts": np.repeat(times, len(site_ids))[known.ravel()],
            "site": np.tile(np.array(site_ids, dtype=object), len(times))[known.ravel()],
            **{name: values.ravel()[known.ravel()] for name, values in columns.items()},
        }
    )
    hours = step / pd.Timedelta(hours=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = node_w / 1000.0 / it_kw[:, node_site]
    node_columns = {
        "it_kw": node_w / 1000.0,
        "energy_kwh": node_w / 1000.0 * hours,
        "facility_kwh": consumption[:, node_site] * hours * share,
        "emissions_kg": rate[:, node_site] * hours * share,
    }
    reported = np.isfinite(node_w).ravel()
    nodes = pd.DataFrame(
        {
            "ts": np.repeat(times, len(fleet.nodes))[reported],
            "site": np.tile(np.array(site_ids, dtype=object)[node_site], len(times))[reported],
            "id": np.tile(np.array(util.columns, dtype=object), len(times))[reported],
            **{name: values.ravel()[reported] for name, values in node_columns.items()},
        }
    )
    return EnergySeries(sites=sites, nodes=nodes)


def record_energy(
    store: TelemetryStore,
    fleet: Fleet,
    now: datetime,
    every: timedelta = ENERGY_EVERY,
    model: SiteEnergyModel | None = None,
) -> None:
    """Write ``site_energy`` and ``node_energy`` for every completed window not yet derived
    (at most CATCH_UP back), recomputing the last RECOMPUTE windows for late readings."""
    step = pd.Timedelta(every)
    stop = pd.Timestamp(now).tz_convert("UTC").floor(step)
    done = store.last("site_energy", at=stop, fields=["consumption_kw"], within=CATCH_UP)
    start = stop - CATCH_UP
    if not done.empty:
        newest = pd.Timestamp(pd.to_datetime(done["ts"], utc=True).max())
        start = max(start, min(newest + step, stop - RECOMPUTE * step))
    if start >= stop:
        return
    series = derive_energy(store, fleet, start, stop, every, model)
    sites = store.write_frame("site_energy", series.sites, tags=["site"])
    nodes = store.write_frame("node_energy", series.nodes, tags=["site", "id"])
    log.info("energy windows %s to %s: %d site rows, %d node rows", start, stop, sites, nodes)


def read_site_energy(
    store: TelemetryStore,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    bucket: timedelta = ENERGY_EVERY,
) -> pd.DataFrame:
    """``site_energy`` rows with ``start <= ts < stop``: ``ts`` (UTC window start), ``site`` and
    SITE_FIELDS in their units. A ``bucket`` coarser than ENERGY_EVERY gives each site's mean
    per bucket instead (stamped at the bucket start, buckets aligned to the epoch), so a long
    range stays a few hundred points."""
    every = bucket if bucket > ENERGY_EVERY else None
    frame = store.query("site_energy", start, stop, every=every)
    if frame.empty:
        return frame
    return frame.assign(ts=pd.to_datetime(frame["ts"], utc=True))


OUTLOOK_HOURS = (1, 3, 6)
"""Hours ahead [h] of the cleanest-capacity outlook."""

OUTLOOK_COLUMNS = (
    "site",
    "name",
    "region",
    "intensity_avg_g_per_kwh",
    "intensity_marginal_g_per_kwh",
    "renewable_share",
    "spare_nodes",
    "spare_gpus",
)


def capacity_outlook(
    store: TelemetryStore,
    fleet: Fleet,
    now: datetime | pd.Timestamp,
    hours_ahead: tuple[int, ...] = OUTLOOK_HOURS,
    within: timedelta = 3 * ENERGY_EVERY,
) -> pd.DataFrame:
    """Where spare capacity is cleanest now and in the next hours, cleanest first.

    One row per site with a ``site_energy`` row within ``within`` of ``now``: OUTLOOK_COLUMNS
    (effective **average** intensity of the newest window and the grid's **marginal**
    intensity [gCO2/kWh], renewable share [0-1], ``spare_nodes`` = sum over fresh nodes of
    ``1 - driving utilisation`` [node-equivalents], ``spare_gpus`` = sum of ``gpus * (1 -
    gpu_util)`` [GPUs]) and ``ahead_<k>h`` [gCO2/kWh]: :func:`twin.models.carbon.outlook_intensity`
    (the daily grid profile and a typical PV day, load and wind as now; not a forecast).
    """
    at = pd.Timestamp(now).tz_convert("UTC")
    latest = store.last("site_energy", at=at, within=within)
    ahead_cols = [f"ahead_{h}h" for h in hours_ahead]
    if latest.empty or "site" not in latest.columns:
        return pd.DataFrame(columns=[*OUTLOOK_COLUMNS, *ahead_cols])
    records: dict[str, dict[Any, Any]] = {str(r["site"]): r for r in latest.to_dict("records")}
    nodes = store.last("node", at=at, fields=["cpu_util", "gpu_util"], within=STALE_AFTER)
    util: dict[str, tuple[float, float]] = {}
    if "id" in nodes.columns:
        cpu = _column(nodes, "cpu_util")
        gpu = _column(nodes, "gpu_util")
        util = dict(zip(nodes["id"].astype(str), zip(cpu, gpu, strict=True), strict=True))
    utc_hour = float(_utc_hours(pd.DatetimeIndex([at]))[0])
    reporting: dict[str, list[Node]] = {}
    for node in fleet.nodes:
        if node.id in util:
            reporting.setdefault(node.site, []).append(node)
    rows = []
    for site in fleet.sites:
        row = records.get(site.id)
        if row is None:
            continue
        spare_nodes = spare_gpus = 0.0
        for node in reporting.get(site.id, []):
            cpu_u, gpu_u = util[node.id]
            driving = gpu_u if node.gpus else cpu_u
            if math.isfinite(driving):
                spare_nodes += 1.0 - min(max(driving, 0.0), 1.0)
            if node.gpus and math.isfinite(gpu_u):
                spare_gpus += node.gpus * (1.0 - min(max(gpu_u, 0.0), 1.0))
        ahead = outlook_intensity(
            np.array(hours_ahead, dtype=float),
            float(row["grid_intensity_avg_g_per_kwh"]),
            float(local_hour(utc_hour)),
            (utc_hour + site.longitude / 15.0) % 24.0,
            float(row["consumption_kw"]),
            site.pv_kw_peak,
            float(row["wind_kw"]),
        )
        rows.append(
            {
                "site": site.id,
                "name": site.name,
                "region": site.region,
                "intensity_avg_g_per_kwh": float(row["intensity_avg_g_per_kwh"]),
                "intensity_marginal_g_per_kwh": float(row["intensity_marginal_g_per_kwh"]),
                "renewable_share": float(row["renewable_share"]),
                "spare_nodes": spare_nodes,
                "spare_gpus": spare_gpus,
                **dict(zip(ahead_cols, ahead.tolist(), strict=True)),
            }
        )
    table = pd.DataFrame(rows, columns=[*OUTLOOK_COLUMNS, *ahead_cols])
    return table.sort_values("intensity_avg_g_per_kwh", kind="stable").reset_index(drop=True)


def _column(frame: pd.DataFrame, name: str) -> list[float]:
    """``frame[name]`` as floats (NaN where missing or absent)."""
    if name not in frame.columns:
        return [math.nan] * len(frame)
    return pd.to_numeric(frame[name], errors="coerce").astype(float).tolist()


def _utc_hours(times: pd.DatetimeIndex) -> FloatArray:
    utc = times.tz_convert("UTC")
    return (utc.hour + utc.minute / 60.0 + utc.second / 3600.0).to_numpy(float)


def _empty(tags: list[str], fields: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.Series(dtype="datetime64[us, UTC]"),
            **{t: pd.Series(dtype=object) for t in tags},
            **{f: pd.Series(dtype=float) for f in fields},
        }
    )
