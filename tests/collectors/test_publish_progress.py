"""The history's loading progress as a simulation run reports it, publishing to a real
Mosquitto: loading through the backfill and the live catch-up, then done once at the present.
A consumer gauge that takes 20 messages a second slows the backfill down as a busy collector
does, so live telemetry starts behind the present and catches up."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pandas as pd

from collectors.publish import SimulationRun
from twin.config import BrokerURL
from twin.inventory import example_fleet
from twin.jobs.loading import HistoryLoad


def test_progress_covers_backfill_and_catch_up_then_reports_done(mosquitto: BrokerURL) -> None:
    start = datetime.now(UTC)
    backfill = timedelta(hours=2)
    began = time.monotonic()
    reports: list[HistoryLoad] = []
    stop = threading.Event()

    def on_progress(load: HistoryLoad) -> None:
        reports.append(load)
        if not load.loading:
            stop.set()

    run = SimulationRun(
        example_fleet(),
        mosquitto,
        start=start,
        backfill=backfill,
        protocol="3.1.1",
        client_id="progress-test",
        on_progress=on_progress,
    )

    def delivered() -> int:
        return int(20 * (time.monotonic() - began))

    worker = threading.Thread(target=run.run, args=(stop, delivered))
    worker.start()
    stop.wait(120)
    stop.set()
    worker.join(60)

    assert reports, "no progress was reported"
    *loading, done = reports
    assert loading and all(r.loading for r in loading)
    assert not done.loading
    assert {r.begin for r in reports} == {pd.Timestamp(start - backfill)}
    untils = [r.until for r in reports]
    assert untils == sorted(untils)
    # the backfill took seconds, so live telemetry had that much to catch up before done
    assert done.until - pd.Timestamp(start) >= timedelta(seconds=10)
    assert done.target - done.until <= timedelta(seconds=10)  # done: at the present
    assert done.share > 0.99
