"""The shipped rules see idle capacity as its own cause: a fleet of always-idle nodes sits
within the drift band of H*, yet it is out of balance and the idle rules fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from twin.alerts.evaluate import evaluate
from twin.alerts.rules import load_rules
from twin.jobs.entropy import backfill_entropy, read_fleet_entropy
from twin.store.duckdb import DuckDBStore

START = datetime(2025, 6, 1, tzinfo=UTC)
NODES = ("n1", "n2", "n3")


def write_idle_fleet(store: DuckDBStore, hours: int) -> None:
    """Every node 5 % busy in every dimension, one reading per hour."""
    rows = [
        {
            "ts": pd.Timestamp(START + timedelta(hours=h)),
            "site": "s1",
            "id": node,
            "cpu_util": 0.05,
            "gpu_util": 0.05,
            "net_util": 0.05,
            "storage_util": 0.05,
        }
        for h in range(hours)
        for node in NODES
    ]
    store.write_frame("node", pd.DataFrame(rows), tags=["site", "id"])


def test_an_idle_fleet_fires_the_idle_rules_not_the_drift_rules(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    write_idle_fleet(store, 30)
    first = START + timedelta(hours=24)
    backfill_entropy(store, None, first, START + timedelta(hours=30))
    fleet = read_fleet_entropy(store, first, START + timedelta(hours=31))
    assert (fleet["drifting_share"] == 0.0).all()  # entropy 0 is within 0.5 bits of H*
    assert (fleet["idle_share"] == 1.0).all()
    assert (fleet["out_of_balance_share"] == 1.0).all()

    rules = load_rules()
    states: dict[str, set[str]] = {}
    for hour in range(25, 31):
        result = evaluate(store, rules, START + timedelta(hours=hour, minutes=1), [])
        states = {name: {s.state for s in series} for name, series in result.states.items()}
    assert states["fleet_idle_capacity"] == {"firing"}
    assert states["node_idle"] == {"firing"}
    assert len(result.states["node_idle"]) == len(NODES)
    assert "firing" not in states["fleet_drifting_share"]
    assert "firing" not in states["node_entropy_drift"]
    idle_rule = next(r for r in rules.rules if r.name == "fleet_idle_capacity")
    assert idle_rule.labels["cause"] == "idle"
    store.close()
