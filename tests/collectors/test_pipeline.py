"""Ingest pipeline against a real DuckDB file: batching, dead letters, acknowledgement only after
storage, back-off while the store is unavailable."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors import pipeline as pipeline_module
from collectors.pipeline import IngestPipeline, Message
from twin.domain import Reading
from twin.errors import StoreError, StoreUnavailable
from twin.store.duckdb import DuckDBStore
from twin.store.spool import Spool

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def node_message(i: int, acks: list[int] | None = None) -> Message:
    payload = json.dumps(
        {"ts": (NOW - timedelta(seconds=i)).isoformat(), "fields": {"cpu_util": (i % 100) / 100}}
    ).encode()
    acknowledge = acks.append if acks is not None else None
    return Message(f"cne/v1/site-a/node/n{i % 7}", payload, NOW, i, acknowledge)


@pytest.fixture
def store(tmp_path: Path) -> Iterable[DuckDBStore]:
    store = DuckDBStore(tmp_path / "t.duckdb")
    yield store
    store.close()


def test_every_good_message_is_stored_and_acknowledged_in_order(store: DuckDBStore) -> None:
    acks: list[int] = []
    pipe = IngestPipeline(store, batch_size=64, batch_interval_s=0.05)
    pipe.start()
    for i in range(500):
        pipe.submit(node_message(i, acks))
    assert pipe.stop()
    rows = store.query("node", NOW - timedelta(hours=1), NOW + timedelta(seconds=1))
    assert len(rows) == 500
    assert acks == list(range(500))
    assert pipe.counters.stored_messages == 500
    assert pipe.counters.stored_readings == 500
    assert pipe.counters.batches >= 500 // 64


def test_bad_payloads_are_dead_lettered_with_reasons_and_acknowledged(
    store: DuckDBStore,
) -> None:
    acks: list[int] = []
    pipe = IngestPipeline(store, batch_interval_s=0.05)
    pipe.start()
    bad = {
        1000: b"{not json",
        1001: json.dumps({"fields": {"cpu_util": 55}}).encode(),
        1002: json.dumps({"fields": {"cpu_util": "NaN"}}).encode(),
    }
    for i in range(30):
        pipe.submit(node_message(i, acks))
        if i in (5, 15, 25):
            key = 1000 + i // 10
            pipe.submit(Message("cne/v1/site-a/node/n1", bad[key], NOW, key, acks.append))
    pipe.submit(Message("not/a/contract/topic", b"{}", NOW, 2000, acks.append))
    assert pipe.stop()
    assert len(store.query("node", NOW - timedelta(hours=1), NOW + timedelta(seconds=1))) == 30
    dead = store.query("dead_letter", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert len(dead) == 4
    assert set(dead["reason"]) >= {"bad_json", "out_of_range", "bad_topic"}
    assert dead["payload"].str.len().max() <= pipeline_module.DEAD_LETTER_PAYLOAD_CHARS
    assert all(dead["error"].str.len() > 10)
    assert sorted(acks) == sorted([*range(30), 1000, 1001, 1002, 2000])
    assert pipe.counters.dead_lettered == 4
    assert sum(pipe.counters.dead_by_reason.values()) == 4


def test_dead_letters_in_the_same_microsecond_are_all_kept(store: DuckDBStore) -> None:
    pipe = IngestPipeline(store, batch_interval_s=0.05)
    pipe.start()
    for _ in range(50):
        pipe.submit(Message("cne/v1/s/node/n", b"garbage", NOW))
    assert pipe.stop()
    dead = store.query("dead_letter", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert len(dead) == 50


def test_payload_cut_short_in_dead_letter(store: DuckDBStore) -> None:
    pipe = IngestPipeline(store, batch_interval_s=0.05)
    pipe.start()
    pipe.submit(Message("cne/v1/s/node/n", b"x" * 100_000, NOW))
    assert pipe.stop()
    dead = store.query("dead_letter", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert len(dead.iloc[0]["payload"]) == pipeline_module.DEAD_LETTER_PAYLOAD_CHARS


def test_redelivered_messages_are_stored_once(store: DuckDBStore) -> None:
    pipe = IngestPipeline(store, batch_interval_s=0.05)
    pipe.start()
    for _ in range(3):
        for i in range(40):
            pipe.submit(node_message(i))
    assert pipe.stop()
    assert len(store.query("node", NOW - timedelta(hours=1), NOW + timedelta(seconds=1))) == 40


class FlakyStore:
    """A real DuckDB store behind a switch that makes writes fail as an unreachable store does."""

    def __init__(self, inner: DuckDBStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.attempts = 0

    def write(self, readings: Iterable[Reading]) -> int:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("store unreachable (injected outage)")
        return self.inner.write(readings)


def test_outage_delays_acknowledgement_until_stored(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "RETRY_MIN_S", 0.01)
    acks: list[int] = []
    flaky = FlakyStore(store, failures=3)
    pipe = IngestPipeline(flaky, batch_interval_s=0.05)  # type: ignore[arg-type]
    pipe.start()
    for i in range(10):
        pipe.submit(node_message(i, acks))
    assert pipe.stop()
    assert flaky.attempts >= 4
    assert pipe.counters.store_failures == 3
    assert acks == list(range(10))
    assert len(store.query("node", NOW - timedelta(hours=1), NOW + timedelta(seconds=1))) == 10


def test_counters_are_written_to_the_store(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "COUNTER_PERIOD_S", 0.0)
    pipe = IngestPipeline(store, client_id="c-test", batch_interval_s=0.05)
    pipe.start()
    for i in range(5):
        pipe.submit(node_message(i))
    assert pipe.stop()
    counters = store.last("collector", at=datetime.now(UTC) + timedelta(seconds=1))
    assert list(counters["collector"]) == ["c-test"]
    assert counters.iloc[0]["received"] >= 1
    assert "batch_write_ms" in counters.columns


def test_final_counters_are_written_when_the_pipeline_stops(store: DuckDBStore) -> None:
    pipe = IngestPipeline(store, client_id="c-final", batch_interval_s=0.05)
    pipe.start()
    for i in range(30):
        pipe.submit(node_message(i))
    pipe.submit(Message("cne/v1/site-a/node/n1", b"{not json", NOW))
    assert pipe.stop()
    counters = store.last("collector", at=datetime.now(UTC) + timedelta(seconds=1))
    final = counters.iloc[0]
    assert final["received"] == 31
    assert final["stored_messages"] == 30
    assert final["dead_lettered"] == 1


class PickyStore:
    """A real DuckDB store that refuses (as a bad batch) any batch holding node ``n3``."""

    def __init__(self, inner: DuckDBStore) -> None:
        self.inner = inner

    def write(self, readings: Iterable[Reading]) -> int:
        readings = list(readings)
        if any(r.tags.get("id") == "n3" for r in readings):
            raise StoreError("field type conflict (injected refusal)")
        return self.inner.write(readings)


def test_a_message_the_store_refuses_is_dead_lettered_alone(store: DuckDBStore) -> None:
    acks: list[int] = []
    pipe = IngestPipeline(PickyStore(store), batch_interval_s=0.2)  # type: ignore[arg-type]
    pipe.start()
    for i in range(21):
        pipe.submit(node_message(i, acks))  # ids n0…n6: three messages are for n3
    assert pipe.stop()
    assert len(store.query("node", NOW - timedelta(hours=1), NOW + timedelta(seconds=1))) == 18
    dead = store.query("dead_letter", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert list(dead["reason"]) == [pipeline_module.STORE_REJECTED] * 3
    assert sorted(acks) == list(range(21))
    assert pipe.counters.stored_readings == 18
    assert pipe.counters.dead_by_reason[pipeline_module.STORE_REJECTED] == 3


class PoisonStore:
    """A real DuckDB store that refuses any batch holding a reading at one of ``poison`` times,
    and counts the writes it is asked for."""

    def __init__(self, inner: DuckDBStore, poison: set[datetime]) -> None:
        self.inner = inner
        self.poison = poison
        self.writes = 0

    def write(self, readings: Iterable[Reading]) -> int:
        self.writes += 1
        readings = list(readings)
        if any(r.ts in self.poison for r in readings):
            raise StoreError("refused (injected poison)")
        return self.inner.write(readings)


def test_refused_messages_are_found_by_halving_not_one_write_per_message(
    store: DuckDBStore,
) -> None:
    n, poisoned = 2_048, [5, 1_000, 2_047]
    poison = PoisonStore(store, {NOW - timedelta(seconds=i) for i in poisoned})
    pipe = IngestPipeline(poison, batch_size=n, batch_interval_s=5.0)  # type: ignore[arg-type]
    acks: list[int] = []
    for i in range(n):  # all queued before the writer starts: one batch
        pipe.submit(node_message(i, acks))
    pipe.start()
    assert pipe.stop()
    assert pipe.counters.batches == 1
    assert poison.writes <= 2 + 2 * len(poisoned) * math.ceil(math.log2(n))
    assert sorted(acks) == list(range(n))
    dead = store.query("dead_letter", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert len(dead) == len(poisoned)
    assert pipe.counters.stored_messages == n - len(poisoned)
    assert pipe.counters.stored_readings == n - len(poisoned)
    assert pipe.counters.refused_batches == 1


def test_an_outage_is_logged_once_with_its_cause_and_once_when_it_ends(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pipeline_module, "RETRY_MIN_S", 0.01)
    flaky = FlakyStore(store, failures=6)
    pipe = IngestPipeline(flaky, batch_interval_s=0.05)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="collectors.pipeline"):
        pipe.start()
        for i in range(10):
            pipe.submit(node_message(i))
        assert pipe.stop()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("store unavailable: store unreachable (injected outage)")
    assert lines[1].startswith("store available again after")
    assert "(6 failed writes)" in lines[1]
    assert pipe.counters.store_outages == 1


def test_outage_is_absorbed_by_the_spool_and_drained_after(
    store: DuckDBStore, tmp_path: Path
) -> None:
    acks: list[int] = []
    flaky = FlakyStore(store, failures=2)
    spool = Spool(tmp_path / "spool", max_bytes=10_000_000)
    pipe = IngestPipeline(flaky, batch_interval_s=0.05, spool=spool)  # type: ignore[arg-type]
    pipe.start()
    for round_ in range(4):  # rounds 0 and 1 meet the outage, 2 and 3 a working store
        for i in range(5):
            pipe.submit(node_message(10 * round_ + i, acks))
        while len(acks) < 5 * (round_ + 1):
            time.sleep(0.01)
        if round_ == 1:
            assert len(spool.files()) == 2  # acknowledged while only on disk
    assert pipe.stop()
    assert pipe.counters.spooled_readings >= 10  # the batches may carry a counters row too
    assert spool.files() == []  # drained once the store took writes again
    stored = store.query("node", NOW - timedelta(hours=1), NOW + timedelta(seconds=1))
    assert len(stored) == 20


def test_the_queue_is_bounded_in_bytes_while_the_store_is_away(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "RETRY_MIN_S", 0.01)
    monkeypatch.setattr(pipeline_module, "RETRY_MAX_S", 0.01)
    flaky = FlakyStore(store, failures=10**9)
    pipe = IngestPipeline(flaky, queue_bytes=10_000, batch_interval_s=0.05)  # type: ignore[arg-type]
    padding = " " * 3_000  # whitespace: a valid reading of about 3 kB

    def message(i: int) -> Message:
        body = node_message(i)
        return body._replace(payload=body.payload + padding.encode())

    pipe.start()
    submitter = threading.Thread(target=lambda: [pipe.submit(message(i)) for i in range(100)])
    submitter.start()
    assert wait_for(lambda: flaky.attempts >= 20)  # the outage has gone on for a while
    assert pipe.counters.received <= 4  # three held (9 kB), the fourth waits for room
    assert pipe.bytes_held <= 10_000
    flaky.failures = 0
    submitter.join(30)
    assert pipe.stop()
    assert pipe.counters.stored_messages == 100
    assert pipe.bytes_held == 0


def test_an_oversized_payload_is_cut_on_arrival_and_dead_lettered(store: DuckDBStore) -> None:
    pipe = IngestPipeline(store, queue_bytes=100_000, batch_interval_s=0.05)
    huge = b'{"fields": {"cpu_util": 0.5}}' + b" " * (5 << 20)
    for i in range(20):  # 100 MB in all, queued before the writer starts
        pipe.submit(Message(f"cne/v1/site-a/node/n{i}", huge, NOW))
    assert pipe.bytes_held <= 20 * pipeline_module.DEAD_LETTER_PAYLOAD_CHARS
    pipe.start()
    assert pipe.stop()
    assert pipe.counters.dead_by_reason == {"too_large": 20}
    dead = store.query("dead_letter", NOW - timedelta(hours=1), datetime.now(UTC))
    assert dead["error"].str.contains(f"payload is {len(huge)} bytes").all()


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


class BrokenOnceStore:
    """A real DuckDB store whose first write fails with an unexpected error (a bug, not an
    outage or a refusal)."""

    def __init__(self, inner: DuckDBStore) -> None:
        self.inner = inner
        self.broken = True

    def write(self, readings: Iterable[Reading]) -> int:
        if self.broken:
            self.broken = False
            raise RuntimeError("unexpected failure (injected)")
        return self.inner.write(readings)


def test_an_unexpected_write_failure_is_retried_and_the_batch_stored_without_a_reconnect(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pipeline_module, "RETRY_MIN_S", 0.01)
    acks: list[int] = []
    pipe = IngestPipeline(BrokenOnceStore(store), batch_interval_s=0.05)  # type: ignore[arg-type]
    pipe.start()
    with caplog.at_level(logging.ERROR):
        pipe.submit(node_message(0, acks))
        assert wait_for(lambda: acks == [0])
        for i in range(1, 6):
            pipe.submit(node_message(i, acks))
        assert pipe.stop()
    assert pipe.counters.writer_errors == 1
    assert pipe.unstored == 0
    assert acks == [0, 1, 2, 3, 4, 5]
    assert len(store.query("node", NOW - timedelta(hours=1), NOW + timedelta(seconds=1))) == 6
    failures = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert len(failures) == 1
    assert "Traceback (most recent call last)" in failures[0].getMessage()


def test_a_parser_failure_is_dead_lettered_as_internal_error(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_parse = pipeline_module.parse_message

    def parse_failing_on_n3(topic: str, payload: bytes, **kwargs: object) -> list[Reading]:
        if topic.endswith("/n3"):
            raise KeyError("injected parser bug")
        return real_parse(topic, payload, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline_module, "parse_message", parse_failing_on_n3)
    acks: list[int] = []
    pipe = IngestPipeline(store, batch_interval_s=0.05)
    pipe.start()
    for i in range(14):
        pipe.submit(node_message(i, acks))  # ids n0…n6: two messages are for n3
    assert pipe.stop()
    assert sorted(acks) == list(range(14))
    assert len(store.query("node", NOW - timedelta(hours=1), NOW + timedelta(seconds=1))) == 12
    dead = store.query("dead_letter", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert list(dead["reason"]) == [pipeline_module.INTERNAL_ERROR] * 2
    assert "injected parser bug" in dead["error"].iloc[0]
