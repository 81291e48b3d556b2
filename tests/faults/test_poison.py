"""Poison and wide messages among sequence-numbered QoS 1 traffic through a real Mosquitto: each
is refused at parse time with its own reason, nothing valid is lost, the store does not widen."""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.service import Collector
from tests.conftest import publish, wait_until
from tests.faults.harness import SequencePublisher, freed, tally
from twin.config import BrokerURL, load_settings
from twin.store.duckdb import DuckDBStore

pytestmark = pytest.mark.integration

POISON_TOPIC = "cne/v1/faults/node/poison"


def poison(i: int) -> tuple[str, bytes]:
    """A node reading whose task-type name is longer than any store column name."""
    return POISON_TOPIC, json.dumps({"fields": {f"tasks_{i}_" + "x" * 80: 1}}).encode()


def wide(count: int) -> tuple[str, bytes]:
    """A node reading with ``count`` task-type fields."""
    return POISON_TOPIC, json.dumps({"fields": {f"tasks_t{i}": 1 for i in range(count)}}).encode()


def test_poison_and_wide_messages_are_refused_and_nothing_valid_is_lost(
    tmp_path: Path, mosquitto: BrokerURL
) -> None:
    settings = load_settings(
        data_dir=tmp_path, broker=f"mqtt://127.0.0.1:{mosquitto.port}", batch_interval_s=0.05
    )
    store = DuckDBStore(tmp_path / "store.duckdb")
    collector = Collector(settings, store, mosquitto)
    collector.start()
    publisher = SequencePublisher(mosquitto, rate=1_000)
    try:
        publisher.start()
        for round_ in range(10):
            publish(mosquitto, [poison(3 * round_ + k) for k in range(3)] + [wide(3_000)])
            time.sleep(0.2)
        sent = publisher.stop()
        assert wait_until(delivered(collector, sent + 40), timeout_s=60), collector.summary().line()
    finally:
        collector.stop()
    client = weakref.ref(collector.subscriber._client)
    pipeline = collector.pipeline
    counters = pipeline.counters
    result = tally(store, sent)
    node_fields = [c for c in store.query("node", *_all_time()).columns if c.startswith("tasks")]
    store.close()
    assert result.missing == 0 and result.duplicated == 0, result.line()
    assert dict(counters.dead_by_reason) == {"bad_name": 30, "too_many_fields": 10}
    assert counters.refused_batches == 0  # refused at parse time, never by the store
    assert node_fields == ["tasks_running"]
    del collector, pipeline
    assert freed(client), "the stopped collector's MQTT client is still referenced"


def delivered(collector: Collector, count: int) -> Callable[[], bool]:
    """Whether ``collector`` has finished ``count`` messages (no closure in the test keeps it)."""
    return lambda: collector.delivered() >= count


def _all_time() -> tuple[datetime, datetime]:
    return datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
