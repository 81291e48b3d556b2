"""Task model: Poisson arrivals, truncated-Normal service times, slot occupancy per node.

Each node runs one **state type** (DOMAIN §3), which is one task type offered at a load that
follows the local clock:

====  ==============================  ======================  ===================  ===========
type  what                            service time μ ± σ      offered load          queue limit
====  ==============================  ======================  ===================  ===========
A     inference-heavy                 60 s ± 30 s (min 1 s)   0.68 at night, 0.92   2 per slot
                                                              at the daytime peak
B     training-heavy                  6 h ± 2 h (min 10 min)  1.4 all day           1 per slot
C     rendering / gaming / cloud      20 min ± 10 min         0.40 from 00 to 08 h, 1 per slot
                                      (min 1 min)             0.95 from 10 to 23 h
D     idle                            5 min ± 3 min (min 10s) 0.04 all day          1 per slot
====  ==============================  ======================  ===================  ===========

*Offered load* ρ [busy slots / capacity] sets the arrival rate: λ = ρ · capacity / μ [tasks/s]
(so a training node has a low λ and an inference node a high one). A task occupies one slot for
its service time; arrivals that find every slot busy wait in a FIFO queue, and arrivals beyond
the queue limit are refused. ρ > 1 (type B) keeps the queue non-empty so slots are refilled as
soon as they free: almost always high utilisation. The hourly values of ρ are interpolated
linearly over the local day. The parameters are data (:func:`default_state_types`); pass another
mapping to :class:`NodeLoadSimulator` to change them or add types.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

HOURS_PER_DAY = 24


@dataclass(frozen=True, slots=True)
class TaskType:
    """A kind of task: service time Normal(``mean_s``, ``std_s``) truncated below at ``min_s``.

    mean_s, std_s, min_s : float [s]; ``min_s`` is small and positive.
    """

    name: str
    mean_s: float
    std_s: float
    min_s: float

    def __post_init__(self) -> None:
        if not 0 < self.min_s < self.mean_s or self.std_s < 0:
            raise ValueError(f"task type {self.name!r}: need 0 < min_s < mean_s and std_s >= 0")


@dataclass(frozen=True, slots=True)
class StateType:
    """A node state type: the task it runs and the load offered to it over the local day.

    offered_load : 24 values [busy slots / capacity], one per local clock hour (value at hh:00);
        interpolated linearly in between.
    queue_per_slot : float [tasks / slot] waiting tasks allowed per slot of capacity.
    """

    code: str
    description: str
    task: TaskType
    offered_load: tuple[float, ...]
    queue_per_slot: float

    def __post_init__(self) -> None:
        if len(self.offered_load) != HOURS_PER_DAY or min(self.offered_load) < 0:
            raise ValueError(f"state type {self.code!r}: offered_load needs 24 values >= 0")

    def load_at(self, hour: float) -> float:
        """Offered load [busy slots / capacity] at a local clock ``hour`` [h], any real value."""
        h = hour % HOURS_PER_DAY
        table = (*self.offered_load, self.offered_load[0])
        return float(np.interp(h, np.arange(HOURS_PER_DAY + 1), table))


def _daytime_curve(night: float, peak: float) -> tuple[float, ...]:
    """Night level until 07 h, rising to ``peak`` over 10-21 h, back down by 24 h."""
    hours = np.arange(HOURS_PER_DAY)
    shape = np.clip(np.sin(np.pi * (hours - 7) / 17), 0.0, None) ** 0.5
    return tuple(float(v) for v in np.round(night + (peak - night) * shape, 3))


def default_state_types() -> dict[str, StateType]:
    """The four state types of DOMAIN §3 with the parameters of the module docstring."""
    inference = TaskType("ai_inference", mean_s=60.0, std_s=30.0, min_s=1.0)
    training = TaskType("ai_training", mean_s=6 * 3600.0, std_s=2 * 3600.0, min_s=600.0)
    rendering = TaskType("rendering", mean_s=1200.0, std_s=600.0, min_s=60.0)
    background = TaskType("background", mean_s=300.0, std_s=180.0, min_s=10.0)
    evening = tuple(0.40 if h <= 8 else 0.95 if h >= 10 else 0.675 for h in range(24))
    return {
        "A": StateType("A", "inference-heavy", inference, _daytime_curve(0.68, 0.92), 2.0),
        "B": StateType("B", "training-heavy", training, (1.4,) * HOURS_PER_DAY, 1.0),
        "C": StateType("C", "rendering / gaming / cloud", rendering, evening, 1.0),
        "D": StateType("D", "idle", background, (0.04,) * HOURS_PER_DAY, 1.0),
    }


class NodeLoadSimulator:
    """Slot occupancy of many nodes, advanced together in vectorised steps.

    workloads : state type code per node (keys of ``state_types``).
    capacity_slots : slots per node [count], each >= 1 (e.g. GPUs, or groups of cores).
    rng : the random generator; the same generator state gives the same trajectory.
    start_hour : float [h] local clock hour at the start.
    state_types : parameters per code; default :func:`default_state_types`.

    The simulation starts near its steady state: each slot is busy with probability equal to
    the offered load at ``start_hour`` (at most 1), with a residual time drawn uniformly within
    a service time, and overloaded types start with their excess load queued.
    """

    def __init__(
        self,
        workloads: Sequence[str],
        capacity_slots: Sequence[int] | IntArray,
        rng: np.random.Generator,
        start_hour: float = 0.0,
        state_types: Mapping[str, StateType] | None = None,
    ) -> None:
        types = dict(state_types) if state_types is not None else default_state_types()
        unknown = sorted(set(workloads) - set(types))
        if unknown:
            raise ValueError(f"unknown state types {unknown}: use one of {sorted(types)}")
        capacity = np.asarray(capacity_slots, dtype=np.int64)
        if capacity.shape != (len(workloads),) or np.any(capacity < 1):
            raise ValueError("capacity_slots needs one count >= 1 per workload")
        self._rng = rng
        self._codes = sorted(types)
        self._types = [types[c] for c in self._codes]
        code_index = {c: i for i, c in enumerate(self._codes)}
        self._type_of = np.array([code_index[w] for w in workloads], dtype=np.int64)
        self._capacity = capacity
        self._mean = np.array([t.task.mean_s for t in self._types])[self._type_of]
        self._std = np.array([t.task.std_s for t in self._types])[self._type_of]
        self._min = np.array([t.task.min_s for t in self._types])[self._type_of]
        queue_per_slot = np.array([t.queue_per_slot for t in self._types])[self._type_of]
        self._queue_limit = np.floor(queue_per_slot * capacity).astype(np.int64)
        self._start_hour = float(start_hour)
        self._now_s = 0.0
        width = int(capacity.max()) if capacity.size else 1
        slot = np.arange(width)
        self._real_slot = slot[None, :] < capacity[:, None]
        self._end_s = np.where(self._real_slot, 0.0, np.inf)
        self._queue = np.zeros(len(workloads), dtype=np.int64)
        self._busy = np.zeros(len(workloads), dtype=np.int64)
        self._warm_start()
        log.debug("load simulator: %d nodes, %d slots", len(workloads), int(capacity.sum()))

    def _loads(self) -> FloatArray:
        hour = self._start_hour + self._now_s / 3600.0
        per_type = np.array([t.load_at(hour) for t in self._types])
        return per_type[self._type_of]

    def _service_s(self, nodes: IntArray) -> FloatArray:
        """Service times [s] for tasks starting on ``nodes``: Normal truncated below at min."""
        mean, std, low = self._mean[nodes], self._std[nodes], self._min[nodes]
        out = mean + std * self._rng.standard_normal(nodes.size)
        short = out < low
        while np.any(short):
            out[short] = mean[short] + std[short] * self._rng.standard_normal(int(short.sum()))
            short = out < low
        return out

    def _warm_start(self) -> None:
        load = self._loads()
        busy = self._real_slot & (
            self._rng.random(self._end_s.shape) < np.minimum(load, 1.0)[:, None]
        )
        rows, _ = np.nonzero(busy)
        self._end_s[busy] = self._service_s(rows) * self._rng.random(rows.size)
        self._busy = busy.sum(axis=1)
        excess = np.floor(np.maximum(load - 1.0, 0.0) * self._capacity).astype(np.int64)
        self._queue = np.minimum(excess, self._queue_limit)

    @property
    def utilisation(self) -> FloatArray:
        """Busy slots / capacity per node [0-1] at the current time."""
        return np.clip(self._busy / self._capacity, 0.0, 1.0)

    @property
    def running(self) -> IntArray:
        """Tasks in service per node [count]."""
        return self._busy.copy()

    @property
    def queued(self) -> IntArray:
        """Tasks waiting for a slot per node [count]."""
        return self._queue.copy()

    @property
    def elapsed_s(self) -> float:
        """Simulated time since the start [s]."""
        return self._now_s

    def step(self, dt_s: float) -> FloatArray:
        """Advance ``dt_s`` [s] and return each node's utilisation [0-1] at the new time.

        Arrivals during the step are Poisson with the offered load at the step's start. A
        queued task starts in a slot freed during the step at the later of the slot's release
        and its arrival time, drawn uniformly within the step.
        """
        if dt_s <= 0:
            raise ValueError(f"dt_s must be positive, not {dt_s}")
        rate = self._loads() * self._capacity / self._mean  # [tasks/s]
        arrivals = self._rng.poisson(rate * dt_s)
        step_start = self._now_s
        self._now_s += dt_s
        self._queue = np.minimum(self._queue + arrivals, self._queue_limit)
        free = self._end_s <= self._now_s
        n_free = free.sum(axis=1)
        starting = np.minimum(self._queue, n_free)
        nodes = np.flatnonzero(starting)
        if nodes.size:
            sub_free = free[nodes]
            rank = np.cumsum(sub_free, axis=1, dtype=np.int16)
            row, col = np.nonzero(sub_free & (rank <= starting[nodes, None]))
            node, end = nodes[row], self._end_s
            arrived = step_start + dt_s * self._rng.random(row.size)
            end[node, col] = np.maximum(end[node, col], arrived) + self._service_s(node)
            self._queue -= starting
        self._busy = self._capacity - n_free + starting
        return self.utilisation
