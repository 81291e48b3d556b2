"""The collector against a real Mosquitto over TCP: publishers we wrote (paho) and one we did not
(mosquitto_pub), malformed payloads, persistent sessions and redelivery after an outage."""

from __future__ import annotations

import gc
import json
import subprocess
import weakref
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors import pipeline as pipeline_module
from collectors.mqtt import MqttSubscriber
from collectors.service import Collector
from tests.conftest import publish, wait_until
from twin.config import BrokerURL, Settings, load_settings
from twin.store.duckdb import DuckDBStore

pytestmark = pytest.mark.integration
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def window() -> tuple[datetime, datetime]:
    """From a day before the test data to a minute past now (dead letters carry their receive
    time, which is later than the module's import when other tests ran first)."""
    return T0 - timedelta(days=1), datetime.now(UTC) + timedelta(minutes=1)


def canonical(i: int, node: str = "n1") -> tuple[str, bytes]:
    body = {"ts": (T0 + timedelta(seconds=i)).isoformat(), "fields": {"cpu_util": 0.5}}
    return f"cne/v1/site-a/node/{node}", json.dumps(body).encode()


@pytest.fixture
def settings(tmp_path: Path, mosquitto: BrokerURL) -> Settings:
    return load_settings(
        data_dir=tmp_path, broker=f"mqtt://127.0.0.1:{mosquitto.port}", batch_interval_s=0.05
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "store.duckdb")
    yield store
    store.close()


def stored(store: DuckDBStore, measurement: str = "node") -> int:
    return len(store.query(measurement, *window()))


def test_paho_and_mosquitto_pub_messages_are_all_stored(
    settings: Settings, store: DuckDBStore, mosquitto: BrokerURL
) -> None:
    collector = Collector(settings, store, mosquitto)
    collector.start()
    publish(mosquitto, [canonical(i) for i in range(1_000)])
    lines = "\n".join(canonical(i)[1].decode() for i in range(1_000, 1_500))
    subprocess.run(
        [
            "mosquitto_pub",
            "-p",
            str(mosquitto.port),
            "-q",
            "1",
            "-t",
            "cne/v1/site-a/node/n1",
            "-l",
        ],
        input=lines.encode(),
        check=True,
        timeout=60,
    )
    assert wait_until(lambda: collector.pipeline.counters.received >= 1_500)
    summary = collector.stop()
    assert summary.stored_messages == 1_500
    assert summary.dead_lettered == 0
    assert stored(store) == 1_500


def test_malformed_payloads_are_dead_lettered_and_the_collector_keeps_going(
    settings: Settings, store: DuckDBStore, mosquitto: BrokerURL
) -> None:
    collector = Collector(settings, store, mosquitto)
    collector.start()
    bad_kinds = [
        b"{broken json",
        b"\xff\xfe\x00binary",
        json.dumps({"fields": {"cpu_util": float("inf")}}).encode().replace(b"Infinity", b"1e999"),
        json.dumps({"fields": {"cpu_util": 42}}).encode(),
        json.dumps({"ts": "2999-01-01T00:00:00Z", "fields": {"cpu_util": 0.1}}).encode(),
        json.dumps({"fields": {"cpu_utl": 0.1}}).encode(),
        json.dumps({"fields": {}}).encode(),
        b"[]",
        b"node cpu_util=",
        json.dumps({"fields": {"cpu_util": True}}).encode(),
    ]
    messages = []
    for i in range(100):
        messages.append(canonical(i))
        messages.append(("cne/v1/site-a/node/n1", bad_kinds[i % len(bad_kinds)]))
    publish(mosquitto, messages)
    assert wait_until(lambda: collector.pipeline.counters.received >= 200)
    assert collector.subscriber.connected
    publish(mosquitto, [canonical(i) for i in range(100, 120)])
    assert wait_until(lambda: collector.pipeline.counters.received >= 220)
    summary = collector.stop()
    assert summary.dead_lettered == 100
    assert stored(store) == 120
    dead = store.query("dead_letter", *window())
    assert len(dead) == 100
    assert dead["reason"].nunique() >= 6
    assert (dead["topic"] == "cne/v1/site-a/node/n1").all()


def test_messages_published_while_the_collector_is_away_arrive_on_return(
    settings: Settings, store: DuckDBStore, mosquitto: BrokerURL
) -> None:
    first = Collector(settings, store, mosquitto)
    first.start()
    first.stop()
    publish(mosquitto, [canonical(i) for i in range(300)])
    second = Collector(settings, store, mosquitto)
    second.start()
    assert wait_until(lambda: second.pipeline.counters.received >= 300)
    second.stop()
    assert stored(store) == 300


class BrokenStore:
    """A real DuckDB store whose writes fail while ``down`` is set (a store outage)."""

    def __init__(self, inner: DuckDBStore) -> None:
        self.inner = inner
        self.down = True

    def write(self, readings: object) -> int:
        from twin.errors import StoreUnavailable

        if self.down:
            raise StoreUnavailable("store unreachable (injected outage)")
        return self.inner.write(readings)  # type: ignore[arg-type]


def test_nothing_is_acknowledged_during_an_outage_so_the_broker_redelivers(
    settings: Settings, store: DuckDBStore, mosquitto: BrokerURL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "RETRY_MIN_S", 0.05)
    monkeypatch.setattr(pipeline_module, "RETRY_MAX_S", 0.05)
    settings = settings.model_copy(update={"spool_max_mb": 0})  # the broker keeps everything
    broken = BrokenStore(store)
    crashed = Collector(settings, broken, mosquitto)  # type: ignore[arg-type]
    crashed.start()
    publish(mosquitto, [canonical(i) for i in range(50)])
    assert wait_until(lambda: crashed.pipeline.counters.store_failures >= 2)
    summary = crashed.stop_within(0.5)
    assert summary.unstored == 50
    assert stored(store) == 0

    survivor = Collector(settings, store, mosquitto)
    survivor.start()
    assert wait_until(lambda: stored(store) == 50)
    survivor.stop()
    assert stored(store) == 50


@pytest.mark.parametrize("gc_freeze", [True, False])
def test_start_up_objects_leave_the_full_collections_only_while_the_collector_runs(
    tmp_path: Path, store: DuckDBStore, mosquitto: BrokerURL, gc_freeze: bool
) -> None:
    settings = load_settings(
        data_dir=tmp_path, broker=f"mqtt://127.0.0.1:{mosquitto.port}", gc_freeze=gc_freeze
    )
    collector = Collector(settings, store, mosquitto)
    collector.start()
    frozen_while_running = gc.get_freeze_count()
    publish(mosquitto, [canonical(i) for i in range(100)])
    assert wait_until(lambda: collector.delivered() >= 100)
    collector.stop()
    assert (frozen_while_running > 0) is gc_freeze
    assert gc.get_freeze_count() == 0
    assert stored(store) == 100


def test_a_stopped_subscriber_and_its_client_are_freed_at_once(mosquitto: BrokerURL) -> None:
    """No reference cycle: the client is freed (closing its sockets) when the subscriber goes,
    not whenever the garbage collector next runs."""
    subscriber = MqttSubscriber(
        mosquitto, client_id="c-freed", topic_filters=["cne/v1/#"], sink=lambda message: None
    )
    subscriber.start()
    subscriber.stop()
    client = weakref.ref(subscriber._client)
    gc.disable()
    try:
        del subscriber
        assert client() is None
    finally:
        gc.enable()


def test_a_collector_stopped_after_an_outage_its_spool_could_not_take_frees_its_client(
    settings: Settings, store: DuckDBStore, mosquitto: BrokerURL, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing logged during the outage (pytest keeps every record of the test) holds the
    batch, its messages or the paho client they came on once the collector has stopped."""
    monkeypatch.setattr(pipeline_module, "RETRY_MIN_S", 0.05)
    monkeypatch.setattr(pipeline_module, "RETRY_MAX_S", 0.05)
    broken = BrokenStore(store)
    collector = Collector(settings, broken, mosquitto)  # type: ignore[arg-type]
    assert collector.spool is not None
    spool_dir = collector.spool.directory
    spool_dir.rmdir()
    spool_dir.write_text("")  # the spool cannot take a batch: every append fails (OSError)
    collector.start()
    publish(mosquitto, [canonical(i) for i in range(20)])
    assert wait_until(failed_writes_at_least(collector, 3))
    broken.down = False
    assert wait_until(lambda: stored(store) == 20)
    collector.stop()
    assert collector.pipeline.counters.spooled_readings == 0
    client = weakref.ref(collector.subscriber._client)
    del collector
    gc.collect()
    assert client() is None


def failed_writes_at_least(collector: Collector, count: int) -> Callable[[], bool]:
    """Whether ``collector``'s store writes have failed ``count`` times (no closure in the
    test keeps the collector)."""
    return lambda: collector.pipeline.counters.store_failures >= count


def test_objects_stay_frozen_until_the_last_collector_of_the_process_stops(
    tmp_path: Path, mosquitto: BrokerURL
) -> None:
    stores = [DuckDBStore(tmp_path / f"{name}.duckdb") for name in ("a", "b")]
    collectors = [
        Collector(
            load_settings(
                data_dir=tmp_path,
                broker=f"mqtt://127.0.0.1:{mosquitto.port}",
                client_id=f"c-{name}",
            ),
            store,
            mosquitto,
        )
        for name, store in zip("ab", stores, strict=True)
    ]
    try:
        for collector in collectors:
            collector.start()
        collectors[0].stop()
        assert gc.get_freeze_count() > 0
        collectors[1].stop()
        assert gc.get_freeze_count() == 0
    finally:
        for store in stores:
            store.close()
