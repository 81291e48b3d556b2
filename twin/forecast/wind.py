"""Wind power forecast: a wind-speed forecast through the turbine power curve.

Speed model: an AR(1) process around the mean of the last ``window_days`` days, so the latest
speed decays towards that mean, ``v(t+h) = mean + (v(t) - mean) * phi**h`` with ``phi`` the lag-1
autocorrelation of the window. Quantiles of the speed for each hour ahead are the P50 plus the
empirical 10th/90th percentiles of this rule's own h-hour errors on the window. Power is
:func:`twin.models.energy.wind_power_kw` of the speed quantiles (the power curve is monotone up to
cut-out, so quantiles map to quantiles; sorted again in case P90 passes cut-out).

Where only power is metered (the store), speeds come from :func:`speed_from_power_kw`, the
inverse of the power curve: exact between cut-in and rated speed; zero output maps to the
cut-in speed and rated output to the rated speed (values beyond are not recoverable).
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
    error_quantiles,
    known_at,
    valid_hours,
)
from twin.models.energy import wind_power_kw

log = logging.getLogger(__name__)

CUT_IN_M_S, RATED_M_S = 3.0, 12.0
"""Cut-in and rated speed [m/s] of :func:`twin.models.energy.wind_power_kw`'s default curve."""


def speed_from_power_kw(power_kw: FloatArray, rated_kw: float) -> FloatArray:
    """Hub-height wind speed [m/s] that gives ``power_kw`` [kW] on the default power curve of
    a ``rated_kw`` [kW] turbine (module docstring); NaN stays NaN."""
    share = np.clip(np.asarray(power_kw, dtype=float) / rated_kw, 0.0, 1.0)
    cubes = share * (RATED_M_S**3 - CUT_IN_M_S**3) + CUT_IN_M_S**3
    return np.asarray(np.cbrt(cubes), dtype=float)


@dataclass(frozen=True)
class MeanRevertingSpeed:
    """AR(1) wind-speed forecaster [m/s] (module docstring)."""

    window_days: int = 14
    name: str = "ar1_speed"

    def forecast(self, history: pd.Series, issued_at: pd.Timestamp, horizon_h: int) -> Forecast:
        """Forecast wind speed [m/s] for ``horizon_h`` hours from ``issued_at``."""
        valid = valid_hours(issued_at, horizon_h)
        known = known_at(history, issued_at).iloc[-self.window_days * DAY_H :]
        if known.notna().sum() < 2:
            raise ValueError(f"{self.name} needs at least 2 h of wind speed before {issued_at}")
        v = known.interpolate(limit_direction="both").to_numpy(dtype=float)
        mean = float(v.mean())
        dev = v - mean
        denom = float(np.dot(dev, dev))
        phi = float(np.clip(np.dot(dev[1:], dev[:-1]) / denom, 0.0, 0.999)) if denom else 0.0
        gap = int((valid[0] - known.index[-1]) // HOUR)
        ahead = gap + np.arange(horizon_h)
        p50 = mean + dev[-1] * phi**ahead
        low, high = np.zeros(horizon_h), np.zeros(horizon_h)
        for k, h in enumerate(ahead):
            if h < len(v):
                q = error_quantiles(v[h:] - (mean + dev[:-h] * phi**h))
                low[k], high[k] = q[0] - q[1], q[2] - q[1]
        stack = np.maximum(np.sort(np.vstack([p50 + low, p50, p50 + high]), axis=0), 0.0)
        return Forecast(pd.Timestamp(valid[0]), valid, stack[0], stack[1], stack[2], self.name)


@dataclass(frozen=True)
class WindPower:
    """Wind power forecaster [kW] of a ``rated_kw`` [kW] turbine from a speed history [m/s]."""

    rated_kw: float
    speed: MeanRevertingSpeed = MeanRevertingSpeed()
    name: str = "power_curve_ar1"

    def forecast(self, history: pd.Series, issued_at: pd.Timestamp, horizon_h: int) -> Forecast:
        """Forecast power [kW] for ``horizon_h`` hours from ``issued_at`` from wind speed
        history [m/s]."""
        fc = self.speed.forecast(history, issued_at, horizon_h)
        rated = np.asarray(self.rated_kw, dtype=float)
        power = [wind_power_kw(q, rated) for q in (fc.p10, fc.p50, fc.p90)]
        stack: FloatArray = np.sort(np.vstack(power), axis=0)
        return Forecast(fc.issued_at, fc.valid_at, stack[0], stack[1], stack[2], self.name)
