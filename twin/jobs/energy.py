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

import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.domain import Fleet
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
from twin.views.window_cache import WindowCache

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


FINAL_AFTER = (RECOMPUTE + 1) * ENERGY_EVERY
"""How long after its start a window's derived row can still be rewritten [s]: the job writes
it once the window has completed and again on the next RECOMPUTE runs (for late readings)."""


def read_site_energy(
    store: TelemetryStore,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    bucket: timedelta = ENERGY_EVERY,
    cache: WindowCache | None = None,
) -> pd.DataFrame:
    """``site_energy`` rows with ``start <= ts < stop``: ``ts`` (UTC window start), ``site`` and
    SITE_FIELDS in their units. A ``bucket`` coarser than ENERGY_EVERY gives each site's mean
    per bucket instead (stamped at the bucket start, buckets aligned to the epoch), so a long
    range stays a few hundred points. ``cache`` keeps the buckets the job no longer rewrites
    (FINAL_AFTER) between calls, so a repeated read asks the store only for the newest ones
    (``start`` then on a bucket boundary)."""
    every = bucket if bucket > ENERGY_EVERY else None

    def read(begin: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        frame = store.query("site_energy", begin, end, every=every)
        return frame if frame.empty else frame.assign(ts=pd.to_datetime(frame["ts"], utc=True))

    if cache is None:
        return read(pd.Timestamp(start), pd.Timestamp(stop))

    def fetch(begin: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        frame = read(begin, end)
        # a later read starts where the kept buckets end: never a bucket begun before it
        return frame if frame.empty else frame[frame["ts"] >= begin].reset_index(drop=True)

    step = max(pd.Timedelta(bucket), pd.Timedelta(ENERGY_EVERY))
    settle = step - ENERGY_EVERY + FINAL_AFTER  # the bucket's last window no longer rewritten
    key = ("site_energy", id(store), step)
    return cache.read(key, pd.Timestamp(start), pd.Timestamp(stop), step, fetch, settle=settle)


OUTLOOK_HOURS = (1, 3, 6)
"""Hours ahead [h] of the cleanest-capacity outlook."""

OUTLOOK_WITHIN = 3 * ENERGY_EVERY
"""How recent a site's newest ``site_energy`` window must be to stand in the outlook [s]."""

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


def newest_site_rows(
    rows: pd.DataFrame, at: datetime | pd.Timestamp, within: timedelta = OUTLOOK_WITHIN
) -> pd.DataFrame:
    """Per site, its newest row of ``rows`` (``site_energy`` windows, as
    :func:`read_site_energy` gives them) with ``at - within < ts <= at``: what
    ``store.last("site_energy", at=at, within=within)`` answers, from rows already read."""
    if rows.empty or "site" not in rows.columns:
        return rows.iloc[0:0]
    at_ts = pd.Timestamp(at).tz_convert("UTC")
    ts = pd.to_datetime(rows["ts"], utc=True)
    recent = rows[(ts > at_ts - pd.Timedelta(within)) & (ts <= at_ts)]
    return recent.sort_values("ts", kind="stable").groupby("site", sort=False).tail(1)


def capacity_outlook(
    store: TelemetryStore,
    fleet: Fleet,
    now: datetime | pd.Timestamp,
    hours_ahead: tuple[int, ...] = OUTLOOK_HOURS,
    within: timedelta = OUTLOOK_WITHIN,
    latest: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Where spare capacity is cleanest now and in the next hours, cleanest first.

    One row per site with a ``site_energy`` row within ``within`` of ``now``: OUTLOOK_COLUMNS
    (effective **average** intensity of the newest window and the grid's **marginal**
    intensity [gCO2/kWh], renewable share [0-1], ``spare_nodes`` = sum over fresh nodes of
    ``1 - driving utilisation`` [node-equivalents], ``spare_gpus`` = sum of ``gpus * (1 -
    gpu_util)`` [GPUs]) and ``ahead_<k>h`` [gCO2/kWh]: :func:`twin.models.carbon.outlook_intensity`
    (the daily grid profile and a typical PV day, load and wind as now; not a forecast).
    ``latest``: each site's newest ``site_energy`` row at ``now`` when the caller has read it
    already (:func:`newest_site_rows`); None reads it from the store.
    """
    at = pd.Timestamp(now).tz_convert("UTC")
    if latest is None:
        latest = store.last("site_energy", at=at, within=within)
    ahead_cols = [f"ahead_{h}h" for h in hours_ahead]
    columns = [*OUTLOOK_COLUMNS, *ahead_cols]
    if latest.empty or "site" not in latest.columns:
        return pd.DataFrame(columns=columns)
    newest = latest.drop_duplicates("site", keep="last").set_index(latest["site"].astype(str))
    sites = [s for s in fleet.sites if s.id in newest.index]
    if not sites:
        return pd.DataFrame(columns=columns)
    ids = [s.id for s in sites]
    row = newest.loc[ids]
    spare_nodes, spare_gpus = spare_capacity(store, fleet, at, ids)
    utc_hour = float(_utc_hours(pd.DatetimeIndex([at]))[0])
    longitude = np.array([s.longitude for s in sites], dtype=float)

    def values(name: str) -> FloatArray:
        return np.asarray(_column(row, name), dtype=float)[:, np.newaxis]

    ahead = outlook_intensity(
        np.array(hours_ahead, dtype=float),
        values("grid_intensity_avg_g_per_kwh"),
        float(local_hour(utc_hour)),
        ((utc_hour + longitude / 15.0) % 24.0)[:, np.newaxis],
        values("consumption_kw"),
        np.array([s.pv_kw_peak for s in sites], dtype=float)[:, np.newaxis],
        values("wind_kw"),
    )
    table = pd.DataFrame(
        {
            "site": ids,
            "name": [s.name for s in sites],
            "region": [s.region for s in sites],
            "intensity_avg_g_per_kwh": _column(row, "intensity_avg_g_per_kwh"),
            "intensity_marginal_g_per_kwh": _column(row, "intensity_marginal_g_per_kwh"),
            "renewable_share": _column(row, "renewable_share"),
            "spare_nodes": spare_nodes,
            "spare_gpus": spare_gpus,
            **{col: ahead[:, k] for k, col in enumerate(ahead_cols)},
        },
        columns=columns,
    )
    return table.sort_values("intensity_avg_g_per_kwh", kind="stable").reset_index(drop=True)


def spare_capacity(
    store: TelemetryStore, fleet: Fleet, at: pd.Timestamp, sites: list[str]
) -> tuple[FloatArray, FloatArray]:
    """Per site of ``sites``: spare node-equivalents (sum over nodes that reported within
    STALE_AFTER of ``at`` of ``1 - driving utilisation``, clipped to [0, 1]) and spare GPUs
    (sum of ``gpus * (1 - gpu_util)``)."""
    nodes = store.last("node", at=at, fields=["cpu_util", "gpu_util"], within=STALE_AFTER)
    if "id" not in nodes.columns:
        return np.zeros(len(sites)), np.zeros(len(sites))
    known = ~nodes["id"].astype(str).duplicated(keep="last").to_numpy()
    index = pd.Index(nodes["id"].astype(str)[known])
    order = [n.id for n in fleet.nodes]
    cpu = pd.Series(np.asarray(_column(nodes, "cpu_util"))[known], index=index).reindex(order)
    gpu = pd.Series(np.asarray(_column(nodes, "gpu_util"))[known], index=index).reindex(order)
    gpus = np.array([n.gpus for n in fleet.nodes], dtype=float)
    driving = np.where(gpus > 0, gpu.to_numpy(float), cpu.to_numpy(float))
    gpu_u = gpu.to_numpy(float)
    with np.errstate(invalid="ignore"):
        spare_nodes = np.where(np.isfinite(driving), 1.0 - np.clip(driving, 0.0, 1.0), 0.0)
        spare_gpus = np.where(
            (gpus > 0) & np.isfinite(gpu_u), gpus * (1.0 - np.clip(gpu_u, 0.0, 1.0)), 0.0
        )
    site_of = pd.Index([n.site for n in fleet.nodes])
    per_site = pd.DataFrame({"nodes": spare_nodes, "gpus": spare_gpus}, index=site_of)
    sums = per_site.groupby(level=0, sort=False).sum().reindex(sites, fill_value=0.0)
    return sums["nodes"].to_numpy(float), sums["gpus"].to_numpy(float)


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
