"""History loading records in a real DuckDB store: what the publisher writes, what pages and
the alert job read back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from twin.jobs.loading import (
    ABANDONED_AFTER,
    HistoryLoad,
    alert_hold,
    history_load_recorder,
    read_history_load,
    settled,
    write_history_load,
)
from twin.store.duckdb import DuckDBStore

NOW = pd.Timestamp("2025-06-01 12:00", tz="UTC")
BEGIN = NOW - pd.Timedelta(hours=49)


def load_at(at: pd.Timestamp, hours_done: float, loading: bool = True) -> HistoryLoad:
    return HistoryLoad(BEGIN, BEGIN + pd.Timedelta(hours=hours_done), NOW, loading, at)


def test_the_newest_record_is_read_back_with_its_progress(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    try:
        assert read_history_load(store, NOW) is None
        record = history_load_recorder(store)
        record(load_at(NOW - pd.Timedelta(seconds=2), 13.0))
        record(load_at(NOW - pd.Timedelta(seconds=1), 14.2))
        load = read_history_load(store, NOW)
        assert load is not None and load.loading
        assert load.until == BEGIN + pd.Timedelta(hours=14.2)
        assert load.text() == "Loading history: 14 of 49 h"
        assert abs(load.share - 14.2 / 49) < 1e-9
        # a clock before the newest row sees the row before it
        earlier = read_history_load(store, NOW - pd.Timedelta(seconds=1.5))
        assert earlier is not None and earlier.until == BEGIN + pd.Timedelta(hours=13)
    finally:
        store.close()


def test_a_finished_load_settles_after_its_margin(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    try:
        write_history_load(store, load_at(NOW, 49.0, loading=False))
        load = read_history_load(store, NOW + pd.Timedelta(seconds=10))
        assert load is not None and not load.loading
        assert not settled(load, NOW + pd.Timedelta(seconds=10), timedelta(seconds=30))
        assert settled(load, NOW + pd.Timedelta(seconds=30), timedelta(seconds=30))
        assert settled(None, NOW, timedelta(seconds=30))
        grace = timedelta(minutes=5)
        assert alert_hold(load, NOW + pd.Timedelta(minutes=1), grace) == (
            "history loaded, evaluation resumes in 4 min"
        )
        assert alert_hold(load, NOW + pd.Timedelta(minutes=5), grace) == ""
    finally:
        store.close()


def test_a_load_no_longer_renewed_is_not_loading(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    try:
        write_history_load(store, load_at(NOW, 20.0))
        fresh = read_history_load(store, NOW + ABANDONED_AFTER - pd.Timedelta(seconds=1))
        stale = read_history_load(store, NOW + ABANDONED_AFTER)
        assert fresh is not None and fresh.loading
        assert stale is not None and not stale.loading
    finally:
        store.close()
