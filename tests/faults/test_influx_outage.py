"""The InfluxDB store killed (SIGKILL) while sequence-numbered QoS 1 messages flow through a
real Mosquitto, and started again on the same port and files a few seconds later: nothing is
lost or stored twice and the collector recovers by itself, with the outage spool and without
it (then acknowledgements are held until the store takes the batch again)."""

from __future__ import annotations

import logging
import signal
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.service import Collector
from tests.faults.harness import (
    Influxd,
    SequencePublisher,
    fault_settings,
    freed,
    run_through_outage,
    tally,
)
from twin.config import BrokerURL
from twin.store.influx import InfluxStore

pytestmark = [
    pytest.mark.integration,
    pytest.mark.influx,
    pytest.mark.usefixtures("quick_retries"),
]

RATE = 300
"""Messages per second published during a run."""
DOWN_S = 5.0
"""How long the killed InfluxDB stays down [s]."""


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[Influxd]:
    server = Influxd(tmp_path / "influxd")
    yield server
    server.stop(signal.SIGKILL)


def killed_for(influx: Influxd, seconds: float) -> None:
    """Kill the InfluxDB (SIGKILL), keep it down for ``seconds`` [s], start it again."""
    influx.stop(signal.SIGKILL)
    time.sleep(seconds)
    influx.start()


@pytest.mark.parametrize("spool_max_mb", [0.0, 256.0], ids=["no-spool", "spool"])
def test_a_killed_influxdb_loses_nothing_and_the_collector_recovers_by_itself(
    tmp_path: Path,
    mosquitto: BrokerURL,
    influx: Influxd,
    caplog: pytest.LogCaptureFixture,
    spool_max_mb: float,
) -> None:
    settings = fault_settings(tmp_path / "data", mosquitto, spool_max_mb=spool_max_mb)
    store = InfluxStore(influx.url, influx.database, retries=0)
    collector = Collector(settings, store, mosquitto)
    collector.start()
    publisher = SequencePublisher(mosquitto, RATE)
    with caplog.at_level(logging.WARNING):
        sent = run_through_outage(collector, publisher, lambda: killed_for(influx, DOWN_S))
    client = weakref.ref(collector.subscriber._client)
    counters = collector.pipeline.counters
    result = tally(store, sent)
    store.close()
    assert counters.store_outages >= 1, "the store never failed: the run tested nothing"
    assert result.missing == 0, result.line()
    assert result.duplicated == 0, result.line()
    assert counters.dead_lettered == 0
    assert (counters.spooled_readings > 0) == bool(spool_max_mb)
    assert any("store unavailable:" in r.getMessage() for r in caplog.records)
    assert any("store available again" in r.getMessage() for r in caplog.records)
    del collector
    assert freed(client), "the stopped collector's MQTT client is still referenced"
