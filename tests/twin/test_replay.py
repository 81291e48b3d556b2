"""Replay: the state at t from a real DuckDB file, rows written by hand, and from the simulator's
messages carried by a real Mosquitto and the real collector."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.service import Collector
from collectors.simulate import FleetSimulator
from tests.conftest import publish, wait_until
from twin.config import BrokerURL, load_settings
from twin.domain import Fleet, Link, Meter, Node, Site
from twin.inventory import example_fleet
from twin.store.duckdb import DuckDBStore
from twin.views import replay
from twin.views.replay import Staleness, classify, playback_times, state_at, timeline

T = pd.Timestamp("2026-11-21 03:10:00", tz="UTC")
LIMITS = Staleness(fresh=timedelta(seconds=30), horizon=timedelta(minutes=10))


def small_fleet() -> Fleet:
    return Fleet(
        sites=(
            Site("s1", "Site one", "CN-BJ", 39.9, 116.4, "p1"),
            Site("s2", "Site two", "CN-SH", 31.2, 121.5, "p2"),
        ),
        nodes=(Node("n1", "s1"), Node("n2", "s1"), Node("n3", "s2"), Node("n4", "s2")),
        links=(Link("l1", "s1", "s2"),),
        meters=(Meter("m1", "s1", "facility"), Meter("m2", "s2", "pv")),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "replay.duckdb")
    yield s
    s.close()


# --- the pure rule ------------------------------------------------------------------------


def test_classify_boundaries() -> None:
    ages = np.array([0.0, 29.999, 30.0, 599.0, 600.0, 1e9, math.nan])
    assert classify(ages, LIMITS).tolist() == [
        "fresh", "fresh", "stale", "stale", "missing", "missing", "missing",
    ]  # fmt: skip


def test_classify_takes_series_and_scalars() -> None:
    series = pd.Series([1.0, 45.0, math.nan])
    assert classify(series, LIMITS).tolist() == ["fresh", "stale", "missing"]
    assert classify(45.0, LIMITS).item() == "stale"


@settings(deadline=None)  # no timing assertions: the machine may be busy
@given(
    st.lists(st.floats(0, 1e6), min_size=1, max_size=50),
    st.floats(1, 1e4),
    st.floats(0, 1e4),
)
def test_classify_never_makes_an_older_row_fresher(
    ages: list[float], fresh_s: float, extra_s: float
) -> None:
    limits = Staleness(timedelta(seconds=fresh_s), timedelta(seconds=fresh_s + extra_s))
    rank = {"fresh": 0, "stale": 1, "missing": 2}
    ordered = sorted(ages)
    ranks = [rank[s] for s in classify(np.array(ordered), limits)]
    assert ranks == sorted(ranks)
    for age, status in zip(ordered, classify(np.array(ordered), limits), strict=True):
        assert (status == "fresh") == (age < limits.fresh.total_seconds())


def test_staleness_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="fresh <= horizon"):
        Staleness(timedelta(minutes=5), timedelta(minutes=1))
    with pytest.raises(ValueError, match="0 < fresh"):
        Staleness(timedelta(0), timedelta(minutes=1))


def test_staleness_for_prefers_overrides_then_defaults() -> None:
    assert replay.staleness_for("node") == replay.TELEMETRY_STALENESS
    assert replay.staleness_for("site_energy") == replay.DERIVED_STALENESS
    assert replay.staleness_for("node", {"node": LIMITS}) == LIMITS
    assert replay.TELEMETRY_STALENESS.fresh == 3 * replay.TELEMETRY_INTERVAL


def test_playback_times_include_both_ends() -> None:
    times = playback_times(T, T + pd.Timedelta(minutes=1), "20s")
    assert list(times) == [T + pd.Timedelta(seconds=s) for s in (0, 20, 40, 60)]
    assert playback_times(T, T - pd.Timedelta(seconds=1), "1s").empty
    with pytest.raises(ValueError, match="positive"):
        playback_times(T, T, "0s")


# --- state_at over hand-written rows ------------------------------------------------------


def write_rows(store: DuckDBStore) -> None:
    def at(seconds: float) -> pd.Timestamp:
        return T - pd.Timedelta(seconds=seconds)

    nodes = pd.DataFrame(
        [
            (at(50), "s1", "n1", 0.10),
            (at(10), "s1", "n1", 0.20),  # n1: latest is 10 s old -> fresh
            (at(5) + pd.Timedelta(seconds=20), "s1", "n1", 0.99),  # after T: never used
            (at(120), "s1", "n2", 0.30),  # n2: 2 min old -> stale
            (at(3600), "s2", "n3", 0.40),  # n3: an hour old -> missing under LIMITS
            (at(1), "s2", "ghost", 0.50),  # not in the inventory
        ],  # n4 never reported -> missing
        columns=["ts", "site", "id", "cpu_util"],
    )
    store.write_frame("node", nodes, ["site", "id"])
    store.write_frame(
        "meter",
        pd.DataFrame(
            [(at(5), "s1", "m1", "facility", 120.0), (at(31), "s2", "m2", "pv", 8.0)],
            columns=["ts", "site", "id", "kind", "power_kw"],
        ),
        ["site", "id", "kind"],
    )
    store.write_frame(
        "grid",
        pd.DataFrame([(at(1800), "CN-BJ", 580.0)], columns=["ts", "region", "intensity_g_per_kwh"]),
        ["region"],
    )
    store.write_frame(
        "fleet_entropy",
        pd.DataFrame([(at(2 * 3600), "fleet", 1.25)], columns=["ts", "scope", "entropy_bits"]),
        ["scope"],
    )
    store.write_frame(
        "dead_letter",
        pd.DataFrame([(at(1), "bad_json", "x")], columns=["ts", "reason", "topic"]),
        ["reason"],
    )


def test_state_at_flags_fresh_stale_and_missing(store: DuckDBStore) -> None:
    write_rows(store)
    limits = {"node": LIMITS, "meter": LIMITS, "link": LIMITS}
    state = state_at(store, small_fleet(), T.to_pydatetime(), staleness=limits)
    assert state.at == T
    nodes = state.nodes.set_index("id")
    assert list(nodes.index) == ["n1", "n2", "n3", "n4"]  # inventory order, no ghost
    assert nodes["status"].to_dict() == {
        "n1": "fresh", "n2": "stale", "n3": "missing", "n4": "missing",
    }  # fmt: skip
    assert nodes.loc["n1", "cpu_util"] == 0.20
    assert nodes.loc["n1", "age_s"] == 10.0
    assert nodes.loc["n2", "cpu_util"] == 0.30  # stale keeps its last value, flagged
    assert nodes["cpu_util"].isna()["n3"] and nodes["ts"].isna()["n3"]
    assert nodes.loc["n4", "site"] == "s2"  # from the inventory
    meters = state.meters.set_index("id")
    assert meters["status"].to_dict() == {"m1": "fresh", "m2": "stale"}
    assert meters.loc["m2", "kind"] == "pv"
    assert state.links["status"].tolist() == ["missing"]  # no link measurement at all
    grid = state.grid.set_index("region")
    assert grid["status"].to_dict() == {"CN-BJ": "fresh", "CN-SH": "missing"}
    assert set(state.derived) == {"fleet_entropy"}  # dead letters are not fleet state
    assert state.derived["fleet_entropy"]["status"].tolist() == ["fresh"]
    assert state.derived["fleet_entropy"]["entropy_bits"].tolist() == [1.25]
    assert state.status_counts()["node"] == {"fresh": 1, "stale": 1, "missing": 2}
    listed = state.not_fresh()
    assert listed["status"].iloc[:3].tolist() == ["missing"] * 3  # n3, n4, l1 first
    assert set(zip(listed["kind"], listed["id"], strict=True)) == {
        ("node", "n2"), ("node", "n3"), ("node", "n4"), ("meter", "m2"), ("link", "l1"),
    }  # fmt: skip


def test_state_before_any_data_is_all_missing(store: DuckDBStore) -> None:
    write_rows(store)
    state = state_at(store, small_fleet(), T - pd.Timedelta(days=1))
    for frame in (state.nodes, state.links, state.meters, state.grid):
        assert set(frame["status"]) == {"missing"}
    assert state.derived["fleet_entropy"].empty


def test_state_of_an_empty_store(store: DuckDBStore) -> None:
    state = state_at(store, small_fleet(), T)
    assert len(state.nodes) == 4 and set(state.nodes["status"]) == {"missing"}
    assert state.derived == {}
    listed = state.not_fresh()
    assert len(listed) == 4 + 1 + 2 and set(listed["status"]) == {"missing"}


def test_timeline_is_state_at_at_each_step(store: DuckDBStore) -> None:
    write_rows(store)
    fleet = small_fleet()
    limits = {"node": LIMITS}
    states = list(timeline(store, fleet, T - pd.Timedelta(minutes=2), T, "1min", limits))
    assert [s.at for s in states] == list(playback_times(T - pd.Timedelta(minutes=2), T, "1min"))
    for state in states:
        again = state_at(store, fleet, state.at, limits)
        pd.testing.assert_frame_equal(state.nodes, again.nodes)
    status = [s.nodes.set_index("id")["status"] for s in states]
    assert [s["n2"] for s in status] == ["fresh", "stale", "stale"]  # written at T - 2 min
    assert [s["n1"] for s in status] == ["missing", "missing", "fresh"]  # first at T - 50 s


# --- the simulator through a real Mosquitto and the collector --------------------------------

START = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
INTERVAL_S = 10.0
STEPS = 40
SILENT_FROM = 12
"""Assets in SILENT stop publishing from this step on."""


def expected_at(published: list[tuple[str, bytes]], t: pd.Timestamp) -> dict[str, dict[str, float]]:
    """Per topic, the fields of the newest message stamped at or before ``t`` (from the raw
    JSON payloads, not through the product's parser)."""
    best: dict[str, tuple[pd.Timestamp, dict[str, float]]] = {}
    for topic, payload in published:
        body = json.loads(payload)
        ts = pd.Timestamp(body["ts"])
        if ts <= t and (topic not in best or ts >= best[topic][0]):
            best[topic] = (ts, body["fields"])
    return {topic: fields for topic, (_ts, fields) in best.items()}


@pytest.mark.integration
def test_state_at_returns_what_the_simulator_published(
    tmp_path: Path, mosquitto: BrokerURL, store: DuckDBStore
) -> None:
    fleet = example_fleet()
    silent_nodes = {fleet.nodes[0].id, fleet.nodes[7].id}
    silent_link = fleet.links[2]
    silent = {f"/node/{n}" for n in silent_nodes} | {f"/link/{silent_link.id}"}
    sim = FleetSimulator(fleet, seed=11, interval_s=INTERVAL_S, start=START)
    published: list[tuple[str, bytes]] = []
    for step in range(STEPS):
        for topic, payload in sim.step():
            if step >= SILENT_FROM and any(topic.endswith(s) for s in silent):
                continue
            published.append((topic, payload))

    settings = load_settings(
        data_dir=tmp_path, broker=f"mqtt://127.0.0.1:{mosquitto.port}", batch_interval_s=0.05,
        max_clock_skew_s=1e9,
    )  # fmt: skip
    collector = Collector(settings, store, mosquitto, fleet=fleet)
    collector.start()
    try:
        publish(mosquitto, published)
        assert wait_until(lambda: collector.delivered() >= len(published))
    finally:
        summary = collector.stop()
    assert summary.dead_lettered == 0

    limits = Staleness(fresh=timedelta(seconds=3 * INTERVAL_S), horizon=timedelta(minutes=2))
    overrides = {"node": limits, "link": limits, "meter": limits}
    last_silent = START + timedelta(seconds=(SILENT_FROM - 1) * INTERVAL_S)
    checks = {
        # mid-way: everything fresh; between two readings; just before and after the
        # silence limits; past the end of the data
        "all fresh": pd.Timestamp(START + timedelta(seconds=5 * INTERVAL_S)),
        "between readings": pd.Timestamp(START + timedelta(seconds=9 * INTERVAL_S + 3)),
        "stale": pd.Timestamp(last_silent + timedelta(seconds=45)),
        "still stale": pd.Timestamp(last_silent + timedelta(seconds=119)),
        "missing": pd.Timestamp(last_silent + timedelta(seconds=120)),
    }
    for label, t in checks.items():
        state = state_at(store, fleet, t, staleness=overrides)
        expected = expected_at(published, t)
        for kind, frame in (("node", state.nodes), ("link", state.links), ("meter", state.meters)):
            for row in frame.to_dict("records"):
                topic = f"cne/v1/{row['site']}/{kind}/{row['id']}"
                if row["status"] == "missing":
                    assert math.isnan(row["age_s"]), (label, topic)
                    continue
                assert topic in expected, (label, topic)
                for name, value in expected[topic].items():
                    assert row[name] == value, (label, topic, name)
        grid = state.grid.set_index("region")
        for region in fleet.regions:
            fields = expected[f"cne/v1/grid/{region}"]
            assert grid.loc[region, "intensity_g_per_kwh"] == fields["intensity_g_per_kwh"]
        nodes = state.nodes.set_index("id")["status"]
        link_status = state.links.set_index("id").loc[silent_link.id, "status"]
        silent_status = {*nodes[list(silent_nodes)], link_status}
        others = nodes.drop(index=list(silent_nodes))
        if label in ("all fresh", "between readings"):
            assert silent_status == {"fresh"}, label
        elif label in ("stale", "still stale"):
            assert silent_status == {"stale"}, label
        else:
            assert silent_status == {"missing"}, label
        if t <= START + timedelta(seconds=(STEPS - 1) * INTERVAL_S):
            assert set(others) == {"fresh"}, label
        stale_ids = set(state.not_fresh()["id"])
        assert (silent_status == {"fresh"}) == stale_ids.isdisjoint(silent_nodes), label


def test_history_span_covers_fleet_data_but_not_plumbing(store: DuckDBStore) -> None:
    assert replay.history_span(store) is None
    write_rows(store)
    first, last = replay.history_span(store)  # type: ignore[misc]
    assert first == T - pd.Timedelta(hours=2)  # the fleet_entropy row
    assert last == T + pd.Timedelta(seconds=15)  # n1's row after T
    store.write_frame(
        "dead_letter",
        pd.DataFrame(
            [(T + pd.Timedelta(days=3), "bad_json", "x")], columns=["ts", "reason", "topic"]
        ),
        ["reason"],
    )
    assert replay.history_span(store) == (first, last)
