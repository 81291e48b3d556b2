"""Fleet simulator: realistic telemetry for every asset of a fleet, for demos and load tests.

One :meth:`FleetSimulator.step` gives one interval's messages as ``(topic, payload)`` pairs in
the topic contract (:mod:`collectors.topics`); payloads are canonical JSON
``{"ts": "<RFC3339>", "fields": {...}}`` in the units of :mod:`twin.domain`.
:meth:`FleetSimulator.backfill` gives history as canonical JSON arrays, one message per asset
and clock hour. The same fleet, seed, interval and start give byte-identical output.

How each series is made:

* **nodes** - slot occupancy *u* from the task model (:mod:`twin.models.workload`; a slot is a GPU,
  or 32 cores of a CPU-only pool, 4 to 32 slots per node). The main compute utilisation
  (``gpu_util`` on GPU nodes, ``cpu_util`` otherwise) is *u* times the engine activity
  (below 1 in a training node's checkpoint window) times the state type's intensity plus
  noise; memory, network and storage follow *u* linearly with per-type coefficients
  (:data:`NODE_FIELD_PROFILES`). ``power_w`` is :func:`twin.models.energy.it_power_w` of the main
  compute utilisation; ``tasks_running`` the tasks in service.
* **links** - utilisation is a per-link base load times a daily curve peaking at 21 h local
  time, plus AR(1) noise, within [0.01, 0.97]. Latency is the base latency plus queueing delay
  ``QUEUE_MS * u / (1 - u)`` plus jitter; loss rises quadratically above 85 % utilisation;
  throughput is utilisation times capacity.
* **meters** - ``it_load`` is the sum of the site's node power (with 0.2 % meter noise);
  ``facility`` is IT power times a PUE that rises with outdoor temperature (:func:`cooling_pue`);
  ``pv`` is pvlib's Ineichen clear-sky GHI (Linke turbidity from pvlib's monthly lookup) at the
  site, times an AR(1) clear-sky index, times kWp / 1000 W/m2 times ``PV_DERATE``; ``wind`` is a
  log-normal AR(1) wind speed through :func:`wind_power_kw`; ``grid_import`` is facility - pv -
  wind (negative: export). Battery meters report zero power, their nominal voltage and power
  factor and an empty register (no storage model; they draw no random numbers, so adding one
  leaves every other series as it was). Several
  meters of one kind at a site share its power evenly. ``energy_kwh`` is the meter's cumulative
  register (for grid_import, imported energy only); voltage is 230 V for single-phase firmware
  meters (those with a ``device``) and 400 V otherwise, +-0.5 % noise; power factor 0.95-0.99;
  frequency 50 Hz with a slow AR(1) drift shared by each grid region.
* **grid** - per region, average intensity is the shipped 2023 factor times a daily profile
  (:func:`grid_profile`, mean 1 over the day: a dip when solar output peaks, a bump at the
  evening peak); marginal intensity is a coal/gas blend whose gas share rises at the evening
  peak (:func:`marginal_intensity`); renewable share is ``1 - average / coal factor``.

Clock time in China is UTC+8 (``LOCAL_UTC_OFFSET_H``): task load, link load and grid profiles
follow it; temperature follows local solar time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from collectors.parsers import parse_message
from collectors.topics import asset_topic, grid_topic
from twin.domain import METER_KINDS, Fleet, Node, Reading
from twin.models.carbon import grid_factor, grid_profile, marginal_intensity, read_source_factors
from twin.models.energy import (
    climatology_temp_c,
    cooling_pue,
    facility_power_kw,
    it_power_w,
    wind_power_kw,
)
from twin.models.solar import PV_DERATE, clear_sky_ghi
from twin.models.workload import NodeLoadSimulator

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

LOCAL_UTC_OFFSET_H = 8.0
"""Clock time of the fleet: China Standard Time [h from UTC]."""

CLEAR_SKY_STEP_S = 300.0
"""Resolution of the cached daily clear-sky curves [s]; steps interpolate linearly."""


QUEUE_MS = 0.3
"""Queueing delay scale of a link [ms]: delay = QUEUE_MS * u / (1 - u)."""

METER_NOISE = 0.002
"""Relative standard deviation of metered power [-]."""

WIND_LOG_SIGMA = 0.4
"""Standard deviation of log wind speed around the site's mean [-]; correlation time 3 h."""

SLOT_CORES = 32
"""CPU cores per task slot of a CPU-only node [count]."""

MIN_SLOTS, MAX_SLOTS = 4, 32
"""Bounds of a node's task slots [count]."""


@dataclass(frozen=True, slots=True)
class NodeFieldProfile:
    """How a state type's occupancy *u* shows in a node's fields (all [0-1]).

    compute = intensity * u; mem, net, storage = base + slope * u, each plus noise.
    """

    intensity: float
    mem: tuple[float, float]
    net: tuple[float, float]
    storage: tuple[float, float]


NODE_FIELD_PROFILES: dict[str, NodeFieldProfile] = {
    # inference: memory holds the models; traffic follows requests
    "A": NodeFieldProfile(0.95, mem=(0.45, 0.35), net=(0.10, 0.60), storage=(0.15, 0.10)),
    # training: big activations, all-reduce traffic, checkpoints to storage
    "B": NodeFieldProfile(0.97, mem=(0.40, 0.50), net=(0.15, 0.65), storage=(0.20, 0.40)),
    # rendering / gaming / cloud: balanced
    "C": NodeFieldProfile(0.92, mem=(0.25, 0.45), net=(0.08, 0.50), storage=(0.20, 0.30)),
    # idle: background services only
    "D": NodeFieldProfile(0.90, mem=(0.10, 0.20), net=(0.02, 0.20), storage=(0.05, 0.10)),
}


def engine_util(load: NodeLoadSimulator, intensity: FloatArray) -> FloatArray:
    """Main compute utilisation [0-1] of each node before noise: occupancy × engine activity ×
    the state type's intensity (``intensity`` [0-1] per node)."""
    return load.utilisation * load.activity * intensity


def hourly_engine_util(
    workloads: Sequence[str],
    capacities: Sequence[int],
    hours: int,
    rng: np.random.Generator,
    interval_s: float = 10.0,
    start_hour: float = 0.0,
) -> FloatArray:
    """Hourly means [0-1] of :func:`engine_util` over ``hours`` hours of ``interval_s`` [s]
    steps, shape (hours, nodes): what the entropy model sees of simulated nodes of the given
    state types and slot counts, without the rest of the fleet."""
    load = NodeLoadSimulator(workloads, capacities, rng, start_hour=start_hour)
    intensity = np.array([NODE_FIELD_PROFILES[w].intensity for w in workloads])
    steps = round(3600.0 / interval_s)
    samples = []
    for _ in range(hours * steps):
        load.step(interval_s)
        samples.append(engine_util(load, intensity))
    return np.asarray(samples).reshape(hours, steps, -1).mean(axis=1)


def capacity_slots(node: Node) -> int:
    """Task slots of a node [count]: its GPUs, or ``cpu_cores / SLOT_CORES`` on CPU-only
    nodes, kept within ``MIN_SLOTS``-``MAX_SLOTS``."""
    raw = node.gpus if node.gpus > 0 else node.cpu_cores // SLOT_CORES
    return int(min(max(raw, MIN_SLOTS), MAX_SLOTS))


def _utc_seconds(ts: datetime) -> float:
    """Seconds since the UTC midnight before ``ts`` (a UTC datetime) [s]."""
    return ts.hour * 3600 + ts.minute * 60 + ts.second + ts.microsecond / 1e6


def _rfc3339(ts: datetime) -> str:
    text = ts.astimezone(UTC).isoformat(timespec="milliseconds" if ts.microsecond else "seconds")
    return text.replace("+00:00", "Z")


class _AR1:
    """Vectorised AR(1) noise: stationary Normal(0, sigma**2), correlation time tau [s]."""

    def __init__(
        self, n: int, sigma: float, tau_s: float, dt_s: float, rng: np.random.Generator
    ) -> None:
        self._phi = math.exp(-dt_s / tau_s)
        self._scale = sigma * math.sqrt(1.0 - self._phi**2)
        self._rng = rng
        self.x = sigma * rng.standard_normal(n)

    def step(self) -> FloatArray:
        self.x = self._phi * self.x + self._scale * self._rng.standard_normal(self.x.size)
        return self.x


class _Group:
    """Assets of one kind: their topics, and how to write a reading of one as canonical JSON.

    decimals : digits kept per field; -1 for integer fields.
    """

    def __init__(
        self, topics: Sequence[str], fields: Sequence[str], decimals: Sequence[int]
    ) -> None:
        self.topics = tuple(topics)
        self.fields = tuple(fields)
        self.decimals = tuple(decimals)
        # What json.dumps(..., separators=(",", ":")) writes: floats and ints by repr.
        body = ",".join(f'"{name}":%r' for name in self.fields)
        self._template = '{"ts":"%s","fields":{' + body + "}}"

    def readings(self, stamp: str, columns: Sequence[Any]) -> list[str]:
        """One canonical JSON reading per asset, stamped ``stamp`` (RFC 3339)."""
        cols = []
        for name, column, digits in zip(self.fields, columns, self.decimals, strict=True):
            values = np.asarray(column)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"simulated {name} is not finite: {values}")
            cols.append(np.round(values, digits).tolist() if digits >= 0 else values.tolist())
        template = self._template
        return [template % (stamp, *row) for row in zip(*cols, strict=True)] if cols else []


class FleetSimulator:
    """Simulated telemetry of a fleet, one interval at a time.

    fleet : the inventory to simulate; every site region needs a shipped grid factor.
    seed : int; the same fleet, seed, interval and start give the same messages.
    interval_s : float [s] time between readings.
    start : timezone-aware datetime of the first reading; default now, floored to the interval.
    """

    def __init__(
        self,
        fleet: Fleet,
        seed: int,
        interval_s: float = 10.0,
        start: datetime | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, not {interval_s}")
        if start is None:
            now = datetime.now(UTC).timestamp()
            start = datetime.fromtimestamp(now - now % interval_s, UTC)
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (e.g. datetime(..., tzinfo=UTC))")
        self.fleet = fleet
        self.interval_s = float(interval_s)
        self.now = start.astimezone(UTC)
        streams = np.random.SeedSequence(seed).spawn(5)
        rng_tasks, rng_nodes, rng_links, rng_weather, rng_meters = (
            np.random.default_rng(s) for s in streams
        )
        self._rng_nodes, self._rng_links, self._rng_meters = rng_nodes, rng_links, rng_meters
        self._clear_sky: dict[tuple[str, date], FloatArray] = {}
        self._curves_day: date | None = None
        self._curves = np.zeros((0, 0))
        self._init_nodes(rng_tasks)
        self._init_links(rng_links)
        self._init_sites(rng_weather, rng_meters)
        self._init_grid(rng_weather)
        log.info(
            "simulating %d nodes, %d links, %d meters, %d regions every %g s from %s",
            len(fleet.nodes),
            len(fleet.links),
            len(fleet.meters),
            len(self._regions),
            interval_s,
            _rfc3339(self.now),
        )

    # set-up ------------------------------------------------------------------------------

    def _init_nodes(self, rng: np.random.Generator) -> None:
        nodes = self.fleet.nodes
        site_index = {s.id: i for i, s in enumerate(self.fleet.sites)}
        self._node_site = np.array([site_index[n.site] for n in nodes], dtype=np.int64)
        self._idle_w = np.array([n.idle_power_w for n in nodes], dtype=float)
        self._max_w = np.array([n.max_power_w for n in nodes], dtype=float)
        self._has_gpu = np.array([n.gpus > 0 for n in nodes], dtype=bool)
        self._node_power_w = np.zeros(len(nodes))
        profiles = [NODE_FIELD_PROFILES[n.workload] for n in nodes]
        self._intensity = np.array([p.intensity for p in profiles])
        self._lin = {
            name: np.array([getattr(p, name) for p in profiles]).reshape(-1, 2)
            for name in ("mem", "net", "storage")
        }
        self._load = NodeLoadSimulator(
            [n.workload for n in nodes],
            [capacity_slots(n) for n in nodes],
            rng,
            start_hour=self._clock_hour(self.now),
        )
        self._nodes = _Group(
            tuple(asset_topic(n.site, "node", n.id) for n in nodes),
            (
                "cpu_util",
                "gpu_util",
                "mem_util",
                "net_util",
                "storage_util",
                "power_w",
                "tasks_running",
            ),
            (4, 4, 4, 4, 4, 1, -1),
        )

    def _init_links(self, rng: np.random.Generator) -> None:
        links = self.fleet.links
        self._link_base_util = rng.uniform(0.3, 0.8, len(links))
        self._link_capacity = np.array([k.capacity_gbps for k in links], dtype=float)
        self._link_latency = np.array([k.base_latency_ms for k in links], dtype=float)
        self._link_noise = _AR1(len(links), 0.05, 600.0, self.interval_s, rng)
        self._links = _Group(
            tuple(asset_topic(k.a, "link", k.id) for k in links),
            ("util", "latency_ms", "jitter_ms", "loss_pct", "throughput_gbps"),
            (4, 3, 3, 4, 3),
        )

    def _init_sites(self, weather: np.random.Generator, meters_rng: np.random.Generator) -> None:
        sites = self.fleet.sites
        n = len(sites)
        self._lat = np.array([s.latitude for s in sites], dtype=float)
        self._lon = np.array([s.longitude for s in sites], dtype=float)
        self._pv_kwp = np.array([s.pv_kw_peak for s in sites], dtype=float)
        self._wind_kw = np.array([s.wind_kw_rated for s in sites], dtype=float)
        self._temp_anomaly = _AR1(n, 2.0, 86_400.0, self.interval_s, weather)
        self._clearness_mean = weather.uniform(0.6, 0.9, n)
        self._cloud = _AR1(n, 0.2, 2_700.0, self.interval_s, weather)
        self._wind_mean = weather.uniform(5.5, 8.0, n)
        self._wind_log = _AR1(n, WIND_LOG_SIGMA, 3 * 3_600.0, self.interval_s, weather)
        meters = self.fleet.meters
        site_index = {s.id: i for i, s in enumerate(sites)}
        self._meter_site = np.array([site_index[m.site] for m in meters], dtype=np.int64)
        self._meter_kind = np.array([METER_KINDS.index(m.kind) for m in meters], dtype=np.int64)
        per_kind: dict[tuple[int, str], int] = {}
        for m in meters:
            key = (site_index[m.site], m.kind)
            per_kind[key] = per_kind.get(key, 0) + 1
        self._meter_share = np.array(
            [1.0 / per_kind[(site_index[m.site], m.kind)] for m in meters], dtype=float
        )
        # meters that draw noise: all but batteries (zero power, no storage model)
        self._meter_noisy = np.array([m.kind != "battery" for m in meters], dtype=bool)
        self._energy_kwh = np.zeros(len(meters))
        self._energy_kwh[self._meter_noisy] = np.round(
            meters_rng.uniform(5e3, 5e5, int(self._meter_noisy.sum())), 1
        )
        self._nominal_v = np.array([230.0 if m.device else 400.0 for m in meters])
        nominal_pf = {"it_load": 0.98, "facility": 0.96, "grid_import": 0.97, "pv": 0.99}
        self._nominal_pf = np.array([nominal_pf.get(m.kind, 0.98) for m in meters])
        self._last_meter_kw: FloatArray | None = None
        self._meters = _Group(
            tuple(asset_topic(m.site, "meter", m.id) for m in meters),
            ("power_kw", "energy_kwh", "voltage_v", "power_factor", "frequency_hz"),
            (3, 3, 2, 4, 3),
        )

    def _init_grid(self, rng: np.random.Generator) -> None:
        self._regions = self.fleet.regions
        self._factor = np.array([grid_factor(r) for r in self._regions])
        sources = read_source_factors()
        self._coal, self._gas = sources["coal"], sources["natural_gas"]
        self._grid_noise = _AR1(len(self._regions), 0.01, 1_800.0, self.interval_s, rng)
        self._freq = _AR1(len(self._regions), 0.02, 60.0, self.interval_s, rng)
        region_index = {r: i for i, r in enumerate(self._regions)}
        site_region = np.array([region_index[s.region] for s in self.fleet.sites], dtype=np.int64)
        self._meter_region = site_region[self._meter_site]
        self._grid = _Group(
            tuple(grid_topic(r) for r in self._regions),
            ("intensity_g_per_kwh", "marginal_g_per_kwh", "renewable_share"),
            (1, 1, 4),
        )

    # time ---------------------------------------------------------------------------------

    @staticmethod
    def _clock_hour(ts: datetime) -> float:
        """Local clock hour [h] of a UTC time."""
        return (_utc_seconds(ts) / 3600.0 + LOCAL_UTC_OFFSET_H) % 24.0

    # models ------------------------------------------------------------------------------

    def _node_columns(self) -> list[Any]:
        rng = self._rng_nodes
        n = self._intensity.size
        u = self._load.utilisation
        noise = rng.normal(0.0, 0.02, (5, n))
        compute = np.clip(engine_util(self._load, self._intensity) + noise[0], 0.0, 1.0)
        host = np.clip(0.08 + 0.35 * u + noise[1], 0.0, 1.0)
        cpu = np.where(self._has_gpu, host, compute)
        gpu = np.where(self._has_gpu, compute, 0.0)
        mem, net, sto = (
            np.clip(self._lin[k][:, 0] + self._lin[k][:, 1] * u + noise[i] / 2, 0.0, 1.0)
            for i, k in ((2, "mem"), (3, "net"), (4, "storage"))
        )
        power = it_power_w(compute, self._idle_w, self._max_w)
        self._node_power_w = power
        return [cpu, gpu, mem, net, sto, power, self._load.running]

    def _link_columns(self, hour: float) -> list[Any]:
        daily = 0.65 + 0.35 * math.cos(2 * math.pi * (hour - 21.0) / 24.0)
        util = np.clip(self._link_base_util * daily + self._link_noise.step(), 0.01, 0.97)
        queue = QUEUE_MS * util / (1.0 - util)
        jitter = (0.05 + 0.02 * self._link_latency + 0.5 * queue) * (
            1.0 + 0.2 * np.abs(self._rng_links.standard_normal(util.size))
        )
        latency = (
            self._link_latency + queue + jitter * np.abs(self._rng_links.standard_normal(util.size))
        )
        loss = 0.001 + 2.0 * (np.maximum(util - 0.85, 0.0) / 0.15) ** 2
        return [util, latency, jitter, np.clip(loss, 0.0, 100.0), util * self._link_capacity]

    def _day_curves(self, day: date) -> FloatArray:
        """Clear-sky GHI [W/m2] of every site over a UTC day (rows: sites; columns: every
        ``CLEAR_SKY_STEP_S`` from midnight to the next midnight), computed once per site and
        day (zero for sites without PV); curves of earlier days are dropped."""
        if self._curves_day == day:
            return self._curves
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        points = int(86_400 / CLEAR_SKY_STEP_S) + 1
        times = pd.date_range(midnight, periods=points, freq=f"{CLEAR_SKY_STEP_S:g}s")
        self._clear_sky = {k: v for k, v in self._clear_sky.items() if k[1] >= day}
        curves = np.zeros((len(self.fleet.sites), points))
        for i, site in enumerate(self.fleet.sites):
            if site.pv_kw_peak > 0:
                key = (site.id, day)
                if key not in self._clear_sky:
                    self._clear_sky[key] = clear_sky_ghi(site.latitude, site.longitude, times)
                curves[i] = self._clear_sky[key]
        self._curves_day, self._curves = day, curves
        return curves

    def _pv_clear_sky(self, ts: datetime) -> FloatArray:
        """Clear-sky GHI [W/m2] of every site at ``ts``, interpolated in the day's curves."""
        curves = self._day_curves(ts.date())
        position = _utc_seconds(ts) / CLEAR_SKY_STEP_S
        left = min(int(position), curves.shape[1] - 2)
        weight = position - left
        return curves[:, left] * (1.0 - weight) + curves[:, left + 1] * weight

    def _site_power_kw(self, ts: datetime) -> FloatArray:
        """Power [kW] per meter kind (rows, in METER_KINDS order) and site (columns)."""
        n = len(self.fleet.sites)
        it = np.bincount(self._node_site, weights=self._node_power_w, minlength=n) / 1000.0
        climate = climatology_temp_c(
            _utc_seconds(ts) / 3600.0, ts.timetuple().tm_yday, self._lat, self._lon
        )
        temp_c = climate + self._temp_anomaly.step()
        facility = facility_power_kw(it, cooling_pue(temp_c))
        clearness = np.clip(self._clearness_mean + self._cloud.step(), 0.05, 1.1)
        pv = np.minimum(self._pv_clear_sky(ts) / 1000.0 * clearness * PV_DERATE, 1.0) * self._pv_kwp
        speed = self._wind_mean * np.exp(self._wind_log.step() - WIND_LOG_SIGMA**2 / 2)
        wind = wind_power_kw(speed, self._wind_kw)
        by_kind = {
            "it_load": it,
            "facility": facility,
            "pv": pv,
            "wind": wind,
            "grid_import": facility - pv - wind,
            "battery": np.zeros(n),
        }
        return np.stack([by_kind[k] for k in METER_KINDS]) if n else np.zeros((len(METER_KINDS), 0))

    def _meter_columns(self, ts: datetime, freq_hz: FloatArray) -> list[Any]:
        site_kw = self._site_power_kw(ts)
        noisy = self._meter_noisy
        n = int(noisy.sum())
        rng = self._rng_meters
        noise = np.ones(noisy.size)
        noise[noisy] = 1.0 + METER_NOISE * rng.standard_normal(n)
        kw = site_kw[self._meter_kind, self._meter_site] * self._meter_share * noise
        if self._last_meter_kw is not None:
            self._energy_kwh = self._energy_kwh + np.maximum(self._last_meter_kw, 0.0) * (
                self.interval_s / 3600.0
            )
        self._last_meter_kw = kw
        volts = self._nominal_v.copy()
        volts[noisy] *= 1.0 + np.clip(0.005 * rng.standard_normal(n), -0.02, 0.02)
        pf = self._nominal_pf.copy()
        pf[noisy] = np.clip(pf[noisy] + 0.005 * rng.standard_normal(n), 0.95, 0.99)
        return [kw, self._energy_kwh, volts, pf, freq_hz[self._meter_region]]

    def _grid_columns(self, hour: float) -> tuple[list[Any], FloatArray]:
        intensity = (
            self._factor * float(grid_profile(np.asarray(hour))) * (1.0 + self._grid_noise.step())
        )
        marginal = np.full(
            len(self._regions), float(marginal_intensity(np.asarray(hour), self._coal, self._gas))
        )
        share = np.clip(1.0 - intensity / self._coal, 0.0, 1.0)
        freq = np.clip(50.0 + self._freq.step(), 49.8, 50.2)
        return [intensity, marginal, share], freq

    # output ------------------------------------------------------------------------------

    def _advance(self) -> list[tuple[_Group, list[Any]]]:
        """Columns of every group at the current time; then advance the clock one interval."""
        ts = self.now
        hour = self._clock_hour(ts)
        node_cols = self._node_columns()
        link_cols = self._link_columns(hour)
        grid_cols, freq = self._grid_columns(hour)
        meter_cols = self._meter_columns(ts, freq)
        self._load.step(self.interval_s)
        self.now = ts + timedelta(seconds=self.interval_s)
        return [
            (self._nodes, node_cols),
            (self._links, link_cols),
            (self._meters, meter_cols),
            (self._grid, grid_cols),
        ]

    def _readings(self) -> Iterator[tuple[str, str]]:
        """``(topic, canonical JSON reading)`` of every asset at the current time; advances."""
        stamp = _rfc3339(self.now)
        for group, columns in self._advance():
            yield from zip(group.topics, group.readings(stamp, columns), strict=True)

    def step(self) -> list[tuple[str, bytes]]:
        """One interval's messages ``(topic, canonical JSON payload)``, stamped with the
        simulator's clock (:attr:`now`), which then advances by :attr:`interval_s`."""
        return [(topic, reading.encode()) for topic, reading in self._readings()]

    def backfill(self, start: datetime, stop: datetime) -> Iterator[tuple[str, bytes]]:
        """History from ``start`` to ``stop`` (exclusive) as canonical JSON arrays: one message
        per asset and clock hour (at most 3600 / interval_s readings each), in time order.

        Simulation runs forward from the simulator's clock: steps before ``start`` are
        simulated without output, and the clock ends at or after ``stop`` so :meth:`step`
        continues where the history ends. Raises ValueError if ``start`` is before the clock.
        """
        if start.tzinfo is None or stop.tzinfo is None:
            raise ValueError("start and stop must be timezone-aware")
        if start < self.now:
            raise ValueError(
                f"backfill start {_rfc3339(start)} is before the simulator clock "
                f"{_rfc3339(self.now)}: create the simulator with start <= the backfill start"
            )
        while self.now < start:
            self._advance()
        pending: dict[str, list[str]] = {}
        hour = self.now.replace(minute=0, second=0, microsecond=0)
        while self.now < stop:
            this_hour = self.now.replace(minute=0, second=0, microsecond=0)
            if this_hour != hour:
                yield from _flush(pending)
                hour = this_hour
            for topic, reading in self._readings():
                pending.setdefault(topic, []).append(reading)
        yield from _flush(pending)

    def backfill_readings(
        self, start: datetime, stop: datetime, topics: Callable[[str], bool] = lambda _: True
    ) -> list[Reading]:
        """:meth:`backfill` parsed into readings as the collector would store them (checked
        against the fleet, received at ``stop``), for filling a store without a broker: tests,
        benchmarks, examples. ``topics`` keeps the messages whose topic it accepts."""
        return [
            reading
            for topic, payload in self.backfill(start, stop)
            if topics(topic)
            for reading in parse_message(topic, payload, fleet=self.fleet, received_at=stop)
        ]


def _flush(pending: dict[str, list[str]]) -> Iterator[tuple[str, bytes]]:
    for topic, readings in pending.items():
        yield topic, ("[" + ",".join(readings) + "]").encode()
    pending.clear()
