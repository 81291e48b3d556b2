"""InfluxQL statements for the store's reads, and their JSON answers as wide frames (pure).

InfluxQL over ``/query`` is the one read API that InfluxDB 1.x, 2.x (v1 compatibility, through
a DBRP mapping) and 3.x all answer. Every statement groups by all tags (``GROUP BY *``), so each
answered series carries its tag values apart from its field columns; a tag a series lacks comes
back as ``""`` and is absent in the frame (InfluxDB stores no empty tag values).

Names reaching here are checked identifiers (:func:`twin.store.frames.check_name`) and are
double-quoted anyway; values are single-quoted string literals; times are RFC 3339 literals
[ns]; windows are durations in microseconds (``u``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from twin.errors import StoreError
from twin.store.frames import TS, empty_frame, finish_frame, iso_utc, to_every, to_utc

NUMERIC_TYPES = frozenset({"float", "integer"})
"""InfluxDB field types averaged when downsampling; others keep their last value."""

_STRING_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n"})

Series = dict[str, Any]
"""One answered series: ``name``, ``tags`` (when grouped), ``columns`` and ``values``."""


# -- literals --------------------------------------------------------------------------------


def identifier(name: str) -> str:
    """A double-quoted InfluxQL identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string_literal(value: str) -> str:
    """A single-quoted InfluxQL string literal (``\\``, ``'`` and newlines escaped)."""
    return "'" + value.translate(_STRING_ESCAPES) + "'"


def time_literal(value: datetime | pd.Timestamp) -> str:
    """An RFC 3339 time literal, UTC, nanosecond precision."""
    ts = to_utc(value)
    nanos = ts.microsecond * 1_000 + ts.nanosecond
    return "'" + ts.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z'"


def duration_literal(value: timedelta | str) -> str:
    """A positive window as an InfluxQL duration in microseconds (``3600000000u``)."""
    return f"{to_every(value).value // 1_000}u"


# -- statements ------------------------------------------------------------------------------


def _where(
    start: datetime | pd.Timestamp | None,
    stop: datetime | pd.Timestamp | None,
    tags: Mapping[str, Sequence[str]],
    *,
    stop_inclusive: bool = False,
) -> str:
    terms = []
    if start is not None:
        terms.append(f"time >= {time_literal(start)}")
    if stop is not None:
        terms.append(f"time {'<=' if stop_inclusive else '<'} {time_literal(stop)}")
    for name, values in tags.items():
        accepted = " OR ".join(f"{identifier(name)} = {string_literal(v)}" for v in values)
        terms.append(f"({accepted})")
    return " WHERE " + " AND ".join(terms) if terms else ""


def _columns(fields: Sequence[str] | None) -> str:
    return "*" if fields is None else ", ".join(identifier(f) for f in fields)


def select_rows(
    measurement: str,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    tags: Mapping[str, Sequence[str]],
    fields: Sequence[str] | None,
) -> str:
    """Raw rows with ``start <= time < stop``, per series."""
    where = _where(start, stop, tags)
    return f"SELECT {_columns(fields)} FROM {identifier(measurement)}{where} GROUP BY *"


def select_windows(
    measurement: str,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    tags: Mapping[str, Sequence[str]],
    kinds: Mapping[str, str],
    every: timedelta | str,
) -> str:
    """Per series and epoch-aligned window of ``every``: the mean of numeric fields and the last
    value of the others (``kinds``: field → InfluxDB type), stamped at the window start; empty
    windows left out."""
    aggregates = ", ".join(
        f"{'mean' if kind in NUMERIC_TYPES else 'last'}({identifier(f)}) AS {identifier(f)}"
        for f, kind in kinds.items()
    )
    where = _where(start, stop, tags)
    return (
        f"SELECT {aggregates} FROM {identifier(measurement)}{where} "
        f"GROUP BY time({duration_literal(every)}), * fill(none)"
    )


def select_latest(
    measurement: str,
    at: datetime | pd.Timestamp,
    tags: Mapping[str, Sequence[str]],
    fields: Sequence[str] | None,
    within: timedelta | None = None,
) -> str:
    """Per series the latest row with ``time <= at`` (and ``time > at - within``) holding any
    of ``fields`` (None: any field)."""
    at_ts = to_utc(at)
    # A tick past the far end turns the inclusive ">=" into the exclusive "> at - within".
    start = None if within is None else at_ts - pd.Timedelta(within) + pd.Timedelta(1, "ns")
    where = _where(start, at_ts, tags, stop_inclusive=True)
    return (
        f"SELECT {_columns(fields)} FROM {identifier(measurement)}{where} "
        "GROUP BY * ORDER BY time DESC LIMIT 1"
    )


def show_field_keys(measurement: str) -> str:
    """The fields of a measurement and their types."""
    return f"SHOW FIELD KEYS FROM {identifier(measurement)}"


SHOW_MEASUREMENTS = "SHOW MEASUREMENTS"


def count_statements(measurement: str) -> list[str]:
    """For ``counts``: values per field and series, the first row and the last row."""
    name = identifier(measurement)
    return [
        f"SELECT count(*) FROM {name} GROUP BY *",
        f"SELECT * FROM {name} ORDER BY time ASC LIMIT 1",
        f"SELECT * FROM {name} ORDER BY time DESC LIMIT 1",
    ]


# -- answers ---------------------------------------------------------------------------------


def statement_series(answer: Any, index: int = 0) -> list[Series]:
    """The series answering statement ``index`` of a ``/query`` answer; raise StoreError with
    the server's message when that statement failed."""
    try:
        result = answer["results"][index]
    except (KeyError, IndexError, TypeError) as exc:
        raise StoreError(f"the /query answer has no result {index}: {str(answer)[:200]}") from exc
    if "error" in result:
        raise StoreError(str(result["error"]))
    return list(result.get("series") or [])


def _times(values: pd.Series) -> pd.Series:
    """Answer times as UTC timestamps: integers [µs since the epoch] or RFC 3339 text."""
    if pd.api.types.is_integer_dtype(values):
        return pd.to_datetime(values, unit="us", utc=True)
    return pd.to_datetime(values, utc=True, format="ISO8601")


def series_frame(series: Sequence[Series], fields: Sequence[str] | None) -> pd.DataFrame:
    """Wide frame (``ts``, tags, fields) from grouped series; ``fields`` None: every field found,
    sorted by name. Columns are gathered as plain lists and framed once (thousands of series
    answer a ``last`` over a large fleet)."""
    if not series:
        return empty_frame()
    tags, found = dict[str, None](), dict[str, None]()
    for one in series:
        tags.update(dict.fromkeys(one.get("tags") or {}))
        found.update(dict.fromkeys(c for c in one["columns"] if c != "time"))
    values: dict[str, list[Any]] = {name: [] for name in ("time", *found, *tags)}
    for one in series:
        rows = len(one["values"])
        by_column = (
            dict(zip(one["columns"], zip(*one["values"], strict=True), strict=True)) if rows else {}
        )
        for name in ("time", *found):
            values[name].extend(by_column.get(name, (None,) * rows))
        own = one.get("tags") or {}
        for tag in tags:
            values[tag].extend([own.get(tag) or None] * rows)
    frame = pd.DataFrame(values).rename(columns={"time": TS})
    frame[TS] = _times(frame[TS])
    chosen = sorted(found) if fields is None else [f for f in fields if f in found]
    return finish_frame(frame, tags, chosen)


def field_kinds(series: Sequence[Series]) -> dict[str, str]:
    """``SHOW FIELD KEYS`` answer as field → type (``float``, ``integer``, ``string`` …)."""
    return {str(key): str(kind) for one in series for key, kind in one["values"]}


def measurement_names(series: Sequence[Series]) -> list[str]:
    """``SHOW MEASUREMENTS`` answer as sorted names."""
    return sorted(str(row[0]) for one in series for row in one["values"])


def counts_entry(
    per_series: Sequence[Series], first: Sequence[Series], last: Sequence[Series]
) -> dict[str, Any] | None:
    """One measurement's ``counts`` entry from the answers of :func:`count_statements`.

    ``rows`` sums, over series, the values of the series' most-reported field: its row count
    whenever one field is in every row, as each telemetry kind's fields are (a series whose
    rows carry disjoint fields counts fewer).
    """
    rows = 0
    for one in per_series:
        counts = [v for row in one["values"] for v in row[1:] if v is not None]
        rows += int(max(counts, default=0))
    if not rows or not first or not last:
        return None
    start = _times(pd.Series([first[0]["values"][0][0]]))[0]
    end = _times(pd.Series([last[0]["values"][0][0]]))[0]
    return {"rows": rows, "first": iso_utc(start), "last": iso_utc(end)}
