"""The header's alert counts read the state field alone, and count what the full states say,
over a real DuckDB store written by the engine's own writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from twin.alerts.engine import SeriesState
from twin.alerts.state import StateKey, alert_counts, load_states, save_states
from twin.store.duckdb import DuckDBStore

START = datetime(2025, 6, 1, 6, tzinfo=UTC)


def state_at(node: int, minute: int) -> str:
    """Node ``node`` pending from minute ``node`` on, firing two minutes later, normal again
    from minute ``2 * node + 4``."""
    if minute < node or minute >= 2 * node + 4:
        return "normal"
    return "pending" if minute < node + 2 else "firing"


def test_alert_counts_equal_the_counts_of_the_stored_states(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    try:
        previous: dict[StateKey, SeriesState] = {}
        seen: list[dict[str, int]] = []
        for minute in range(12):
            at = START + timedelta(minutes=minute)
            states = [
                SeriesState("node_silent", f"id=n{n}", state=state_at(n, minute), evaluated_at=at)
                for n in range(6)
            ]
            save_states(store, states, previous, at)
            previous = {(s.rule, s.series): s for s in states}
            loaded = [s.state for s in load_states(store, at).values()]
            expected = {"firing": loaded.count("firing"), "pending": loaded.count("pending")}
            assert alert_counts(store, at) == expected
            assert expected == {
                "firing": sum(state_at(n, minute) == "firing" for n in range(6)),
                "pending": sum(state_at(n, minute) == "pending" for n in range(6)),
            }
            seen.append(expected)
        assert {c["firing"] for c in seen} > {0} and {c["pending"] for c in seen} > {0}
        assert alert_counts(store, START - timedelta(minutes=1)) == {"firing": 0, "pending": 0}
    finally:
        store.close()
