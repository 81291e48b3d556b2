"""Scenarios: named perturbations of the simulated telemetry, for demos and alert drills.

A scenario wraps a :class:`~collectors.simulate.FleetSimulator` and rewrites the node readings
it yields (single readings from ``step`` and hourly arrays from ``backfill``); everything else
passes through unchanged.

``entropy-drift``: from ``start`` for ``hours`` hours, a share of the nodes (every
``1/share``-th node of the inventory, at least one) leaves its workload pattern and cycles its
utilisation through the four entropy intervals, one interval per clock hour: idle (0.10), low
(0.45), medium (0.70), high (0.90) for ``cpu_util``, ``gpu_util`` (GPU nodes only),
``net_util`` and ``storage_util`` [0-1]. Over a 24-hour entropy window this spreads those nodes
towards the maximum entropy of 2 bits, far from the balance entropy; afterwards they return
to their simulated pattern and their entropy recovers as the window moves past the scenario.
Other fields (``power_w``, ``mem_util``, ``tasks_running``) keep their simulated values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

from collectors.simulate import FleetSimulator
from collectors.topics import parse_topic
from twin.errors import ConfigError

SCENARIOS = ("entropy-drift",)
"""Names accepted by ``cnetwin simulate --scenario``."""

DRIFT_LEVELS = (0.10, 0.45, 0.70, 0.90)
"""Utilisation [0-1] of drifting nodes in clock hours ≡ 0, 1, 2, 3 (mod 4)."""

DRIFT_FIELDS = ("cpu_util", "net_util", "storage_util")


class EntropyDrift:
    """A FleetSimulator whose chosen nodes cycle through all load intervals for a while.

    simulator : the simulator to wrap; start : first drifting instant (UTC);
    hours : duration of the drift [h]; share : share of the nodes that drift [0-1].
    """

    def __init__(
        self, simulator: FleetSimulator, start: datetime, hours: float = 8.0, share: float = 0.25
    ) -> None:
        if not 0.0 < share <= 1.0:
            raise ConfigError(f"the drifting share must be in (0, 1], not {share}")
        if hours <= 0:
            raise ConfigError("the drift must last a positive number of hours")
        nodes = simulator.fleet.nodes
        every = max(1, round(1.0 / share))
        self.drifting = frozenset(n.id for n in nodes[::every])
        self._gpu = frozenset(n.id for n in nodes if n.gpus > 0)
        start = start.replace(microsecond=start.microsecond // 1000 * 1000)  # readings carry ms
        self.start, self.stop = start, start + timedelta(hours=hours)
        self._simulator = simulator

    def step(self) -> list[tuple[str, bytes]]:
        """One interval's messages, perturbed (see the module docstring)."""
        return [self._perturb(topic, payload) for topic, payload in self._simulator.step()]

    def backfill(self, start: datetime, stop: datetime) -> Iterator[tuple[str, bytes]]:
        """History from ``start`` to ``stop``, perturbed (see FleetSimulator.backfill)."""
        for topic, payload in self._simulator.backfill(start, stop):
            yield self._perturb(topic, payload)

    def _perturb(self, topic: str, payload: bytes) -> tuple[str, bytes]:
        if not topic.startswith("cne/v1/"):
            return topic, payload
        where = parse_topic(topic)
        if where.kind != "node" or where.asset not in self.drifting:
            return topic, payload
        data = json.loads(payload)
        readings = data if isinstance(data, list) else [data]
        for reading in readings:
            ts = datetime.fromisoformat(reading["ts"].replace("Z", "+00:00"))
            if self.start <= ts < self.stop:
                level = DRIFT_LEVELS[int(ts.timestamp() // 3600) % len(DRIFT_LEVELS)]
                fields = reading["fields"]
                for name in DRIFT_FIELDS:
                    fields[name] = level
                if where.asset in self._gpu:
                    fields["gpu_util"] = level
        return topic, json.dumps(data, separators=(",", ":")).encode()


def scenario_simulator(simulator: FleetSimulator, name: str, start: datetime) -> EntropyDrift:
    """``simulator`` perturbed by scenario ``name`` (SCENARIOS) from ``start`` on; the history
    before ``start`` stays normal and serves as the baseline. ConfigError for an unknown name."""
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario {name!r}: choose one of {', '.join(SCENARIOS)}")
    return EntropyDrift(simulator, start=start)
