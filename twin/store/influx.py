"""Telemetry store on an InfluxDB 2.x server, through influxdb-client.

Writes are synchronous: each ``write`` turns its readings into line protocol (microsecond
precision, numbers as floats, text as strings) and posts it gzip-compressed in chunks, retrying
refused connections and 429/5xx answers with exponential back-off (urllib3 ``Retry``). A write
that still fails raises :class:`StoreUnavailable`, so the caller keeps the batch; a batch the
server rejects as malformed (400, 413, 422) raises :class:`StoreError`. Re-writing a point
replaces the fields it gives, which InfluxDB does by itself.

Reads are Flux queries built by the pure ``flux_*`` functions below and mapped to the same wide
frames as the DuckDB store: ``ts`` (tz-aware UTC), tag columns, field columns, sorted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial, reduce
from operator import add
from typing import Any, TypeVar, cast

import pandas as pd
import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.flux_table import FluxTable
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.util.retry import Retry

from twin.errors import ConfigError, StoreError, StoreUnavailable
from twin.model import Reading
from twin.store import TagFilter
from twin.store.frames import (
    TS,
    Batch,
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
T = TypeVar("T")

DEFAULT_TIMEOUT_MS = 10_000
"""HTTP timeout of one request [ms]."""
DEFAULT_RETRIES = 3
"""Retries of a failed request (refused connection, timeout, 429 or 5xx)."""
DEFAULT_BACKOFF_S = 0.5
"""Back-off factor [s]: retry n waits backoff_s × 2^(n-1)."""
DEFAULT_CHUNK_LINES = 5_000
"""Lines of line protocol per HTTP request."""
RETRY_STATUSES = (429, 500, 502, 503, 504)
REJECTED_STATUSES = (400, 413, 422)
EPOCH = pd.Timestamp(0, tz="UTC")
BOOKKEEPING = frozenset({"result", "table"})
MICROSECONDS = cast(WritePrecision, WritePrecision.US)

_TAG_ESCAPES = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\r": r"\r", "\t": r"\t"}
)
_FLUX_ESCAPES = str.maketrans(
    {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
)


# -- line protocol ---------------------------------------------------------------------------


def line_protocol(batch: Batch) -> list[str]:
    """The batch as InfluxDB line protocol, one line per row, timestamps in µs since the epoch.

    Names are checked identifiers and need no escaping; tag values escape ``,``, ``=``, space
    and control characters; text fields escape ``\\`` and ``"``; absent tags and fields are
    left out.
    """
    frame = batch.frame
    if frame.empty:
        return []
    head = pd.Series(batch.measurement, index=frame.index, dtype=object)
    for tag in sorted(batch.tags):
        values = frame[tag]
        escaped = values.astype(object).map(
            lambda v: v.translate(_TAG_ESCAPES) if isinstance(v, str) else ""
        )
        head = head + (f",{tag}=" + escaped).where(values.notna(), "")
    parts = []
    for name, kind in batch.fields.items():
        values = frame[name]
        if kind == "float":
            text = values.map(repr)
        else:
            text = (
                '"'
                + values.astype(object).map(
                    lambda v: (
                        v.replace("\\", "\\\\").replace('"', '\\"') if isinstance(v, str) else ""
                    )
                )
                + '"'
            )
        parts.append((f",{name}=" + text.astype(object)).where(values.notna(), ""))
    fields = reduce(add, parts).str[1:]
    micros = frame[TS].dt.tz_convert(None).dt.as_unit("us").astype("int64").astype(str)
    return (head + " " + fields + " " + micros).tolist()


# -- Flux ------------------------------------------------------------------------------------


def flux_string(value: str) -> str:
    """A Flux string literal of ``value`` (``\\``, ``"``, ``$`` and control characters escaped)."""
    return '"' + value.translate(_FLUX_ESCAPES) + '"'


def flux_time(value: datetime | pd.Timestamp) -> str:
    """A Flux time literal, UTC, nanosecond precision (``2024-01-01T00:00:00.000000000Z``)."""
    ts = to_utc(value)
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts.microsecond * 1_000 + ts.nanosecond:09d}Z"


def flux_duration(value: timedelta | str) -> str:
    """A Flux duration literal of a positive window, in the coarsest exact unit (s, ms, us)."""
    micros = to_every(value).value // 1_000
    if micros % 1_000_000 == 0:
        return f"{micros // 1_000_000}s"
    if micros % 1_000 == 0:
        return f"{micros // 1_000}ms"
    return f"{micros}us"


def _flux_filters(
    measurement: str, tags: Mapping[str, Sequence[str]], fields: Sequence[str] | None
) -> list[str]:
    lines = [f"  |> filter(fn: (r) => r._measurement == {flux_string(measurement)})"]
    for name, values in tags.items():
        accepted = " or ".join(f"r[{flux_string(name)}] == {flux_string(v)}" for v in values)
        lines.append(f"  |> filter(fn: (r) => {accepted})")
    if fields is not None:
        accepted = " or ".join(f"r._field == {flux_string(f)}" for f in fields)
        lines.append(f"  |> filter(fn: (r) => {accepted})")
    return lines


def flux_query(
    bucket: str,
    measurement: str,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    tags: Mapping[str, Sequence[str]],
    fields: Sequence[str] | None,
    every: timedelta | str | None = None,
) -> str:
    """Flux for ``query``: range → filters → (per window: mean of numbers, last of text) →
    pivot to one row per series and time. Tags and fields must be non-empty lists."""
    source = [
        f"from(bucket: {flux_string(bucket)})",
        f"  |> range(start: {flux_time(start)}, stop: {flux_time(stop)})",
        *_flux_filters(measurement, tags, fields),
    ]
    pivot = '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")'
    if every is None:
        return "\n".join([*source, pivot])
    window = f'every: {flux_duration(every)}, createEmpty: false, timeSrc: "_start"'
    return "\n".join(
        [
            'import "types"',
            "",
            "data = " + source[0],
            *source[1:],
            "numbers = data",
            '  |> filter(fn: (r) => not types.isType(v: r._value, type: "string"))',
            f"  |> aggregateWindow({window}, fn: mean)",
            "texts = data",
            '  |> filter(fn: (r) => types.isType(v: r._value, type: "string"))',
            f"  |> aggregateWindow({window}, fn: last)",
            "union(tables: [numbers, texts])",
            pivot,
        ]
    )


def flux_last(
    bucket: str,
    measurement: str,
    at: datetime | pd.Timestamp,
    tags: Mapping[str, Sequence[str]],
    fields: Sequence[str] | None,
    within: timedelta | None = None,
) -> str:
    """Flux for ``last``: per series and field the latest point with ``ts <= at`` (and
    ``ts > at - within``). One nanosecond is added to the bounds to turn Flux's half-open
    ``[start, stop)`` into ``(at - within, at]``."""
    tick = pd.Timedelta(1, "ns")
    start = EPOCH if within is None else to_utc(at) - pd.Timedelta(within) + tick
    return "\n".join(
        [
            f"from(bucket: {flux_string(bucket)})",
            f"  |> range(start: {flux_time(start)}, stop: {flux_time(to_utc(at) + tick)})",
            *_flux_filters(measurement, tags, fields),
            "  |> last()",
        ]
    )


def flux_counts(bucket: str) -> str:
    """Flux for ``counts``: per measurement the rows (distinct series and time), first and last
    time, as the results ``rows``, ``first`` and ``last``."""
    return "\n".join(
        [
            f"data = from(bucket: {flux_string(bucket)})",
            f"  |> range(start: {flux_time(EPOCH)})",
            '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
            '  |> keep(columns: ["_measurement", "_time"])',
            '  |> group(columns: ["_measurement"])',
            'data |> count(column: "_time") |> yield(name: "rows")',
            'data |> min(column: "_time") |> yield(name: "first")',
            'data |> max(column: "_time") |> yield(name: "last")',
        ]
    )


def flux_measurements(bucket: str) -> str:
    """Flux listing the measurements in the bucket."""
    return "\n".join(
        [
            'import "influxdata/influxdb/schema"',
            "",
            f"schema.measurements(bucket: {flux_string(bucket)}, start: {flux_time(EPOCH)})",
        ]
    )


# -- results ---------------------------------------------------------------------------------


def _is_data_column(label: str) -> bool:
    return not label.startswith("_") and label not in BOOKKEEPING


def pivoted_frame(tables: Iterable[FluxTable], fields: Sequence[str] | None) -> pd.DataFrame:
    """Wide frame from pivoted Flux tables: tags are the group-key columns, fields the rest."""
    frames, tags, found = [], dict[str, None](), dict[str, None]()
    for table in tables:
        names = [c.label for c in table.columns]
        for column in table.columns:
            if _is_data_column(column.label):
                (tags if column.group else found)[column.label] = None
        frames.append(pd.DataFrame([r.values for r in table.records], columns=names))
    if not frames:
        return empty_frame()
    frame = pd.concat(frames, ignore_index=True).rename(columns={"_time": TS})
    chosen = sorted(found) if fields is None else [f for f in fields if f in found]
    return finish_frame(frame, [t for t in tags if t not in found], chosen)


def last_frame(tables: Iterable[FluxTable], fields: Sequence[str] | None) -> pd.DataFrame:
    """Wide frame from per-field last points: per series its latest time and the fields that
    have a point at that time (the series' latest row)."""
    rows, tags = [], dict[str, None]()
    for table in tables:
        labels = [c.label for c in table.columns if c.group and _is_data_column(c.label)]
        tags.update(dict.fromkeys(labels))
        for record in table.records:
            row: dict[str, Any] = {t: record.values.get(t) for t in labels}
            row.update({TS: record.get_time(), "_field": record.get_field()})
            rows.append({**row, "_value": record.get_value()})
    if not rows:
        return empty_frame()
    long = pd.DataFrame(rows)
    keys = list(tags)
    for tag in keys:  # InfluxDB has no empty tag values, so "" can stand for an absent tag
        long[tag] = long[tag].astype(object).where(long[tag].notna(), "")
    found = sorted(set(long["_field"]))
    latest = long.groupby(keys, sort=False)[TS].transform("max") if keys else long[TS].max()
    long = long[long[TS] == latest]
    wide = long.pivot(index=[*keys, TS], columns="_field", values="_value").reset_index()
    for tag in keys:
        wide[tag] = wide[tag].astype(object).where(wide[tag] != "", None)
    chosen = sorted(found) if fields is None else [f for f in fields if f in found]
    return finish_frame(wide, keys, chosen)


def counts_from_tables(tables: Iterable[FluxTable]) -> dict[str, dict[str, Any]]:
    """``counts`` from the ``rows``, ``first`` and ``last`` results of :func:`flux_counts`."""
    out: dict[str, dict[str, Any]] = {}
    for table in tables:
        for record in table.records:
            entry = out.setdefault(str(record.values["_measurement"]), {})
            value = record.values["_time"]
            name = str(record.values["result"])
            entry[name] = int(value) if name == "rows" else iso_utc(value)
    return {m: out[m] for m in sorted(out) if out[m].get("rows")}


# -- the store -------------------------------------------------------------------------------


class InfluxStore:
    """TelemetryStore on an InfluxDB 2.x bucket (see the module docstring).

    url : str
        ``http(s)://host:port`` of the server.
    org, bucket, token : str
        Organisation, bucket and an API token allowed to read and write the bucket.
    timeout_ms : int [ms]; retries : int; backoff_s : float [s]; chunk_lines : int
        HTTP timeout, retry count, back-off factor and lines per write request.
    """

    def __init__(
        self,
        url: str,
        org: str,
        bucket: str,
        token: str,
        *,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        chunk_lines: int = DEFAULT_CHUNK_LINES,
    ) -> None:
        if not re.match(r"https?://[^/\s]+", url):
            raise ConfigError(f"InfluxDB URL {url!r} is not understood: write http://host:8086")
        if not (org and bucket and token):
            raise ConfigError("InfluxDB needs an org, a bucket and a token: set all three")
        if chunk_lines < 1:
            raise ConfigError(f"chunk_lines must be at least 1, not {chunk_lines}")
        self.url, self.org, self.bucket = url, org, bucket
        self.chunk_lines = chunk_lines
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff_s,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # writes and Flux queries are POSTs that are safe to repeat
            raise_on_status=False,
        )
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=timeout_ms, enable_gzip=True, retries=retry
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._query_api = self._client.query_api()
        self._closed = False

    def close(self) -> None:
        """Release the HTTP connections. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._write_api.close()
            self._client.close()

    # -- writing ---------------------------------------------------------------------------

    def write(self, readings: Iterable[Reading]) -> int:
        """Store readings of any measurements; return the rows stored (one per series and
        timestamp)."""
        return self._post(readings_to_batches(readings))

    def write_frame(self, measurement: str, frame: pd.DataFrame, tags: Sequence[str]) -> int:
        """Store a wide frame (``ts``, the ``tags`` columns, fields); return the rows stored."""
        return self._post([frame_to_batch(measurement, frame, tags)])

    def _post(self, batches: list[Batch]) -> int:
        lines = [line for batch in batches for line in line_protocol(batch)]
        for first in range(0, len(lines), self.chunk_lines):
            body = "\n".join(lines[first : first + self.chunk_lines])
            self._call(
                "write to",
                partial(
                    self._write_api.write,
                    bucket=self.bucket,
                    org=self.org,
                    record=body,
                    write_precision=MICROSECONDS,
                ),
            )
        return len(lines)

    # -- reading ---------------------------------------------------------------------------

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
        check_name(measurement, "measurement")
        wanted_tags, wanted_fields = normalize_tag_filter(tags), check_fields(fields)
        width = None if every is None else to_every(every)
        begin, end = to_utc(start), to_utc(stop)
        if begin >= end or not all(wanted_tags.values()) or wanted_fields == []:
            return empty_frame()
        flux = flux_query(self.bucket, measurement, begin, end, wanted_tags, wanted_fields, width)
        frame = pivoted_frame(self._run(flux), wanted_fields)
        if width is not None and len(frame):
            # Flux clips the first window to the range start; stamp it at its aligned start.
            frame[TS] = frame[TS].dt.floor(width)
        return frame

    def last(
        self,
        measurement: str,
        at: datetime | pd.Timestamp | None = None,
        tags: TagFilter | None = None,
        fields: Sequence[str] | None = None,
        within: timedelta | None = None,
    ) -> pd.DataFrame:
        """State at ``at`` (default now): per series its latest row with ``ts <= at`` (and
        ``ts > at - within``) holding any of the chosen fields."""
        check_name(measurement, "measurement")
        wanted_tags, wanted_fields = normalize_tag_filter(tags), check_fields(fields)
        at_ts = pd.Timestamp.now(tz="UTC") if at is None else to_utc(at)
        if not all(wanted_tags.values()) or wanted_fields == []:
            return empty_frame()
        if within is not None and pd.Timedelta(within) <= pd.Timedelta(0):
            return empty_frame()
        flux = flux_last(self.bucket, measurement, at_ts, wanted_tags, wanted_fields, within)
        return last_frame(self._run(flux), wanted_fields)

    def measurements(self) -> list[str]:
        """Names of the measurements holding data, sorted."""
        tables = self._run(flux_measurements(self.bucket))
        return sorted({str(r.get_value()) for t in tables for r in t.records})

    def counts(self) -> dict[str, dict[str, Any]]:
        """Per measurement: ``rows``, ``first`` and ``last`` timestamp (ISO 8601 UTC)."""
        return counts_from_tables(self._run(flux_counts(self.bucket)))

    def _run(self, flux: str) -> list[FluxTable]:
        log.debug("flux query: %s", flux)
        return self._call("query", lambda: list(self._query_api.query(flux, org=self.org)))

    def _call(self, action: str, request: Callable[[], T]) -> T:
        """Run one HTTP request; failures become StoreUnavailable (try again) or StoreError."""
        where = f"{action} InfluxDB {self.url} (org {self.org!r}, bucket {self.bucket!r})"
        try:
            return request()
        except ApiException as exc:
            status = exc.status or 0
            detail = f"{where} failed with HTTP {status}: {_message(exc)}"
            if status in REJECTED_STATUSES:
                raise StoreError(f"{detail}; the data or query was refused, fix it") from exc
            if status in (401, 403):
                raise StoreUnavailable(f"{detail}; check the token and its permissions") from exc
            if status == 404:
                raise StoreUnavailable(f"{detail}; check that the org and bucket exist") from exc
            raise StoreUnavailable(f"{detail}; try again later") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailable(f"cannot {where}: {exc}; is the server running?") from exc


def _message(exc: ApiException) -> str:
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
    return str(body or exc.reason or "").strip()[:300]
