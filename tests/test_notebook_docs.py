"""docs/notebooks.md's worked example, run as written against a store the simulator filled."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from collectors.simulate import FleetSimulator
from twin.forecast.jobs import refresh_forecasts
from twin.inventory import example_fleet
from twin.jobs.entropy import backfill_entropy
from twin.store.duckdb import DuckDBStore

DOC = Path(__file__).resolve().parents[1] / "docs" / "notebooks.md"


def example() -> str:
    """The first Python block of the worked example."""
    text = DOC.read_text().split("### Worked example", 1)[1]
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match, "docs/notebooks.md has no python example"
    return match.group(1)


def test_the_worked_example_runs_and_shows_what_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = example_fleet()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(hours=26)
    store = DuckDBStore(tmp_path / "cnetwin.duckdb")
    sim = FleetSimulator(fleet, seed=3, interval_s=300.0, start=start)
    store.write(sim.backfill_readings(start, now))
    backfill_entropy(store, fleet, now - timedelta(hours=4), now)
    refresh_forecasts(store, fleet, now)
    store.close()
    monkeypatch.setenv("CNETWIN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CNETWIN_STORE", raising=False)
    names: dict[str, object] = {}
    exec(compile(example(), str(DOC), "exec"), names)
    state, reporting = names["now"], names["reporting"]
    assert len(state.nodes) == len(fleet.nodes)  # type: ignore[attr-defined]
    assert isinstance(reporting, pd.DataFrame) and set(reporting["status"]) <= {"fresh"}
    busiest = names["busiest_sites"]
    assert isinstance(busiest, pd.Series) and set(busiest.index) == {s.id for s in fleet.sites}
    assert ((busiest >= 0) & (busiest <= 1)).all() and busiest.is_monotonic_decreasing
    network = names["network"]
    assert isinstance(network, pd.DataFrame) and len(network) >= 3
    assert network["network_entropy_bits"].between(0, 8).all()
    drifting = names["drifting"]
    assert isinstance(drifting, pd.DataFrame) and len(drifting) == 5
    pv = names["pv_next_6h"]
    assert isinstance(pv, pd.DataFrame) and len(pv) == 6 and (pv.to_numpy() >= 0).all()
