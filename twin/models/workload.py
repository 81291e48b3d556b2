"""Task model: Poisson arrivals, truncated-Normal service times, slot occupancy per node.

Each node runs one **state type** (docs/entropy.md), which is one task type offered at a load that
follows the local clock. The defaults are calibrated so that a node's hourly compute
utilisation (occupancy × engine activity × the simulator's intensity, 0.92-0.97) lands in the
intervals of the source paper's Table 1 row of its type (:data:`twin.models.entropy.TABLE_1`):

====  ===========================  ======================  ==============================  ======
type  what                         service time μ ± σ      offered load by local hour      Table 1
====  ===========================  ======================  ==============================  ======
A     inference-heavy              60 s ± 30 s (min 1 s)   0.48 at 03-04 h (low), 1.05 at  1.157
                                                           17-22 h (high), 0.74 otherwise
B     training-heavy               6 h ± 2 h (min 10 min)  2.0 all day; checkpoints and    0.469
                                                           evaluation from 02 h for 2 or 3
                                                           h a day at 50 % activity (low)
C     rendering / gaming / cloud   5 min ± 2.5 min         0.45 from 00 to 11 h (low),     1
                                   (min 30 s)              1.3 from 12 to 23 h (high)
D     idle                         5 min ± 3 min (min 10s) 0.04 all day                    0
====  ===========================  ======================  ==============================  ======

A spends 2 of 24 hours low, 16 medium and 6 high (1.19 bits; Table 1's 2.4, 16.8 and 4.8
hours are not whole hours, and the noise of small nodes brings the mean near 1.16); C 12 low
and 12 high; B 2 hours low on three days of five and 3 on the other two (:class:`Checkpoints`;
node *i* starts the cycle *i* days in), so a fleet's
B nodes spend 2.4 of 24 hours low on average, Table 1's 10 %.

*Offered load* ρ [busy slots / capacity] sets the arrival rate: λ = ρ · capacity / μ [tasks/s]
(so a training node has a low λ and an inference node a high one). A task occupies one slot for
its service time; arrivals that find every slot busy wait in a FIFO queue, and arrivals beyond
the queue limit are refused. ρ > 1 keeps the queue non-empty so slots are refilled as soon as
they free: high utilisation. The value for hour hh holds from hh:00 to the next hour, so a
change of level is a step, not a ramp. The parameters are data (:func:`default_state_types`);
pass another mapping to :class:`NodeLoadSimulator` to change them or add types.
"""

from __future__ import annotations

import logging
import math
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
class Checkpoints:
    """A daily window in which busy slots run at reduced activity (checkpoints, evaluation).

    start_hour : local clock hour [h] the window opens; hours : the window's length [h] on
    successive days, cycled (node *i* of the type starts the cycle *i* days in, so the type's
    nodes average the cycle's mean length); activity : [0-1] share of a busy slot's engine in
    use inside the window.
    """

    start_hour: int
    hours: tuple[int, ...]
    activity: float

    def __post_init__(self) -> None:
        if not self.hours or min(self.hours) < 0 or not 0 <= self.activity <= 1:
            raise ValueError("checkpoints need window lengths >= 0 and an activity in [0, 1]")

    def activity_at(self, hour: float, nodes: IntArray) -> FloatArray:
        """Engine activity [0-1] of the given nodes (their rank among the type's nodes) at a
        clock ``hour`` [h] counted from the first local midnight (any real value >= 0)."""
        day = int(hour // HOURS_PER_DAY)
        length = np.asarray(self.hours)[(day + nodes) % len(self.hours)]
        inside = (hour % HOURS_PER_DAY - self.start_hour) % HOURS_PER_DAY < length
        return np.where(inside, self.activity, 1.0)


@dataclass(frozen=True, slots=True)
class StateType:
    """A node state type: the task it runs and the load offered to it over the local day.

    offered_load : 24 values [busy slots / capacity], one per local clock hour (the value for
        hh holds from hh:00 to the next hour).
    queue_per_slot : float [tasks / slot] waiting tasks allowed per slot of capacity.
    checkpoints : an optional daily window of reduced engine activity.
    """

    code: str
    description: str
    task: TaskType
    offered_load: tuple[float, ...]
    queue_per_slot: float
    checkpoints: Checkpoints | None = None

    def __post_init__(self) -> None:
        if len(self.offered_load) != HOURS_PER_DAY or min(self.offered_load) < 0:
            raise ValueError(f"state type {self.code!r}: offered_load needs 24 values >= 0")

    def load_at(self, hour: float) -> float:
        """Offered load [busy slots / capacity] at a local clock ``hour`` [h], any real value."""
        return self.offered_load[math.floor(hour) % HOURS_PER_DAY]


def _levels(base: float, *spans: tuple[range, float]) -> tuple[float, ...]:
    """24 hourly values: ``base``, except ``value`` over each ``(hours, value)`` span."""
    values = [base] * HOURS_PER_DAY
    for hours, value in spans:
        for h in hours:
            values[h] = value
    return tuple(values)


def default_state_types() -> dict[str, StateType]:
    """The four state types of docs/entropy.md with the parameters of the module docstring."""
    inference = TaskType("ai_inference", mean_s=60.0, std_s=30.0, min_s=1.0)
    training = TaskType("ai_training", mean_s=6 * 3600.0, std_s=2 * 3600.0, min_s=600.0)
    rendering = TaskType("rendering", mean_s=300.0, std_s=150.0, min_s=30.0)
    background = TaskType("background", mean_s=300.0, std_s=180.0, min_s=10.0)
    inference_day = _levels(0.74, (range(3, 5), 0.48), (range(17, 23), 1.05))
    checkpoints = Checkpoints(start_hour=2, hours=(2, 3, 2, 3, 2), activity=0.5)
    return {
        "A": StateType("A", "inference-heavy", inference, inference_day, 0.5),
        "B": StateType("B", "training-heavy", training, (2.0,) * HOURS_PER_DAY, 1.0, checkpoints),
        "C": StateType(
            "C",
            "rendering / gaming / cloud",
            rendering,
            _levels(0.45, (range(12, 24), 1.3)),
            1.0,
        ),
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
        self._checkpointed = [
            (t.checkpoints, np.flatnonzero(self._type_of == i))
            for i, t in enumerate(self._types)
            if t.checkpoints is not None
        ]
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
    def activity(self) -> FloatArray:
        """Share of a busy slot's engine in use per node [0-1] at the current time: 1, or the
        state type's checkpoint activity inside its checkpoint window."""
        out = np.ones(self._type_of.size)
        hour = self._start_hour + self._now_s / 3600.0
        for checkpoints, nodes in self._checkpointed:
            out[nodes] = checkpoints.activity_at(hour, np.arange(nodes.size))
        return out

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
