"""Periodic work: APScheduler jobs that write derived series back to the store.

Jobs are plain functions of ``(store, fleet, now)`` (the alert job takes its rules in place of
the fleet); :func:`start_scheduler` runs them in a
background scheduler. Start it in exactly one process (the collector's or the demo's), never in
web workers, where it would run once per worker.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from apscheduler.schedulers.background import BackgroundScheduler

from twin.alerts.evaluate import ALERTS_PERIOD_S, record_alerts
from twin.alerts.rules import RuleSet, load_rules
from twin.domain import Fleet
from twin.forecast.jobs import FORECAST_MINUTE, refresh_forecasts
from twin.jobs.energy import ENERGY_CRON_MINUTE, ENERGY_CRON_SECOND, record_energy
from twin.jobs.entropy import ENTROPY_FIRST_RUN_DELAY, ENTROPY_MINUTE, record_entropy
from twin.metrics import JOB_FAILURES, JOB_RUNS, JOB_SECONDS
from twin.store import TelemetryStore
from twin.views.overview import kpis

log = logging.getLogger(__name__)

FLEET_STATUS_PERIOD_S = 60.0
"""How often the fleet status KPIs are recorded [s]."""


def record_fleet_status(store: TelemetryStore, fleet: Fleet, now: datetime) -> None:
    """Write the Overview KPIs at ``now`` as one ``fleet_status`` row (numeric KPIs only)."""
    values = dataclasses.asdict(kpis(store, fleet, now))
    fields = {k: float(v) for k, v in values.items() if isinstance(v, int | float) and v == v}
    frame = pd.DataFrame([{"ts": pd.Timestamp(now), "scope": "fleet", **fields}])
    store.write_frame("fleet_status", frame, tags=["scope"])


def catch_up(store: TelemetryStore, fleet: Fleet, now: datetime) -> None:
    """Fill the derived series the history in the store allows (the periodic jobs' catch-up):
    entropy and energy up to now, and the forecasts of the hour under way."""
    record_entropy(store, fleet, now)
    record_energy(store, fleet, now)
    refresh_forecasts(store, fleet, now)


def start_scheduler(
    store: TelemetryStore,
    fleet: Fleet,
    first_run_delay: timedelta = ENTROPY_FIRST_RUN_DELAY,
    alert_rules: RuleSet | None = None,
) -> BackgroundScheduler:
    """Start the background scheduler with every job; call ``.shutdown()`` to stop it.

    first_run_delay : when the one-off catch-up of derived series runs after start [s]; the
    demo starts the scheduler once its history is stored and passes 0. alert_rules : the rules
    the alert job evaluates (default: the shipped ``twin/data/alert_rules.toml``).
    """
    rules = alert_rules if alert_rules is not None else load_rules()
    scheduler = BackgroundScheduler(timezone=UTC)

    def every(job_id: str, job: Callable[..., None], args: tuple[object, ...], **when: Any) -> None:
        """A recurring job: one run at a time, missed runs folded into one."""
        scheduler.add_job(
            _logged(job), args=args, id=job_id, max_instances=1, coalesce=True, **when
        )

    every(
        "fleet_status",
        record_fleet_status,
        (store, fleet),
        trigger="interval",
        seconds=FLEET_STATUS_PERIOD_S,
        next_run_time=datetime.now(UTC),
    )
    every("entropy", record_entropy, (store, fleet), trigger="cron", minute=ENTROPY_MINUTE)
    every(
        "energy",
        record_energy,
        (store, fleet),
        trigger="cron",
        minute=ENERGY_CRON_MINUTE,
        second=ENERGY_CRON_SECOND,
    )
    every("forecast", refresh_forecasts, (store, fleet), trigger="cron", minute=FORECAST_MINUTE)
    every("alerts", record_alerts, (store, rules), trigger="interval", seconds=ALERTS_PERIOD_S)
    scheduler.add_job(
        _logged(catch_up),
        "date",
        run_date=datetime.now(UTC) + first_run_delay,
        args=(store, fleet),
        id="catch_up_at_start",
        misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler


def _logged(job: Callable[..., None]) -> Callable[..., None]:
    """Run ``job(*args, now)``; log failures instead of letting them reach the scheduler.
    Every run is counted and timed (``cnetwin_scheduler_job_*``), failures apart."""

    def run(*args: object) -> None:
        JOB_RUNS.labels(job.__name__).inc()
        with JOB_SECONDS.labels(job.__name__).time():
            try:
                job(*args, datetime.now(UTC))
            except Exception:
                JOB_FAILURES.labels(job.__name__).inc()
                log.exception("job %s failed", job.__name__)

    run.__name__ = job.__name__
    return run
