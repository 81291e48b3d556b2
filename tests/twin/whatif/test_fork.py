"""Fork from the past over a real DuckDB file filled by the fleet simulator through the parser.

The actual side is checked against plain pandas over the parsed readings; the simulated side
against the "no hindsight" rule by poisoning everything stamped at or after the fork time.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collectors.simulate import FleetSimulator
from twin.domain import Fleet, Reading, Site
from twin.errors import ConfigError
from twin.inventory import example_fleet
from twin.jobs.energy import climatology
from twin.jobs.entropy import hourly_state, snapshot_from_state
from twin.models.energy import SiteEnergyModel, it_power_w
from twin.store.duckdb import DuckDBStore
from twin.whatif.fork import ForkReport, comparison_json, fork_from, read_fork, simulate_fork
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
    return sim.backfill_readings(START, STOP)


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


def node_hourly_c(readings: list[Reading], begin: pd.Timestamp, hours: int) -> pd.DataFrame:
    """Hour × node mean c = max(cpu, gpu) [0-1] straight from the parsed readings."""
    rows = pd.DataFrame(
        [{"ts": r.ts, "id": r.tags["id"], **r.fields} for r in readings if r.measurement == "node"]
    )
    rows["hour"] = pd.to_datetime(rows["ts"], utc=True).dt.floor("1h")
    rows = rows[(rows["hour"] >= begin) & (rows["hour"] < begin + hours * pd.Timedelta(hours=1))]
    means = rows.groupby(["hour", "id"])[["cpu_util", "gpu_util"]].mean()
    return pd.Series(np.fmax(means["cpu_util"], means["gpu_util"]), index=means.index).unstack()


def test_entropy_over_time_is_the_stored_windows_hour_by_hour(
    store: DuckDBStore, fleet: Fleet
) -> None:
    report = fork(store, fleet, "least-loaded")
    assert report.actual is not None
    for side in (report.actual, report.simulated):
        assert len(side.hourly_entropy_bits) == len(side.hourly_drifting_share) == 6
        assert side.hourly_entropy_bits[-1] == side.network_entropy_bits
        assert side.hourly_drifting_share[-1] == side.drifting_share
        assert all(0.0 <= h <= np.log2(8) for h in side.hourly_entropy_bits)
    # the actual side at the end of hour k is H(R) of the stored 24 h ending there
    for k, bits in enumerate(report.actual.hourly_entropy_bits):
        end = T0 + pd.Timedelta(hours=k + 1)
        stored = hourly_state(store, end - pd.Timedelta(hours=24), end, fleet=fleet)
        expected = snapshot_from_state(stored, end).fleet
        assert bits == pytest.approx(expected.network_entropy_bits), k
        assert report.actual.hourly_drifting_share[k] == pytest.approx(expected.drifting_share)
    doc = report.to_json()
    assert doc["actual"]["hourly_entropy_bits"][-1] == doc["actual"]["network_entropy_bits"]


def test_cost_is_modelled_facility_energy_times_the_site_price(
    store: DuckDBStore, fleet: Fleet, readings: list[Reading]
) -> None:
    report = fork(store, fleet, "round-robin")
    assert report.actual is not None and report.actual.cost_cny is not None
    # the actual side's hourly c through IT power curves and the PUE chain, priced per site
    c = node_hourly_c(readings, T0, 6)
    hours = pd.DatetimeIndex(c.index)
    temp = climatology(
        hours + pd.Timedelta(minutes=30),
        np.array([s.latitude for s in fleet.sites]),
        np.array([s.longitude for s in fleet.sites]),
    )
    expected = 0.0
    for k, site in enumerate(fleet.sites):
        nodes = [n for n in fleet.nodes if n.site == site.id]
        it_kw = sum(
            it_power_w(c[n.id].to_numpy(), n.idle_power_w, n.max_power_w) / 1000.0 for n in nodes
        )
        facility_kw = SiteEnergyModel().breakdown(np.asarray(it_kw), temp[:, k]).facility_kw
        assert site.price_cny_per_kwh is not None
        expected += float(np.sum(facility_kw)) * 1.0 * site.price_cny_per_kwh  # kW × 1 h
    assert report.actual.cost_cny == pytest.approx(expected, rel=1e-9)
    assert report.simulated.cost_cny is not None and report.simulated.cost_cny > 0
    doc = report.to_json()
    assert doc["difference"]["cost_cny"] == pytest.approx(
        report.simulated.cost_cny - report.actual.cost_cny
    )


def test_cost_is_null_when_a_taking_part_site_has_no_price(
    store: DuckDBStore, fleet: Fleet
) -> None:
    unpriced = dataclasses.replace(fleet.sites[0], price_cny_per_kwh=None)
    spare = Site("spare", "Spare site", fleet.sites[0].region, 40.0, 116.0, "p1")  # no nodes
    no_price = Fleet(
        sites=(unpriced, *fleet.sites[1:]), nodes=fleet.nodes, links=fleet.links,
        meters=fleet.meters,
    )  # fmt: skip
    doc = fork(store, no_price, "nearest").to_json()
    assert doc["simulated"]["cost_cny"] is None
    assert doc["actual"]["cost_cny"] is None
    assert doc["difference"]["cost_cny"] is None
    json.dumps(doc, allow_nan=False)
    # a site without a price but with no node taking part does not hide the cost
    spare_fleet = Fleet(
        sites=(*fleet.sites, spare), nodes=fleet.nodes, links=fleet.links, meters=fleet.meters
    )
    with_spare = fork(store, spare_fleet, "nearest")
    assert with_spare.simulated.cost_cny == fork(store, fleet, "nearest").simulated.cost_cny


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
        assert entry["simulated"]["work_node_h"] > 0 and entry["simulated"]["energy_kwh"] > 0
    # progress on stderr: not a terminal, so one line per policy as it finishes
    assert [line for line in result.stderr.splitlines() if line.startswith("fork: ")] == [
        "fork: least-loaded simulated (1 of 2)",
        "fork: nearest simulated (2 of 2)",
    ]


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


def test_stale_load_changes_what_a_load_aware_policy_does(store: DuckDBStore, fleet: Fleet) -> None:
    """Least-loaded on live load spreads the tasks and serves them all; on load advertised every
    5 min or every hour it sends every task between two advertisements to the node that looked
    emptiest, which runs beyond capacity: the older the load it sees, the less work it serves."""
    runs = [
        fork_from(store, fleet, AT, make_policy("least-loaded"), HORIZON, 0, advert_s=t)
        for t in (0.0, 300.0, 3600.0)
    ]
    assert [r.advert_s for r in runs] == [0.0, 300.0, 3600.0]
    assert [r.tasks for r in runs] == [runs[0].tasks] * 3  # the same arrivals
    served_c = [r.simulated.mean_util["c"] for r in runs]
    assert served_c[0] > served_c[1] > served_c[2]
    assert runs[0].saturated_share < 0.01 < min(r.saturated_share for r in runs[1:])
    assert comparison_json(runs[2:])["advert_s"] == 3600.0
    with pytest.raises(ConfigError, match="advert_s must be 0"):
        fork_from(store, fleet, AT, make_policy("least-loaded"), HORIZON, 0, advert_s=-1.0)


def test_cli_fork_takes_the_advertisement_interval(tmp_path: Path, readings: list[Reading]) -> None:
    path = tmp_path / "cli.duckdb"
    filled(path, readings).close()
    docs = [
        json.loads(
            subprocess.run(
                [
                    *CNETWIN,
                    "whatif",
                    "fork",
                    "--at",
                    AT.isoformat(),
                    "--store",
                    f"duckdb:///{path}",
                    "--policy",
                    "least-loaded",
                    "--horizon",
                    "1h",
                    "--advert-s",
                    advert,
                    "--json",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            ).stdout
        )
        for advert in ("0", "3600")
    ]
    assert [d["advert_s"] for d in docs] == [0.0, 3600.0]
    live, stale = (d["policies"]["least-loaded"]["simulated"] for d in docs)
    assert stale["mean_util"]["c"] < live["mean_util"]["c"]


def test_work_done_is_the_compute_each_side_delivered(store: DuckDBStore, fleet: Fleet) -> None:
    """Work done is the sum over node-hours of c (clipped to capacity), for both sides alike;
    nearest delivers less of the same demand than entropy-balanced, the rest is lost to
    overload, and its energy per unit of work is higher although its total is lower."""
    balanced = fork(store, fleet, "entropy-balanced")
    nearest = fork(store, fleet, "nearest")
    nodes = balanced.nodes
    for report in (balanced, nearest):
        sim = report.simulated
        assert sim.work_node_h == pytest.approx(sim.mean_util["c"] * nodes * 6)
        assert sim.unserved_node_h is not None and sim.unserved_node_h >= 0.0
        assert sim.energy_kwh > 0
    actual = balanced.actual
    assert actual is not None and actual.unserved_node_h is None
    future = hourly_state(store, T0, T0 + pd.Timedelta(HORIZON), fleet=fleet)
    assert actual.work_node_h == pytest.approx(float(future["c"].sum()))
    assert nearest.simulated.work_node_h < 0.6 * balanced.simulated.work_node_h
    assert nearest.simulated.unserved_node_h > balanced.simulated.unserved_node_h  # type: ignore[operator]
    assert nearest.simulated.energy_kwh < balanced.simulated.energy_kwh
    per_work = [r.simulated.energy_kwh / r.simulated.work_node_h for r in (nearest, balanced)]
    assert per_work[0] > per_work[1]
    doc = balanced.to_json()
    assert doc["simulated"]["work_node_h"] == pytest.approx(balanced.simulated.work_node_h)
    assert doc["actual"]["unserved_node_h"] is None
    assert doc["difference"]["work_node_h"] == pytest.approx(
        balanced.simulated.work_node_h - actual.work_node_h
    )


def test_progress_reports_the_share_of_simulated_time_and_can_stop_the_run(
    store: DuckDBStore, fleet: Fleet
) -> None:
    inputs = read_fork(store, fleet, AT, HORIZON)
    shares: list[float] = []
    simulate_fork(inputs, make_policy("least-loaded"), 0, shares.append)
    assert shares == sorted(shares) and shares[-1] == 1.0 and 0.0 < shares[0] < 0.1
    assert len(shares) > 6 * 3600 / 300 / 2  # about one call per 5 simulated minutes

    class Stop(Exception):
        pass

    def stop_halfway(share: float) -> None:
        if share >= 0.5:
            raise Stop

    with pytest.raises(Stop):
        simulate_fork(inputs, make_policy("least-loaded"), 0, stop_halfway)
    # what was read once gives the same fork as reading and running together
    once = simulate_fork(inputs, make_policy("nearest"), 0).to_json()
    assert once == fork(store, fleet, "nearest").to_json()
