"""The DuckDB store on a file system that fills up: the error names the true cause and says the
store is unavailable (not that the write was refused), and the store works again once there is
space, also after DuckDB invalidated the database on a failed checkpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.faults.harness import SmallFileSystem
from twin.domain import Reading
from twin.errors import StoreError, StoreUnavailable
from twin.store.duckdb import DuckDBStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def rows(second: int, n: int = 5_000) -> list[Reading]:
    """``n`` node readings at ``T0 + second``."""
    ts = T0 + timedelta(seconds=second)
    return [
        Reading("node", {"site": "a", "id": f"n{i}"}, {"cpu_util": (i % 10) / 10}, ts)
        for i in range(n)
    ]


def write_until_full(store: DuckDBStore) -> tuple[int, StoreError]:
    """Write batches until one fails; return how many were stored and the failure."""
    for second in range(10_000):
        try:
            store.write(rows(second))
        except StoreError as exc:
            return second, exc
    raise AssertionError("the file system never filled up")


@pytest.mark.parametrize("checkpoint_threshold", [None, "64KB"], ids=["wal", "checkpoint"])
def test_a_full_disk_is_unavailable_with_its_cause_and_recovers(
    tmp_path: Path, checkpoint_threshold: str | None
) -> None:
    with SmallFileSystem(tmp_path / "disk", size_mb=8) as fs:
        ballast = fs.directory / "ballast.bin"
        ballast.write_bytes(b"\0" * (4 << 20))
        store = DuckDBStore(fs.directory / "t.duckdb")
        if checkpoint_threshold:  # make the failing write a checkpoint: DuckDB's fatal case
            with store._cursor() as cur:
                cur.execute(f"SET checkpoint_threshold = '{checkpoint_threshold}'")
        stored, error = write_until_full(store)
        assert isinstance(error, StoreUnavailable)
        assert "No space left on device" in str(error)
        assert ("FATAL" in str(error)) == bool(checkpoint_threshold)  # the case it meant
        fs.fill()  # whatever room the failed write left
        with pytest.raises(StoreUnavailable):
            store.write(rows(stored))
        fs.free()
        ballast.unlink()
        store.write(rows(stored))
        counts = store.counts()["node"]
        store.close()
    assert counts["rows"] == (stored + 1) * 5_000
