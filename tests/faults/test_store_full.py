"""The DuckDB file on a file system that fills up while sequence-numbered QoS 1 messages flow
through a real Mosquitto: nothing is lost or stored twice, the collector recovers by itself
once space is freed, and the log names the true cause once per outage."""

from __future__ import annotations

import logging
import time
import weakref
from pathlib import Path

import pytest

from collectors.service import Collector
from tests.faults.harness import (
    SequencePublisher,
    SmallFileSystem,
    fault_settings,
    freed,
    run_through_outage,
    tally,
)
from twin.config import BrokerURL
from twin.store.duckdb import DuckDBStore

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("quick_retries")]

RATE = 300
"""Messages per second published during a run."""
FULL_S = 6.0
"""How long the file system stays full [s]."""


def full_for(fs: SmallFileSystem, seconds: float) -> None:
    """Fill the file system, keep it full for ``seconds`` [s], free it."""
    fs.fill()
    time.sleep(seconds)
    fs.free()


@pytest.mark.parametrize("spool_on_other_disk", [False, True], ids=["no-spool", "spool"])
def test_a_full_disk_loses_nothing_and_the_collector_recovers_by_itself(
    tmp_path: Path,
    mosquitto: BrokerURL,
    caplog: pytest.LogCaptureFixture,
    spool_on_other_disk: bool,
) -> None:
    disk = tmp_path / "disk"
    with SmallFileSystem(disk, size_mb=24) as fs:
        settings = fault_settings(disk if not spool_on_other_disk else tmp_path / "data", mosquitto)
        store = DuckDBStore(disk / "store.duckdb")
        collector = Collector(settings, store, mosquitto)
        collector.start()
        publisher = SequencePublisher(mosquitto, RATE)
        with caplog.at_level(logging.WARNING):
            sent = run_through_outage(collector, publisher, lambda: full_for(fs, FULL_S))
        client = weakref.ref(collector.subscriber._client)
        pipeline = collector.pipeline
        counters = pipeline.counters
        result = tally(store, sent)
        store.close()
    assert counters.store_outages >= 1, "the disk never filled up: the run tested nothing"
    assert result.missing == 0, result.line()
    assert result.duplicated == 0, result.line()
    assert counters.dead_lettered == 0
    if spool_on_other_disk:
        assert counters.spooled_readings > 0
    causes = [r.getMessage() for r in caplog.records if "store unavailable:" in r.getMessage()]
    assert causes and all("No space left on device" in cause for cause in causes), causes
    assert len(causes) == counters.store_outages
    assert any("store available again" in r.getMessage() for r in caplog.records)
    assert not any("no transaction is active" in r.getMessage() for r in caplog.records)
    del collector, pipeline
    assert freed(client), "the stopped collector's MQTT client is still referenced"
