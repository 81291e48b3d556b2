"""Fork from the past: from a stored time, run a placement policy forward and compare it with
what actually happened next.

:func:`fork_from` works on the whole UTC hour ``t0`` at or before the requested time (the
entropy model's hourly grid) and a horizon of whole hours (1-24 h). Rules:

* **No hindsight.** The simulated side reads only rows stamped before ``t0``: the fleet state
  at ``t0`` (:func:`twin.views.replay.state_at`), the hourly state history of the 24 h before ``t0``
  (:func:`twin.jobs.entropy.hourly_state`) and the grid signal of the GRID_STALE_AFTER before
  ``t0``. Rows stamped at or after ``t0`` are read only for the actual side.
* **Nodes.** The nodes not *missing* at ``t0`` take part; each one's utilisation (c, l, s)
  [0-1] at ``t0`` (c = max(cpu_util, gpu_util)) is carried by TASKS_PER_NODE in-flight tasks
  of equal demand whose remaining service times are exponential (memoryless) with mean
  TASK_MEAN.
* **Workload.** Yesterday persists: each taking part node is the origin of a Poisson stream of
  tasks at TASKS_PER_NODE / TASK_MEAN [1/s] whose demand during horizon hour k is
  1 / TASKS_PER_NODE of the node's hourly mean state 24 h earlier (hour ``t0 + k - 24 h``;
  its last known hour when that one is missing). Under its own placement each node would thus
  replay yesterday's load (Little's law); a policy moves the same tasks elsewhere. Service
  times are exponential with mean TASK_MEAN.
* **Placement.** The policy (:mod:`twin.whatif.policies`) sees each node's available state
  (1 − utilisation, clipped to [0-1]), its tasks [count], its combined entropy at ``t0``
  [bits] (0 without history) and the round trip [ms] between sites: 2 × the one-way
  ``base_latency_ms`` of a direct link, shortest paths otherwise, 1 ms within a
  site (:func:`twin.models.network.rtt_matrix`). Utilisation is the sum of the demands placed on a
  node, clipped to 1 when recorded;
  demand beyond a node's capacity is not served faster, and the share of node-time spent so
  (``saturated_share``) says how much of the simulated load was lost to overload.
* **Stale load.** With ``advert_s`` > 0 the policy decides on load as advertised: the nodes'
  available state and task counts it sees are refreshed only at the first arrival after each
  multiple of ``advert_s`` [s] from the fork time, so every placement until the next
  advertisement sees the fleet as it was then; 0 (the default) shows live load at every
  arrival, as :mod:`twin.whatif.routing` and :mod:`twin.whatif.llm` do.
* **Sides.** Both sides are reduced the same way: mean utilisation (c, l, s) over node-hours of
  the horizon [0-1]; H(R) and drifting share at the end of every horizon hour from the 24 h
  window that ends there (history before ``t0`` plus the side's hours), the last of them being
  the figures at ``t0 + horizon``; emissions [kgCO2] and energy cost [CNY] over the horizon.
  Simulated emissions follow the modelled power chain of :mod:`twin.jobs.energy` with hourly
  mean c as the driving utilisation, no meters (no on-site PV or wind is assumed ahead) and the
  grid intensity known at ``t0`` (the signal carried forward for GRID_STALE_AFTER, then the
  daily profile). Actual emissions are the stored ``site_energy`` rows when there are any,
  else :func:`twin.jobs.energy.derive_energy` from the stored telemetry.
* **Cost.** Both sides' cost [CNY] comes from the same modelled chain as the modelled
  emissions: each taking-part site's modelled facility energy over the horizon [kWh] × its
  ``price_cny_per_kwh`` [CNY/kWh], summed. The whole facility draw is priced (no on-site
  supply is assumed ahead, as for the emissions); without a price for any taking-part site the
  cost is not known (None).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.domain import Fleet
from twin.durations import duration_text
from twin.errors import ConfigError
from twin.jobs.energy import (
    ENERGY_EVERY,
    climatology,
    derive_energy,
    energy_tables,
    grid_tables,
    meter_tables,
)
from twin.jobs.entropy import COMBINED, EntropyParams, hourly_state, snapshot_from_state
from twin.models.energy import SiteEnergyModel
from twin.models.entropy import DIMENSIONS, FleetEntropy, state_vector
from twin.models.network import rtt_matrix
from twin.store import TelemetryStore
from twin.views.overview import GRID_STALE_AFTER
from twin.views.replay import state_at
from twin.whatif.engine import EventQueue, poisson_arrivals
from twin.whatif.policies import FleetState, Policy

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

HOUR = pd.Timedelta(hours=1)
HISTORY = pd.Timedelta(hours=24)
"""History read before the fork time: the entropy window and yesterday's load."""

MAX_HORIZON = timedelta(hours=24)
"""Longest horizon: yesterday's load must lie before the fork time."""

TASKS_PER_NODE = 10
"""Tasks that together make one node's load [count]."""

TASK_MEAN = timedelta(minutes=15)
"""Mean service time of a task [s] (exponential)."""


@dataclass(frozen=True)
class ForkSide:
    """One side of a fork over the horizon.

    mean_util : fleet mean over node-hours of c, l, s [0-1]; hourly_c : fleet mean c per hour
    of the horizon [0-1] (NaN for an hour without data); hourly_entropy_bits,
    hourly_drifting_share : H(R) [bits] and drifting share [0-1] at the end of each horizon
    hour; network_entropy_bits, drifting_share : the same at the horizon's end (the last hourly
    values); emissions_kg : over the horizon [kgCO2] (simulated: modelled; actual: stored or
    derived); modelled_emissions_kg : over the horizon by the simulated side's model for both
    sides [kgCO2], so their difference is the policy's; cost_cny : modelled facility energy ×
    site price over the horizon [CNY], None when a taking-part site has no price;
    work_node_h : compute delivered, the sum over node-hours of c (clipped to capacity)
    [node-h at full compute]; unserved_node_h : compute demanded beyond a node's capacity,
    not delivered [node-h] (simulated side; None for the actual one, which the store cannot
    say); energy_kwh : modelled facility energy over the horizon [kWh].
    """

    mean_util: dict[str, float]
    hourly_c: tuple[float, ...]
    hourly_entropy_bits: tuple[float, ...]
    hourly_drifting_share: tuple[float, ...]
    network_entropy_bits: float
    drifting_share: float
    emissions_kg: float
    modelled_emissions_kg: float
    cost_cny: float | None
    work_node_h: float
    unserved_node_h: float | None
    energy_kwh: float


@dataclass(frozen=True)
class ForkReport:
    """A fork at ``at`` (whole UTC hour) over ``horizon_h`` [h] under ``policy``, deciding on
    load advertised every ``advert_s`` [s] (0: live).

    nodes : taking part [count]; tasks : simulated arrivals [count]; saturated_share : share
    of simulated node-time with demand above capacity in c, l or s [0-1]; before : the fleet's
    entropy summary at ``at``; simulated, actual : the two sides (actual is None when the store
    has no node data after ``at``).
    """

    at: pd.Timestamp
    horizon_h: int
    policy: str
    seed: int
    advert_s: float
    nodes: int
    tasks: int
    saturated_share: float
    before: FleetEntropy
    simulated: ForkSide
    actual: ForkSide | None

    def to_json(self) -> dict[str, Any]:
        """``{"at", "horizon_h", "policy", "seed", "advert_s", "nodes", "tasks", "saturated_share",
        "before":
        {"network_entropy_bits", "drifting_share"}, "simulated": side, "actual": side | null,
        "difference": {"mean_util": {c, l, s}, "network_entropy_bits", "drifting_share",
        "emissions_kg", "modelled_emissions_kg", "cost_cny", "work_node_h", "energy_kwh"} |
        null}`` (simulated − actual);
        NaN and an unknown cost are written as null."""
        sides = {"simulated": _side_json(self.simulated), "actual": None, "difference": None}
        if self.actual is not None:
            sides["actual"] = _side_json(self.actual)
            sim, act = self.simulated, self.actual
            sides["difference"] = {
                "mean_util": {d: _num(sim.mean_util[d] - act.mean_util[d]) for d in DIMENSIONS},
                "network_entropy_bits": _num(sim.network_entropy_bits - act.network_entropy_bits),
                "drifting_share": _num(sim.drifting_share - act.drifting_share),
                "emissions_kg": _num(sim.emissions_kg - act.emissions_kg),
                "modelled_emissions_kg": _num(
                    sim.modelled_emissions_kg - act.modelled_emissions_kg
                ),
                "cost_cny": None
                if sim.cost_cny is None or act.cost_cny is None
                else _num(sim.cost_cny - act.cost_cny),
                "work_node_h": _num(sim.work_node_h - act.work_node_h),
                "energy_kwh": _num(sim.energy_kwh - act.energy_kwh),
            }
        return {
            "at": self.at.isoformat(),
            "horizon_h": self.horizon_h,
            "policy": self.policy,
            "seed": self.seed,
            "advert_s": self.advert_s,
            "nodes": self.nodes,
            "tasks": self.tasks,
            "saturated_share": self.saturated_share,
            "before": {
                "network_entropy_bits": _num(self.before.network_entropy_bits),
                "drifting_share": _num(self.before.drifting_share),
            },
            **sides,
        }


def fork_from(
    store: TelemetryStore,
    fleet: Fleet,
    at: datetime | pd.Timestamp,
    policy: Policy,
    horizon: timedelta = timedelta(hours=6),
    seed: int = 0,
    params: EntropyParams | None = None,
    advert_s: float = 0.0,
) -> ForkReport:
    """Fork at the whole hour at or before ``at`` (module docstring for the rules):
    :func:`read_fork` then :func:`simulate_fork`, the policy seeing load advertised every
    ``advert_s`` [s] (0: live load).

    ConfigError when the horizon is not 1-24 whole hours, ``advert_s`` is negative or no node
    reported in the hour before the fork.
    """
    check_advert_s(advert_s)
    inputs = read_fork(store, fleet, at, horizon, params)
    return simulate_fork(inputs, policy, seed, advert_s=advert_s)


def check_advert_s(advert_s: float) -> None:
    """ConfigError unless ``advert_s`` [s] is 0 (live load) or positive."""
    if advert_s < 0:
        raise ConfigError("advert_s must be 0 (live load) or a positive number of seconds")


@dataclass(frozen=True)
class ForkInputs:
    """Everything a fork reads from the store, so that the simulation needs no store (and can
    run in another process). t0 : the fork time (whole UTC hour); hours : the horizon [h];
    ids : the taking-part nodes; initial : their (c, l, s) at t0 [0-1] (nodes, 3);
    yesterday : demand per horizon hour (hours, nodes, 3) [0-1]; entropy_bits : combined
    entropy at t0 [bits]; history : hourly state of the 24 h before t0; before : the fleet's
    entropy summary at t0; grid : the grid rows known at t0; future : hourly state after t0
    (empty: none stored); actual_emissions_kg : stored or derived [kgCO2] (None: no future)."""

    fleet: Fleet
    t0: pd.Timestamp
    hours: int
    params: EntropyParams
    ids: list[str]
    initial: FloatArray
    yesterday: FloatArray
    entropy_bits: FloatArray
    history: pd.DataFrame
    before: FleetEntropy
    grid: pd.DataFrame
    future: pd.DataFrame
    actual_emissions_kg: float | None


def read_fork(
    store: TelemetryStore,
    fleet: Fleet,
    at: datetime | pd.Timestamp,
    horizon: timedelta = timedelta(hours=6),
    params: EntropyParams | None = None,
) -> ForkInputs:
    """Read what a fork at the whole hour at or before ``at`` needs from the store.

    ConfigError when the horizon is not 1-24 whole hours or no node reported in the hour
    before the fork.
    """
    p = params or EntropyParams()
    t0 = _hour(at)
    hours = horizon_hours(horizon)
    history = hourly_state(store, t0 - HISTORY, t0, fleet=fleet)
    initial = _initial_util(store, fleet, t0)
    live = [k for k, node in enumerate(fleet.nodes) if node.id in initial.index]
    if history.empty or not live:
        raise ConfigError(
            f"no node reported in the hour before {t0.isoformat()}: pick a time inside the "
            "stored history"
        )
    before = snapshot_from_state(history, t0, p)
    entropy = before.nodes[before.nodes["dimension"] == COMBINED].set_index("id")["entropy_bits"]
    times = pd.date_range(t0, periods=hours, freq=HOUR, name="ts")
    ids = [fleet.nodes[k].id for k in live]
    grid = store.query(
        "grid",
        t0 - GRID_STALE_AFTER,
        t0,
        fields=["intensity_g_per_kwh", "marginal_g_per_kwh"],
        every=HOUR,
    )
    future = hourly_state(store, t0, t0 + hours * HOUR, fleet=fleet)
    return ForkInputs(
        fleet=fleet,
        t0=t0,
        hours=hours,
        params=p,
        ids=ids,
        initial=initial.reindex(ids).to_numpy(dtype=float),
        yesterday=_yesterday(history, ids, times),
        entropy_bits=entropy.reindex(ids).fillna(0.0).to_numpy(dtype=float),
        history=history,
        before=before.fleet,
        grid=grid,
        future=future,
        actual_emissions_kg=None if future.empty else _actual_emissions(store, fleet, times),
    )


def simulate_fork(
    inputs: ForkInputs,
    policy: Policy,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
    advert_s: float = 0.0,
) -> ForkReport:
    """Run ``policy`` forward from what :func:`read_fork` read, deciding on load advertised
    every ``advert_s`` [s] (0: live); ``progress(share)`` is called as the simulated time
    advances, with the share of the horizon done [0-1] (an exception it raises stops the run)."""
    check_advert_s(advert_s)
    t0, hours, p, ids, fleet = inputs.t0, inputs.hours, inputs.params, inputs.ids, inputs.fleet
    times = pd.date_range(t0, periods=hours, freq=HOUR, name="ts")
    run = _simulate(
        fleet,
        ids,
        inputs.initial,
        inputs.yesterday,
        inputs.entropy_bits,
        policy,
        hours,
        np.random.default_rng(seed),
        progress,
        advert_s,
    )
    sim_frame = _state_frame(run.state, ids, fleet, times)
    modelled = _modelled_energy(fleet, sim_frame, times, inputs.grid)
    simulated = _side(
        inputs.history, sim_frame, t0, hours, p, modelled.emissions_kg, modelled, run.unserved_h
    )
    actual = (
        None
        if inputs.future.empty or inputs.actual_emissions_kg is None
        else _side(
            inputs.history,
            inputs.future,
            t0,
            hours,
            p,
            inputs.actual_emissions_kg,
            _modelled_energy(fleet, inputs.future, times, inputs.grid),
            None,
        )
    )
    log.info("fork at %s over %d h under %s: %d tasks", t0, hours, policy.name, run.tasks)
    return ForkReport(
        at=t0,
        horizon_h=hours,
        policy=policy.name,
        seed=seed,
        advert_s=float(advert_s),
        nodes=len(ids),
        tasks=run.tasks,
        saturated_share=run.saturated_share,
        before=inputs.before,
        simulated=simulated,
        actual=actual,
    )


def horizon_hours(horizon: timedelta) -> int:
    """The fork horizon in whole hours; ConfigError unless 1-24 whole hours."""
    hours = pd.Timedelta(horizon) / HOUR
    if hours != int(hours) or not 1 <= hours <= MAX_HORIZON / timedelta(hours=1):
        raise ConfigError(f"horizon {duration_text(horizon)}: give whole hours from 1 to 24")
    return int(hours)


def _initial_util(store: TelemetryStore, fleet: Fleet, t0: pd.Timestamp) -> pd.DataFrame:
    """Node id × (c, l, s) [0-1] at ``t0`` of the nodes not missing then (NaN as 0)."""
    nodes = state_at(store, fleet, t0 - pd.Timedelta(1, "ns")).nodes
    nodes = nodes[nodes["status"] != "missing"]
    state = state_vector(nodes).fillna(0.0).clip(0.0, 1.0)
    return state.set_axis(nodes["id"].astype(str).to_numpy())


def _yesterday(history: pd.DataFrame, ids: list[str], times: pd.DatetimeIndex) -> FloatArray:
    """(hours, nodes, 3) state [0-1] 24 h before each horizon hour, else the node's last known
    hour (0 without any)."""
    out = np.zeros((len(times), len(ids), len(DIMENSIONS)))
    for d, dimension in enumerate(DIMENSIONS):
        table = history.pivot_table(index="ts", columns="id", values=dimension, aggfunc="mean")
        table = table.reindex(columns=ids).astype(float)
        last = table.ffill().iloc[-1] if len(table) else pd.Series(np.nan, index=ids)
        past = table.reindex(times - HISTORY)
        out[:, :, d] = past.fillna(last).fillna(0.0).to_numpy(dtype=float)
    return out


@dataclass(frozen=True)
class _Run:
    """A simulation's outcome: state (hours, nodes, 3) time-mean utilisation [0-1, clipped
    per instant]; tasks : arrivals [count]; saturated_share : share of node-time with demand
    beyond capacity [0-1]; unserved_h : compute demanded beyond capacity [node-h]."""

    state: FloatArray
    tasks: int
    saturated_share: float
    unserved_h: float


PROGRESS_STEP_S = 300.0
"""Simulated time between two progress calls [s]."""


def _simulate(
    fleet: Fleet,
    ids: list[str],
    initial: FloatArray,
    yesterday: FloatArray,
    entropy_bits: FloatArray,
    policy: Policy,
    hours: int,
    rng: np.random.Generator,
    progress: Callable[[float], None] | None = None,
    advert_s: float = 0.0,
) -> _Run:
    """Run the tasks forward, the policy seeing load advertised every ``advert_s`` [s] (0:
    live). Each node's utilisation is integrated over time only when it changes (per node, so
    an event costs the policy's decision, not a pass over the fleet)."""
    n = len(ids)
    mean_s = TASK_MEAN.total_seconds()
    horizon_s = hours * 3600.0
    sites = {s.id: k for k, s in enumerate(fleet.sites)}
    site_of = {node.id: node.site for node in fleet.nodes}
    node_site = np.array([sites[site_of[i]] for i in ids])
    latency = rtt_matrix(fleet)[np.ix_(node_site, node_site)]
    util = np.zeros((n, len(DIMENSIONS)))
    load = np.zeros(n)
    queue: EventQueue[tuple[str, int, int, FloatArray]] = EventQueue()
    for j in range(n):
        demand = initial[j] / TASKS_PER_NODE
        for _ in range(TASKS_PER_NODE):
            util[j] += demand
            load[j] += 1
            queue.push(float(rng.exponential(mean_s)), ("end", j, j, demand))
    tasks = 0
    for origin in range(n):
        for t in poisson_arrivals(TASKS_PER_NODE / mean_s, horizon_s, rng):
            queue.push(float(t), ("arrive", origin, -1, np.empty(0)))
            tasks += 1
    state = FleetState(
        available=np.clip(1.0 - util.T, 0.0, 1.0),
        load=load,
        entropy_bits=entropy_bits,
        latency_ms=latency,
    )
    seen = state
    next_advert = -np.inf
    books = _Books(hours, n)
    next_report = PROGRESS_STEP_S
    while queue:
        t, (kind, origin, node, demand) = queue.pop()
        if t >= horizon_s:
            break
        if progress is not None and t >= next_report:
            progress(t / horizon_s)
            next_report = (t // PROGRESS_STEP_S + 1) * PROGRESS_STEP_S
        if kind == "end":
            books.settle(node, util[node], t)
            util[node] -= demand
            load[node] -= 1
        else:
            demand = yesterday[int(t // 3600.0), origin] / TASKS_PER_NODE
            if advert_s > 0 and t >= next_advert:
                seen = replace(state, available=state.available.copy(), load=load.copy())
                next_advert = (np.floor(t / advert_s) + 1.0) * advert_s
            node = policy.choose(demand, origin, seen).node
            books.settle(node, util[node], t)
            util[node] += demand
            load[node] += 1
            queue.push(t + float(rng.exponential(mean_s)), ("end", origin, node, demand))
        state.available[:, node] = np.clip(1.0 - util[node], 0.0, 1.0)
    for j in range(n):
        books.settle(j, util[j], horizon_s)
    if progress is not None:
        progress(1.0)
    return _Run(
        state=books.acc / 3600.0,
        tasks=tasks,
        saturated_share=books.saturated_s / (n * horizon_s),
        unserved_h=books.unserved_s / 3600.0,
    )


SATURATION_TOLERANCE = 1e-9
"""Demand above 1 + this counts as beyond capacity [-] (sums of floats drift)."""


class _Books:
    """Per-node time integrals of a simulation: utilisation clipped to capacity per hour
    (``acc`` (hours, nodes, 3) [s]), saturated node-time [s] and compute demanded beyond
    capacity [node-s]; each node is settled up to a time when its utilisation changes."""

    def __init__(self, hours: int, nodes: int) -> None:
        self.acc = np.zeros((hours, nodes, len(DIMENSIONS)))
        self.since = np.zeros(nodes)
        self.saturated_s = 0.0
        self.unserved_s = 0.0

    def settle(self, node: int, util: FloatArray, until_s: float) -> None:
        """Add node ``node``'s utilisation ``util`` (3,) held since its last settlement up to
        ``until_s`` [s]."""
        start_s = float(self.since[node])
        if until_s <= start_s:
            return
        span = until_s - start_s
        if (util > 1.0 + SATURATION_TOLERANCE).any():
            self.saturated_s += span
            self.unserved_s += max(float(util[0]) - 1.0, 0.0) * span
        clipped = np.clip(util, 0.0, 1.0)
        while start_s < until_s:
            hour = int(start_s // 3600.0)
            end = min(until_s, (hour + 1) * 3600.0)
            self.acc[hour, node] += clipped * (end - start_s)
            start_s = end
        self.since[node] = until_s


def _state_frame(
    state: FloatArray, ids: list[str], fleet: Fleet, times: pd.DatetimeIndex
) -> pd.DataFrame:
    """Simulated hours as an :func:`hourly_state` frame (``ts``, ``site``, ``id``, c, l, s)."""
    hours, n, _ = state.shape
    site_of = {node.id: node.site for node in fleet.nodes}
    frame = pd.DataFrame(
        {
            "ts": np.repeat(times, n),
            "site": np.tile([site_of[i] for i in ids], hours),
            "id": np.tile(ids, hours),
        }
    )
    for d, dimension in enumerate(DIMENSIONS):
        frame[dimension] = np.clip(state[:, :, d].ravel(), 0.0, 1.0)
    return frame


@dataclass(frozen=True)
class ModelledEnergy:
    """What the modelled power chain gives over a side's hours: emissions_kg [kgCO2],
    cost_cny [CNY] (None when a taking-part site has no price) and the facility energy
    energy_kwh [kWh]."""

    emissions_kg: float
    cost_cny: float | None
    energy_kwh: float


def _side(
    history: pd.DataFrame,
    hours_frame: pd.DataFrame,
    t0: pd.Timestamp,
    hours: int,
    params: EntropyParams,
    emissions_kg: float,
    modelled: ModelledEnergy,
    unserved_h: float | None,
) -> ForkSide:
    window = pd.concat([history, hours_frame], ignore_index=True)
    ends = pd.date_range(t0 + HOUR, periods=hours, freq=HOUR)
    after = [snapshot_from_state(window, end, params).fleet for end in ends]
    times = pd.date_range(t0, periods=hours, freq=HOUR)
    hourly_c = hours_frame.groupby("ts")["c"].mean().reindex(times)
    return ForkSide(
        mean_util={d: float(hours_frame[d].mean()) for d in DIMENSIONS},
        hourly_c=tuple(float(v) for v in hourly_c),
        hourly_entropy_bits=tuple(a.network_entropy_bits for a in after),
        hourly_drifting_share=tuple(a.drifting_share for a in after),
        network_entropy_bits=after[-1].network_entropy_bits,
        drifting_share=after[-1].drifting_share,
        emissions_kg=emissions_kg,
        modelled_emissions_kg=modelled.emissions_kg,
        cost_cny=modelled.cost_cny,
        work_node_h=float(hours_frame["c"].sum()),
        unserved_node_h=unserved_h,
        energy_kwh=modelled.energy_kwh,
    )


def _modelled_energy(
    fleet: Fleet, frame: pd.DataFrame, times: pd.DatetimeIndex, grid: pd.DataFrame
) -> ModelledEnergy:
    """Modelled emissions [kgCO2] and cost [CNY] of an hourly state frame's hours (c drives
    power, no meters) with the ``grid`` rows known at ``times[0]``."""
    util = frame.pivot_table(index="ts", columns="id", values="c", aggfunc="mean")
    util = util.reindex(index=times, columns=[n.id for n in fleet.nodes]).astype(float)
    lat = np.array([s.latitude for s in fleet.sites], dtype=float)
    lon = np.array([s.longitude for s in fleet.sites], dtype=float)
    sites = energy_tables(
        fleet,
        times,
        HOUR,
        util,
        meter_tables(pd.DataFrame(), fleet, times),
        grid_tables(grid, fleet.regions, times, HOUR),
        climatology(pd.DatetimeIndex(times + HOUR / 2), lat, lon),
        SiteEnergyModel(),
    ).sites
    facility_kwh = sites.groupby("site")["facility_kw"].sum() * (HOUR / pd.Timedelta(hours=1))
    return ModelledEnergy(
        emissions_kg=float(sites["emissions_kg_per_h"].sum()),
        cost_cny=energy_cost_cny(facility_kwh, fleet),
        energy_kwh=float(facility_kwh.sum()),
    )


def energy_cost_cny(energy_kwh: pd.Series, fleet: Fleet) -> float | None:
    """Cost [CNY] of energy drawn per site (``energy_kwh`` [kWh] indexed by site id) at each
    site's ``price_cny_per_kwh`` [CNY/kWh]; None when a site in the index has no price."""
    price = pd.Series({s.id: s.price_cny_per_kwh for s in fleet.sites}, dtype=float)
    price = price.reindex(energy_kwh.index)
    if price.isna().any():
        return None
    return float((energy_kwh * price).sum())


def _actual_emissions(store: TelemetryStore, fleet: Fleet, times: pd.DatetimeIndex) -> float:
    """Emissions [kgCO2] over the hours: stored ``site_energy`` rows (ENERGY_EVERY windows),
    else derived from the stored telemetry."""
    begin, end = times[0], times[-1] + HOUR
    rows = store.query("site_energy", begin, end, fields=["emissions_kg_per_h"])
    if rows.empty or "emissions_kg_per_h" not in rows.columns:
        rows = derive_energy(store, fleet, begin, end).sites
    step_h = ENERGY_EVERY / timedelta(hours=1)
    return float(pd.to_numeric(rows["emissions_kg_per_h"]).sum() * step_h)


def _side_json(side: ForkSide) -> dict[str, Any]:
    return {
        "mean_util": {d: _num(v) for d, v in side.mean_util.items()},
        "hourly_c": [_num(v) for v in side.hourly_c],
        "hourly_entropy_bits": [_num(v) for v in side.hourly_entropy_bits],
        "hourly_drifting_share": [_num(v) for v in side.hourly_drifting_share],
        "network_entropy_bits": _num(side.network_entropy_bits),
        "drifting_share": _num(side.drifting_share),
        "emissions_kg": _num(side.emissions_kg),
        "modelled_emissions_kg": _num(side.modelled_emissions_kg),
        "cost_cny": None if side.cost_cny is None else _num(side.cost_cny),
        "work_node_h": _num(side.work_node_h),
        "unserved_node_h": None if side.unserved_node_h is None else _num(side.unserved_node_h),
        "energy_kwh": _num(side.energy_kwh),
    }


def _num(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _hour(value: datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.floor(HOUR)


def comparison_json(reports: list[ForkReport]) -> dict[str, Any]:
    """Forks of one store, time, horizon and seed under several policies as one report:
    ``{"preset": "fork", "at", "horizon_h", "seed", "advert_s", "nodes", "before", "actual":
    side | null,
    "policies": {policy: {"tasks", "saturated_share", "simulated": side, "difference": … |
    null}}}`` (the entries of :meth:`ForkReport.to_json`)."""
    if not reports:
        raise ValueError("no fork reports to compare")
    entries = [r.to_json() for r in reports]
    first = entries[0]
    return {
        "preset": "fork",
        **{
            key: first[key]
            for key in ("at", "horizon_h", "seed", "advert_s", "nodes", "before", "actual")
        },
        "policies": {
            e["policy"]: {
                key: e[key] for key in ("tasks", "saturated_share", "simulated", "difference")
            }
            for e in entries
        },
    }
