"""Prometheus metrics of a cnetwin process, exposed through ``prometheus-client``.

Instruments live in prometheus-client's process-wide default registry, as the library intends:
one process exposes one set, whichever of its parts (collector, scheduler, alerts, dashboard)
runs in it. What a part already counts itself (the ingest pipeline's counters) is read at
scrape time by a custom collector (``collectors.metrics``) rather than counted twice.

Names follow Prometheus conventions: ``cnetwin_`` prefix, counters end in ``_total``, durations
are histograms in seconds (``_seconds``), sizes in bytes (``_bytes``). The exposition is served
at ``/metrics`` by the dashboard and by :mod:`twin.health`'s small server (``--metrics-port``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

from twin.domain import Reading
from twin.errors import StoreError, StoreUnavailable
from twin.store import TelemetryStore

WRITE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Histogram buckets of one batch write [s]."""
EXPOSITION_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Content type of :func:`exposition`'s text format, which every Prometheus 2.x parses."""
JOB_BUCKETS_S = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Histogram buckets of one scheduler job run [s]."""

BATCH_WRITE_SECONDS = Histogram(
    "cnetwin_store_batch_write_duration_seconds",
    "Time one batch write of the collector took, successful writes only [s].",
    buckets=WRITE_BUCKETS_S,
)
STORE_ERRORS = Counter(
    "cnetwin_store_write_errors",
    "Batch writes of the collector that failed, by kind: unavailable (retried or spooled) "
    "or rejected (the store refused the data).",
    ["kind"],
)
JOB_RUNS = Counter("cnetwin_scheduler_job_runs", "Scheduler job runs, by job.", ["job"])
JOB_FAILURES = Counter(
    "cnetwin_scheduler_job_failures", "Scheduler job runs that raised, by job.", ["job"]
)
JOB_SECONDS = Histogram(
    "cnetwin_scheduler_job_duration_seconds",
    "Time one scheduler job run took [s], by job.",
    ["job"],
    buckets=JOB_BUCKETS_S,
)
ALERT_EVALUATIONS = Counter(
    "cnetwin_alert_evaluations", "Evaluations of the alert rule set (every rule once)."
)
ALERT_NOTIFICATIONS = Counter(
    "cnetwin_alert_notifications",
    "Alert notifications (one group of one rule) by notifier and outcome (sent, failed).",
    ["notifier", "outcome"],
)
for _kind in ("unavailable", "rejected"):
    STORE_ERRORS.labels(_kind)


def exposition(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The registry's metrics in the Prometheus text format (version 0.0.4)."""
    return generate_latest(registry)


class TimedWrites:
    """A :class:`TelemetryStore` that times every ``write`` into
    ``cnetwin_store_batch_write_duration_seconds`` and counts failed ones by kind; every other
    call goes straight to ``store``."""

    def __init__(self, store: TelemetryStore) -> None:
        self.store = store

    def write(self, readings: Iterable[Reading]) -> int:
        """Write through, timed [s]; StoreError is counted and re-raised."""
        started = time.perf_counter()
        try:
            written = self.store.write(readings)
        except StoreUnavailable:
            STORE_ERRORS.labels("unavailable").inc()
            raise
        except StoreError:
            STORE_ERRORS.labels("rejected").inc()
            raise
        BATCH_WRITE_SECONDS.observe(time.perf_counter() - started)
        return written

    def __getattr__(self, name: str) -> Any:
        """Every other store call goes to the wrapped store."""
        return getattr(self.store, name)
