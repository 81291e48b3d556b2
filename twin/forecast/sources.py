"""Hourly ground truth for forecasts and backtests.

* ``pvlib-tmy:<station>``: a measured typical meteorological year shipped with pvlib (e.g.
  ``723170TYA`` Greensboro NC, ``703165TY`` Sand Point AK), read with
  ``pvlib.iotools.read_tmy3``. TMY months come from different years; every hour is put in one
  year (``TMY_YEAR``) so the 8760 hours are contiguous. TMY values are stamped at the *end* of
  their hour; here they are re-stamped at the hour start, in UTC.
* ``store:<duckdb path>``: per-site series from the product's store
  (:func:`site_meter_kw`: hourly mean metered power of a meter kind, summed over the site's
  meters of that kind).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pvlib

from twin.errors import ConfigError
from twin.forecast.models import HOUR
from twin.store import TelemetryStore

log = logging.getLogger(__name__)

TMY_YEAR = 2005
"""Year every TMY hour is placed in (not a leap year)."""


@dataclass(frozen=True)
class TmyStation:
    """A TMY file's place and hourly series.

    name : station name; latitude, longitude : [degrees north, east];
    ghi_w_m2 : global horizontal irradiance [W/m2]; wind_m_s : wind speed at 10 m [m/s].
    """

    name: str
    latitude: float
    longitude: float
    ghi_w_m2: pd.Series
    wind_m_s: pd.Series


def tmy_path(station: str) -> Path:
    """The pvlib data file of a TMY3 station id (``723170TYA``), case-insensitive."""
    folder = Path(pvlib.__file__).parent / "data"
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() == ".csv" and path.stem.lower() == station.lower():
            return path
    known = sorted(p.stem for p in folder.iterdir() if p.stem[:6].isdigit() and "TY" in p.stem)
    raise ConfigError(f"no TMY file {station!r} in pvlib's data folder; try one of {known}")


def read_tmy(station: str) -> TmyStation:
    """Read a TMY station shipped with pvlib (module docstring)."""
    data, meta = pvlib.iotools.read_tmy3(
        tmy_path(station), coerce_year=TMY_YEAR, map_variables=True
    )
    index = pd.DatetimeIndex(data.index).tz_convert("UTC") - HOUR
    frame = data.set_axis(index).sort_index()
    return TmyStation(
        name=str(meta["Name"]).strip('"'),
        latitude=float(meta["latitude"]),
        longitude=float(meta["longitude"]),
        ghi_w_m2=frame["ghi"].astype(float).rename("ghi_w_m2"),
        wind_m_s=frame["wind_speed"].astype(float).rename("wind_m_s"),
    )


def site_meter_kw(
    store: TelemetryStore,
    site: str,
    kind: str,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    bucket: timedelta = HOUR,
) -> pd.Series:
    """Hourly mean metered power [kW] of ``kind`` meters (``it_load``, ``pv``, ``wind`` …) at
    ``site`` from ``start`` to ``stop``, summed over the site's meters of that kind; an
    hourly index of hour starts (UTC), NaN where no meter reported. A ``bucket`` other than an
    hour gives the mean per bucket instead (whole buckets, aligned to the epoch)."""
    frame = store.query(
        "meter", start, stop, tags={"site": site, "kind": kind}, fields=["power_kw"], every=bucket
    )
    step = pd.Timedelta(bucket)
    hours = pd.date_range(
        pd.Timestamp(start).tz_convert("UTC").ceil(step),
        pd.Timestamp(stop).tz_convert("UTC").floor(step) - step,
        freq=step,
        name="ts",
    )
    if frame.empty or "power_kw" not in frame.columns:
        return pd.Series(float("nan"), index=hours, name="power_kw")
    summed = frame.groupby(pd.to_datetime(frame["ts"], utc=True))["power_kw"].sum(min_count=1)
    return summed.reindex(hours).astype(float).rename("power_kw")
