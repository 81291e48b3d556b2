"""Pure helpers both store backends share: names, time bounds, batches in, result frames out.

A *batch* is what one ``write`` stores for one measurement: a wide frame with a ``ts`` column
(tz-aware UTC, microseconds), one text column per tag and one column per field (float64 or
text), at most one row per series and timestamp. Readings of one ``write`` call become one batch
per measurement.

Names of measurements, tags and fields arrive from the network, so every backend checks them
with :func:`check_name` before they reach SQL or InfluxQL, against the schema contract
(:mod:`twin.schema`: name grammar and length, fields per reading, text length).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from twin.domain import Reading
from twin.errors import StoreError
from twin.schema import name_problem, text_too_long, too_many_fields

FieldKind = Literal["float", "str"]
"""How a field is stored: a float [its canonical unit] or text."""

TS = "ts"
TS_DTYPE = "datetime64[us, UTC]"
TEXT_DTYPE = pd.StringDtype(na_value=np.nan)


def check_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it is a valid measurement, tag or field name; raise StoreError if not."""
    problem = name_problem(name)
    if problem is not None:
        raise StoreError(f"{what} {problem}")
    assert isinstance(name, str)
    return name


def to_utc(value: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """A tz-aware UTC timestamp [ns precision]; a naive value is taken as UTC already."""
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        raise StoreError(f"time {value!r} is not a timestamp")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def to_every(every: timedelta | str) -> pd.Timedelta:
    """A positive window length such as ``"1h"``, ``"15min"`` or a timedelta [whole µs]."""
    try:
        width = pd.Timedelta(every)
    except ValueError as exc:
        raise StoreError(f"window {every!r} is not a duration: write e.g. '1h' or '15min'") from exc
    if width is pd.NaT or width <= pd.Timedelta(0) or width.value % 1_000:
        raise StoreError(f"window {every!r} must be a positive whole number of microseconds")
    return width


def normalize_tag_filter(tags: Mapping[str, str | Sequence[str]] | None) -> dict[str, list[str]]:
    """Tag filter as ``{tag: [accepted values]}``; a single value becomes a one-item list."""
    out: dict[str, list[str]] = {}
    for key, value in (tags or {}).items():
        check_name(key, "tag")
        out[key] = [value] if isinstance(value, str) else [str(v) for v in value]
    return out


def check_fields(fields: Sequence[str] | None) -> list[str] | None:
    """Requested field names, checked; None means all fields."""
    if fields is None:
        return None
    if isinstance(fields, str):
        fields = [fields]
    return [check_name(f, "field") for f in dict.fromkeys(fields)]


@dataclass(frozen=True)
class Batch:
    """One measurement's rows of one write: ``frame`` (see the module docstring), its tag names
    and each field's kind."""

    measurement: str
    frame: pd.DataFrame
    tags: tuple[str, ...]
    fields: dict[str, FieldKind]


def readings_to_batches(readings: Iterable[Reading]) -> list[Batch]:
    """Group readings by measurement into deduplicated batches (later readings win per field)."""
    rows: dict[str, list[dict[str, object]]] = {}
    times: dict[str, list[datetime]] = {}
    tag_names: dict[str, dict[str, None]] = {}
    checked: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()
    for reading in readings:
        signature = (reading.measurement, tuple(reading.tags), tuple(reading.fields))
        if signature not in checked:
            _check_signature(*signature)
            checked.add(signature)
        rows.setdefault(reading.measurement, []).append({**reading.tags, **reading.fields})
        times.setdefault(reading.measurement, []).append(reading.ts)
        tag_names.setdefault(reading.measurement, {}).update(dict.fromkeys(reading.tags))
    batches = []
    for measurement, records in rows.items():
        frame = pd.DataFrame.from_records(records)
        frame.insert(0, TS, _ts_column(times[measurement]))
        batch = frame_to_batch(measurement, frame, list(tag_names[measurement]))
        if len(batch.frame):
            batches.append(batch)
    return batches


def frame_to_batch(measurement: str, frame: pd.DataFrame, tags: Sequence[str]) -> Batch:
    """Check and normalise a wide frame (``ts``, ``tags``, fields) into a deduplicated batch.

    Empty tag values count as absent; NaN field values count as not given; rows with no field
    left are dropped. Raises StoreError for bad names, text mixed with numbers in one field, or
    infinite numbers.
    """
    check_name(measurement, "measurement")
    if TS not in frame.columns:
        raise StoreError(f"a frame for {measurement!r} needs a 'ts' column")
    tags = [check_name(t, "tag") for t in dict.fromkeys(tags)]
    missing = [t for t in tags if t not in frame.columns]
    if missing:
        raise StoreError(f"tag columns {missing} are not in the frame for {measurement!r}")
    field_names = [check_name(c, "field") for c in frame.columns if c != TS and c not in tags]
    out = pd.DataFrame({TS: _ts_column(frame[TS])})
    for tag in tags:
        out[tag] = _checked_text(measurement, tag, frame[tag]).replace("", np.nan)
    kinds: dict[str, FieldKind] = {}
    for name in field_names:
        kinds[name], out[name] = _field_column(measurement, name, frame[name])
    out = out.dropna(subset=field_names, how="all") if field_names else out.iloc[0:0]
    keys = [*tags, TS]
    if out.duplicated(subset=keys).any():
        out = out.groupby(keys, dropna=False, sort=False, as_index=False).last()
        out = out[[TS, *tags, *field_names]]
    return Batch(measurement, out.reset_index(drop=True), tuple(tags), kinds)


def _check_signature(measurement: str, tags: tuple[str, ...], fields: tuple[str, ...]) -> None:
    check_name(measurement, "measurement")
    problem = too_many_fields(len(fields))
    if problem is not None:
        raise StoreError(f"{measurement!r}: {problem}")
    for tag in tags:
        check_name(tag, "tag")
    for name in fields:
        check_name(name, "field")
    both = set(tags) & set(fields)
    if both:
        raise StoreError(f"{sorted(both)} in {measurement!r} are both tags and fields: rename one")


def _ts_column(values: Iterable[object] | pd.Series) -> pd.Series:
    column = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    try:
        ts = pd.to_datetime(column, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise StoreError(f"timestamps are not understood: {exc}") from exc
    if ts.isna().any():
        raise StoreError("every row needs a timestamp in 'ts'")
    return ts.dt.as_unit("us").reset_index(drop=True)


def _text(column: pd.Series) -> pd.Series:
    """Values as text [nullable], keeping missing values missing (one vectorised conversion:
    a per-value Python call cost seconds on the million-row answers of a large fleet)."""
    return column.astype(TEXT_DTYPE)


def _checked_text(measurement: str, name: str, column: pd.Series) -> pd.Series:
    """Values as text (see :func:`_text`); StoreError if one is longer than the contract allows."""
    text = _text(column)
    longest = text.str.len().max() if len(text) else 0
    problem = text_too_long(int(longest) if pd.notna(longest) else 0)
    if problem is not None:
        raise StoreError(f"{name!r} of {measurement!r}: {problem}")
    return text


def _field_column(measurement: str, name: str, column: pd.Series) -> tuple[FieldKind, pd.Series]:
    column = column.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.astype("float64")
    else:
        present = column.dropna()
        if present.map(lambda v: isinstance(v, str)).all():
            return "str", _checked_text(measurement, name, column)
        if not present.map(lambda v: isinstance(v, int | float) and not isinstance(v, str)).all():
            raise StoreError(f"field {name!r} of {measurement!r} mixes text and numbers")
        values = column.astype("float64")
    if np.isinf(values.to_numpy()).any():
        raise StoreError(f"field {name!r} of {measurement!r} has an infinite value")
    return "float", values


def empty_frame() -> pd.DataFrame:
    """The result of a query that found nothing: no rows and a ``ts`` column."""
    return pd.DataFrame({TS: pd.Series([], dtype=TS_DTYPE)})


def finish_frame(
    frame: pd.DataFrame,
    tags: Iterable[str],
    fields: Iterable[str],
    *,
    sort: bool = True,
) -> pd.DataFrame:
    """Shape a result the way the protocol promises.

    Columns ``ts`` (tz-aware UTC [µs]), the tags (sorted by name, text), then the fields in the
    order given (float64 or text); rows with no field value dropped; rows sorted by ``ts`` then
    tags unless ``sort`` is False (the rows are sorted already).
    """
    tags = sorted(tags)
    fields = list(fields)
    if frame.empty:
        return empty_frame()
    ts = _utc_us(frame[TS])
    columns: dict[str, pd.Series] = {TS: ts}  # built whole: wide tables stay one block
    for tag in tags:
        absent = pd.Series(np.nan, index=ts.index, dtype=TEXT_DTYPE)
        columns[tag] = _text(frame[tag]) if tag in frame.columns else absent
    for name in fields:
        columns[name] = (
            _result_field(frame[name])
            if name in frame.columns
            else pd.Series(np.nan, index=ts.index, dtype="float64")
        )
    out = pd.DataFrame(columns)
    if fields:
        out = out.dropna(subset=fields, how="all")
    if sort:
        out = out.sort_values([TS, *tags], na_position="last", kind="stable")
    return out.reset_index(drop=True) if len(out) else empty_frame()


def _utc_us(column: pd.Series) -> pd.Series:
    ts = pd.to_datetime(column, utc=True)
    return ts.dt.as_unit("us")


def _result_field(column: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.astype("float64")
    present = column.dropna()
    if len(present) and present.map(lambda v: isinstance(v, str)).all():
        return _text(column)
    return column.astype("float64") if len(present) else column.astype(TEXT_DTYPE)


def iso_utc(value: datetime | pd.Timestamp) -> str:
    """ISO 8601 text of a UTC time, e.g. ``2024-01-01T00:00:00+00:00``."""
    return to_utc(value).isoformat()
