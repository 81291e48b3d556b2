"""Publishing simulated telemetry to a broker: history first (backfill), then live.

Live pacing: simulated time advances ``speed`` times faster than wall time from ``start`` but
never past the present, because collectors refuse readings from the future as clock skew; once
caught up, the run continues in real time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pandas as pd

from collectors.scenarios import EntropyDrift, scenario_simulator
from collectors.simulate import FleetSimulator
from twin.config import BrokerURL
from twin.domain import Fleet
from twin.errors import ConfigError
from twin.jobs.loading import WRITE_EVERY, HistoryLoad

log = logging.getLogger(__name__)

BACKFILL_WINDOW = 20
"""With a delivery gauge, backfill stays at most this many messages ahead of it [messages]."""
MAX_INFLIGHT = 1_000
"""Unacknowledged QoS 1 publishes allowed at once [messages]."""
CONNECT_TIMEOUT_S = 10.0
PROGRESS_EVERY = 0.1
"""Backfill progress is logged at every further tenth of the messages."""


class Publisher:
    """A paho-mqtt client that publishes (topic, payload) pairs at QoS 1 and tracks delivery."""

    def __init__(self, broker: BrokerURL, client_id: str, protocol: str = "5") -> None:
        self._broker = broker
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311,
        )
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self._client.tls_set(ca_certs=broker.ca_file)
        self._client.max_inflight_messages_set(MAX_INFLIGHT)
        self._client.max_queued_messages_set(0)
        self._pending: deque[mqtt.MQTTMessageInfo] = deque()
        self.published = 0

    def start(self) -> None:
        """Connect; raise ConfigError if the broker does not answer."""
        connected = threading.Event()
        self._client.on_connect = lambda *args: connected.set()
        try:
            self._client.connect(self._broker.host, self._broker.port)
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the broker at {self._broker.host}:{self._broker.port} ({exc}): "
                "start it or pass the right --broker"
            ) from None
        self._client.loop_start()
        if not connected.wait(CONNECT_TIMEOUT_S):
            raise ConfigError(f"the broker at {self._broker.host} did not accept the connection")

    def publish(self, messages: Iterable[tuple[str, bytes]]) -> None:
        """Queue messages at QoS 1, keeping at most a bounded number unconfirmed."""
        for topic, payload in messages:
            self._pending.append(self._client.publish(topic, payload, qos=1))
            self.published += 1
            while len(self._pending) > MAX_INFLIGHT:
                self._pending.popleft().wait_for_publish(CONNECT_TIMEOUT_S)

    def flush(self, timeout_s: float = 60.0) -> bool:
        """Wait until the broker confirmed every publish; True if all were confirmed."""
        deadline = time.monotonic() + timeout_s
        while self._pending:
            info = self._pending[0]
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                return False
            self._pending.popleft()
        return True

    def stop(self) -> None:
        """Confirm what is pending, then disconnect."""
        self.flush()
        self._client.disconnect()
        self._client.loop_stop()


class SimulationRun:
    """Backfill ``[start - backfill, start)`` as fast as possible, then publish live from
    ``start`` at ``speed`` × wall time (capped at the present) until stopped. ``scenario``
    (collectors.scenarios.SCENARIOS) perturbs the telemetry from ``start`` on.

    With a backfill, ``on_progress`` receives how far the history is published (about once a
    second, :data:`twin.jobs.loading.WRITE_EVERY`) through the backfill and the live steps already
    due when it ends (the catch-up), then once with ``loading`` false when live telemetry is
    paced (at the present, or at ``speed`` from a ``start`` in the past)."""

    def __init__(
        self,
        fleet: Fleet,
        broker: BrokerURL,
        *,
        seed: int = 0,
        interval_s: float = 10.0,
        start: datetime,
        backfill: timedelta = timedelta(0),
        speed: float = 1.0,
        protocol: str = "5",
        client_id: str = "cnetwin-simulator",
        scenario: str | None = None,
        on_progress: Callable[[HistoryLoad], object] | None = None,
    ) -> None:
        if speed <= 0:
            raise ConfigError("--speed must be positive (1 is real time)")
        if interval_s <= 0:
            raise ConfigError("--interval must be a positive number of seconds")
        self._fleet = fleet
        self._start = start
        self._backfill = backfill
        self._speed = speed
        self._interval = timedelta(seconds=interval_s)
        simulator = FleetSimulator(fleet, seed=seed, interval_s=interval_s, start=start - backfill)
        self._simulator: FleetSimulator | EntropyDrift = (
            scenario_simulator(simulator, scenario, start) if scenario else simulator
        )
        self.publisher = Publisher(broker, client_id, protocol)
        self._on_progress = on_progress
        self._reported: datetime | None = None

    def run(
        self,
        stop: threading.Event,
        delivered: Callable[[], int] | None = None,
        on_history: Callable[[], object] | None = None,
    ) -> int:
        """Publish until ``stop`` is set; return how many messages were published.

        ``delivered`` (optional) counts messages the consumer has finished with; backfill then
        stays within :data:`BACKFILL_WINDOW` of it. The embedded broker needs this: it has no
        flow control and gives up on a delivery whose acknowledgement takes over 5 s.
        ``on_history`` is called once the history is published (and, with ``delivered``,
        consumed), before live telemetry starts.
        """
        started = time.monotonic()  # the wall time at which simulated time is ``start``
        self.publisher.start()
        try:
            if self._backfill > timedelta(0):
                self._publish_backfill(stop, delivered)
            while delivered and delivered() < self.publisher.published and not stop.is_set():
                stop.wait(0.05)
            if on_history is not None and not stop.is_set():
                on_history()
            self._publish_live(stop, started, delivered)
        finally:
            self.publisher.stop()
        return self.publisher.published

    def _publish_backfill(self, stop: threading.Event, delivered: Callable[[], int] | None) -> None:
        begin = self._start - self._backfill
        expected = _backfill_messages(self._fleet, self._backfill)
        log.info("publishing history %s → %s (about %d messages)", begin, self._start, expected)
        next_report = PROGRESS_EVERY
        for message in self._simulator.backfill(begin, self._start):
            while delivered and self.publisher.published - delivered() > BACKFILL_WINDOW:
                if stop.wait(0.01):
                    return
            if stop.is_set():
                return
            self.publisher.publish([message])
            done = min(self.publisher.published / expected, 1.0)
            self._report(begin + done * self._backfill, loading=True)
            if self.publisher.published >= next_report * expected:
                log.info("history: %d%% published", min(100, round(100 * next_report)))
                next_report += PROGRESS_EVERY
        self.publisher.flush()
        log.info("history published: %d messages", self.publisher.published)

    def _publish_live(
        self, stop: threading.Event, wall0: float, delivered: Callable[[], int] | None
    ) -> None:
        """Publish a step whenever its simulated time is due; catch up after the backfill.
        With ``delivered``, history counts as loaded once the consumer has caught up too."""
        sim_time = self._start
        catching_up = self._backfill > timedelta(0)
        drain_to: int | None = None  # what the consumer must have taken once steps are paced
        while not stop.is_set():
            before = self.publisher.published
            self.publisher.publish(self._simulator.step())
            sim_time += self._interval
            wall_due = wall0 + (sim_time - self._start).total_seconds() / self._speed
            real_due = time.monotonic() + (sim_time - datetime.now(UTC)).total_seconds()
            delay = max(wall_due, real_due) - time.monotonic()
            if catching_up:  # history loads while steps are due at once, not once paced …
                drain_to = before if drain_to is None and delay > 0 else drain_to
                # … and, with a delivery gauge, until what was published by then is consumed
                drained = drain_to is not None and (delivered is None or delivered() >= drain_to)
                catching_up = not drained
                self._report(sim_time, loading=catching_up, force=not catching_up)
            stop.wait(max(0.0, delay))

    def _report(self, until: datetime, loading: bool, force: bool = False) -> None:
        """Tell ``on_progress`` the history is published up to ``until`` (at most once per
        WRITE_EVERY unless ``force``)."""
        now = datetime.now(UTC)
        if self._on_progress is None:
            return
        if not force and self._reported is not None and now - self._reported < WRITE_EVERY:
            return
        self._reported = now
        at = pd.Timestamp(now)
        begin = pd.Timestamp(self._start - self._backfill)
        until_ts = min(pd.Timestamp(until), at)
        self._on_progress(HistoryLoad(begin, until_ts, at, loading, at))


def _backfill_messages(fleet: Fleet, backfill: timedelta) -> int:
    """Roughly how many messages a backfill publishes: one per asset and region per hour."""
    hours = max(1, -(-int(backfill.total_seconds()) // 3600))
    assets = len(fleet.nodes) + len(fleet.links) + len(fleet.meters) + len(fleet.regions)
    return hours * assets
