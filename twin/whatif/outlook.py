"""Each site's effective carbon intensity hour by hour from the store: the outlook as it was
known at a time, and the intensity that actually followed.

**Outlook** (:func:`stored_outlook`). Hour 0 is ``start``, the first whole UTC hour at or after
``at``; only rows stamped at or before ``at`` are read. The reads (:func:`read_known`) do not
depend on the horizon, so a caller trying several horizons reads the store once and builds each
outlook with :func:`outlook_from`.

* **Grid.** The region's last ``grid`` signal at or before ``at`` (at most GRID_STALE_AFTER
  old) carried along the region's daily profile, ``signal × profile(h) / profile(h_signal)``
  at local clock hours (:func:`twin.models.carbon.profile_average_intensity`); without a signal, the
  profile alone (the shipped factor).
* **Forecast sites.** A site whose latest forecasts issued by ``at``
  (:func:`twin.forecast.store.forecasts_as_of`) exist for every target it has (load; PV when
  ``pv_kw_peak > 0``; wind when ``wind_kw_rated > 0``) and reach ``start``: consumption is the
  facility power of the P50 IT load (:class:`twin.models.energy.SiteEnergyModel` at the
  climatological temperature, as the energy job models it), grid import is consumption − P50 PV
  − P50 wind, and the intensity is :func:`twin.models.carbon.site_intensity_g_per_kwh`.
* **Beyond the forecast horizon** each target repeats its own forecast 24 h earlier (the last
  forecast day carried forward), so a 72 h plan on 48 h forecasts keeps the daily cycle of load,
  PV and wind.
* **Profile sites** (no usable forecast): :func:`twin.models.carbon.outlook_intensity`, the same
  carried grid intensity at ``start``, a typical PV day, and consumption and wind as known at
  ``at``: the facility power of the mean metered IT load over LOAD_LOOKBACK before ``at`` (the
  site's nodes' idle power when no meter reported) and the last metered hour of wind (0 without).

A site-hour without any consumption (no load at all) takes the grid intensity.

**Realised** (:func:`realised_intensity`): each site-hour's emissions over its consumption,
``1000 × Σ emissions_kg_per_h / Σ consumption_kw`` over the hour's energy windows, from the
stored ``site_energy`` rows, else :func:`twin.jobs.energy.derive_energy` over the stored
telemetry (the energy job's arithmetic); NaN where the store holds nothing for the hour.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.domain import Fleet, Site
from twin.forecast.sources import site_meter_kw
from twin.forecast.store import forecasts_as_of
from twin.jobs.energy import climatology, derive_energy
from twin.models.carbon import (
    local_hour,
    outlook_intensity,
    profile_average_intensity,
    site_intensity_g_per_kwh,
)
from twin.models.energy import SiteEnergyModel
from twin.store import TelemetryStore
from twin.views.overview import GRID_STALE_AFTER

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)

LOAD_LOOKBACK = timedelta(hours=24)
"""Metered history a profile site's consumption is averaged over [h]."""

FORECAST = "forecast"
PROFILE = "profile"
"""Where a site's outlook came from (``outlook_source`` in the report)."""


@dataclass(frozen=True)
class StoredOutlook:
    """Sites × hours from ``start`` (UTC): effective intensity [gCO2/kWh], consumption [kW]
    (facility power of the site's other load) and each site's source (FORECAST or PROFILE)."""

    start: pd.Timestamp
    site_ids: tuple[str, ...]
    intensity_g_per_kwh: FloatArray
    consumption_kw: FloatArray
    source: dict[str, str]


@dataclass(frozen=True)
class KnownInputs:
    """What the store held at ``known`` that the outlook of ``site_ids`` is made of: the last
    grid signal per region (value [gCO2/kWh], its time), the P50 forecasts [kW] by target and
    valid time of each site with usable forecasts, and (IT load [kW], wind [kW]) as metered
    for every other site."""

    known: pd.Timestamp
    site_ids: tuple[str, ...]
    grid: dict[str, tuple[float, pd.Timestamp]]
    forecasts: dict[str, dict[str, pd.Series]]
    metered: dict[str, tuple[float, float]]


def as_utc(at: datetime | pd.Timestamp) -> pd.Timestamp:
    """``at`` as a UTC timestamp (a time without a zone is taken as UTC)."""
    ts = pd.Timestamp(at)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def plan_start(at: datetime | pd.Timestamp) -> pd.Timestamp:
    """The first whole UTC hour at or after ``at``."""
    return as_utc(at).ceil(HOUR)


def stored_outlook(
    store: TelemetryStore,
    fleet: Fleet,
    site_ids: tuple[str, ...],
    at: datetime | pd.Timestamp,
    horizon_h: int,
    model: SiteEnergyModel | None = None,
) -> StoredOutlook:
    """The outlook of ``site_ids`` as known at ``at`` over ``horizon_h`` hours (module
    docstring); ``model`` is the sites' power chain (default :class:`SiteEnergyModel`)."""
    return outlook_from(read_known(store, fleet, site_ids, at), fleet, horizon_h, model)


def read_known(
    store: TelemetryStore, fleet: Fleet, site_ids: tuple[str, ...], at: datetime | pd.Timestamp
) -> KnownInputs:
    """Read from the store what the outlook of ``site_ids`` at ``at`` is made of."""
    known = as_utc(at)
    start = plan_start(known)
    forecasts: dict[str, dict[str, pd.Series]] = {}
    metered: dict[str, tuple[float, float]] = {}
    for site in (fleet.site(s) for s in site_ids):
        p50 = _forecast_p50(store, site, known, start)
        if p50 is not None:
            forecasts[site.id] = p50
        else:
            metered[site.id] = _metered_now(store, fleet, site, known)
    return KnownInputs(known, tuple(site_ids), _latest_grid(store, known), forecasts, metered)


def outlook_from(
    inputs: KnownInputs, fleet: Fleet, horizon_h: int, model: SiteEnergyModel | None = None
) -> StoredOutlook:
    """The outlook over ``horizon_h`` hours made of what was read (see :func:`stored_outlook`)."""
    start = plan_start(inputs.known)
    hours = pd.date_range(start, periods=horizon_h, freq=HOUR, name="ts")
    sites = [fleet.site(s) for s in inputs.site_ids]
    grid = _carried_grid(inputs.grid, {s.region for s in sites}, hours)
    temp_c = climatology(
        pd.DatetimeIndex(hours + HOUR / 2),
        np.array([s.latitude for s in sites], dtype=float),
        np.array([s.longitude for s in sites], dtype=float),
    )
    chain = model or SiteEnergyModel()
    intensity = np.empty((len(sites), horizon_h))
    consumption = np.empty((len(sites), horizon_h))
    source: dict[str, str] = {}
    for k, site in enumerate(sites):
        if site.id in inputs.forecasts:
            it_kw, supply_kw = _forecast_kw(inputs.forecasts[site.id], hours)
            consumption[k] = chain.breakdown(it_kw, temp_c[:, k]).facility_kw
            intensity[k] = site_intensity_g_per_kwh(
                consumption[k] - supply_kw, consumption[k], grid[site.region]
            )
            source[site.id] = FORECAST
        else:
            it_now, wind_now = inputs.metered[site.id]
            consumption[k] = chain.breakdown(np.full(horizon_h, it_now), temp_c[:, k]).facility_kw
            intensity[k] = outlook_intensity(
                np.arange(horizon_h, dtype=float),
                float(grid[site.region][0]),
                float(local_hour(start.hour)),
                (start.hour + site.longitude / 15.0) % 24.0,
                float(np.mean(consumption[k])),
                site.pv_kw_peak,
                wind_now,
            )
            source[site.id] = PROFILE
        no_load = ~np.isfinite(intensity[k])
        intensity[k, no_load] = grid[site.region][no_load]
    log.debug("stored outlook at %s from %s: %s", inputs.known, start, source)
    return StoredOutlook(start, inputs.site_ids, intensity, consumption, source)


def realised_intensity(
    store: TelemetryStore,
    fleet: Fleet,
    site_ids: tuple[str, ...],
    start: pd.Timestamp,
    horizon_h: int,
) -> FloatArray:
    """Sites × hours effective intensity [gCO2/kWh] that actually followed ``start`` (module
    docstring); NaN where the store holds no data for a site-hour."""
    stop = start + horizon_h * HOUR
    fields = ["emissions_kg_per_h", "consumption_kw"]
    rows = store.query("site_energy", start, stop, fields=fields)
    if rows.empty or not set(fields) <= set(rows.columns):
        rows = derive_energy(store, fleet, start, stop).sites
    out = np.full((len(site_ids), horizon_h), np.nan)
    if rows.empty:
        return out
    frame = rows.assign(
        hour=pd.to_datetime(rows["ts"], utc=True).dt.floor(HOUR),
        emissions=pd.to_numeric(rows["emissions_kg_per_h"], errors="coerce"),
        consumption=pd.to_numeric(rows["consumption_kw"], errors="coerce"),
    ).dropna(subset=["emissions", "consumption"])
    sums = frame.groupby(["site", "hour"])[["emissions", "consumption"]].sum()
    hours = pd.date_range(start, periods=horizon_h, freq=HOUR)
    for k, site in enumerate(site_ids):
        if site not in sums.index.get_level_values("site"):
            continue
        part = sums.xs(site, level="site").reindex(hours)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = 1000.0 * part["emissions"] / part["consumption"]
        out[k] = np.where(part["consumption"] > 0, ratio, np.nan)
    return out


def _latest_grid(
    store: TelemetryStore, known: pd.Timestamp
) -> dict[str, tuple[float, pd.Timestamp]]:
    """Per region, the last grid intensity [gCO2/kWh] at or before ``known`` and its time."""
    signals = store.last("grid", at=known, fields=["intensity_g_per_kwh"], within=GRID_STALE_AFTER)
    latest: dict[str, tuple[float, pd.Timestamp]] = {}
    if not signals.empty and {"region", "intensity_g_per_kwh"} <= set(signals.columns):
        for row in signals.dropna(subset=["intensity_g_per_kwh"]).to_dict("records"):
            ts = pd.Timestamp(row["ts"]).tz_convert("UTC")
            latest[str(row["region"])] = (float(row["intensity_g_per_kwh"]), ts)
    return latest


def _carried_grid(
    latest: dict[str, tuple[float, pd.Timestamp]], regions: set[str], hours: pd.DatetimeIndex
) -> dict[str, FloatArray]:
    """Per region, the average grid intensity [gCO2/kWh] at ``hours``, the ``latest`` signal
    carried along the region's profile."""
    ahead = local_hour(hours.hour.to_numpy(dtype=float))
    out = {}
    for region in regions:
        profile = profile_average_intensity(region, ahead)
        if region in latest:
            value, ts = latest[region]
            then = profile_average_intensity(region, local_hour(ts.hour + ts.minute / 60.0))
            profile = profile * value / float(then)
        out[region] = np.asarray(profile, dtype=float)
    return out


def _forecast_p50(
    store: TelemetryStore, site: Site, known: pd.Timestamp, start: pd.Timestamp
) -> dict[str, pd.Series] | None:
    """P50 [kW] by valid time of each target the site has (load; PV, wind when it has them),
    from the forecasts issued by ``known``; None unless every one reaches ``start``."""
    targets = ["load"]
    targets += ["pv"] if site.pv_kw_peak > 0 else []
    targets += ["wind"] if site.wind_kw_rated > 0 else []
    series = {}
    for target in targets:
        rows = forecasts_as_of(store, known, site.id, target)
        if rows.empty or rows["valid_at"].max() < start:
            return None
        series[target] = pd.Series(
            rows["p50"].to_numpy(dtype=float), index=pd.DatetimeIndex(rows["valid_at"])
        )
    return series


def _forecast_kw(
    p50: dict[str, pd.Series], hours: pd.DatetimeIndex
) -> tuple[FloatArray, FloatArray]:
    """(P50 IT load [kW], P50 PV + wind [kW]) at ``hours``."""
    extended = {target: _daily_extended(series, hours) for target, series in p50.items()}
    supply = sum((v for t, v in extended.items() if t != "load"), np.zeros(len(hours)))
    return extended["load"], np.asarray(supply, dtype=float)


def _daily_extended(p50: pd.Series, hours: pd.DatetimeIndex) -> FloatArray:
    """``p50`` [kW] at ``hours``; an hour past the forecast takes the value 24 h earlier."""
    values = np.array(p50.reindex(hours), dtype=float)
    known = p50.to_dict()
    for k, hour in enumerate(hours):
        back = hour
        while np.isnan(values[k]) and back > p50.index[0]:
            back -= DAY
            values[k] = known.get(back, np.nan)
    return values


def _metered_now(
    store: TelemetryStore, fleet: Fleet, site: Site, known: pd.Timestamp
) -> tuple[float, float]:
    """(IT load [kW], wind [kW]) of a site as metered before ``known``: the mean IT load over
    LOAD_LOOKBACK (the nodes' idle power without a reading) and the last hour of wind (0)."""
    since = known - LOAD_LOOKBACK
    load = site_meter_kw(store, site.id, "it_load", since, known).dropna()
    it_kw = (
        float(load.mean())
        if not load.empty
        else sum(n.idle_power_w for n in fleet.nodes if n.site == site.id) / 1000.0
    )
    wind = site_meter_kw(store, site.id, "wind", since, known).dropna()
    return it_kw, float(wind.iloc[-1]) if not wind.empty else 0.0
