"""Pure figure and number builders of the Forecasts page (no store, no Dash)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import figures
from twin.forecast.backtest import coverage, mae, pinball

FORECAST_COLOUR = "#4fc3f7"
BAND_COLOUR = "rgba(79, 195, 247, 0.22)"
ACTUAL_COLOUR = "#ffd54f"


def forecast_figure(forecast: pd.DataFrame, actual: pd.Series, target: str) -> go.Figure:
    """Actual hourly power [kW] against the P50 and the P10-P90 band of one forecast.

    forecast : ``forecasts_as_of`` rows (``valid_at``, ``p10``, ``p50``, ``p90`` [kW],
    ``issued_at``); actual : hourly mean metered power [kW] by hour start (UTC)."""
    if forecast.empty:
        return figures.empty_figure("No forecast issued by this time")
    times = figures.utc_strings(forecast["valid_at"])
    fig = go.Figure(
        layout=figures.base_layout(
            xaxis={**figures.base_layout()["xaxis"], "title": {"text": "hour start (UTC)"}},
            yaxis={**figures.base_layout()["yaxis"], "title": {"text": f"{target} power [kW]"}},
            legend={"orientation": "h", "y": 1.08, "x": 0, "font": {"size": 14}},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=times,
            y=forecast["p90"].tolist(),
            mode="lines",
            line={"width": 0},
            name="P90",
            showlegend=False,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=times,
            y=forecast["p10"].tolist(),
            mode="lines",
            fill="tonexty",
            fillcolor=BAND_COLOUR,
            line={"width": 0},
            name="P10-P90",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=times,
            y=forecast["p50"].tolist(),
            mode="lines",
            line={"color": FORECAST_COLOUR, "width": 3},
            name="forecast P50",
        )
    )
    seen = actual.dropna()
    if not seen.empty:
        fig.add_trace(
            go.Scatter(
                x=figures.utc_strings(seen.index),
                y=seen.tolist(),
                mode="lines+markers",
                line={"color": ACTUAL_COLOUR, "width": 2},
                name="actual",
            )
        )
    issued = figures.utc_strings([forecast["issued_at"].iloc[0]])[0]
    fig.add_vline(x=issued, line={"color": figures.MUTED, "dash": "dot"})
    return fig


def skill_numbers(forecast: pd.DataFrame, actual: pd.Series) -> dict[str, float | None]:
    """How the forecast did on the hours already measured: ``hours`` [count], ``mae`` [kW],
    ``pinball`` (mean over P10, P50, P90) [kW] and ``coverage`` (share within P10-P90) [0-1];
    None when no forecast hour has been measured yet."""
    if forecast.empty:
        return {"hours": 0, "mae": None, "pinball": None, "coverage": None}
    truth = actual.reindex(pd.DatetimeIndex(forecast["valid_at"])).to_numpy(dtype=float)
    seen = np.isfinite(truth)
    if not seen.any():
        return {"hours": 0, "mae": None, "pinball": None, "coverage": None}
    y = truth[seen]
    q = {name: forecast[name].to_numpy(dtype=float)[seen] for name in ("p10", "p50", "p90")}
    losses = [pinball(y, q["p10"], 0.1), pinball(y, q["p50"], 0.5), pinball(y, q["p90"], 0.9)]
    return {
        "hours": int(seen.sum()),
        "mae": mae(y, q["p50"]),
        "pinball": float(np.mean(losses)),
        "coverage": coverage(y, q["p10"], q["p90"]),
    }
