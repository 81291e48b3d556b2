"""A DuckDB store filled with a day of made-up but plausible telemetry for the example fleet.

The telemetry is generated here with numpy (not by the product), so tests can compute what the
dashboard must show straight from these frames.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from twin.domain import Fleet
from twin.inventory import example_fleet
from twin.models.carbon import read_grid_factors
from twin.store import TagFilter
from twin.store.duckdb import DuckDBStore

NOW = pd.Timestamp("2025-06-01 06:02:30", tz="UTC")
"""The pinned 'now' of the dashboard tests (14:02 in Beijing)."""

STEP = pd.Timedelta(seconds=60)
HISTORY = pd.Timedelta(hours=25)
FUTURE = pd.Timedelta(hours=1)
"""Telemetry also exists after NOW so a test can move the clock forward and see new windows."""

SILENT_NODES = ("zj-hangzhou-cpu03", "gd-shenzhen-cpu03")
"""These nodes stop reporting SILENCE before NOW."""
SILENCE = pd.Timedelta(minutes=10)

UNMETERED_SITE = "gd-shenzhen"
"""This site has no facility meter: its facility power must be modelled."""

SCHEMAS: dict[str, tuple[str, ...]] = {
    "node": ("site", "id"),
    "link": ("site", "id"),
    "meter": ("site", "id", "kind"),
    "grid": ("region",),
}


@dataclass(frozen=True)
class Telemetry:
    """What was written: one wide frame per measurement (``ts`` tz-aware UTC)."""

    fleet: Fleet
    frames: dict[str, pd.DataFrame]

    def latest(self, measurement: str, at: pd.Timestamp) -> pd.DataFrame:
        """Per series, the newest row at or before ``at``."""
        frame = self.frames[measurement]
        frame = frame[frame["ts"] <= at].sort_values("ts")
        return frame.groupby(list(SCHEMAS[measurement]), as_index=False).last()


def _hours_local(times: pd.DatetimeIndex) -> np.ndarray:
    local = times.tz_convert("Asia/Shanghai")
    return np.asarray(local.hour + local.minute / 60.0, dtype=float)


def _node_frame(fleet: Fleet, times: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    hours = _hours_local(times)
    day = 0.5 - 0.5 * np.cos((hours - 3.0) / 24.0 * 2 * np.pi)  # 0 at 03:00, 1 at 15:00
    parts = []
    for node in fleet.nodes:
        noise = rng.normal(0.0, 0.04, len(times))
        base = {
            "A": 0.55 + 0.35 * day,
            "B": np.full(len(times), 0.92),
            "C": np.where((hours >= 10) | (hours < 1), 0.85, 0.3),
            "D": np.full(len(times), 0.04),
        }[node.workload]
        engine = np.clip(base + noise, 0.0, 1.0)
        cpu = np.clip(engine * (0.6 if node.gpus else 1.0) + rng.normal(0, 0.02, len(times)), 0, 1)
        gpu = engine if node.gpus else np.zeros(len(times))
        compute = np.maximum(cpu, gpu)
        frame = pd.DataFrame(
            {
                "ts": times,
                "site": node.site,
                "id": node.id,
                "cpu_util": cpu,
                "gpu_util": gpu,
                "mem_util": np.clip(0.3 + 0.5 * engine, 0, 1),
                "net_util": np.clip(0.2 + 0.6 * engine * day, 0, 1),
                "storage_util": np.full(len(times), 0.45),
                "power_w": node.idle_power_w + (node.max_power_w - node.idle_power_w) * compute,
                "tasks_running": np.round(engine * 20),
            }
        )
        if node.id in SILENT_NODES:
            frame = frame[frame["ts"] <= NOW - SILENCE]
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def _meter_frame(fleet: Fleet, nodes: pd.DataFrame, times: pd.DatetimeIndex) -> pd.DataFrame:
    hours = _hours_local(times)
    sun = np.clip(np.sin((hours - 6.0) / 12.0 * np.pi), 0.0, None)
    wind = 0.35 + 0.25 * np.sin(hours / 24.0 * 2 * np.pi)
    it_by_site = nodes.groupby(["site", "ts"])["power_w"].sum() / 1000.0
    parts = []
    for site in fleet.sites:
        it_kw = it_by_site.loc[site.id].reindex(times).ffill().to_numpy()
        facility = it_kw * 1.35
        pv = site.pv_kw_peak * sun
        wind_kw = site.wind_kw_rated * wind
        power = {
            "it_load": it_kw,
            "facility": facility,
            "pv": pv,
            "wind": wind_kw,
            "grid_import": np.clip(facility - pv - wind_kw, 0.0, None),
        }
        for meter in fleet.meters:
            if meter.site != site.id or meter.kind not in power:
                continue
            if site.id == UNMETERED_SITE and meter.kind == "facility":
                continue
            kw = power[meter.kind]
            parts.append(
                pd.DataFrame(
                    {
                        "ts": times,
                        "site": site.id,
                        "id": meter.id,
                        "kind": meter.kind,
                        "power_kw": kw,
                        "energy_kwh": np.cumsum(kw) / 60.0,
                        "voltage_v": np.full(len(times), 400.0),
                        "power_factor": np.full(len(times), 0.96),
                        "frequency_hz": np.full(len(times), 50.0),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def _link_frame(fleet: Fleet, times: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    hours = _hours_local(times)
    parts = []
    for k, link in enumerate(fleet.links):
        util = np.clip(
            0.25
            + 0.1 * k % 0.6
            + 0.2 * np.sin(hours / 24 * 2 * np.pi + k)
            + rng.normal(0, 0.02, len(times)),
            0.0,
            1.0,
        )
        parts.append(
            pd.DataFrame(
                {
                    "ts": times,
                    "site": link.a,
                    "id": link.id,
                    "util": util,
                    "latency_ms": link.base_latency_ms + 4.0 * util**3,
                    "jitter_ms": 0.2 + util,
                    "loss_pct": 0.01 * util,
                    "throughput_gbps": util * link.capacity_gbps,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _grid_frame(fleet: Fleet, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
    hours = pd.date_range(start.floor("1h"), stop, freq="1h")
    local = _hours_local(hours)
    factors = read_grid_factors()
    parts = []
    for region in fleet.regions:
        swing = 1.0 - 0.15 * np.clip(np.sin((local - 6.0) / 12.0 * np.pi), 0, None)
        parts.append(
            pd.DataFrame(
                {
                    "ts": hours,
                    "region": region,
                    "intensity_g_per_kwh": factors[region] * swing,
                    "marginal_g_per_kwh": np.full(len(hours), 900.0),
                    "renewable_share": 0.2 + 0.2 * (1 - swing),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def make_telemetry(fleet: Fleet, seed: int = 7) -> Telemetry:
    """A day of telemetry (and an hour after NOW) at STEP for ``fleet``."""
    rng = np.random.default_rng(seed)
    start, stop = NOW - HISTORY, NOW + FUTURE
    times = pd.date_range(start.floor(STEP), stop, freq=STEP)
    nodes = _node_frame(fleet, times, rng)
    return Telemetry(
        fleet=fleet,
        frames={
            "node": nodes,
            "meter": _meter_frame(fleet, nodes, times),
            "link": _link_frame(fleet, times, rng),
            "grid": _grid_frame(fleet, start, stop),
        },
    )


@pytest.fixture(scope="session")
def telemetry() -> Telemetry:
    """The generated telemetry for the example fleet."""
    return make_telemetry(example_fleet())


@pytest.fixture(scope="session")
def filled_store(
    tmp_path_factory: pytest.TempPathFactory, telemetry: Telemetry
) -> Iterator[DuckDBStore]:
    """A DuckDB file holding ``telemetry`` (written once per test session)."""
    path: Path = tmp_path_factory.mktemp("store") / "overview.duckdb"
    store = DuckDBStore(path)
    for measurement, frame in telemetry.frames.items():
        store.write_frame(measurement, frame, SCHEMAS[measurement])
    yield store
    store.close()


class CountingStore:
    """The real store, counting its ``last`` calls per measurement (safe under threads)."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store
        self.lasts: Counter[str] = Counter()
        self._count = threading.Lock()

    def last(
        self,
        measurement: str,
        at: datetime | pd.Timestamp | None = None,
        tags: TagFilter | None = None,
        fields: Sequence[str] | None = None,
        within: timedelta | None = None,
    ) -> pd.DataFrame:
        with self._count:
            self.lasts[measurement] += 1
        return self.store.last(measurement, at=at, tags=tags, fields=fields, within=within)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
