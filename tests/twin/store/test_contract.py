"""The TelemetryStore contract: one suite, run against every backend (see conftest.py).

Expected values are computed here from the readings written (plain Python), never copied from a
store's output.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.twin.store.conftest import StoreFactory
from twin.domain import Reading
from twin.errors import StoreError
from twin.store import TelemetryStore

T0 = datetime(2024, 3, 1, tzinfo=UTC)
SEC = timedelta(seconds=1)


def node(node_id: str, at: datetime, site: str = "s1", **fields: float | str) -> Reading:
    return Reading("node", {"site": site, "id": node_id}, fields, at)


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as comparable plain rows: missing values left out, times as UTC datetimes."""
    out = []
    for record in frame.to_dict("records"):
        row: dict[str, Any] = {}
        for key, value in record.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            row[str(key)] = value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
        out.append(row)
    return out


def expected_rows(readings: Iterable[Reading], measurement: str) -> list[dict[str, Any]]:
    """What a store must hold after these writes: per series and ts, later fields win."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in readings:
        if r.measurement != measurement:
            continue
        key = (tuple(sorted(r.tags.items())), r.ts)
        row = merged.setdefault(key, {"ts": r.ts.astimezone(UTC), **r.tags})
        row.update(r.fields)
    return list(merged.values())


def sort_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in a fixed order: by time, then by their text values (tags). Numbers stay out of
    the key: a store may give back -0.0 as 0.0, equal as a number but not as text."""
    return sorted(
        items,
        key=lambda row: (row["ts"], sorted((k, v) for k, v in row.items() if isinstance(v, str))),
    )


# -- round trip ----------------------------------------------------------------------------


def test_round_trip_of_mixed_measurements(store: TelemetryStore) -> None:
    readings = [
        node("n1", T0, cpu_util=0.25, power_w=2500.0),
        node("n2", T0, site="s2", cpu_util=0.5, power_w=3100.5),
        node("n1", T0 + 10 * SEC, cpu_util=0.75, power_w=4000.0),
        Reading("link", {"site": "s1", "id": "l1"}, {"util": 0.1, "latency_ms": 12.5}, T0),
        Reading(
            "meter",
            {"site": "s1", "id": "m1", "kind": "pv"},
            {"power_kw": 120.0, "energy_kwh": 5.0e6},
            T0 + 5 * SEC,
        ),
    ]
    assert store.write(readings) == 5
    assert store.measurements() == ["link", "meter", "node"]
    for measurement in ("node", "link", "meter"):
        got = store.query(measurement, T0, T0 + timedelta(hours=1))
        assert sort_rows(rows(got)) == sort_rows(expected_rows(readings, measurement))
    frame = store.query("node", T0, T0 + timedelta(hours=1))
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert frame["cpu_util"].dtype == np.float64
    assert list(frame.columns[:3]) == ["ts", "id", "site"]  # ts, then tags sorted by name
    keys = list(zip(frame["ts"], frame["id"], frame["site"], strict=True))
    assert keys == sorted(keys)


def test_write_frame_round_trip_skips_missing_values(store: TelemetryStore) -> None:
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-03-01T00:00:00Z", "2024-03-01T00:00:10Z"]),
            "region": ["CN-NM", "CN-NM"],
            "intensity_g_per_kwh": [512.5, np.nan],
            "renewable_share": [0.4, 0.45],
        }
    )
    assert store.write_frame("grid", frame, ["region"]) == 2
    got = store.query("grid", T0, T0 + timedelta(minutes=1))
    assert rows(got) == [
        {"ts": T0, "region": "CN-NM", "intensity_g_per_kwh": 512.5, "renewable_share": 0.4},
        {"ts": T0 + 10 * SEC, "region": "CN-NM", "renewable_share": 0.45},
    ]


def test_string_fields_and_awkward_tag_values_survive(store: TelemetryStore) -> None:
    texts = ["plain", 'with "quotes"', "back\\slash", "comma, space=equals", "ünïcødé ✓"]
    readings = [
        Reading("event", {"site": "s 1,a=b", "id": f"e{i}"}, {"message": text, "level": 1.0}, T0)
        for i, text in enumerate(texts)
    ]
    store.write(readings)
    got = store.query("event", T0, T0 + SEC)
    assert sorted(got["message"]) == sorted(texts)
    assert set(got["site"]) == {"s 1,a=b"}
    last = store.last("event", T0 + SEC, fields=["message"])
    assert dict(zip(last["id"], last["message"], strict=True)) == {
        f"e{i}": t for i, t in enumerate(texts)
    }


def test_dead_letters_keep_topic_error_and_payload_verbatim(store: TelemetryStore) -> None:
    letter = {
        "topic": "cne/v1/s1/node/n1",
        "error": 'line 2: expected "}" after\tvalue',
        "payload": '{"ts": "2024-03-01T00:00:00Z",\n "fields": {"cpu_util": \\0.5\r\n',
    }
    store.write([Reading("dead_letter", {"reason": "bad_json", "collector": "c1"}, letter, T0)])
    got = store.last("dead_letter", T0 + SEC, fields=["topic", "error", "payload"])
    assert rows(got) == [{"ts": T0, "collector": "c1", "reason": "bad_json", **letter}]


# -- filters and ranges ----------------------------------------------------------------------


@pytest.fixture
def fleet(store: TelemetryStore) -> TelemetryStore:
    """Three nodes on two sites, a reading every 10 s for one minute."""
    store.write(
        node(f"n{i}", T0 + k * 10 * SEC, site="s1" if i < 2 else "s2", cpu_util=i + k / 10)
        for i in range(3)
        for k in range(6)
    )
    return store


def test_tag_filter_by_value_and_by_list(fleet: TelemetryStore) -> None:
    stop = T0 + timedelta(minutes=1)
    assert set(fleet.query("node", T0, stop, tags={"site": "s1"})["id"]) == {"n0", "n1"}
    both = fleet.query("node", T0, stop, tags={"id": ["n0", "n2"]})
    assert set(both["id"]) == {"n0", "n2"} and len(both) == 12
    combined = fleet.query("node", T0, stop, tags={"site": "s1", "id": ["n1", "n2"]})
    assert set(combined["id"]) == {"n1"}
    assert fleet.query("node", T0, stop, tags={"id": "nope"}).empty
    assert fleet.query("node", T0, stop, tags={"id": []}).empty
    assert fleet.query("node", T0, stop, tags={"rack": "r1"}).empty


def test_field_selection_returns_only_those_fields(store: TelemetryStore) -> None:
    store.write([node("n1", T0, cpu_util=0.1, mem_util=0.2, power_w=3000.0)])
    got = store.query("node", T0, T0 + SEC, fields=["power_w", "cpu_util"])
    assert list(got.columns) == ["ts", "id", "site", "power_w", "cpu_util"]
    assert rows(got) == [{"ts": T0, "id": "n1", "site": "s1", "power_w": 3000.0, "cpu_util": 0.1}]
    assert store.query("node", T0, T0 + SEC, fields=["gpu_util"]).empty


def test_time_range_is_half_open(fleet: TelemetryStore) -> None:
    got = fleet.query("node", T0 + 10 * SEC, T0 + 30 * SEC)
    assert sorted(set(got["ts"])) == [pd.Timestamp(T0 + 10 * SEC), pd.Timestamp(T0 + 20 * SEC)]
    assert len(got) == 6
    assert fleet.query("node", T0 + 30 * SEC, T0 + 30 * SEC).empty


def test_naive_bounds_are_taken_as_utc(fleet: TelemetryStore) -> None:
    naive = T0.replace(tzinfo=None)
    got = fleet.query("node", naive, naive + 10 * SEC)
    assert len(got) == 3 and set(got["ts"]) == {pd.Timestamp(T0)}


# -- downsampling ----------------------------------------------------------------------------


def test_every_averages_per_epoch_aligned_window(store: TelemetryStore) -> None:
    # n1: value = minute of the day; n2: constant; one text field changing every 30 min.
    start = T0 + timedelta(minutes=10)
    readings = []
    for k in range(0, 150 * 6):  # 150 minutes of 10-s data from 00:10
        at = start + k * 10 * SEC
        minute = (at - T0) / timedelta(minutes=1)
        state = f"state-{int(minute // 30)}"
        readings.append(node("n1", at, cpu_util=minute, state=state))
        readings.append(node("n2", at, cpu_util=0.5))
    store.write(readings)
    got = store.query("node", start, start + timedelta(minutes=150), every="1h")
    n1 = got[got["id"] == "n1"]
    # Windows [00:00, 01:00) [01:00, 02:00) [02:00, 03:00), each holding minutes 10..60, 60..120,
    # 120..160 (6 samples a minute).
    assert list(n1["ts"]) == [pd.Timestamp(T0 + timedelta(hours=h)) for h in range(3)]
    for hour, window in enumerate([(10, 60), (60, 120), (120, 160)]):
        minutes = [window[0] + k / 6 for k in range((window[1] - window[0]) * 6)]
        assert n1["cpu_util"].iloc[hour] == pytest.approx(sum(minutes) / len(minutes))
        assert n1["state"].iloc[hour] == f"state-{(window[1] - 1) // 30}"
    n2 = got[got["id"] == "n2"]
    assert list(n2["cpu_util"]) == pytest.approx([0.5, 0.5, 0.5])
    quarter = store.query(
        "node", start, start + timedelta(minutes=20), tags={"id": "n2"}, every=timedelta(minutes=7)
    )
    # 7-minute windows are aligned to 1970-01-01, not to the query start.
    epoch = pd.Timestamp(0, tz="UTC")
    width = pd.Timedelta(minutes=7)
    assert all((ts - epoch) % width == pd.Timedelta(0) for ts in quarter["ts"])
    assert quarter["ts"].iloc[0] <= pd.Timestamp(start) < quarter["ts"].iloc[0] + width


def test_every_rejects_a_non_duration(fleet: TelemetryStore) -> None:
    with pytest.raises(StoreError):
        fleet.query("node", T0, T0 + timedelta(minutes=1), every="often")
    with pytest.raises(StoreError):
        fleet.query("node", T0, T0 + timedelta(minutes=1), every="-1h")


# -- idempotency ---------------------------------------------------------------------------


def test_rewrite_replaces_values_without_adding_rows(store: TelemetryStore) -> None:
    first = [node("n1", T0 + k * SEC, cpu_util=0.1 * k, mem_util=0.5) for k in range(5)]
    store.write(first)
    before = store.counts()
    store.write(first)
    assert store.counts() == before
    store.write([node("n1", T0 + 2 * SEC, cpu_util=0.99)])  # gives cpu_util only
    assert store.counts() == before
    got = store.query("node", T0, T0 + 5 * SEC)
    row = got[got["ts"] == pd.Timestamp(T0 + 2 * SEC)].iloc[0]
    assert row["cpu_util"] == 0.99
    assert row["mem_util"] == 0.5  # the field the re-write left out is kept
    assert len(got) == 5


def test_duplicates_within_one_batch_keep_the_last(store: TelemetryStore) -> None:
    stored = store.write([node("n1", T0, cpu_util=0.1, state="a"), node("n1", T0, cpu_util=0.2)])
    assert stored == 1
    assert rows(store.query("node", T0, T0 + SEC)) == [
        {"ts": T0, "id": "n1", "site": "s1", "cpu_util": 0.2, "state": "a"}
    ]


# -- state at t ------------------------------------------------------------------------------


@pytest.fixture
def history(store: TelemetryStore) -> TelemetryStore:
    """n1 reports every 10 s for 10 minutes; n2 only for the first 30 s; n3 on another site."""
    readings = [node("n1", T0 + k * 10 * SEC, cpu_util=k, state=f"k{k}") for k in range(60)]
    readings += [node("n2", T0 + k * 10 * SEC, cpu_util=100 + k) for k in range(4)]
    readings += [node("n3", T0 + 5 * SEC, site="s2", cpu_util=7.0)]
    store.write(readings)
    return store


def _state(frame: pd.DataFrame) -> dict[str, tuple[pd.Timestamp, float]]:
    return {
        i: (ts, v) for i, ts, v in zip(frame["id"], frame["ts"], frame["cpu_util"], strict=True)
    }


def test_last_is_the_state_at_several_times(history: TelemetryStore) -> None:
    at = T0 + 25 * SEC
    assert _state(history.last("node", at)) == {
        "n1": (pd.Timestamp(T0 + 20 * SEC), 2.0),
        "n2": (pd.Timestamp(T0 + 20 * SEC), 102.0),
        "n3": (pd.Timestamp(T0 + 5 * SEC), 7.0),
    }
    at = T0 + timedelta(minutes=5)  # n2 went silent at 00:00:30
    assert _state(history.last("node", at)) == {
        "n1": (pd.Timestamp(at), 30.0),
        "n2": (pd.Timestamp(T0 + 30 * SEC), 103.0),
        "n3": (pd.Timestamp(T0 + 5 * SEC), 7.0),
    }
    assert _state(history.last("node", T0 + timedelta(hours=3))) == {
        "n1": (pd.Timestamp(T0 + 590 * SEC), 59.0),
        "n2": (pd.Timestamp(T0 + 30 * SEC), 103.0),
        "n3": (pd.Timestamp(T0 + 5 * SEC), 7.0),
    }
    assert history.last("node", T0 - SEC).empty
    assert _state(history.last("node", T0)) == {
        "n1": (pd.Timestamp(T0), 0.0),
        "n2": (pd.Timestamp(T0), 100.0),
    }


def test_last_within_drops_silent_series(history: TelemetryStore) -> None:
    at = T0 + timedelta(minutes=5)
    got = history.last("node", at, within=timedelta(minutes=1))
    assert _state(got) == {"n1": (pd.Timestamp(at), 30.0)}
    # within is exclusive at its far end: a row exactly `within` before `at` is out
    edge = history.last("node", T0 + 40 * SEC, within=10 * SEC, tags={"id": ["n1", "n2"]})
    assert _state(edge) == {"n1": (pd.Timestamp(T0 + 40 * SEC), 4.0)}
    assert history.last("node", T0 + timedelta(hours=3), within=timedelta(minutes=1)).empty


def test_last_with_filters_and_fields(history: TelemetryStore) -> None:
    at = T0 + 25 * SEC
    got = history.last("node", at, tags={"site": "s1"}, fields=["state"])
    assert list(got.columns) == ["ts", "id", "site", "state"]
    assert rows(got) == [{"ts": T0 + 20 * SEC, "id": "n1", "site": "s1", "state": "k2"}]
    assert history.last("node", at, tags={"id": []}).empty
    assert history.last("node", at, fields=["gpu_util"]).empty


@pytest.mark.parametrize("batches", [1, 2])
def test_last_is_the_latest_row_not_a_mix_of_rows(store: TelemetryStore, batches: int) -> None:
    readings = [node("n1", T0, cpu_util=0.5, mem_util=0.1), node("n1", T0 + 10 * SEC, mem_util=0.2)]
    for part in (readings,) if batches == 1 else ([r] for r in readings):
        store.write(part)
    later = T0 + timedelta(minutes=1)
    got = rows(store.last("node", later))
    assert got == [{"ts": T0 + 10 * SEC, "id": "n1", "site": "s1", "mem_util": 0.2}]
    only_cpu = rows(store.last("node", later, fields=["cpu_util"]))
    assert only_cpu == [{"ts": T0, "id": "n1", "site": "s1", "cpu_util": 0.5}]


def test_last_defaults_to_now(store: TelemetryStore) -> None:
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    store.write(
        [node("n1", recent - timedelta(days=2), cpu_util=1.0), node("n1", recent, cpu_util=2.0)]
    )
    got = store.last("node")
    assert rows(got) == [{"ts": recent, "id": "n1", "site": "s1", "cpu_util": 2.0}]


# -- bookkeeping and emptiness --------------------------------------------------------------


def test_counts_per_measurement(store: TelemetryStore) -> None:
    assert store.counts() == {}
    store.write([node(f"n{i}", T0 + k * SEC, cpu_util=1.0) for i in range(2) for k in range(3)])
    store.write([Reading("grid", {"region": "CN-NM"}, {"renewable_share": 0.3}, T0 + 7 * SEC)])
    counts = store.counts()
    assert counts["node"]["rows"] == 6
    assert pd.Timestamp(counts["node"]["first"]) == pd.Timestamp(T0)
    assert pd.Timestamp(counts["node"]["last"]) == pd.Timestamp(T0 + 2 * SEC)
    assert counts["grid"]["rows"] == 1
    assert pd.Timestamp(counts["grid"]["first"]) == pd.Timestamp(T0 + 7 * SEC)
    assert pd.Timestamp(counts["grid"]["last"]).tzinfo is not None


def test_unknown_measurement_and_empty_store(store: TelemetryStore) -> None:
    assert store.measurements() == []
    assert store.write([]) == 0
    for frame in (
        store.query("node", T0, T0 + timedelta(days=1)),
        store.query("node", T0, T0 + timedelta(days=1), every="1h"),
        store.last("node", T0),
    ):
        assert frame.empty and "ts" in frame.columns
    store.write([node("n1", T0, cpu_util=1.0)])
    assert store.query("link", T0, T0 + SEC).empty
    assert "ts" in store.last("link", T0).columns


@pytest.mark.parametrize(
    "reading",
    [
        Reading("node; DROP TABLE node", {"id": "n1"}, {"cpu_util": 1.0}, T0),
        Reading('node"', {"id": "n1"}, {"cpu_util": 1.0}, T0),
        Reading("node", {'id" VARCHAR); --': "n1"}, {"cpu_util": 1.0}, T0),
        Reading("node", {"id": "n1"}, {"cpu util": 1.0}, T0),
        Reading("node", {"id": "n1"}, {"_value": 1.0}, T0),
        Reading("node", {"id": "n1"}, {"ts": 1.0}, T0),
        Reading("node", {"id": "n1"}, {"id": 1.0}, T0),
        Reading("node", {"id": "n1"}, {"cpu_util": math.inf}, T0),
    ],
)
def test_hostile_or_bad_readings_are_refused(store: TelemetryStore, reading: Reading) -> None:
    store.write([node("n1", T0, cpu_util=0.5)])
    with pytest.raises(StoreError):
        store.write([node("n2", T0, cpu_util=0.7), reading])
    # nothing of the refused batch was stored, and the store still works
    assert set(store.query("node", T0, T0 + SEC)["id"]) == {"n1"}
    assert store.measurements() == ["node"]


def test_hostile_names_in_reads_are_refused(store: TelemetryStore) -> None:
    store.write([node("n1", T0, cpu_util=0.5)])
    with pytest.raises(StoreError):
        store.query("node where 1=1", T0, T0 + SEC)
    with pytest.raises(StoreError):
        store.query("node", T0, T0 + SEC, tags={"id = 'x' OR 1=1 --": "n1"})
    with pytest.raises(StoreError):
        store.last("node", T0, fields=['cpu_util") FROM node; --'])
    got = store.query("node", T0, T0 + SEC, tags={"id": "n1' OR '1'='1"})
    assert got.empty  # values are data, never SQL or InfluxQL


# -- property: writing twice is writing once -----------------------------------------------

_times = st.sampled_from([T0 + k * SEC for k in range(4)])
_values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
_readings = st.lists(
    st.builds(
        lambda measurement, site, node_id, fields, at: Reading(
            measurement, {"site": site, "id": node_id}, fields, at
        ),
        st.sampled_from(["node", "link"]),
        st.sampled_from(["s1", "s2"]),
        st.sampled_from(["a", "b", "c"]),
        st.fixed_dictionaries(
            {}, optional={"util": _values, "power_w": _values, "state": st.text(max_size=8)}
        ).filter(bool),
        _times,
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(readings=_readings, split=st.integers(min_value=0, max_value=25))
@example(  # a series and another at the same time, one of them written as -0.0
    readings=[
        Reading("node", {"site": "s1", "id": "a"}, {"util": 0.0}, T0),
        Reading("node", {"site": "s2", "id": "a"}, {"power_w": -0.0}, T0),
        Reading("node", {"site": "s1", "id": "a"}, {"state": "", "power_w": 0.0}, T0),
    ],
    split=0,
)
def test_writing_twice_leaves_the_rows_of_writing_once(
    make_store: StoreFactory, readings: list[Reading], split: int
) -> None:
    store = make_store()
    store.write(readings[:split])
    store.write(readings[split:])
    once = {m: store.query(m, T0, T0 + timedelta(minutes=1)) for m in ("node", "link")}
    counts = store.counts()
    store.write(readings)
    for measurement, frame in once.items():
        again = store.query(measurement, T0, T0 + timedelta(minutes=1))
        pd.testing.assert_frame_equal(again, frame, check_like=True)
        assert sort_rows(rows(again)) == sort_rows(expected_rows(readings, measurement))
    assert store.counts() == counts
    store.close()
