"""Entropy jobs over a real DuckDB file filled by the fleet simulator through the parser.

Expected values are computed here from the parsed readings with plain pandas and Python, not
through the product's aggregation.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collectors.simulate import FleetSimulator
from twin.domain import Fleet, Reading
from twin.inventory import example_fleet
from twin.jobs import entropy as jobs
from twin.models import entropy as ent
from twin.store.duckdb import DuckDBStore

START = datetime(2024, 6, 21, tzinfo=UTC)
NOW = START + timedelta(hours=26, minutes=20)
END = pd.Timestamp(START + timedelta(hours=26))  # the last whole hour before NOW
SILENT = "gd-shenzhen-cpu03"
"""This node's readings are left out of the store entirely."""


def simulated(fleet: Fleet) -> list[Reading]:
    sim = FleetSimulator(fleet, seed=5, interval_s=30.0, start=START)
    return sim.backfill_readings(
        START, NOW, topics=lambda topic: "/node/" in topic and f"/{SILENT}" not in topic
    )


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return example_fleet()


@pytest.fixture(scope="module")
def readings(fleet: Fleet) -> list[Reading]:
    return simulated(fleet)


@pytest.fixture
def store(tmp_path: Path, readings: list[Reading]) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "entropy.duckdb")
    s.write(readings)
    yield s
    s.close()


def hourly_by_hand(readings: list[Reading], end: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Per dimension, hours × nodes of hourly means over the 24 h before ``end``."""
    rows = [{"ts": r.ts, "id": r.tags["id"], **r.fields} for r in readings]
    frame = pd.DataFrame(rows)
    frame["hour"] = pd.to_datetime(frame["ts"], utc=True).dt.floor("1h")
    frame = frame[(frame["hour"] >= end - pd.Timedelta(hours=24)) & (frame["hour"] < end)]
    means = frame.groupby(["hour", "id"])[
        ["cpu_util", "gpu_util", "net_util", "storage_util"]
    ].mean()
    means["c"] = np.fmax(means["cpu_util"], means["gpu_util"])
    return {
        "c": means["c"].unstack("id"),
        "l": means["net_util"].unstack("id"),
        "s": means["storage_util"].unstack("id"),
    }


def entropy_by_hand(values: pd.Series) -> tuple[float, list[float]]:
    kept = [v for v in values if not math.isnan(v)]
    counts = [0, 0, 0, 0]
    for v in kept:
        counts[0 if v < 0.3 else 1 if v < 0.6 else 2 if v < 0.8 else 3] += 1
    p = [c / len(kept) for c in counts]
    return -sum(x * math.log2(x) for x in p if x) + 0.0, p  # + 0.0: no negative zero


def test_the_job_writes_entropies_equal_to_a_direct_computation(
    store: DuckDBStore, readings: list[Reading], fleet: Fleet
) -> None:
    jobs.record_entropy(store, fleet, NOW)
    written = store.query("entropy", END, END + timedelta(seconds=1))
    assert set(written["dimension"]) == {"c", "l", "s", "combined"}
    reporting = [n.id for n in fleet.nodes if n.id != SILENT]
    assert sorted(set(written["id"])) == sorted(reporting)  # the silent node has no rows
    assert len(written) == 4 * len(reporting)
    sites = {n.id: n.site for n in fleet.nodes}
    assert all(written["site"] == written["id"].map(sites))

    by_hand = hourly_by_hand(readings, END)
    h_star = -0.9 * math.log2(0.9) - 0.1 * math.log2(0.1)  # Table 1, type B
    combined: dict[str, float] = {}
    for node in reporting:
        rows = written[written["id"] == node].set_index("dimension")
        hs = []
        for dim in ("c", "l", "s"):
            h, p = entropy_by_hand(by_hand[dim][node])
            hs.append(h)
            assert rows.loc[dim, "entropy_bits"] == pytest.approx(h, abs=1e-9), (node, dim)
            assert rows.loc[dim, "drift_bits"] == pytest.approx(abs(h - h_star), abs=1e-9)
            got = list(rows.loc[dim, ["p_idle", "p_low", "p_medium", "p_high"]].astype(float))
            assert got == pytest.approx(p, abs=1e-12)
        combined[node] = sum(hs) / 3
        assert rows.loc["combined", "entropy_bits"] == pytest.approx(combined[node], abs=1e-9)
        assert rows[["p_high"]].astype(float).loc["combined"].isna().all()
        assert str(rows.loc["combined", "state_type"]) == str(rows.loc["c", "state_type"])

    fleet_row = store.query("fleet_entropy", END, END + timedelta(seconds=1))
    assert len(fleet_row) == 1
    counts, _ = np.histogram(list(combined.values()), bins=8, range=(0.0, 2.0))
    shares = counts[counts > 0] / len(combined)
    assert fleet_row["network_entropy_bits"].iloc[0] == pytest.approx(
        float(-(shares * np.log2(shares)).sum())
    )
    drifts = [abs(h - h_star) for h in combined.values()]
    assert fleet_row["mean_drift_bits"].iloc[0] == pytest.approx(np.mean(drifts))
    assert fleet_row["drifting_share"].iloc[0] == pytest.approx(np.mean(np.array(drifts) > 0.5))
    assert fleet_row["balance_entropy_bits"].iloc[0] == pytest.approx(h_star)
    labels = written[written["dimension"] == "combined"]["state_type"].value_counts()
    for t in ("A", "B", "C", "D", "mixed"):
        assert fleet_row[f"nodes_{t}"].iloc[0] == labels.get(t, 0)
    assert sum(fleet_row[f"nodes_{t}"].iloc[0] for t in ent.STATE_TYPES) == len(reporting)


def test_state_types_recover_the_simulated_workloads(store: DuckDBStore, fleet: Fleet) -> None:
    snapshot = jobs.compute_entropy(store, fleet, END)
    compute = snapshot.nodes[snapshot.nodes["dimension"] == "c"].set_index("id")["state_type"]
    truth = pd.Series({n.id: n.workload for n in fleet.nodes}).reindex(compute.index)
    for workload in ("B", "C", "D"):
        assert (compute[truth == workload] == workload).all(), workload
    inference = compute[truth == "A"]
    # an inference node held above 80 % for 23 of 24 hours looks like training: A or B only
    assert set(inference) <= {"A", "B"}
    assert (inference == "A").mean() >= 0.8
    combined = snapshot.nodes[snapshot.nodes["dimension"] == "combined"].set_index("id")
    idle = combined.loc[truth[truth == "D"].index, "entropy_bits"]
    assert (idle < 0.2).all()  # idle nodes sit at the bottom, far from H* in the other way


def test_the_job_catches_up_missing_hours_and_is_idempotent(
    store: DuckDBStore, fleet: Fleet
) -> None:
    jobs.record_entropy(store, fleet, NOW)
    fleet_rows = store.query("fleet_entropy", START, NOW)
    # hours from the first one with data (01:00, covering 00:00-01:00) to END
    expected = pd.date_range(START + timedelta(hours=2), END, freq="1h")
    assert set(pd.to_datetime(fleet_rows["ts"], utc=True)) >= set(expected)
    before = store.counts()["entropy"]["rows"]
    jobs.record_entropy(store, fleet, NOW)
    assert store.counts()["entropy"]["rows"] == before
    direct = jobs.compute_entropy(store, fleet, END - timedelta(hours=5))
    stored = jobs.read_node_entropy(store, direct.at, direct.at + timedelta(seconds=1), "c")
    merged = stored.merge(direct.nodes[direct.nodes["dimension"] == "c"], on="id")
    assert len(merged) == len(fleet.nodes) - 1
    assert np.allclose(merged["entropy_bits_x"], merged["entropy_bits_y"])


def test_readers_return_hours_or_their_means_per_bucket(store: DuckDBStore, fleet: Fleet) -> None:
    jobs.record_entropy(store, fleet, NOW)
    last = END.floor("6h")  # 6 h buckets are aligned to the epoch
    first = last - timedelta(hours=12)
    hours = jobs.read_node_entropy(store, first, last)
    assert len(set(pd.to_datetime(hours["ts"], utc=True))) == 12
    sixes = jobs.read_node_entropy(store, first, last, bucket=timedelta(hours=6))
    node = fleet.nodes[0].id
    stamps = pd.to_datetime(sixes["ts"], utc=True)
    assert set(stamps) == {first, first + timedelta(hours=6)}
    mine = hours[
        (hours["id"] == node) & (pd.to_datetime(hours["ts"], utc=True) < first + timedelta(hours=6))
    ]
    assert len(mine) == 6
    mean = sixes[(sixes["id"] == node) & (stamps == first)]["entropy_bits"].iloc[0]
    assert mean == pytest.approx(mine["entropy_bits"].mean(), rel=1e-9)
    fleet_hours = jobs.read_fleet_entropy(store, first, last)
    fleet_sixes = jobs.read_fleet_entropy(store, first, last, bucket=timedelta(hours=6))
    assert len(fleet_hours) == 12 and len(fleet_sixes) == 2
    early = pd.to_datetime(fleet_hours["ts"], utc=True) < first + timedelta(hours=6)
    assert fleet_sixes.sort_values("ts")["network_entropy_bits"].iloc[0] == pytest.approx(
        fleet_hours[early]["network_entropy_bits"].mean(), rel=1e-9
    )


def test_backfill_reports_progress_hour_by_hour(store: DuckDBStore, fleet: Fleet) -> None:
    seen: list[tuple[int, int, pd.Timestamp, int]] = []
    first = START + timedelta(hours=22, minutes=30)
    written = jobs.backfill_entropy(
        store, fleet, first, END, progress=lambda *args: seen.append(args)
    )
    assert written == 5
    assert [s[:2] for s in seen] == [(i, 5) for i in range(1, 6)]
    assert [s[2] for s in seen] == list(pd.date_range(START + timedelta(hours=22), END, freq="1h"))
    assert all(s[3] == 4 * (len(fleet.nodes) - 1) + 1 for s in seen)
    summary = jobs.read_fleet_entropy(store, START, NOW)
    assert len(summary) == 5
    assert summary["network_entropy_bits"].between(0, 3).all()


def test_nothing_is_written_for_hours_without_data(tmp_path: Path, fleet: Fleet) -> None:
    empty = DuckDBStore(tmp_path / "empty.duckdb")
    try:
        snapshot = jobs.compute_entropy(empty, fleet, END)
        assert snapshot.nodes.empty
        assert math.isnan(snapshot.fleet.network_entropy_bits)
        assert jobs.write_snapshot(empty, snapshot) == 0
        jobs.record_entropy(empty, fleet, NOW)
        assert "entropy" not in empty.measurements()
    finally:
        empty.close()


def test_hourly_state_for_one_node_and_the_explanation(
    store: DuckDBStore, readings: list[Reading], fleet: Fleet
) -> None:
    node = next(n for n in fleet.nodes if n.workload == "C")
    one = jobs.hourly_state(store, END - timedelta(hours=24), END, nodes=[node.id])
    assert set(one["id"]) == {node.id} and len(one) == 24
    by_hand = hourly_by_hand(readings, END)
    assert one["c"].to_numpy() == pytest.approx(by_hand["c"][node.id].to_numpy())
    whole = jobs.hourly_state(store, END - timedelta(hours=24), END, fleet=fleet)
    assert len(whole) == 24 * (len(fleet.nodes) - 1)

    why = jobs.explain_node(store, node.id, NOW, "c")
    h, p = entropy_by_hand(by_hand["c"][node.id])
    assert why.at == END and len(why.hours) == 24
    assert why.probabilities.tolist() == pytest.approx(p)
    assert why.entropy_bits == pytest.approx(h)
    assert float(why.terms.sum()) == pytest.approx(h)
    silent = jobs.explain_node(store, SILENT, NOW, "l")
    assert silent.hours.isna().all() and math.isnan(silent.entropy_bits)
    with pytest.raises(ValueError, match="dimension"):
        jobs.explain_node(store, node.id, NOW, "combined")


def test_the_backfill_command(tmp_path: Path, readings: list[Reading]) -> None:
    path = tmp_path / "cli.duckdb"
    store = DuckDBStore(path)
    store.write(readings)
    store.close()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "twin.cli",
            "entropy",
            "backfill",
            "--since",
            (END - timedelta(hours=2)).isoformat(),
            "--until",
            END.isoformat(),
            "--store",
            f"duckdb://{path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"entropy 1/3 2024-06-22 00:00 UTC: {4 * 39 + 1} rows"
    assert lines[-1] == "entropy backfill: 3 of the hours had node data and were written"
    store = DuckDBStore(path, read_only=True)
    try:
        rows = store.query("fleet_entropy", START, NOW)
        assert len(rows) == 3
    finally:
        store.close()
    bad = subprocess.run(
        [sys.executable, "-m", "twin.cli", "entropy", "backfill", "--since", "yesterday"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "is not a time" in bad.stderr


def test_scheduler_has_the_entropy_jobs(tmp_path: Path, fleet: Fleet) -> None:
    from twin.jobs.scheduler import start_scheduler

    empty = DuckDBStore(tmp_path / "sched.duckdb")
    scheduler = start_scheduler(empty, fleet)
    try:
        by_id = {job.id: job for job in scheduler.get_jobs()}
        assert {"entropy", "catch_up_at_start"} <= set(by_id)
        assert by_id["entropy"].next_run_time.minute == jobs.ENTROPY_MINUTE
    finally:
        scheduler.shutdown(wait=True)
        empty.close()
