"""PV power forecast: pvlib clear-sky irradiance at the site times a forecast clear-sky index.

PV power model (the fleet simulator's, :mod:`collectors.simulate`): ``kWp * GHI / 1000 W/m2 *
PV_DERATE`` [kW], a horizontal array whose DC nameplate ``kWp`` is rated at 1000 W/m2, with
``PV_DERATE`` (0.85) for inverter, wiring, soiling and temperature losses. Clear-sky GHI is
pvlib's Ineichen model with pvlib's Linke turbidity lookup (:func:`clear_sky_ghi`), evaluated
at the middle of each hour.

The **clear-sky index** of a day is its PV energy over its clear-sky energy. The forecast index
is the exponentially weighted mean of the daily indices of the last ``window_days`` solar days
(weight ``alpha`` on the latest; alpha = 1 is "smart persistence" of yesterday's index), and
P50 = index x clear-sky power. P10/P90 use the 10th/90th percentile of the *hourly* clear-sky
index over the same days (hours with clear-sky GHI of at least ``MIN_CLEAR_SKY_W_M2``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.forecast.models import (
    DAY_H,
    HOUR,
    FloatArray,
    Forecast,
    known_at,
    valid_hours,
    with_band,
)
from twin.models.solar import PV_DERATE, clear_sky_ghi

log = logging.getLogger(__name__)

MIN_CLEAR_SKY_W_M2 = 100.0
"""Hours with less clear-sky GHI [W/m2] are left out of the hourly index distribution."""

STANDARD_IRRADIANCE_W_M2 = 1000.0
"""Irradiance at which PV nameplate power is rated [W/m2]."""


def pv_power_kw(ghi_w_m2: FloatArray, kw_peak: float, derate: float = PV_DERATE) -> FloatArray:
    """PV output [kW] of a ``kw_peak`` [kWp] array under global horizontal irradiance
    ``ghi_w_m2`` [W/m2]: ``kWp * GHI / 1000 * derate`` (module docstring), never negative."""
    ghi = np.clip(np.asarray(ghi_w_m2, dtype=float), 0.0, None)
    return np.asarray(kw_peak * ghi / STANDARD_IRRADIANCE_W_M2 * derate, dtype=float)


def hourly_clear_sky_ghi(latitude: float, longitude: float, hours: pd.DatetimeIndex) -> FloatArray:
    """Clear-sky GHI [W/m2] at the middle of each hour starting at ``hours`` (UTC) for a place
    [degrees north, east]."""
    return clear_sky_ghi(latitude, longitude, pd.DatetimeIndex(hours + HOUR / 2))


def daily_clear_sky_index(power_kw: pd.Series, clear_kw: FloatArray, longitude: float) -> pd.Series:
    """Per local solar day: PV energy over clear-sky energy [-] of the days with every
    daylight hour known, indexed by solar date. ``clear_kw`` [kW] aligns with ``power_kw``."""
    solar_day = (pd.DatetimeIndex(power_kw.index) + pd.Timedelta(hours=longitude / 15.0)).floor("D")
    frame = pd.DataFrame(
        {"power": power_kw.to_numpy(dtype=float), "clear": clear_kw}, index=solar_day
    )
    daylight = frame["clear"] > 0
    grouped = frame.groupby(level=0)
    complete = (frame["power"].notna() | ~daylight).groupby(level=0).all()
    clear = grouped["clear"].sum()
    power = grouped["power"].sum()
    keep = complete & (clear > 0)
    return (power[keep] / clear[keep]).astype(float)


@dataclass(frozen=True)
class ClearSkyIndexPV:
    """Day-ahead PV forecaster of one site (module docstring).

    latitude, longitude : the array [degrees]; kw_peak : DC nameplate [kWp];
    alpha : smoothing weight of the latest daily index [0-1]; window_days : days used [d].
    """

    latitude: float
    longitude: float
    kw_peak: float
    alpha: float = 0.5
    window_days: int = 14
    derate: float = PV_DERATE
    name: str = "clear_sky_index"

    def clear_sky_kw(self, hours: pd.DatetimeIndex) -> FloatArray:
        """Clear-sky PV output [kW] of the hours starting at ``hours``."""
        ghi = hourly_clear_sky_ghi(self.latitude, self.longitude, hours)
        return pv_power_kw(ghi, self.kw_peak, self.derate)

    def forecast(self, history: pd.Series, issued_at: pd.Timestamp, horizon_h: int) -> Forecast:
        """Forecast PV power [kW] for ``horizon_h`` hours from ``issued_at`` from the PV power
        history [kW]; only hours complete by ``issued_at`` are used."""
        valid = valid_hours(issued_at, horizon_h)
        known = known_at(history, issued_at).iloc[-self.window_days * DAY_H :]
        ghi = hourly_clear_sky_ghi(self.latitude, self.longitude, pd.DatetimeIndex(known.index))
        clear_known = pv_power_kw(ghi, self.kw_peak, self.derate)
        daily = daily_clear_sky_index(known, clear_known, self.longitude)
        if daily.empty:
            raise ValueError(f"{self.name} needs a whole solar day of PV before {issued_at}")
        index = float(daily.ewm(alpha=self.alpha, adjust=False).mean().iloc[-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            hourly = known.to_numpy(dtype=float) / clear_known
        hourly = hourly[(ghi >= MIN_CLEAR_SKY_W_M2) & np.isfinite(hourly)]
        low, high = np.quantile(hourly, [0.1, 0.9]) if hourly.size else (index, index)
        clear = self.clear_sky_kw(valid)
        p10, p50, p90 = with_band(
            index * clear, (low - index) * clear, (high - index) * clear, floor=0.0
        )
        return Forecast(pd.Timestamp(valid[0]), valid, p10, p50, p90, self.name)
