"""DuckDB store behaviour beyond the shared contract: files, processes, threads, schema rules."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from twin.domain import Reading
from twin.errors import StoreError, StoreUnavailable
from twin.schema import MAX_FIELDS_PER_MEASUREMENT, MAX_FIELDS_PER_READING, MAX_TEXT_CHARS
from twin.store import TelemetryStore
from twin.store.duckdb import DuckDBStore

T0 = datetime(2024, 3, 1, tzinfo=UTC)
SEC = timedelta(seconds=1)


def node(node_id: str, at: datetime, **fields: float | str) -> Reading:
    return Reading("node", {"site": "s1", "id": node_id}, fields, at)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "deep" / "dir" / "telemetry.duckdb"


@pytest.fixture
def store(path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(path)
    yield store
    store.close()


def test_is_a_telemetry_store_and_creates_parent_directories(
    store: DuckDBStore, path: Path
) -> None:
    assert isinstance(store, TelemetryStore)
    assert path.is_file()


def test_data_persists_across_reopen(store: DuckDBStore, path: Path) -> None:
    store.write([node("n1", T0, cpu_util=0.5, state="ok"), node("n2", T0, cpu_util=0.7)])
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError):
        store.query("node", T0, T0 + SEC)
    again = DuckDBStore(path)
    try:
        got = again.query("node", T0, T0 + SEC)
        assert list(got["id"]) == ["n1", "n2"] and list(got["cpu_util"]) == [0.5, 0.7]
        assert again.counts()["node"]["rows"] == 2
        again.write([node("n1", T0 + SEC, cpu_util=0.9, state="busy")])  # schema known on reopen
        assert again.last("node", T0 + SEC, tags={"id": "n1"})["state"].tolist() == ["busy"]
    finally:
        again.close()


def test_read_only_open_reads_and_refuses_writes(store: DuckDBStore, path: Path) -> None:
    store.write([node("n1", T0, cpu_util=0.5)])
    store.close()
    reader = DuckDBStore(path, read_only=True)
    try:
        assert reader.query("node", T0, T0 + SEC)["cpu_util"].tolist() == [0.5]
        assert reader.last("node", T0)["id"].tolist() == ["n1"]
        with pytest.raises(StoreError, match="read-only"):
            reader.write([node("n2", T0, cpu_util=0.1)])
    finally:
        reader.close()


def test_read_only_open_of_a_missing_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="no store"):
        DuckDBStore(tmp_path / "missing.duckdb", read_only=True)
    assert not (tmp_path / "missing.duckdb").exists()


@pytest.mark.parametrize("read_only", [False, True])
def test_file_held_by_another_process_is_unavailable(path: Path, read_only: bool) -> None:
    DuckDBStore(path).close()
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            "con = duckdb.connect(sys.argv[1])\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "ready"
            with pytest.raises(StoreUnavailable) as caught:
                DuckDBStore(path, read_only=read_only)
            message = str(caught.value)
            assert "Stop that process" in message and "InfluxDB" in message
        finally:
            holder.stdin.close()  # the holder exits when its stdin closes
            holder.wait(timeout=30)
    DuckDBStore(path).close()  # free again once the other process is gone


def test_tables_are_wide_and_the_catalog_knows_tags_from_fields(
    store: DuckDBStore, path: Path
) -> None:
    store.write([node("n1", T0, cpu_util=0.5, state="ok")])
    store.write([Reading("node", {"site": "s1", "id": "n1", "rack": "r7"}, {"power_w": 1.0}, T0)])
    store.close()
    with duckdb.connect(str(path), read_only=True) as con:
        columns = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'node'"
            ).fetchall()
        )
        roles = dict(
            con.execute(
                "SELECT name, role FROM _cnetwin_columns WHERE measurement = 'node'"
            ).fetchall()
        )
    assert columns == {
        "ts": "TIMESTAMP",
        "site": "VARCHAR",
        "id": "VARCHAR",
        "cpu_util": "DOUBLE",
        "state": "VARCHAR",
        "rack": "VARCHAR",
        "power_w": "DOUBLE",
    }
    assert roles == {
        "site": "tag",
        "id": "tag",
        "rack": "tag",
        "cpu_util": "field",
        "state": "field",
        "power_w": "field",
    }


def test_a_series_with_an_extra_tag_is_a_series_of_its_own(store: DuckDBStore) -> None:
    store.write([node("n1", T0, cpu_util=0.5)])
    store.write([Reading("node", {"site": "s1", "id": "n1", "rack": "r7"}, {"cpu_util": 0.9}, T0)])
    got = store.query("node", T0, T0 + SEC)
    assert len(got) == 2
    assert got["rack"].isna().sum() == 1
    assert store.last("node", T0, tags={"rack": "r7"})["cpu_util"].tolist() == [0.9]


@pytest.mark.parametrize(
    "second",
    [
        node("n1", T0, cpu_util="high"),  # a float field given text
        Reading("node", {"site": "s1", "id": "n1", "cpu_util": "x"}, {"mem_util": 0.1}, T0),
        Reading("node", {"site": "s1", "id": "n1"}, {"SITE": 0.1}, T0),  # differs in case only
        Reading("NODE", {"site": "s1"}, {"cpu_util": 0.1}, T0),
    ],
)
def test_schema_conflicts_are_refused_and_roll_back(store: DuckDBStore, second: Reading) -> None:
    store.write([node("n1", T0, cpu_util=0.5)])
    with pytest.raises(StoreError):
        store.write([Reading("link", {"id": "l1"}, {"util": 0.3}, T0), second])
    assert store.measurements() == ["node"]  # the link table of the failed batch is gone too
    assert store.query("link", T0, T0 + SEC).empty
    store.write([Reading("link", {"id": "l1"}, {"util": 0.3}, T0)])
    assert store.query("link", T0, T0 + SEC)["util"].tolist() == [0.3]


def test_hostile_names_never_reach_sql(store: DuckDBStore, path: Path) -> None:
    store.write([node("n1", T0, cpu_util=0.5)])
    for bad in ('node"; DROP TABLE node; --', "node OR 1=1", "_cnetwin_columns", "_series_node"):
        with pytest.raises(StoreError):
            store.write([Reading(bad, {"id": "x"}, {"v": 1.0}, T0)])
        with pytest.raises(StoreError):
            store.query(bad, T0, T0 + SEC)
    with pytest.raises(StoreError):
        store.write_frame(
            "node", pd.DataFrame({"ts": [T0], 'x" DOUBLE); DROP TABLE node; --': [1.0]}), []
        )
    store.close()
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {
            row[0]
            for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        assert tables == {"node", "_series_node", "_cnetwin_columns"}
        assert con.execute("SELECT count(*) FROM node").fetchone() == (1,)


def test_the_schema_contract_bounds_what_a_write_may_add(store: DuckDBStore) -> None:
    for start in range(0, MAX_FIELDS_PER_MEASUREMENT, MAX_FIELDS_PER_READING):
        names = range(start, start + MAX_FIELDS_PER_READING)
        store.write([node("n1", T0 + start * SEC, **{f"tasks_{i}": 1.0 for i in names})])
    with pytest.raises(StoreError, match="limit of") as refused:
        store.write([node("n1", T0, tasks_one_more=1.0)])
    assert not isinstance(refused.value, StoreUnavailable)
    store.write([node("n2", T0, tasks_0=2.0)])  # fields it has are still taken
    with pytest.raises(StoreError, match="more than"):
        store.write([node("n1", T0, **{f"f{i}": 1.0 for i in range(MAX_FIELDS_PER_READING + 1)})])
    with pytest.raises(StoreError, match="longer than"):
        store.write([Reading("notes", {"id": "a"}, {"text": "x" * (MAX_TEXT_CHARS + 1)}, T0)])
    assert "notes" not in store.measurements()
    assert len(store.query("node", T0, T0 + timedelta(hours=1))) == 5


def test_last_after_a_late_rewrite_of_an_older_row(store: DuckDBStore) -> None:
    store.write([node("n1", T0 + k * SEC, cpu_util=float(k)) for k in range(5)])
    store.write([node("n1", T0 + 1 * SEC, cpu_util=10.0)])  # late correction of an old row
    assert store.last("node", T0 + timedelta(hours=1))["cpu_util"].tolist() == [4.0]
    assert store.last("node", T0 + 2.5 * SEC)["cpu_util"].tolist() == [2.0]
    assert store.last("node", T0 + 1.5 * SEC)["cpu_util"].tolist() == [10.0]
    store.write([node("n1", T0 + 4 * SEC, mem_util=0.3)])  # partial rewrite of the latest row
    latest = store.last("node", T0 + timedelta(hours=1))
    assert latest[["cpu_util", "mem_util"]].iloc[0].tolist() == [4.0, 0.3]


def test_last_looks_back_far_enough_for_a_long_gap(store: DuckDBStore) -> None:
    # n1 reports until 02:00 and again from 10:00; at 09:00 its state is the 02:00 row, found by
    # widening the look-back window well past its first size.
    early = [node("n1", T0 + k * timedelta(minutes=10), cpu_util=float(k)) for k in range(13)]
    late = [node("n1", T0 + timedelta(hours=10) + k * SEC, cpu_util=99.0) for k in range(3)]
    store.write(early + late)
    got = store.last("node", T0 + timedelta(hours=9))
    assert got["ts"].tolist() == [pd.Timestamp(T0 + timedelta(hours=2))]
    assert got["cpu_util"].tolist() == [12.0]
    assert store.last("node", T0 + timedelta(hours=9), within=timedelta(hours=6)).empty


def test_concurrent_writer_and_readers(store: DuckDBStore) -> None:
    store.write([node("n0", T0, cpu_util=0.0)])
    errors: list[BaseException] = []
    batches = 40
    done = threading.Event()

    def writer() -> None:
        try:
            for b in range(batches):
                at = T0 + b * SEC
                store.write([node(f"n{i}", at, cpu_util=b + i / 100) for i in range(50)])
                if b == batches // 2:
                    store.write([Reading("link", {"id": "l1"}, {"util": 0.5}, at)])  # new table
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        try:
            while not done.is_set():
                store.query("node", T0, T0 + timedelta(minutes=1), every="10s")
                store.last("node", T0 + timedelta(minutes=1))
                store.counts()
                store.query("link", T0, T0 + timedelta(minutes=1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert store.counts()["node"]["rows"] == batches * 50
    assert len(store.last("node", T0 + timedelta(minutes=1))) == 50


def test_the_store_opened_from_settings_bounds_duckdbs_memory(tmp_path: Path) -> None:
    from twin.config import load_settings
    from twin.store import open_store

    def limit(store: DuckDBStore) -> str:
        with store._cursor() as cur:
            return str(cur.sql("SELECT current_setting('memory_limit')").fetchall()[0][0])

    store = open_store(load_settings(data_dir=tmp_path))
    assert isinstance(store, DuckDBStore)
    try:
        assert limit(store) == "512.0 MiB"  # DuckDB's own default: 80 % of the machine
    finally:
        store.close()
    small = open_store(load_settings(data_dir=tmp_path, duckdb_memory_mb=64))
    assert isinstance(small, DuckDBStore)
    try:
        assert limit(small) == "64.0 MiB"
        start = datetime(2026, 1, 1, tzinfo=UTC)
        frame = pd.DataFrame(
            {
                "ts": pd.date_range(start, periods=360_000, freq="s"),
                "site": "s",
                "id": [f"n{i % 500}" for i in range(360_000)],
                "cpu_util": 0.5,
            }
        )
        small.write_frame("node", frame, tags=["site", "id"])
        means = small.query("node", start, start + timedelta(days=5), every="1h")
        assert len(means) == 100 * 500 and means["cpu_util"].eq(0.5).all()
    finally:
        small.close()
