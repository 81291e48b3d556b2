"""A store whose writes fail with an unexpected exception (neither an outage nor a refusal: a
bug, an unexpected library error) for a while, as sequence-numbered QoS 1 messages flow through
a real Mosquitto into a real DuckDB file: the collector holds the batch, retries with back-off
and recovers by itself, without a reconnect; nothing is lost or stored twice, and the log names
the cause once, with its traceback."""

from __future__ import annotations

import logging
import multiprocessing
import weakref
from pathlib import Path

import pytest

from collectors.service import Collector
from tests.faults.harness import (
    FailingWritesStore,
    SequencePublisher,
    fail_writes,
    fault_settings,
    freed,
    run_through_outage,
    tally,
)
from twin.config import BrokerURL

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("quick_retries")]

RATE = 300
"""Messages per second published during a run."""
FAILING_WRITES = 8
"""Writes that fail in a row once the fault is injected."""


def test_unexpected_write_errors_lose_nothing_and_the_collector_recovers_by_itself(
    tmp_path: Path, mosquitto: BrokerURL, caplog: pytest.LogCaptureFixture
) -> None:
    settings = fault_settings(tmp_path / "data", mosquitto)
    failing = multiprocessing.Value("q", 0)
    store = FailingWritesStore(tmp_path / "store.duckdb", failing)
    collector = Collector(settings, store, mosquitto)
    collector.start()
    publisher = SequencePublisher(mosquitto, RATE)
    with caplog.at_level(logging.WARNING):
        sent = run_through_outage(
            collector, publisher, lambda: fail_writes(failing, FAILING_WRITES)
        )
    client = weakref.ref(collector.subscriber._client)
    pipeline = collector.pipeline
    counters = pipeline.counters
    result = tally(store, sent)
    store.close()
    assert result.missing == 0, result.line()
    assert result.duplicated == 0, result.line()
    assert counters.writer_errors == FAILING_WRITES
    assert counters.store_outages == 1
    assert counters.spooled_readings == 0  # an unexpected failure is held, never spooled
    assert pipeline.unstored == 0
    causes = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert len(causes) == 1, [r.getMessage() for r in causes]
    assert "RuntimeError('injected" in causes[0].getMessage()
    assert "Traceback (most recent call last)" in causes[0].getMessage()  # with its traceback
    assert any("store available again" in r.getMessage() for r in caplog.records)
    del collector, pipeline
    assert freed(client), "the stopped collector's MQTT client is still referenced"
