"""Backtests of the product's forecasters on named data sources, as JSON-ready reports.

Sources (:mod:`twin.forecast.sources`): ``pvlib-tmy:<station>`` for ``pv`` and ``wind`` and
``store:<duckdb path>`` for ``load`` (every site with ``it_load`` meters).

* pv - truth is :func:`pv_power_kw` of the measured GHI for a 1000 kWp array at the station;
  models: ``clear_sky_index`` (:class:`ClearSkyIndexPV`), ``persistence``, ``seasonal_naive``;
* wind - truth is :func:`twin.models.energy.wind_power_kw` of the measured wind speed for a 1000 kW
  turbine; models: ``power_curve_ar1`` (:class:`WindPower` on the measured speed),
  ``persistence``, ``seasonal_naive`` (on power);
* load - truth is the hourly IT load [kW]; models: ``exp_smoothing``
  (:class:`DailyExponentialSmoothing`), ``persistence``, ``seasonal_naive``.

Every day's forecast is issued at ``ISSUE_HOUR_UTC`` for the next 24 h
(:func:`twin.forecast.backtest.rolling_origin`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.errors import ConfigError
from twin.forecast.backtest import TOP_K, report, rolling_origin
from twin.forecast.models import (
    DAY_H,
    DailyExponentialSmoothing,
    Forecaster,
    Persistence,
    SeasonalNaive,
)
from twin.forecast.pv import ClearSkyIndexPV, pv_power_kw
from twin.forecast.sources import read_tmy, site_meter_kw
from twin.forecast.wind import WindPower
from twin.models.energy import wind_power_kw

log = logging.getLogger(__name__)

NAMEPLATE_KW = 1000.0
"""PV array [kWp] and turbine [kW] the TMY backtests model."""

ISSUE_HOUR_UTC = 0
"""Hour of the day the backtest issues each forecast [h UTC]."""

REFERENCES = ("persistence", "seasonal_naive")
TMY_TARGETS = ("pv", "wind")


def backtest(target: str, source: str, warmup_days: int = 14) -> dict[str, Any]:
    """Backtest ``target`` (pv, wind, load) on ``source`` (module docstring): a report with
    ``target``, ``source``, ``issue_hour_utc``, ``horizon_h``, ``top_k`` and ``series``, one
    entry per station or site with its ``name``, ``hours`` evaluated, ``norm_kw`` and the
    metrics of every model (:func:`twin.forecast.backtest.score`)."""
    kind, _, where = source.partition(":")
    if kind == "pvlib-tmy" and target in TMY_TARGETS:
        series = [_tmy_series(target, where, warmup_days)]
    elif kind == "store" and target == "load":
        series = _store_load_series(Path(where), warmup_days)
    else:
        raise ConfigError(
            f"cannot backtest {target!r} on {source!r}: use pv or wind with "
            "pvlib-tmy:<station> (e.g. pvlib-tmy:723170TYA), load with store:<duckdb path>"
        )
    return {
        "target": target,
        "source": source,
        "issue_hour_utc": ISSUE_HOUR_UTC,
        "horizon_h": DAY_H,
        "top_k": TOP_K,
        "series": series,
    }


def _evaluate(
    name: str,
    truth: pd.Series,
    models: dict[str, tuple[Forecaster, pd.Series]],
    norm: float,
    warmup_days: int,
) -> dict[str, Any]:
    runs = rolling_origin(truth, models, ISSUE_HOUR_UTC, DAY_H, warmup_days)
    hours = len(next(iter(runs.values())).actual)
    return {
        "name": name,
        "issues": int(max(run.window.max() for run in runs.values()) + 1),
        "hours": hours,
        "norm_kw": norm,
        "models": report(runs, norm, REFERENCES),
    }


def _baselines(truth: pd.Series) -> dict[str, tuple[Forecaster, pd.Series]]:
    return {
        "persistence": (Persistence(floor=0.0), truth),
        "seasonal_naive": (SeasonalNaive(floor=0.0), truth),
    }


def _tmy_series(target: str, station: str, warmup_days: int) -> dict[str, Any]:
    tmy = read_tmy(station)
    if target == "pv":
        truth = pd.Series(pv_power_kw(tmy.ghi_w_m2.to_numpy(), NAMEPLATE_KW), tmy.ghi_w_m2.index)
        model: Forecaster = ClearSkyIndexPV(tmy.latitude, tmy.longitude, NAMEPLATE_KW)
        inputs = truth
    else:
        speed = tmy.wind_m_s
        truth = pd.Series(wind_power_kw(speed.to_numpy(), np.asarray(NAMEPLATE_KW)), speed.index)
        model, inputs = WindPower(NAMEPLATE_KW), speed
    models = {model.name: (model, inputs), **_baselines(truth)}
    out = _evaluate(f"{station} {tmy.name}", truth, models, NAMEPLATE_KW, warmup_days)
    return {"latitude": tmy.latitude, "longitude": tmy.longitude, **out}


def _store_load_series(path: Path, warmup_days: int) -> list[dict[str, Any]]:
    from twin.store.duckdb import DuckDBStore

    if not path.exists():
        raise ConfigError(f"no store file {path}: fill one with `cnetwin simulate` first")
    store = DuckDBStore(path, read_only=True)
    try:
        span = store.counts().get("meter")
        if span is None:
            raise ConfigError(f"{path} holds no meter readings")
        start, stop = (
            pd.Timestamp(span["first"]),
            pd.Timestamp(span["last"]) + pd.Timedelta(seconds=1),
        )
        meters = store.last("meter", at=stop, tags={"kind": "it_load"}, fields=["power_kw"])
        sites = sorted(set(meters["site"].astype(str))) if "site" in meters.columns else []
        out = []
        for site in sites:
            truth = site_meter_kw(store, site, "it_load", start, stop)
            norm = float(truth.mean())
            model = DailyExponentialSmoothing(floor=0.0)
            models = {model.name: (model, truth), **_baselines(truth)}
            out.append(_evaluate(site, truth, models, norm, warmup_days))
    finally:
        store.close()
    return out
