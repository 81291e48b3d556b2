"""TelemetryStore: the one interface to stored telemetry and derived series.

Two backends pass one contract test suite (``tests/twin/store/test_contract.py``):
embedded DuckDB (``twin.store.duckdb``) and InfluxDB 1.x, 2.x or 3.x (``twin.store.influx``).

Data model, shared by both backends: a *measurement* holds *series*; a series is identified by
its tag values; each row of a series is one timestamp with field values (float or str). Writing
the same series and timestamp again replaces the earlier fields given (idempotent re-delivery).
Frames returned by ``query`` and ``last`` are wide: a ``ts`` column (tz-aware UTC pandas
Timestamps), one column per tag, one column per field; rows sorted by ``ts`` then tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from twin.config import Settings, StoreURL
from twin.domain import Reading

TagFilter = Mapping[str, str | Sequence[str]]
"""Tag equality filter: a value or a list of accepted values per tag."""


@runtime_checkable
class TelemetryStore(Protocol):
    """Where telemetry and derived series are kept. Thread use: one writer thread at a time."""

    def write(self, readings: Iterable[Reading]) -> int:
        """Store readings (any mix of measurements) in one batch; return how many were stored."""
        ...

    def write_frame(self, measurement: str, frame: pd.DataFrame, tags: Sequence[str]) -> int:
        """Store a wide frame: ``ts`` column, the ``tags`` columns, every other column a field."""
        ...

    def query(
        self,
        measurement: str,
        start: datetime | pd.Timestamp,
        stop: datetime | pd.Timestamp,
        tags: TagFilter | None = None,
        fields: Sequence[str] | None = None,
        every: timedelta | str | None = None,
    ) -> pd.DataFrame:
        """Rows with ``start <= ts < stop``; with ``every`` (e.g. ``"1h"``) the mean per series
        and window of numeric fields (text fields: the last value in the window), stamped at
        the window start (windows aligned to the epoch). No rows: a frame with only ``ts``."""
        ...

    def last(
        self,
        measurement: str,
        at: datetime | pd.Timestamp | None = None,
        tags: TagFilter | None = None,
        fields: Sequence[str] | None = None,
        within: timedelta | None = None,
    ) -> pd.DataFrame:
        """State at ``at`` (default now): per series the latest row holding any of the chosen
        fields with ``ts <= at`` (and ``ts > at - within`` when given)."""
        ...

    def measurements(self) -> list[str]:
        """Names of the measurements holding data."""
        ...

    def counts(self) -> dict[str, dict[str, Any]]:
        """Per measurement: ``rows``, ``first`` and ``last`` timestamp (ISO 8601 UTC)."""
        ...

    def close(self) -> None:
        """Flush and release connections. Safe to call twice."""
        ...


def open_store(settings: Settings, read_only: bool = False) -> TelemetryStore:
    """Open the store named by the settings (embedded DuckDB by default)."""
    url: StoreURL = settings.store_url
    if url.backend == "duckdb":
        from twin.store.duckdb import DuckDBStore

        assert url.path is not None
        return DuckDBStore(url.path, read_only=read_only, memory_mb=settings.duckdb_memory_mb)
    from twin.store.influx import InfluxStore

    assert url.url and url.database
    token = settings.influx_token.get_secret_value() if settings.influx_token else None
    return InfluxStore(
        url.url,
        url.database,
        org=url.org,
        token=token,
        username=url.username,
        password=url.password,
    )
