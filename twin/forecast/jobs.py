"""The hourly refresh: every site's load, PV and wind forecasts issued and stored.

At each run the issue time is the current hour (``now`` floored); each target is forecast for
``HORIZON_H`` hours from the site's metered hourly power of the last ``HISTORY_DAYS`` days
(hours complete by the issue time only):

* ``load`` - IT load (``it_load`` meters) by :class:`DailyExponentialSmoothing`;
* ``pv`` - sites with PV (``pv_kw_peak > 0``) by :class:`ClearSkyIndexPV`;
* ``wind`` - sites with a turbine (``wind_kw_rated > 0``) by :class:`WindPower` on speeds
  recovered from metered power (:func:`speed_from_power_kw`).

A target without enough history yet is skipped (logged), never filled with a made-up forecast.
"""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd

from twin.domain import Fleet, Site
from twin.forecast.models import HOUR, DailyExponentialSmoothing, Forecast, Forecaster
from twin.forecast.pv import ClearSkyIndexPV
from twin.forecast.sources import site_meter_kw
from twin.forecast.store import write_forecast
from twin.forecast.wind import WindPower, speed_from_power_kw
from twin.store import TelemetryStore

log = logging.getLogger(__name__)

HORIZON_H = 48
"""Hours ahead of every stored forecast [h]."""

HISTORY_DAYS = 14
"""Days of metered history each forecast is made from [d]."""

FORECAST_MINUTE = 7
"""Minute of the hour the refresh runs, after the hour's meter readings are in [min]."""

METER_OF = {"load": "it_load", "pv": "pv", "wind": "wind"}
"""The meter kind whose power each target forecasts."""


def site_forecasters(site: Site) -> dict[str, Forecaster]:
    """The forecaster of each target the site has (module docstring)."""
    models: dict[str, Forecaster] = {"load": DailyExponentialSmoothing(floor=0.0)}
    if site.pv_kw_peak > 0:
        models["pv"] = ClearSkyIndexPV(site.latitude, site.longitude, site.pv_kw_peak)
    if site.wind_kw_rated > 0:
        models["wind"] = WindPower(site.wind_kw_rated)
    return models


def issue_site(
    store: TelemetryStore, site: Site, issued_at: pd.Timestamp, horizon_h: int = HORIZON_H
) -> dict[str, Forecast]:
    """The forecasts of one site issued at ``issued_at`` (a whole hour) from stored meters;
    targets without enough history are left out."""
    start = issued_at - pd.Timedelta(days=HISTORY_DAYS)
    out: dict[str, Forecast] = {}
    for target, forecaster in site_forecasters(site).items():
        history = site_meter_kw(store, site.id, METER_OF[target], start, issued_at)
        if target == "wind":
            speeds = speed_from_power_kw(history.to_numpy(dtype=float), site.wind_kw_rated)
            history = pd.Series(speeds, index=history.index)
        try:
            out[target] = forecaster.forecast(history, issued_at, horizon_h)
        except ValueError as exc:
            log.info("no %s forecast for %s at %s: %s", target, site.id, issued_at, exc)
    return out


def refresh_forecasts(store: TelemetryStore, fleet: Fleet, now: datetime) -> None:
    """Issue and store every site's forecasts for the hour of ``now`` (module docstring)."""
    issued_at = pd.Timestamp(now).tz_convert("UTC").floor(HOUR)
    rows = 0
    for site in fleet.sites:
        for target, forecast in issue_site(store, site, issued_at).items():
            rows += write_forecast(store, forecast, site.id, target)
    log.info("forecasts issued at %s: %d rows", issued_at, rows)
