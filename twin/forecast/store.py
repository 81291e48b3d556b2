"""Forecasts in the store, stamped with their issue time, and read "as of" a time.

Measurement ``forecast``: tags ``site``, ``target`` (``load``, ``pv``, ``wind``) and
``horizon_h`` (hours ahead, ``"0"`` … ``"47"``); fields ``p10``, ``p50``, ``p90`` [kW],
``valid_at_epoch_s`` (start of the hour forecast, seconds since the Unix epoch) [s] and
``model`` (forecaster name, text).

The row time ``ts`` is the **issue time**, not the valid time. A row is known from its ``ts``
on (:mod:`twin.views.replay`), so :func:`twin.views.replay.state_at`, what-ifs and
:func:`forecasts_as_of` at a time ``t`` only ever see forecasts issued at or before ``t`` -
never one made later with hindsight.
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import pandas as pd

from twin.forecast.models import Forecast
from twin.store import TelemetryStore

log = logging.getLogger(__name__)

MEASUREMENT = "forecast"
TAGS = ("site", "target", "horizon_h")
TARGETS = ("load", "pv", "wind")
COLUMNS = ("issued_at", "valid_at", "horizon_h", "p10", "p50", "p90", "model")


def forecast_frame(forecast: Forecast, site: str, target: str) -> pd.DataFrame:
    """The ``forecast`` rows of one forecast (module docstring), ``ts`` = issue time."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
    valid = forecast.valid_at.tz_convert("UTC")
    epoch = (valid - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return pd.DataFrame(
        {
            "ts": pd.DatetimeIndex([forecast.issued_at] * len(valid)),
            "site": site,
            "target": target,
            "horizon_h": [str(h) for h in forecast.horizon_h],
            "p10": forecast.p10,
            "p50": forecast.p50,
            "p90": forecast.p90,
            "valid_at_epoch_s": np.asarray(epoch, dtype=float),
            "model": forecast.model,
        }
    )


def write_forecast(store: TelemetryStore, forecast: Forecast, site: str, target: str) -> int:
    """Store one forecast stamped with its issue time; returns the rows written."""
    return store.write_frame(MEASUREMENT, forecast_frame(forecast, site, target), list(TAGS))


def forecasts_as_of(
    store: TelemetryStore, t: datetime | pd.Timestamp, site: str, target: str
) -> pd.DataFrame:
    """The latest forecast of ``target`` at ``site`` issued at or before ``t``: COLUMNS
    (``issued_at``, ``valid_at`` tz-aware UTC, ``horizon_h`` [h], quantiles [kW], model), one
    row per hour ahead sorted by ``valid_at``; empty if none was issued by ``t``."""
    rows = store.last(MEASUREMENT, at=t, tags={"site": site, "target": target})
    if rows.empty or "p50" not in rows.columns:
        return pd.DataFrame(columns=list(COLUMNS))
    issued = pd.to_datetime(rows["ts"], utc=True)
    latest = rows[issued == issued.max()]
    out = pd.DataFrame(
        {
            "issued_at": pd.to_datetime(latest["ts"], utc=True),
            "valid_at": pd.to_datetime(latest["valid_at_epoch_s"], unit="s", utc=True),
            "horizon_h": latest["horizon_h"].astype(int),
            "p10": latest["p10"].astype(float),
            "p50": latest["p50"].astype(float),
            "p90": latest["p90"].astype(float),
            "model": latest["model"].astype(str),
        }
    )
    return out.sort_values("valid_at").reset_index(drop=True)
