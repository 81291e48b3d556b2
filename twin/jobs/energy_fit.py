"""Fitting each node's power curve from its metered power, for ``cnetwin energy fit``.

Pairs of (driving utilisation, metered ``power_w``) per node over a window — utilisation is
``gpu_util`` on nodes with GPUs and ``cpu_util`` on the others, as in the energy job — are
averaged per ``every`` window (5 min by default, so the fit weighs time evenly and stays cheap)
and fitted with :func:`twin.models.energy.fit_power_curve`. Nodes without enough spread in their
utilisation are reported with the reason instead of a curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from twin.domain import Fleet, Node
from twin.jobs.energy import driving_util
from twin.models.energy import fit_power_curve
from twin.store import TelemetryStore


@dataclass(frozen=True)
class NodeFit:
    """One node's fitted curve beside its inventory parameters.

    idle_w, max_w : fitted [W]; exponent : fitted [-]; rmse_w : fit residual [W];
    inventory_idle_w, inventory_max_w : the fleet file's values [W]; samples : windows used.
    ``problem`` says why no curve was fitted (the fitted values are then NaN).
    """

    node: str
    samples: int
    idle_w: float
    max_w: float
    exponent: float
    rmse_w: float
    inventory_idle_w: float
    inventory_max_w: float
    problem: str = ""


def fit_node_curves(
    store: TelemetryStore,
    fleet: Fleet,
    start: datetime,
    stop: datetime,
    every: timedelta = timedelta(minutes=5),
) -> list[NodeFit]:
    """Fit every inventory node's power curve from ``[start, stop)`` of stored telemetry."""
    frame = store.query(
        "node", start, stop, fields=["cpu_util", "gpu_util", "power_w"], every=every
    )
    times = pd.DatetimeIndex(sorted(frame["ts"].unique())) if len(frame) else pd.DatetimeIndex([])
    util = driving_util(frame, fleet, times)
    if len(frame) and "power_w" in frame.columns:
        power = frame.pivot_table(index="ts", columns="id", values="power_w", aggfunc="mean")
        power = power.reindex(index=times, columns=util.columns)
    else:
        power = pd.DataFrame(np.nan, index=times, columns=util.columns)
    return [_fit(node, util[node.id], power[node.id]) for node in fleet.nodes]


def _fit(node: Node, util: pd.Series, power: pd.Series) -> NodeFit:
    ok = util.notna() & power.notna()
    u, p = util[ok].to_numpy(), power[ok].to_numpy()
    inventory = (node.idle_power_w, node.max_power_w)
    try:
        curve = fit_power_curve(u, p)
    except ValueError as exc:
        nan = float("nan")
        return NodeFit(node.id, len(u), nan, nan, nan, nan, *inventory, problem=str(exc))
    rmse = float(np.sqrt(np.mean((curve.power_w(u) - p) ** 2)))
    return NodeFit(node.id, len(u), curve.idle_w, curve.max_w, curve.exponent, rmse, *inventory)
