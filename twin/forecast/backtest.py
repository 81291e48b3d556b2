"""Honest backtests: error metrics and the rolling-origin evaluation of forecasters.

Rolling origin: every day at ``issue_hour`` UTC from ``warmup_days`` after the start of the
truth, each model is given its input history **cut at the issue time** (only hours complete
by then) and forecasts the next ``horizon_h`` hours, which are compared with the truth. Every
forecaster also cuts its input itself (:func:`twin.forecast.models.known_at`), so no forecast
can see data after its issue time.

Metrics over all evaluated hours (:func:`score`): ``mae`` and ``rmse`` [unit of the target],
``nmae`` (MAE / ``norm``: nameplate for PV and wind, mean actual for load) [-], ``pinball``
(mean pinball loss over P10, P50, P90) [unit], ``coverage`` (share of actuals within
P10-P90, 0.8 when calibrated) [-], ``top_k_overlap`` (per forecast window of a day, the share
of the ``k`` highest actual hours that are also among the ``k`` highest P50 hours - how often
the forecast picks the sunniest, windiest or busiest hours) [-], and ``skill_vs_<model>``
(``1 - MAE / MAE of that model``) [-].
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.forecast.models import DAY_H, HOUR, QUANTILES, FloatArray, Forecast, Forecaster

log = logging.getLogger(__name__)

TOP_K = 4
"""Hours per day whose ranking is scored [h]."""


def mae(actual: FloatArray, forecast: FloatArray) -> float:
    """Mean absolute error [unit of the values]."""
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))))


def rmse(actual: FloatArray, forecast: FloatArray) -> float:
    """Root mean squared error [unit of the values]."""
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(forecast)) ** 2)))


def pinball(actual: FloatArray, quantile: FloatArray, level: float) -> float:
    """Mean pinball (quantile) loss of ``quantile`` at ``level`` [0-1] [unit of the values]:
    ``level * (y - q)`` when the actual is above, ``(1 - level) * (q - y)`` when below."""
    diff = np.asarray(actual, dtype=float) - np.asarray(quantile, dtype=float)
    return float(np.mean(np.maximum(level * diff, (level - 1.0) * diff)))


def coverage(actual: FloatArray, low: FloatArray, high: FloatArray) -> float:
    """Share of actuals within ``[low, high]`` [0-1]."""
    y = np.asarray(actual, dtype=float)
    return float(np.mean((y >= np.asarray(low)) & (y <= np.asarray(high))))


def top_k_overlap(actual: FloatArray, forecast: FloatArray, k: int = TOP_K) -> float:
    """Share of the ``k`` highest actual values that are among the ``k`` highest forecast
    values [0-1] (ties broken by position, earliest first)."""
    if k < 1 or len(actual) < k:
        raise ValueError(f"need at least k={k} >= 1 values, got {len(actual)}")
    best = set(np.argsort(-np.asarray(actual, dtype=float), kind="stable")[:k].tolist())
    picked = set(np.argsort(-np.asarray(forecast, dtype=float), kind="stable")[:k].tolist())
    return len(best & picked) / k


@dataclass(frozen=True)
class Evaluated:
    """One model's forecasts lined up with the truth: flat arrays over every evaluated hour,
    and ``window`` (which forecast each hour belongs to) [count]."""

    actual: FloatArray
    p10: FloatArray
    p50: FloatArray
    p90: FloatArray
    window: FloatArray


def score(run: Evaluated, norm: float, k: int = TOP_K) -> dict[str, float]:
    """Metrics of one model (module docstring) except skill; ``norm`` > 0 [unit]."""
    error = mae(run.actual, run.p50)
    quantiles = (run.p10, run.p50, run.p90)
    overlaps = [
        top_k_overlap(run.actual[run.window == w], run.p50[run.window == w], k)
        for w in np.unique(run.window)
        if np.sum(run.window == w) >= k
    ]
    return {
        "mae": error,
        "rmse": rmse(run.actual, run.p50),
        "nmae": error / norm,
        "pinball": float(
            np.mean(
                [pinball(run.actual, q, lv) for q, lv in zip(quantiles, QUANTILES, strict=True)]
            )
        ),
        "coverage": coverage(run.actual, run.p10, run.p90),
        "top_k_overlap": float(np.mean(overlaps)) if overlaps else float("nan"),
    }


def issue_times(
    truth: pd.Series, issue_hour: int, warmup_days: int, horizon_h: int
) -> pd.DatetimeIndex:
    """Daily issue times at ``issue_hour`` UTC from ``warmup_days`` after the truth starts,
    while a whole horizon of truth follows."""
    first = truth.index[0].floor("D") + pd.Timedelta(days=warmup_days, hours=issue_hour)
    last = truth.index[-1] + HOUR - horizon_h * HOUR
    return pd.date_range(first, last, freq="D") if last >= first else pd.DatetimeIndex([])


def rolling_origin(
    truth: pd.Series,
    models: Mapping[str, tuple[Forecaster, pd.Series]],
    issue_hour: int = 0,
    horizon_h: int = DAY_H,
    warmup_days: int = 14,
) -> dict[str, Evaluated]:
    """Run every model (name -> (forecaster, its input series)) from each daily issue time
    (module docstring); hours whose truth is missing are left out."""
    times = issue_times(truth, issue_hour, warmup_days, horizon_h)
    if times.empty:
        raise ValueError(
            f"the truth spans {len(truth)} h: too short for {warmup_days} warm-up days "
            f"and a {horizon_h} h horizon"
        )
    parts: dict[str, list[tuple[FloatArray, ...]]] = {name: [] for name in models}
    for n, issued_at in enumerate(times):
        actual = truth.reindex(pd.date_range(issued_at, periods=horizon_h, freq=HOUR))
        seen = actual.notna().to_numpy()
        for name, (forecaster, series) in models.items():
            # cut here as well as inside the forecaster: no input after the issue time
            fc: Forecast = forecaster.forecast(
                series[series.index < issued_at], issued_at, horizon_h
            )
            parts[name].append(
                (
                    actual.to_numpy(dtype=float)[seen],
                    fc.p10[seen],
                    fc.p50[seen],
                    fc.p90[seen],
                    np.full(int(seen.sum()), float(n)),
                )
            )
    return {
        name: Evaluated(*(np.concatenate(column) for column in zip(*rows, strict=True)))
        for name, rows in parts.items()
    }


def report(
    runs: Mapping[str, Evaluated], norm: float, references: tuple[str, ...], k: int = TOP_K
) -> dict[str, dict[str, float]]:
    """Per model, :func:`score` plus ``skill_vs_<ref>`` for every reference model name."""
    scores = {name: score(run, norm, k) for name, run in runs.items()}
    for values in scores.values():
        for ref in references:
            ref_mae = scores[ref]["mae"]
            values[f"skill_vs_{ref}"] = 1.0 - values["mae"] / ref_mae if ref_mae else float("nan")
    return scores
