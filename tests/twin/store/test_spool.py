"""The outage spool: batches survive on disk within a bound and reach a real store later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.faults.harness import SmallFileSystem
from twin.domain import Reading
from twin.store.duckdb import DuckDBStore
from twin.store.spool import Spool

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def readings(n: int, node: str = "n1") -> list[Reading]:
    return [
        Reading("node", {"site": "s", "id": node}, {"cpu_util": i / n}, T0 + timedelta(seconds=i))
        for i in range(n)
    ]


def test_spooled_batches_reach_the_store_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1_000_000)
    assert spool.append(readings(10, "n1"))
    assert spool.append(readings(5, "n2"))
    assert len(spool.files()) == 2
    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        assert spool.drain(store) == 15
        frame = store.query("node", T0, T0 + timedelta(hours=1))
    finally:
        store.close()
    assert spool.files() == []
    assert len(frame) == 15
    n1 = frame[frame["id"] == "n1"].sort_values("ts")
    assert list(n1["cpu_util"]) == pytest.approx([i / 10 for i in range(10)])
    assert n1["ts"].iloc[3] == T0 + timedelta(seconds=3)


def test_the_bound_is_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=2_000)
    accepted = [spool.append(readings(5)) for _ in range(20)]
    assert True in accepted and False in accepted
    assert spool.size_bytes <= 2_000


def test_damaged_and_partial_files_are_not_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append(readings(3))
    (tmp_path / "00000000000000000001-1.jsonl").write_text('{"m": "node", "t"\n')
    (tmp_path / "00000000000000000002-1.part").write_text("half a batch")
    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        assert spool.drain(store) == 3
    finally:
        store.close()
    assert (tmp_path / "00000000000000000001-1.damaged").exists()
    assert spool.files() == []


def test_a_spool_needs_a_bound(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bound"):
        Spool(tmp_path, max_bytes=0)


def test_a_spool_on_a_full_disk_takes_nothing_and_leaves_no_partial_file(tmp_path: Path) -> None:
    with SmallFileSystem(tmp_path / "disk", size_mb=1) as fs:
        spool = Spool(fs.directory / "spool", max_bytes=10_000_000)
        fs.fill()
        accepted = spool.append(readings(500))
        left = sorted(p.name for p in spool.directory.iterdir())
    assert not accepted
    assert left == []


def test_a_spooled_batch_the_store_refuses_is_set_aside_not_retried(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1_000_000)
    spool.append([Reading("node", {"site": "s", "id": "n1"}, {"cpu_util": "high"}, T0)])
    spool.append(readings(4))
    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        store.write(readings(1))  # cpu_util holds numbers from now on: text is refused
        assert spool.drain(store) == 4
    finally:
        store.close()
    assert spool.files() == []
    assert len(list(spool.directory.glob("*.refused"))) == 1
