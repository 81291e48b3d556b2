"""The collector's Prometheus metrics, read from the ingest pipeline's own counters at scrape
time (nothing is counted twice, nothing is added to the hot path).

Every running :class:`collectors.service.Collector` of the process is watched (``watch`` at
start, ``unwatch`` at stop) and reported with its client id as the ``collector`` label.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as PrometheusCollector

if TYPE_CHECKING:
    from collectors.service import Collector


class IngestMetrics(PrometheusCollector):
    """Yields the watched collectors' counters and gauges on every scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: list[Collector] = []

    def watch(self, collector: Collector) -> None:
        """Report ``collector`` from now on."""
        with self._lock:
            self._watched.append(collector)

    def unwatch(self, collector: Collector) -> None:
        """Stop reporting ``collector`` (it has stopped)."""
        with self._lock:
            self._watched = [c for c in self._watched if c is not collector]

    def collect(self) -> Iterator[Metric]:
        """The metric families, one sample per watched collector."""
        label = ["collector"]
        received = CounterMetricFamily(
            "cnetwin_messages_received", "MQTT messages received [messages].", labels=label
        )
        stored = CounterMetricFamily(
            "cnetwin_messages_stored",
            "Messages whose readings are stored (or spooled) and acknowledged [messages].",
            labels=label,
        )
        readings = CounterMetricFamily(
            "cnetwin_readings_stored", "Telemetry readings stored [readings].", labels=label
        )
        dead = CounterMetricFamily(
            "cnetwin_dead_letters",
            "Messages refused and dead-lettered, by reason [messages].",
            labels=[*label, "reason"],
        )
        batches = CounterMetricFamily(
            "cnetwin_store_batches", "Batches written to the store [batches].", labels=label
        )
        spooled = CounterMetricFamily(
            "cnetwin_spooled_readings",
            "Readings written to the outage spool while the store was unavailable [readings].",
            labels=label,
        )
        writer_errors = CounterMetricFamily(
            "cnetwin_writer_errors",
            "Store writes and batches the writer failed on unexpectedly (a bug, not an outage) "
            "[failures].",
            labels=label,
        )
        queue = GaugeMetricFamily(
            "cnetwin_ingest_queue_depth", "Messages waiting to be stored [messages].", labels=label
        )
        spool = GaugeMetricFamily(
            "cnetwin_spool_bytes", "Size of the outage spool on disk [bytes].", labels=label
        )
        connected = GaugeMetricFamily(
            "cnetwin_broker_connected",
            "1 while connected to the MQTT broker, else 0.",
            labels=label,
        )
        with self._lock:
            watched = list(self._watched)
        for collector in watched:
            name = [collector.client_id]
            counters = collector.pipeline.counters
            received.add_metric(name, counters.received)
            stored.add_metric(name, counters.stored_messages)
            readings.add_metric(name, counters.stored_readings)
            for reason, count in sorted(counters.dead_by_reason.items()):
                dead.add_metric([*name, reason], count)
            batches.add_metric(name, counters.batches)
            spooled.add_metric(name, counters.spooled_readings)
            writer_errors.add_metric(name, counters.writer_errors)
            queue.add_metric(name, collector.pipeline.queue_depth)
            spool.add_metric(name, collector.spool.size_bytes if collector.spool else 0)
            connected.add_metric(name, 1.0 if collector.subscriber.connected else 0.0)
        yield from (received, stored, readings, dead, batches, spooled, writer_errors)
        yield from (queue, spool, connected)

    def describe(self) -> Iterator[Metric]:
        """No description up front: the families are built at scrape time."""
        return iter(())


INGEST = IngestMetrics()
"""The process's ingest metrics, registered once in prometheus-client's default registry."""
REGISTRY.register(INGEST)
