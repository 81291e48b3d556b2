"""Alert rules held while history loads: the shipped rules evaluated over a real DuckDB store
holding a fleet whose history is being backfilled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from twin.alerts.evaluate import evaluate
from twin.alerts.rules import load_alert_rules
from twin.alerts.state import alert_counts, load_states
from twin.config import load_settings
from twin.jobs.loading import HistoryLoad, write_history_load
from twin.store.duckdb import DuckDBStore

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
BEGIN = NOW - timedelta(hours=49)
NODES = [f"n{i:02d}" for i in range(40)]
LOADED_TO = NOW - timedelta(minutes=10)
"""Where the history stands: live telemetry still catching up with the present."""


def write_nodes(store: DuckDBStore, at: datetime) -> None:
    """One reading of every node at ``at``."""
    rows = [{"ts": pd.Timestamp(at), "site": "s1", "id": n, "power_w": 300.0} for n in NODES]
    store.write_frame("node", pd.DataFrame(rows), tags=["site", "id"])


def loading(until: datetime, at: datetime, done: bool = False) -> HistoryLoad:
    return HistoryLoad(
        pd.Timestamp(BEGIN), pd.Timestamp(until), pd.Timestamp(at), not done, pd.Timestamp(at)
    )


def test_node_silent_is_held_while_history_loads_and_for_the_grace_after(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, alert_load_grace_s=300)
    rules = load_alert_rules(settings)
    store = DuckDBStore(tmp_path / "twin.duckdb")
    try:
        # history loaded to 10 min ago: every node's newest reading is 10 min old
        write_nodes(store, LOADED_TO)
        for minute in range(3):
            at = NOW + timedelta(minutes=minute)
            write_history_load(store, loading(LOADED_TO, at))
            result = evaluate(store, rules, at, [])
            assert result.held == "history loading"
            assert result.transitions == [] and result.notifications == []
        assert load_states(store, NOW + timedelta(minutes=3)) == {}
        assert alert_counts(store, NOW + timedelta(minutes=3))["firing"] == 0

        # loaded: the data is fresh, yet the rules wait out the grace period
        done_at = NOW + timedelta(minutes=10)
        write_nodes(store, done_at)
        write_history_load(store, loading(done_at, done_at, done=True))
        held = evaluate(store, rules, done_at + timedelta(minutes=1), [])
        assert held.held.startswith("history loaded, evaluation resumes in 4 min")

        # after the grace the rules run, and the fleet is not silent
        write_nodes(store, done_at + timedelta(minutes=6))
        result = evaluate(store, rules, done_at + timedelta(minutes=6), [])
        assert result.held == ""
        silent = result.states["node_silent"]
        assert len(silent) == len(NODES)
        assert {s.state for s in silent} == {"normal"}
    finally:
        store.close()


def test_without_a_history_load_the_same_store_fires_node_silent(tmp_path: Path) -> None:
    """What the hold prevents: history loaded to 10 min ago reads as 40 silent nodes."""
    rules = load_alert_rules(load_settings(data_dir=tmp_path))
    store = DuckDBStore(tmp_path / "twin.duckdb")
    try:
        write_nodes(store, LOADED_TO)
        result = evaluate(store, rules, NOW, [])
        assert result.held == ""
        assert {s.state for s in result.states["node_silent"]} == {"nodata"}
        assert len(result.states["node_silent"]) == len(NODES)
    finally:
        store.close()


def test_an_abandoned_load_holds_nothing(tmp_path: Path) -> None:
    """A publisher that stopped mid-load no longer holds the rules once its row is stale
    (twin.jobs.loading.ABANDONED_AFTER) and the grace after it has passed."""
    rules = load_alert_rules(load_settings(data_dir=tmp_path, alert_load_grace_s=0))
    store = DuckDBStore(tmp_path / "twin.duckdb")
    try:
        write_nodes(store, LOADED_TO)
        write_history_load(store, loading(LOADED_TO, NOW))
        assert evaluate(store, rules, NOW + timedelta(minutes=1), []).held == "history loading"
        later = evaluate(store, rules, NOW + timedelta(minutes=3), [])
        assert later.held == ""
        assert {s.state for s in later.states["node_silent"]} == {"nodata"}
    finally:
        store.close()
