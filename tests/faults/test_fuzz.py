"""Fuzzed payloads of every accepted format (canonical JSON, line protocol, Telegraf, Tasmota)
interleaved with valid sequence-numbered messages, through the ingest pipeline into DuckDB:
every message is stored or dead-lettered and acknowledged, every valid one is stored, and no
payload makes the parser fail unexpectedly."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from collectors.pipeline import IngestPipeline, Message
from tests.faults.harness import fuzzed, seq_message, tally
from twin.store.duckdb import DuckDBStore

VALID = 5_000
FUZZED = 5_000


def test_fuzzed_payloads_are_stored_or_dead_lettered_and_valid_ones_all_stored(
    tmp_path: Path,
) -> None:
    rng = random.Random(15)
    bad = fuzzed(FUZZED, rng)
    messages = [seq_message(i) for i in range(VALID)] + bad
    rng.shuffle(messages)
    store = DuckDBStore(tmp_path / "store.duckdb")
    acks: list[int] = []
    pipe = IngestPipeline(store, batch_size=500, batch_interval_s=0.05)
    pipe.start()
    for mid, (topic, payload) in enumerate(messages, 1):
        pipe.submit(Message(topic, payload, datetime.now(UTC), mid, acks.append))
    assert pipe.stop()
    counters = pipe.counters
    result = tally(store, VALID)
    store.close()
    assert counters.received == len(messages)
    assert counters.stored_messages + counters.dead_lettered == counters.received
    assert sorted(acks) == list(range(1, len(messages) + 1))
    assert result.missing == 0 and result.duplicated == 0, result.line()
    assert counters.dead_lettered > FUZZED // 2  # the fuzzing broke most payloads
    assert "internal_error" not in counters.dead_by_reason, counters.dead_by_reason
