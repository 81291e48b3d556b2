"""Fork from the past over a real DuckDB file filled by the fleet simulator through the parser.

The actual side is checked against plain pandas over the parsed readings; the simulated side
against the "no hindsight" rule by poisoning everything stamped at or after the fork time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collectors.parsers import parse_message
from collectors.simulate import FleetSimulator
from twin.errors import ConfigError
from twin.inventory import example_fleet
from twin.model import Fleet, Reading
from twin.store.duckdb import DuckDBStore
from twin.whatif.fork import ForkReport, comparison_json, fork_from
from twin.whatif.policies import NODE_POLICIES, make_policy

START = datetime(2024, 6, 21, tzinfo=UTC)
STOP = START + timedelta(hours=36)
AT = START + timedelta(hours=28, minutes=30)
T0 = pd.Timestamp(START + timedelta(hours=28))  # the whole hour the fork starts from
HORIZON = timedelta(hours=6)
CNETWIN = [sys.executable, "-m", "twin.cli"]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return example_fleet()


@pytest.fixture(scope="module")
def readings(fleet: Fleet) -> list[Reading]:
    sim = FleetSimulator(fleet, seed=11, interval_s=120.0, start=START)
    out: list[Reading] = []
    for topic, payload in sim.backfill(START, STOP):
        out.extend(parse_message(topic, payload, fleet=fleet, received_at=STOP))
    return out


def filled(path: Path, readings: list[Reading]) -> DuckDBStore:
    store = DuckDBStore(path)
    store.write(readings)
    return store


@pytest.fixture
def store(tmp_path: Path, readings: list[Reading]) -> Iterator[DuckDBStore]:
    s = filled(tmp_path / "fork.duckdb", readings)
    yield s
    s.close()


def fork(
    store: DuckDBStore, fleet: Fleet, policy: str = "entropy-balanced", seed: int = 0
) -> ForkReport:
    return fork_from(store, fleet, AT, make_policy(policy), HORIZON, seed)


def poison(store: DuckDBStore, fleet: Fleet) -> None:
    """Absurd rows for every node, grid region and site stamped from T0 to the horizon's end."""
    times = pd.date_range(T0, T0 + pd.Timedelta(HORIZON), freq="1min")
    nodes = pd.DataFrame(
        [
            {"ts": t, "site": n.site, "id": n.id, "cpu_util": 1.0, "gpu_util": 1.0,
             "net_util": 0.0, "storage_util": 1.0}
            for t in times
            for n in fleet.nodes
        ]
    )  # fmt: skip
    store.write_frame("node", nodes, tags=["site", "id"])
    grid = pd.DataFrame(
        [
            {"ts": t, "region": r, "intensity_g_per_kwh": 9_999.0, "marginal_g_per_kwh": 9_999.0}
            for t in times
            for r in fleet.regions
        ]
    )
    store.write_frame("grid", grid, tags=["region"])
    sites = pd.DataFrame(
        [{"ts": t, "site": s.id, "emissions_kg_per_h": 1e6} for t in times for s in fleet.sites]
    )
    store.write_frame("site_energy", sites, tags=["site"])


def test_actual_side_is_what_the_store_holds(
    store: DuckDBStore, fleet: Fleet, readings: list[Reading]
) -> None:
    report = fork(store, fleet)
    assert report.at == T0
    assert report.horizon_h == 6
    assert report.nodes == len(fleet.nodes)
    assert report.actual is not None
    rows = pd.DataFrame(
        [{"ts": r.ts, "id": r.tags["id"], **r.fields} for r in readings if r.measurement == "node"]
    )
    rows["hour"] = pd.to_datetime(rows["ts"], utc=True).dt.floor("1h")
    window = rows[(rows["hour"] >= T0) & (rows["hour"] < T0 + pd.Timedelta(HORIZON))]
    means = window.groupby(["hour", "id"])[["cpu_util", "gpu_util", "net_util"]].mean()
    c = pd.Series(np.fmax(means["cpu_util"], means["gpu_util"]), index=means.index)
    assert report.actual.mean_util["c"] == pytest.approx(float(c.mean()), rel=1e-9)
    assert report.actual.mean_util["l"] == pytest.approx(float(means["net_util"].mean()))
    hourly = c.groupby(level="hour").mean()
    assert report.actual.hourly_c == pytest.approx(tuple(hourly.to_numpy()), rel=1e-9)
    # no site_energy stored: actual emissions are derived from telemetry, and positive
    assert report.actual.emissions_kg > 0


def test_simulated_side_is_bounded_and_replays_yesterday(store: DuckDBStore, fleet: Fleet) -> None:
    report = fork(store, fleet, "round-robin")
    sim = report.simulated
    assert len(sim.hourly_c) == 6
    assert all(0.0 <= u <= 1.0 for u in (*sim.mean_util.values(), *sim.hourly_c))
    assert 0.0 <= sim.drifting_share <= 1.0
    assert 0.0 <= sim.network_entropy_bits <= np.log2(8)
    assert sim.emissions_kg == sim.modelled_emissions_kg > 0
    # ten tasks per node arrive per 15 min on average: about 40 × 40 per hour over 6 h
    assert 0.9 * 9_600 < report.tasks < 1.1 * 9_600


def test_nearest_piles_a_sites_work_on_one_node(store: DuckDBStore, fleet: Fleet) -> None:
    """Nearest sends every task of a site to its first node (ties by index), so that node runs
    beyond capacity; round-robin spreads the same tasks."""
    nearest = fork(store, fleet, "nearest")
    spread = fork(store, fleet, "round-robin")
    assert 0.0 <= spread.saturated_share < nearest.saturated_share <= 1.0
    assert nearest.simulated.mean_util["c"] < spread.simulated.mean_util["c"]


def test_no_hindsight(tmp_path: Path, readings: list[Reading], fleet: Fleet) -> None:
    clean = filled(tmp_path / "clean.duckdb", readings)
    dirty = filled(tmp_path / "dirty.duckdb", readings)
    try:
        poison(dirty, fleet)
        for policy in NODE_POLICIES:
            a = fork(clean, fleet, policy).to_json()
            b = fork(dirty, fleet, policy).to_json()
            assert a["simulated"] == b["simulated"], policy
            assert a["before"] == b["before"]
            assert a["tasks"] == b["tasks"]
            assert a["actual"]["mean_util"] != b["actual"]["mean_util"]
            assert b["actual"]["emissions_kg"] > 100 * a["actual"]["emissions_kg"]
            assert a["actual"]["modelled_emissions_kg"] != b["actual"]["modelled_emissions_kg"]
    finally:
        clean.close()
        dirty.close()


def test_same_seed_same_report_other_seed_other_run(store: DuckDBStore, fleet: Fleet) -> None:
    one = fork(store, fleet, seed=3).to_json()
    assert fork(store, fleet, seed=3).to_json() == one
    other = fork(store, fleet, seed=4).to_json()
    assert other["simulated"] != one["simulated"]
    assert other["actual"] == one["actual"]


def test_no_actual_side_at_the_end_of_history(store: DuckDBStore, fleet: Fleet) -> None:
    report = fork_from(store, fleet, STOP, make_policy("nearest"))
    assert report.actual is None
    doc = report.to_json()
    assert doc["actual"] is None and doc["difference"] is None
    json.dumps(doc, allow_nan=False)


@pytest.mark.parametrize("hours", [0, 0.5, 1.5, 25])
def test_horizon_must_be_whole_hours_up_to_a_day(
    store: DuckDBStore, fleet: Fleet, hours: float
) -> None:
    with pytest.raises(ConfigError, match="whole hours"):
        fork_from(store, fleet, AT, make_policy("nearest"), timedelta(hours=hours))


def test_time_before_history_is_refused(store: DuckDBStore, fleet: Fleet) -> None:
    with pytest.raises(ConfigError, match="no node reported in the hour before"):
        fork_from(store, fleet, START - timedelta(days=2), make_policy("nearest"))


def test_comparison_puts_policies_side_by_side(store: DuckDBStore, fleet: Fleet) -> None:
    reports: list[ForkReport] = [fork(store, fleet, p) for p in ("nearest", "least-loaded")]
    doc = comparison_json(reports)
    assert list(doc["policies"]) == ["nearest", "least-loaded"]
    assert doc["actual"] == reports[0].to_json()["actual"]
    for name, entry in doc["policies"].items():
        sim, diff = entry["simulated"], entry["difference"]
        assert diff["emissions_kg"] == pytest.approx(
            sim["emissions_kg"] - doc["actual"]["emissions_kg"]
        ), name
    json.dumps(doc, allow_nan=False)


def test_cli_fork_prints_both_sides(tmp_path: Path, readings: list[Reading]) -> None:
    path = tmp_path / "cli.duckdb"
    filled(path, readings).close()
    result = subprocess.run(
        [*CNETWIN, "whatif", "fork", "--at", AT.isoformat(), "--store", f"duckdb:///{path}",
         "--policy", "least-loaded", "--policy", "nearest", "--horizon", "3h", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["at"] == T0.isoformat()
    assert doc["horizon_h"] == 3
    assert list(doc["policies"]) == ["least-loaded", "nearest"]
    assert len(doc["actual"]["hourly_c"]) == 3
    for entry in doc["policies"].values():
        assert set(entry["simulated"]) == set(doc["actual"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fork", "--at", "not-a-time"], "is not a time"),
        (["fork", "--at", "2024-06-22T04:00Z", "--horizon", "30h"], "whole hours"),
        (["fork"], "--at goes with the fork preset"),
        (["ioc-16-nodes", "--at", "2024-06-22T04:00Z"], "--at goes with the fork preset"),
    ],
)
def test_cli_fork_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "empty.duckdb"
    DuckDBStore(path).close()
    result = subprocess.run(
        [*CNETWIN, "whatif", *args, "--store", f"duckdb:///{path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
