"""The window cache answers as the store does, reads only new windows, and stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from twin.store.duckdb import DuckDBStore
from twin.views.window_cache import WindowCache

T0 = pd.Timestamp("2026-03-01 00:00", tz="UTC")
STEP = timedelta(minutes=5)


class RecordingStore:
    """A real DuckDB store that notes the range of every windowed query it answers."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store
        self.ranges: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    def query(self, measurement: str, start: Any, stop: Any, **kwargs: Any) -> pd.DataFrame:
        self.ranges.append((pd.Timestamp(start), pd.Timestamp(stop)))
        return self.store.query(measurement, start, stop, **kwargs)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "w.duckdb")
    times = pd.date_range(T0, periods=12 * 48, freq="30s")  # 4 h at 30 s
    frame = pd.DataFrame(
        {
            "ts": times.repeat(3),
            "site": "s1",
            "id": ["n1", "n2", "n3"] * len(times),
            "cpu_util": [(i % 17) / 17 for i in range(3 * len(times))],
        }
    )
    store.write_frame("node", frame, tags=["site", "id"])
    yield store
    store.close()


def test_a_repeated_read_answers_as_the_store_and_reads_only_new_windows(
    store: DuckDBStore,
) -> None:
    recording = RecordingStore(store)
    cache = WindowCache()
    stop = T0 + timedelta(hours=2)
    first = cache.query(recording, "node", T0, stop, ["cpu_util"], STEP)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(
        first, store.query("node", T0, stop, fields=["cpu_util"], every=STEP)
    )
    later = stop + timedelta(minutes=15)
    start = T0 + timedelta(minutes=15)
    second = cache.query(recording, "node", start, later, ["cpu_util"], STEP)  # type: ignore[arg-type]
    direct = store.query("node", start, later, fields=["cpu_util"], every=STEP)
    pd.testing.assert_frame_equal(second, direct)
    # the second read asked the store only for the windows that had not settled (the last
    # ten minutes of the first read) and the new ones
    assert recording.ranges == [(T0, stop), (stop - timedelta(minutes=10), later)]


@pytest.mark.parametrize(
    ("late_by", "max_age", "seen"),
    [
        (timedelta(minutes=8), timedelta(minutes=15), True),  # not settled yet: read again
        (timedelta(minutes=40), timedelta(minutes=15), False),  # settled: kept
        (timedelta(minutes=40), timedelta(0), True),  # kept reads too old: read whole again
    ],
)
def test_late_readings_show_unless_their_window_had_settled(
    store: DuckDBStore, late_by: timedelta, max_age: timedelta, seen: bool
) -> None:
    cache = WindowCache(max_age=max_age)
    stop = T0 + timedelta(hours=1)
    cache.query(store, "node", T0, stop, ["cpu_util"], STEP)
    late = pd.DataFrame({"ts": [stop - late_by], "site": ["s1"], "id": ["n9"], "cpu_util": [1.0]})
    store.write_frame("node", late, tags=["site", "id"])
    again = cache.query(store, "node", T0, stop, ["cpu_util"], STEP)
    assert (again["id"] == "n9").sum() == (1 if seen else 0)
    if seen:
        pd.testing.assert_frame_equal(
            again, store.query("node", T0, stop, fields=["cpu_util"], every=STEP)
        )


def test_held_rows_stay_within_the_widest_range_asked_for(store: DuckDBStore) -> None:
    cache = WindowCache(max_reads=2)
    span = timedelta(minutes=30)
    for k in range(1, 40):  # a sliding half hour moving 5 min at a time over 3 h 15 min
        stop = T0 + span + k * STEP
        cache.query(store, "node", stop - span, stop, ["cpu_util"], STEP)
        assert cache.rows() <= 3 * (span // STEP)  # three nodes, six windows at most
    for every in (timedelta(minutes=10), timedelta(minutes=15), timedelta(minutes=20)):
        cache.query(store, "node", T0, T0 + timedelta(hours=1), ["cpu_util"], every)
    assert len(cache) == 2


def test_a_derived_table_is_computed_only_for_windows_not_yet_settled() -> None:
    asked: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    def windows(start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        asked.append((start, stop))
        times = pd.date_range(start, stop, freq=STEP, inclusive="left")
        return pd.DataFrame({"ts": times, "value": [t.minute for t in times]})

    cache = WindowCache()
    stop = T0 + timedelta(hours=1)
    first = cache.read("minutes", T0, stop, STEP, windows)
    later = stop + timedelta(minutes=20)
    second = cache.read("minutes", T0 + timedelta(minutes=20), later, STEP, windows)
    pd.testing.assert_frame_equal(second, windows(T0 + timedelta(minutes=20), later))
    assert len(first) == 12
    assert asked[:2] == [(T0, stop), (stop - timedelta(minutes=10), later)]
