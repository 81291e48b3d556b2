"""Periodic work: APScheduler jobs that write derived series back to the store.

Jobs are plain functions of ``(store, fleet, now)``; :func:`start_scheduler` runs them in a
background scheduler. Start it in exactly one process (the collector's or the demo's), never in
web workers, where it would run once per worker.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd
from apscheduler.schedulers.background import BackgroundScheduler

from twin.model import Fleet
from twin.overview import kpis
from twin.store import TelemetryStore

log = logging.getLogger(__name__)

FLEET_STATUS_PERIOD_S = 60.0
"""How often the fleet status KPIs are recorded [s]."""


def record_fleet_status(store: TelemetryStore, fleet: Fleet, now: datetime) -> None:
    """Write the Overview KPIs at ``now`` as one ``fleet_status`` row (numeric KPIs only)."""
    values = dataclasses.asdict(kpis(store, fleet, now))
    fields = {k: float(v) for k, v in values.items() if isinstance(v, int | float) and v == v}
    frame = pd.DataFrame([{"ts": pd.Timestamp(now), "scope": "fleet", **fields}])
    store.write_frame("fleet_status", frame, tags=["scope"])


def start_scheduler(store: TelemetryStore, fleet: Fleet) -> BackgroundScheduler:
    """Start the background scheduler with every job; call ``.shutdown()`` to stop it."""
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        _logged(record_fleet_status),
        "interval",
        seconds=FLEET_STATUS_PERIOD_S,
        args=(store, fleet),
        id="fleet_status",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    scheduler.start()
    return scheduler


def _logged(job: Callable[..., None]) -> Callable[..., None]:
    """Run ``job(*args, now)``; log failures instead of letting them reach the scheduler."""

    def run(*args: object) -> None:
        try:
            job(*args, datetime.now(UTC))
        except Exception:
            log.exception("job %s failed", job.__name__)

    run.__name__ = job.__name__
    return run
