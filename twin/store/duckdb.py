"""Embedded telemetry store in one DuckDB file.

Layout: one table per measurement, named after it, wide: ``ts TIMESTAMP`` (UTC without zone,
microseconds; callers only ever see tz-aware UTC), one VARCHAR column per tag and one DOUBLE or
VARCHAR column per field. Tables and columns are added on first sight. Two bookkeeping tables,
whose names start with ``_`` so no measurement can take them: ``_cnetwin_columns`` says which
columns are tags and which fields (and of what kind); ``_series_<measurement>`` holds each
series' first and last timestamp, which lets ``last`` scan only the recent part of a table.

Writes are idempotent without a key index: in one transaction, rows of the same series and
timestamp already stored (looked up within the batch's time range, so zone maps prune the scan)
are merged under the batch's values, deleted, and the batch inserted with one
``INSERT … BY NAME`` from Arrow.

Threads: one DuckDB connection per store; every call works on its own ``cursor()`` (a child
connection to the same database), so a writer thread and any number of reader threads may use
one store at once; writes are serialised by a lock. Processes: DuckDB lets one process open the
file for writing (or several read-only); a second process gets :class:`StoreUnavailable`.

Failures are classified by cause (:func:`classify`): what the file system or DuckDB's own state
causes (disk full, I/O error, a lock, a database DuckDB invalidated after a fatal error) raises
:class:`StoreUnavailable`, to be retried; a write refused for its content (names, kinds) raises
:class:`StoreError`. After a fatal error DuckDB refuses every call until the database is opened
again, so the store reopens its file on the next call (committed data is kept: DuckDB replays
its write-ahead log).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from twin.domain import Reading
from twin.errors import StoreError, StoreUnavailable
from twin.schema import MAX_FIELDS_PER_MEASUREMENT
from twin.store import TagFilter
from twin.store.frames import (
    TS,
    Batch,
    FieldKind,
    check_fields,
    check_name,
    empty_frame,
    finish_frame,
    frame_to_batch,
    iso_utc,
    normalize_tag_filter,
    readings_to_batches,
    to_every,
    to_utc,
)

log = logging.getLogger(__name__)

CATALOG = "_cnetwin_columns"
SERIES_PREFIX = "_series_"
EPOCH = "TIMESTAMP '1970-01-01 00:00:00'"
SQL_TYPES: dict[FieldKind, str] = {"float": "DOUBLE", "str": "VARCHAR"}
ARROW_TYPES: dict[FieldKind, pa.DataType] = {"float": pa.float64(), "str": pa.string()}

LAST_FIRST_WINDOW = timedelta(minutes=2)
"""``last`` first looks this far back [s] and widens the look-back until every series is found."""
LAST_WINDOW_GROWTH = 8
"""Factor by which ``last`` widens its look-back window each round."""

TRANSIENT_ERRORS: tuple[type[duckdb.Error], ...] = (
    duckdb.IOException,
    duckdb.FatalException,
    duckdb.OutOfMemoryException,
    duckdb.InterruptException,
)
"""DuckDB errors caused by the machine or DuckDB's state, not by what was written."""
TRANSIENT_MARKERS = (
    "no space left",
    "disk quota",
    "input/output error",
    "read-only file system",
    "could not write file",
    "could not read from file",
    "could not open file",
    "could not set lock",
    "conflict on",
    "has been invalidated",
)
"""Lower-case phrases that mark an error of another DuckDB class as transient (a commit that
failed to write the write-ahead log is a TransactionException)."""
REOPEN_MARKERS = ("fatal error", "has been invalidated")
"""Lower-case phrases of errors after which DuckDB must open the database again."""

BUSY_HELP = (
    "another process has the DuckDB file {path} open. Stop that process (one cnetwin process "
    "owns the embedded store: run the collector and dashboard together, e.g. `cnetwin demo`), "
    "or use InfluxDB (--store influxdb://host:8086?org=…&bucket=…) to run several processes"
)


@dataclass(frozen=True)
class Schema:
    """A measurement's columns: tag names in creation order and each field's kind."""

    tags: tuple[str, ...] = ()
    fields: dict[str, FieldKind] = field(default_factory=dict)

    def names(self) -> set[str]:
        """Lower-cased names of every column (DuckDB identifiers ignore case)."""
        return {n.lower() for n in (*self.tags, *self.fields)}


def classify(exc: duckdb.Error, path: Path) -> StoreError:
    """The store error a DuckDB error stands for: StoreUnavailable when the cause is transient
    (the file system, a lock, DuckDB's state), else StoreError (the write itself is refused)."""
    text = " ".join(str(exc).split())
    if isinstance(exc, TRANSIENT_ERRORS) or any(m in text.lower() for m in TRANSIENT_MARKERS):
        return StoreUnavailable(
            f"DuckDB store {path} cannot be used right now: {text} (free disk space or fix the "
            "file system; writes are retried)"
        )
    return StoreError(f"DuckDB store {path}: {text}")


def needs_reopen(exc: duckdb.Error) -> bool:
    """True if DuckDB refuses every further call on this database until it is opened again."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.FatalException) or any(m in text for m in REOPEN_MARKERS)


def quote(name: str) -> str:
    """A SQL identifier, double-quoted (names are checked before they get here)."""
    return '"' + name.replace('"', '""') + '"'


def _sql_time(value: pd.Timestamp) -> datetime:
    """A UTC time as the naive datetime DuckDB's TIMESTAMP holds [µs]."""
    return value.tz_convert("UTC").tz_localize(None).to_pydatetime()


class DuckDBStore:
    """TelemetryStore in an embedded DuckDB file (see the module docstring).

    path : Path
        The database file; parent directories are created. ``read_only`` opens it for reading
        only (several read-only processes may share a file no process writes).
    memory_mb : int | None
        The most memory DuckDB may hold for this database [MiB]: its cache of table blocks and
        its query working memory (larger queries spill to disk). None: DuckDB's default, 80 %
        of the machine's memory, which a long-running process fills as the file grows.
    """

    def __init__(self, path: Path, read_only: bool = False, memory_mb: int | None = None) -> None:
        self.path = Path(path).expanduser()
        self.read_only = read_only
        self.memory_mb = memory_mb
        self._write_lock = threading.Lock()
        self._reopen_lock = threading.Lock()
        self._closed = False
        self._broken = False
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise StoreUnavailable(
                f"there is no store at {self.path} yet: start the collector first, or open it "
                "for writing"
            )
        self._con = self._connect()
        self._schemas: dict[str, Schema] = self._load_catalog()
        log.info("opened DuckDB store %s%s", self.path, " (read-only)" if read_only else "")

    # -- connection handling ---------------------------------------------------------------

    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            config: dict[str, str | bool | int | float | list[str]] = (
                {} if self.memory_mb is None else {"memory_limit": f"{self.memory_mb}MiB"}
            )
            return duckdb.connect(str(self.path), read_only=self.read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreUnavailable(BUSY_HELP.format(path=self.path)) from exc
            raise classify(exc, self.path) from exc
        except duckdb.Error as exc:
            error = classify(exc, self.path)
            if isinstance(error, StoreUnavailable):
                raise error from exc
            raise StoreError(f"cannot open the DuckDB file {self.path}: {exc}") from exc

    def _reopen_if_broken(self) -> None:
        """Open the database again after DuckDB invalidated it (see the module docstring)."""
        with self._reopen_lock:
            if not self._broken:
                return
            try:
                self._con.close()
            except duckdb.Error as exc:
                log.debug("closing the invalidated DuckDB connection: %s", str(exc))
            self._con = self._connect()
            self._broken = False
            self._schemas = self._load_catalog()
            log.warning("reopened DuckDB store %s after a fatal error", self.path)

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed: open it again")
        if self._broken:
            self._reopen_if_broken()
        try:
            cur = self._con.cursor()
        except duckdb.Error as exc:
            self._broken = self._broken or needs_reopen(exc)
            raise classify(exc, self.path) from exc
        try:
            yield cur
        except duckdb.Error as exc:
            self._broken = self._broken or needs_reopen(exc)
            raise classify(exc, self.path) from exc
        finally:
            cur.close()

    def _load_catalog(self) -> dict[str, Schema]:
        with self._cursor() as cur:
            if not self.read_only:
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {CATALOG} (measurement VARCHAR NOT NULL, "
                    "name VARCHAR NOT NULL, role VARCHAR NOT NULL, kind VARCHAR, "
                    "position INTEGER NOT NULL)"
                )
            found = cur.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [CATALOG]
            ).fetchone()
            if not found or not found[0]:
                return {}
            rows = cur.execute(
                f"SELECT measurement, name, role, kind FROM {CATALOG} ORDER BY position"
            ).fetchall()
        tags: dict[str, list[str]] = {}
        fields: dict[str, dict[str, FieldKind]] = {}
        for measurement, name, role, kind in rows:
            tags.setdefault(measurement, [])
            fields.setdefault(measurement, {})
            if role == "tag":
                tags[measurement].append(name)
            else:
                fields[measurement][name] = kind
        return {m: Schema(tuple(tags[m]), fields[m]) for m in tags}

    def close(self) -> None:
        """Release the file. Safe to call twice."""
        if not self._closed:
            self._closed = True
            try:
                self._con.close()
            except duckdb.Error as exc:  # an invalidated database may fail to close cleanly
                log.warning("closing DuckDB store %s: %s", self.path, str(exc))
            log.info("closed DuckDB store %s", self.path)

    # -- writing ---------------------------------------------------------------------------

    def write(self, readings: Iterable[Reading]) -> int:
        """Store readings of any measurements in one transaction; return the rows stored (one
        per series and timestamp)."""
        return self._write_batches(readings_to_batches(readings))

    def write_frame(self, measurement: str, frame: pd.DataFrame, tags: Sequence[str]) -> int:
        """Store a wide frame (``ts``, the ``tags`` columns, fields); return the rows stored."""
        batch = frame_to_batch(measurement, frame, tags)
        return self._write_batches([batch] if len(batch.frame) else [])

    def _write_batches(self, batches: list[Batch]) -> int:
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only: open it for writing")
        if not batches:
            return 0
        with self._write_lock, self._cursor() as cur:
            schemas = dict(self._schemas)
            cur.begin()
            try:
                for batch in batches:
                    schemas[batch.measurement] = self._ensure_schema(cur, batch, schemas)
                    self._merge_batch(cur, batch, schemas[batch.measurement])
                cur.commit()
            except BaseException:
                _rollback(cur)
                raise
            self._schemas = schemas
        return sum(len(b.frame) for b in batches)

    def _ensure_schema(
        self, cur: duckdb.DuckDBPyConnection, batch: Batch, schemas: dict[str, Schema]
    ) -> Schema:
        """Create the measurement's tables and any new columns; return the updated schema."""
        m = batch.measurement
        old = schemas.get(m)
        if old is None:
            if any(name.lower() == m.lower() for name in schemas):
                raise StoreError(f"measurement {m!r} differs only in case from a stored one")
            cur.execute(f"CREATE TABLE {quote(m)} ({TS} TIMESTAMP NOT NULL)")
            cur.execute(
                f"CREATE TABLE {quote(SERIES_PREFIX + m)} "
                "(first_ts TIMESTAMP NOT NULL, last_ts TIMESTAMP NOT NULL)"
            )
            old = Schema()
        for name, kind in batch.fields.items():
            if name in old.tags:
                raise StoreError(f"{name!r} is a tag of {m!r}, not a field: rename one")
            if name in old.fields and old.fields[name] != kind:
                raise StoreError(
                    f"field {name!r} of {m!r} holds {old.fields[name]} values, not {kind}"
                )
        for name in batch.tags:
            if name in old.fields:
                raise StoreError(f"{name!r} is a field of {m!r}, not a tag: rename one")
        new_tags = [t for t in batch.tags if t not in old.tags]
        new_fields = {n: k for n, k in batch.fields.items() if n not in old.fields}
        if new_fields and len(old.fields) + len(new_fields) > MAX_FIELDS_PER_MEASUREMENT:
            raise StoreError(
                f"{m!r} holds {len(old.fields)} fields; {len(new_fields)} more would pass the "
                f"limit of {MAX_FIELDS_PER_MEASUREMENT}: send fields {m!r} already has"
            )
        known = old.names()
        position = len(old.tags) + len(old.fields)
        for name in [*new_tags, *new_fields]:
            if name.lower() in known:
                raise StoreError(f"column {name!r} of {m!r} differs only in case from a stored one")
            known.add(name.lower())
            new_kind = new_fields.get(name)
            sql_type = SQL_TYPES[new_kind] if new_kind else "VARCHAR"
            for table in (m, SERIES_PREFIX + m):
                cur.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(name)} {sql_type}")
            cur.execute(
                f"INSERT INTO {CATALOG} VALUES (?, ?, ?, ?, ?)",
                [m, name, "field" if new_kind else "tag", new_kind, position],
            )
            position += 1
        if not new_tags and not new_fields:
            return old
        return Schema((*old.tags, *new_tags), {**old.fields, **new_fields})

    def _merge_batch(self, cur: duckdb.DuckDBPyConnection, batch: Batch, schema: Schema) -> None:
        """Insert a batch, first replacing rows of the same series and ts (fields the batch
        leaves out keep their stored values); then update each series' first/last row."""
        table = quote(batch.measurement)
        cur.register("_batch", _to_arrow(batch, schema))
        lo, hi = batch.frame[TS].min(), batch.frame[TS].max()
        bounds = [_sql_time(lo), _sql_time(hi)]
        same_row = " AND ".join(
            ["o.ts = b.ts"]
            + [f"o.{quote(t)} IS NOT DISTINCT FROM b.{quote(t)}" for t in schema.tags]
        )
        old = cur.sql(
            f"SELECT o.* FROM {table} AS o SEMI JOIN _batch AS b ON {same_row} "
            "WHERE o.ts BETWEEN ? AND ?",
            params=bounds,
        ).to_arrow_table()
        rows = "_batch"
        if old.num_rows:
            cur.register("_old", old)
            merged = ", ".join(
                ["b.ts"]
                + [f"b.{quote(t)}" for t in schema.tags]
                + [f"coalesce(b.{quote(f)}, o.{quote(f)}) AS {quote(f)}" for f in schema.fields]
            )
            cur.register(
                "_rows",
                cur.sql(
                    f"SELECT {merged} FROM _batch AS b LEFT JOIN _old AS o ON {same_row}"
                ).to_arrow_table(),
            )
            cur.execute(
                f"DELETE FROM {table} AS o USING _batch AS b WHERE o.ts BETWEEN ? AND ? "
                f"AND {same_row}",
                bounds,
            )
            rows = "_rows"
        cur.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {rows}")
        self._update_series(cur, batch.measurement, schema, rows)
        for name in ("_batch", "_old", "_rows") if old.num_rows else ("_batch",):
            cur.unregister(name)

    def _update_series(
        self, cur: duckdb.DuckDBPyConnection, measurement: str, schema: Schema, rows: str
    ) -> None:
        """Keep each series' first and last ts, and its latest row, in the series table."""
        tags = [quote(t) for t in schema.tags]
        fields = [quote(f) for f in schema.fields]
        latest = ", ".join(
            [*tags, "min(ts) AS first_ts", "max(ts) AS last_ts"]
            + [f"arg_max_null({f}, ts) AS {f}" for f in fields]
        )
        same_series = " AND ".join([f"s.{t} IS NOT DISTINCT FROM a.{t}" for t in tags] or ["TRUE"])
        newer = ", ".join(
            ["first_ts = least(s.first_ts, a.first_ts)", "last_ts = greatest(s.last_ts, a.last_ts)"]
            + [f"{f} = CASE WHEN a.last_ts >= s.last_ts THEN a.{f} ELSE s.{f} END" for f in fields]
        )
        cur.execute(
            f"MERGE INTO {quote(SERIES_PREFIX + measurement)} AS s "
            f"USING (SELECT {latest} FROM {rows} GROUP BY ALL) AS a ON {same_series} "
            f"WHEN MATCHED THEN UPDATE SET {newer} WHEN NOT MATCHED THEN INSERT BY NAME"
        )

    # -- reading ---------------------------------------------------------------------------

    def measurements(self) -> list[str]:
        """Names of the measurements holding data, sorted."""
        return sorted(self._schemas)

    def counts(self) -> dict[str, dict[str, Any]]:
        """Per measurement: ``rows``, ``first`` and ``last`` timestamp (ISO 8601 UTC)."""
        names = self.measurements()
        if not names:
            return {}
        sql = " UNION ALL ".join(
            f"SELECT ? AS m, count(*), min(ts), max(ts) FROM {quote(m)}" for m in names
        )
        with self._cursor() as cur:
            rows = cur.execute(sql, names).fetchall()
        return {
            m: {"rows": n, "first": iso_utc(first), "last": iso_utc(last)}
            for m, n, first, last in rows
            if n
        }

    def query(
        self,
        measurement: str,
        start: datetime | pd.Timestamp,
        stop: datetime | pd.Timestamp,
        tags: TagFilter | None = None,
        fields: Sequence[str] | None = None,
        every: timedelta | str | None = None,
    ) -> pd.DataFrame:
        """Rows with ``start <= ts < stop``; with ``every`` the mean of each numeric field (the
        last value of each text field) per series and epoch-aligned window, stamped at the
        window start."""
        plan = self._plan(measurement, tags, fields)
        begin, end = to_utc(start).ceil("us"), to_utc(stop).ceil("us")
        if plan is None or begin >= end:
            return empty_frame()
        where, params = plan.where("m.ts >= ? AND m.ts < ?", [_sql_time(begin), _sql_time(end)])
        tags_sql = [f"m.{quote(t)}" for t in plan.tags]
        if every is None:
            select = ", ".join(["m.ts", *tags_sql, *(f"m.{quote(f)}" for f in plan.fields)])
            sql = f"SELECT {select} FROM {quote(measurement)} AS m WHERE {where}"
        else:
            width = to_every(every)
            window = f"time_bucket(to_microseconds(?), m.ts, {EPOCH})"
            aggs = [
                f"avg(m.{quote(f)})" if kind == "float" else f"arg_max(m.{quote(f)}, m.ts)"
                for f, kind in plan.fields.items()
            ]
            select = ", ".join(
                [f"{window} AS {TS}", *tags_sql]
                + [f"{a} AS {quote(f)}" for a, f in zip(aggs, plan.fields, strict=True)]
            )
            sql = f"SELECT {select} FROM {quote(measurement)} AS m WHERE {where} GROUP BY ALL"
            params = [width.value // 1_000, *params]
        return self._fetch(sql + plan.order_by, params, plan)

    def last(
        self,
        measurement: str,
        at: datetime | pd.Timestamp | None = None,
        tags: TagFilter | None = None,
        fields: Sequence[str] | None = None,
        within: timedelta | None = None,
    ) -> pd.DataFrame:
        """State at ``at`` (default now): per series its latest row with ``ts <= at`` (and
        ``ts > at - within``) holding any of the chosen fields.

        A series that has not reported since ``at`` is answered from its stored latest row.
        Series that reported later are looked for from ``at`` back in widening windows, so the
        cost follows how recently they reported before ``at``, not the size of the table.
        """
        plan = self._plan(measurement, tags, fields)
        if plan is None:
            return empty_frame()
        at_ts = (pd.Timestamp.now(tz="UTC") if at is None else to_utc(at)).floor("us")
        floor = None if within is None else (at_ts - pd.Timedelta(within)).floor("us")
        series = quote(SERIES_PREFIX + measurement)
        alive = "s.first_ts <= ?" + ("" if floor is None else " AND s.last_ts > ?")
        alive_params = [_sql_time(at_ts)] + ([] if floor is None else [_sql_time(floor)])
        has_field = plan.any_field("s")
        settled = f"s.last_ts <= ? AND {has_field}"
        where, params = plan.where(
            f"{alive} AND {settled}", [*alive_params, _sql_time(at_ts)], "s", fields=False
        )
        select = ", ".join(
            [f"s.last_ts AS {TS}"]
            + [f"s.{quote(t)}" for t in plan.tags]
            + [f"s.{quote(f)}" for f in plan.fields]
        )
        parts = [self._fetch(f"SELECT {select} FROM {series} AS s WHERE {where}", params, plan)]
        where, params = plan.where(
            f"{alive} AND NOT ({settled})", [*alive_params, _sql_time(at_ts)], "s", fields=False
        )
        with self._cursor() as cur:
            pending, first = cur.execute(
                f"SELECT count(*), min(s.first_ts) FROM {series} AS s WHERE {where}", params
            ).fetchall()[0]
        if pending:
            bound = pd.Timestamp(first, tz="UTC")
            lower = "m.ts >= ?"
            if floor is not None and floor >= bound:
                bound, lower = floor, "m.ts > ?"
            look_back = pd.Timedelta(LAST_FIRST_WINDOW)
            while True:
                lo = at_ts - look_back
                final = lo <= bound
                found = self._last_rows(
                    measurement,
                    plan,
                    f"m.ts <= ? AND {lower if final else 'm.ts > ?'}",
                    [_sql_time(at_ts), _sql_time(bound if final else lo)],
                    (f"{alive} AND NOT ({settled})", [*alive_params, _sql_time(at_ts)]),
                )
                if final or len(found) >= pending:
                    parts.append(found)
                    break
                look_back *= LAST_WINDOW_GROWTH
        parts = [p for p in parts if len(p)]
        if not parts:
            return empty_frame()
        return finish_frame(pd.concat(parts, ignore_index=True), plan.tags, plan.fields)

    def _last_rows(
        self,
        measurement: str,
        plan: _Plan,
        window: str,
        window_params: list[Any],
        pending: tuple[str, list[Any]],
    ) -> pd.DataFrame:
        """Per pending series (``pending``: condition on the series table ``s``), the latest
        row in ``window`` (a condition on ``m.ts``) holding any chosen field."""
        where, params = plan.where(window, window_params, "m")
        tags_sql = [f"m.{quote(t)}" for t in plan.tags]
        select = ", ".join(
            [f"max(m.ts) AS {TS}", *tags_sql]
            + [f"arg_max_null(m.{quote(f)}, m.ts) AS {quote(f)}" for f in plan.fields]
        )
        same_series = " AND ".join(
            [f"s.{quote(t)} IS NOT DISTINCT FROM m.{quote(t)}" for t in plan.tags] or ["TRUE"]
        )
        condition, condition_params = pending
        sql = (
            f"SELECT {select} FROM {quote(measurement)} AS m WHERE {where} AND EXISTS "
            f"(SELECT 1 FROM {quote(SERIES_PREFIX + measurement)} AS s WHERE {same_series} "
            f"AND {condition})"
        )
        if tags_sql:
            sql += " GROUP BY ALL"
        return self._fetch(sql, [*params, *condition_params], plan)

    def _plan(
        self, measurement: str, tags: TagFilter | None, fields: Sequence[str] | None
    ) -> _Plan | None:
        """What a read touches, or None when it can find nothing (unknown names, empty lists)."""
        check_name(measurement, "measurement")
        wanted_tags = normalize_tag_filter(tags)
        wanted_fields = check_fields(fields)
        schema = self._schemas.get(measurement)
        if schema is None or any(
            not values or name not in schema.tags for name, values in wanted_tags.items()
        ):
            return None
        names = sorted(schema.fields) if wanted_fields is None else wanted_fields
        chosen = {f: schema.fields[f] for f in names if f in schema.fields}
        if not chosen:
            return None
        return _Plan(tuple(sorted(schema.tags)), chosen, wanted_tags)

    def _fetch(self, sql: str, params: list[Any], plan: _Plan) -> pd.DataFrame:
        with self._cursor() as cur:
            frame = cur.execute(sql, params).df()
        return finish_frame(frame, plan.tags, plan.fields, sort=False)


@dataclass(frozen=True)
class _Plan:
    """The columns and filters of one read."""

    tags: tuple[str, ...]
    fields: dict[str, FieldKind]
    tag_filter: dict[str, list[str]]

    def where(
        self, first: str, params: list[Any], alias: str = "m", *, fields: bool = True
    ) -> tuple[str, list[Any]]:
        """The WHERE clause over table ``alias`` and its parameters: ``first``, the tag filter
        and, with ``fields``, at least one chosen field present."""
        parts, out = [first], list(params)
        for name, values in self.tag_filter.items():
            parts.append(f"{alias}.{quote(name)} IN ({', '.join('?' * len(values))})")
            out.extend(values)
        if fields:
            parts.append(self.any_field(alias))
        return " AND ".join(parts), out

    def any_field(self, alias: str) -> str:
        """SQL condition: at least one chosen field of table ``alias`` is not null."""
        return "(" + " OR ".join(f"{alias}.{quote(f)} IS NOT NULL" for f in self.fields) + ")"

    @property
    def order_by(self) -> str:
        """Result order: ts, then tags (missing tags last)."""
        return " ORDER BY " + ", ".join([TS, *(quote(t) for t in self.tags)])


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    """Roll back after a failed write, keeping the failure's own error: a commit that failed
    has already ended its transaction, and "no transaction is active" would hide the cause."""
    try:
        cur.rollback()
    except duckdb.Error as exc:
        log.debug("rollback after a failed write: %s", str(exc))


def _to_arrow(batch: Batch, schema: Schema) -> pa.Table:
    """The batch as Arrow with every column of the measurement (absent ones null)."""
    n = len(batch.frame)
    ts = batch.frame[TS].dt.tz_convert(None).dt.as_unit("us")
    columns: dict[str, pa.Array] = {TS: pa.array(ts, type=pa.timestamp("us"))}
    for tag in schema.tags:
        columns[tag] = (
            pa.array(batch.frame[tag], type=pa.string(), from_pandas=True)
            if tag in batch.frame.columns
            else pa.nulls(n, pa.string())
        )
    for name, kind in schema.fields.items():
        columns[name] = (
            pa.array(batch.frame[name], type=ARROW_TYPES[kind], from_pandas=True)
            if name in batch.frame.columns
            else pa.nulls(n, ARROW_TYPES[kind])
        )
    return pa.table(columns)
