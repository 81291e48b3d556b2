"""The collector: an MQTT subscriber feeding the ingest pipeline, started and stopped as one.

Garbage collection: every full pass of Python's cyclic collector walks every tracked object in
the process — in a collector process that is mostly what was made at start (imported modules,
the inventory), tens of thousands of objects, 70–100 ms a pass, during which both ingest threads
stand still. With ``gc_freeze`` (the default) the collector moves the objects alive when it
starts out of those passes (``gc.freeze``) and back when the last collector of the process
stops (``gc.unfreeze``); new objects are collected as usual. Measured in docs/benchmarks.md:
collection pauses fall from ~370 ms to ~100 ms per 30,000 messages.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass

from collectors.devices import DeviceTopics
from collectors.metrics import INGEST
from collectors.mqtt import MqttSubscriber
from collectors.pipeline import Counters, IngestPipeline
from twin.config import BrokerURL, Settings
from twin.domain import Fleet
from twin.metrics import TimedWrites
from twin.store import TelemetryStore
from twin.store.spool import Spool

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 60.0
"""How long stopping waits for the store to take what was received [s]."""


@dataclass(frozen=True)
class CollectorSummary:
    """What a collector did, for the one-line summary and ``cnetwin stats``."""

    received: int
    stored_messages: int
    stored_readings: int
    dead_lettered: int
    unstored: int

    @classmethod
    def of(cls, counters: Counters, unstored: int) -> CollectorSummary:
        """Summarise pipeline counters."""
        return cls(
            counters.received,
            counters.stored_messages,
            counters.stored_readings,
            counters.dead_lettered,
            unstored,
        )

    def line(self) -> str:
        """One human line: received, stored, dead-lettered (and anything left to the broker)."""
        text = (
            f"received {self.received} messages, stored {self.stored_readings} readings "
            f"from {self.stored_messages} messages, dead-lettered {self.dead_lettered}"
        )
        if self.unstored:
            text += f", {self.unstored} left unacknowledged for the broker to re-deliver"
        return text


def spool_for(settings: Settings) -> Spool | None:
    """The outage spool the settings ask for (``spool_max_mb`` = 0: none)."""
    if settings.spool_max_mb <= 0:
        return None
    return Spool(settings.spool_dir, int(settings.spool_max_mb * 1_000_000))


class _FrozenHeap:
    """Start-up objects kept out of full collections while any collector of the process runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0

    def freeze(self) -> None:
        with self._lock:
            self._holders += 1
            gc.collect()
            gc.freeze()

    def unfreeze(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                gc.unfreeze()


_HEAP = _FrozenHeap()


class Collector:
    """Subscribe to the telemetry topics and store what arrives (see collectors.pipeline)."""

    def __init__(
        self,
        settings: Settings,
        store: TelemetryStore,
        broker: BrokerURL,
        fleet: Fleet | None = None,
        protocol: str | None = None,
    ) -> None:
        self.client_id = settings.client_id
        self.spool = spool_for(settings)
        self.pipeline = IngestPipeline(
            TimedWrites(store),
            fleet=fleet,
            client_id=settings.client_id,
            batch_size=settings.batch_size,
            batch_interval_s=settings.batch_interval_s,
            idle_flush_s=settings.idle_flush_s,
            queue_size=settings.queue_size,
            queue_bytes=int(settings.queue_max_mb * 1_000_000),
            max_clock_skew_s=settings.max_clock_skew_s,
            spool=self.spool,
            parse=DeviceTopics.from_settings(settings).parse,
        )
        self.subscriber = MqttSubscriber(
            broker,
            client_id=settings.client_id,
            topic_filters=[settings.topic_filter, settings.tasmota_filter]
            + ([settings.shelly_filter] if settings.shelly_filter else []),
            sink=self.pipeline.submit,
            protocol=protocol or settings.mqtt_protocol,
            receive_maximum=settings.queue_size,
        )
        self._gc_freeze = settings.gc_freeze

    def start(self) -> None:
        """Start the writer, then connect (raises ConfigError if no broker answers)."""
        if self._gc_freeze:
            _HEAP.freeze()
        self.pipeline.start()
        try:
            self.subscriber.start()
        except Exception:
            self.pipeline.stop()
            self._unfreeze()
            raise
        INGEST.watch(self)

    def stop(self) -> CollectorSummary:
        """Store and acknowledge everything received, then disconnect."""
        return self.stop_within(STOP_TIMEOUT_S)

    def stop_within(self, timeout_s: float) -> CollectorSummary:
        """Like :meth:`stop`, but leave unstored messages to the broker after ``timeout_s``."""
        self.pipeline.stop(timeout_s)
        self.subscriber.stop()
        INGEST.unwatch(self)
        self._unfreeze()
        summary = self.summary()
        log.info("collector stopped: %s", summary.line())
        return summary

    def _unfreeze(self) -> None:
        if self._gc_freeze:
            _HEAP.unfreeze()

    def delivered(self) -> int:
        """Messages finished with so far: stored or dead-lettered (and acknowledged)."""
        counters = self.pipeline.counters
        return counters.stored_messages + counters.dead_lettered

    def summary(self) -> CollectorSummary:
        """The counters so far."""
        return CollectorSummary.of(self.pipeline.counters, self.pipeline.unstored)
