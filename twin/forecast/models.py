"""Forecast container and generic forecasters of an hourly series.

A forecaster is any object with ``name`` and ``forecast(history, issued_at, horizon_h)``:
``history`` is an hourly series (package docstring) and the forecast covers the ``horizon_h``
hours starting at ``issued_at`` (a whole hour). Every forecaster first cuts ``history`` to the
hours that *ended* by ``issued_at`` (:func:`known_at`), so data after the issue time cannot be
used, whatever the caller passes.

Quantiles (P10/P90) come from empirical quantiles of the forecaster's own errors on the
history (:func:`error_quantiles`): per hour ahead for persistence, over all hours for the
others. P10 <= P50 <= P90 always.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.holtwinters import ExponentialSmoothing

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

HOUR = pd.Timedelta(hours=1)
QUANTILES = (0.1, 0.5, 0.9)
"""Quantile levels [-] of every forecast: P10, P50, P90."""

DAY_H = 24
"""Hours of a day: the seasonal period of load and sun [h]."""


@dataclass(frozen=True)
class Forecast:
    """One issued forecast: quantiles of the target for each hour ahead.

    issued_at : tz-aware UTC hour the forecast was made (only data before it was used);
    valid_at : the hour starts forecast (``issued_at + k h``, k = 0 … horizon - 1);
    p10, p50, p90 : quantiles [unit of the series, kW for power]; model : forecaster name.
    """

    issued_at: pd.Timestamp
    valid_at: pd.DatetimeIndex
    p10: FloatArray
    p50: FloatArray
    p90: FloatArray
    model: str

    def __post_init__(self) -> None:
        n = len(self.valid_at)
        if not (len(self.p10) == len(self.p50) == len(self.p90) == n):
            raise ValueError("p10, p50, p90 and valid_at must have one value per hour ahead")

    @property
    def horizon_h(self) -> npt.NDArray[np.int64]:
        """Hours ahead of each value [h] (0 = the hour starting at the issue time)."""
        return np.asarray((self.valid_at - self.issued_at) // HOUR, dtype=np.int64)

    def frame(self) -> pd.DataFrame:
        """``valid_at`` (index), ``horizon_h`` [h], ``p10``, ``p50``, ``p90``."""
        return pd.DataFrame(
            {"horizon_h": self.horizon_h, "p10": self.p10, "p50": self.p50, "p90": self.p90},
            index=self.valid_at,
        )


class Forecaster(Protocol):
    """Anything that turns an hourly history into a :class:`Forecast`."""

    @property
    def name(self) -> str:
        """Short stable name of the method, stored with each forecast."""
        ...

    def forecast(self, history: pd.Series, issued_at: pd.Timestamp, horizon_h: int) -> Forecast: ...


def known_at(history: pd.Series, issued_at: pd.Timestamp) -> pd.Series:
    """The hours of ``history`` complete by ``issued_at`` (hour start + 1 h <= issue time),
    on a gap-free hourly index (missing hours NaN)."""
    if history.empty:
        return history.astype(float)
    known = history[pd.DatetimeIndex(history.index) + HOUR <= issued_at].astype(float)
    if known.empty:
        return known
    full = pd.date_range(known.index[0], known.index[-1], freq=HOUR, name=known.index.name)
    return known.reindex(full)


def valid_hours(issued_at: pd.Timestamp, horizon_h: int) -> pd.DatetimeIndex:
    """Hour starts ``issued_at`` … ``issued_at + (horizon_h - 1) h`` (UTC)."""
    if horizon_h < 1:
        raise ValueError(f"horizon_h must be at least 1, not {horizon_h}")
    start = pd.Timestamp(issued_at).tz_convert("UTC")
    if start != start.floor(HOUR):
        raise ValueError(f"forecasts are issued on whole hours, not at {start}")
    return pd.date_range(start, periods=horizon_h, freq=HOUR, name="valid_at")


def error_quantiles(errors: FloatArray, levels: tuple[float, ...] = QUANTILES) -> FloatArray:
    """Empirical quantiles of forecast errors ``actual - forecast`` (NaN ignored; zeros when
    there is no finite error) at ``levels`` [-]."""
    finite = np.asarray(errors, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return np.zeros(len(levels))
    return np.asarray(np.quantile(finite, levels), dtype=float)


def with_band(
    p50: FloatArray, low: FloatArray | float, high: FloatArray | float, floor: float | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(P10, P50, P90) from a median and error quantiles added to it, sorted per hour so
    P10 <= P50 <= P90, and at least ``floor`` when given (e.g. 0 for power)."""
    stack = np.sort(np.vstack([p50 + low, p50, p50 + high]), axis=0)
    if floor is not None:
        stack = np.maximum(stack, floor)
    return stack[0], stack[1], stack[2]


LOAD_HISTORY_H = 2 * DAY_H
"""Metered hours the load forecaster needs before its first forecast [h]."""


def _require(history: pd.Series, hours: int, name: str, issued_at: pd.Timestamp) -> None:
    if history.notna().sum() < hours:
        raise ValueError(
            f"{name} needs at least {hours} h of history before {issued_at}, "
            f"has {int(history.notna().sum())} h"
        )


@dataclass(frozen=True)
class Persistence:
    """The last known hour held for every hour ahead; error quantiles per hour ahead from
    the same rule on the last ``window_days`` days [d]."""

    window_days: int = 28
    floor: float | None = None
    name: str = "persistence"

    def forecast(self, history: pd.Series, issued_at: pd.Timestamp, horizon_h: int) -> Forecast:
        """Forecast ``horizon_h`` hours from ``issued_at`` (module docstring)."""
        valid = valid_hours(issued_at, horizon_h)
        known = known_at(history, issued_at).iloc[-self.window_days * DAY_H :].ffill()
        _require(known, 1, self.name, issued_at)
        last = float(known.iloc[-1])
        values = known.to_numpy(dtype=float)
        gap = int((valid[0] - known.index[-1]) // HOUR)
        low, high = np.zeros(horizon_h), np.zeros(horizon_h)
        for k in range(horizon_h):
            lag = gap + k
            if lag < len(values):
                q = error_quantiles(values[lag:] - values[:-lag])
                low[k], high[k] = q[0] - q[1], q[2] - q[1]
        p10, p50, p90 = with_band(np.full(horizon_h, last), low, high, self.floor)
        return Forecast(pd.Timestamp(valid[0]), valid, p10, p50, p90, self.name)


@dataclass(frozen=True)
class SeasonalNaive:
    """The value of the same hour one period (default a day) earlier; error quantiles from
    the same rule on the last ``window_days`` days [d]."""

    period_h: int = DAY_H
    window_days: int = 28
    floor: float | None = None
    name: str = "seasonal_naive"

    def forecast(self, history: pd.Series, issued_at: pd.Timestamp, horizon_h: int) -> Forecast:
        """Forecast ``horizon_h`` hours from ``issued_at`` (module docstring)."""
        valid = valid_hours(issued_at, horizon_h)
        known = known_at(history, issued_at).iloc[-self.window_days * DAY_H :]
        _require(known, self.period_h, self.name, issued_at)
        # the latest known value of the same hour of the period, any whole periods back
        lags = np.ceil((valid - known.index[-1]) / HOUR / self.period_h).astype(int)
        source = valid - pd.to_timedelta(lags * self.period_h, unit="h")
        p50 = known.reindex(source).ffill().bfill().to_numpy(dtype=float)
        values = known.to_numpy(dtype=float)
        q = error_quantiles(values[self.period_h :] - values[: -self.period_h])
        p10, p50, p90 = with_band(p50, q[0] - q[1], q[2] - q[1], self.floor)
        return Forecast(pd.Timestamp(valid[0]), valid, p10, p50, p90, self.name)


@dataclass(frozen=True)
class DailyExponentialSmoothing:
    """Holt-Winters exponential smoothing with an additive daily season and no trend
    (statsmodels ``ExponentialSmoothing``, parameters by maximum likelihood), fitted on the
    last ``window_days`` days; quantiles from the in-sample one-step residuals, the same for
    every hour ahead (load noise around the daily pattern does not grow with the horizon)."""

    window_days: int = 14
    floor: float | None = None
    name: str = "exp_smoothing"

    def forecast(self, history: pd.Series, issued_at: pd.Timestamp, horizon_h: int) -> Forecast:
        """Forecast ``horizon_h`` hours from ``issued_at`` (module docstring)."""
        valid = valid_hours(issued_at, horizon_h)
        known = known_at(history, issued_at).iloc[-self.window_days * DAY_H :]
        _require(known, LOAD_HISTORY_H, self.name, issued_at)
        filled = known.interpolate(limit_direction="both")
        model = ExponentialSmoothing(
            filled.to_numpy(dtype=float),
            trend=None,
            seasonal="add",
            seasonal_periods=DAY_H,
            initialization_method="estimated",
        )
        with warnings.catch_warnings():
            # the optimiser may stop at its iteration limit; the fit is still usable
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = model.fit()
        steps = int((valid[-1] - known.index[-1]) // HOUR)
        path = np.asarray(fit.forecast(steps), dtype=float)[-horizon_h:]
        q = error_quantiles(np.asarray(fit.resid, dtype=float))
        p10, p50, p90 = with_band(path, q[0] - q[1], q[2] - q[1], self.floor)
        return Forecast(pd.Timestamp(valid[0]), valid, p10, p50, p90, self.name)
