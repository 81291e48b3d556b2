"""Broker and collector stopped or killed while sequence-numbered QoS 1 messages flow, with the
persistence deploy/mosquitto.conf ships: a broker stopped with SIGTERM or a killed collector
loses nothing the broker confirmed and stores nothing twice; a killed broker loses at most what
changed since its last save (``autosave_interval`` changes, docs/reliability.md). The collector
runs in a process of its own and catches up by itself."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_until
from tests.faults.harness import (
    DURABLE_BROKER,
    Broker,
    CollectorProcess,
    SequencePublisher,
    Tally,
    tally,
)
from twin.store.duckdb import DuckDBStore

pytestmark = pytest.mark.integration

RATE = 300
"""Messages per second published during a run."""
DOWN_S = 2.0
"""How long the stopped process stays down [s]."""
AUTOSAVE_CHANGES = int(re.search(r"^autosave_interval (\d+)", DURABLE_BROKER, re.M)[1])  # type: ignore[index]
"""Changes after which the shipped broker configuration saves its state."""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "mosquitto", free_port(), DURABLE_BROKER)
    broker.start()
    yield broker
    broker.stop(signal.SIGKILL)


@pytest.fixture
def collector(tmp_path: Path, broker: Broker) -> Iterator[CollectorProcess]:
    settings = {
        "broker": f"mqtt://127.0.0.1:{broker.port}",
        "data_dir": str(tmp_path / "data"),
        "client_id": "fault-collector",
        "batch_interval_s": 0.05,
    }
    collector = CollectorProcess(settings, tmp_path / "store.duckdb")
    yield collector
    collector.kill()


def run(
    tmp_path: Path, broker: Broker, collector: CollectorProcess, fault: Callable[[], None]
) -> Tally:
    """Publish for about 8 s with ``fault`` after 3 s; stop everything; count the store."""
    collector.start()
    publisher = SequencePublisher(broker.url, RATE)
    publisher.start()
    time.sleep(3.0)
    fault()
    time.sleep(3.0)
    sent = publisher.stop()
    wait_until(lambda: collector.delivered >= sent, timeout_s=60)
    collector.stop()
    store = DuckDBStore(tmp_path / "store.duckdb")
    try:
        return tally(store, sent)
    finally:
        store.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_broker_restart_loses_nothing_it_confirmed(
    tmp_path: Path, broker: Broker, collector: CollectorProcess, sig: signal.Signals
) -> None:
    def restart_broker() -> None:
        broker.stop(sig)
        time.sleep(DOWN_S)
        broker.start()

    result = run(tmp_path, broker, collector, restart_broker)
    assert result.sent > 2 * RATE
    assert result.missing <= (AUTOSAVE_CHANGES if sig == signal.SIGKILL else 0), result.line()
    assert result.duplicated == 0, result.line()


def test_a_killed_collector_loses_nothing(
    tmp_path: Path, broker: Broker, collector: CollectorProcess
) -> None:
    def restart_collector() -> None:
        collector.kill()
        time.sleep(DOWN_S)
        collector.start()

    result = run(tmp_path, broker, collector, restart_collector)
    assert result.sent > 2 * RATE
    assert result.missing == 0, result.line()
    assert result.duplicated == 0, result.line()
