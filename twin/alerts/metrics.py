"""How a rule's metric is read from the store: the newest sample of every matching series.

* Plain field: ``store.last(measurement, at=now, fields=[field], within=…)`` with the selector's
  ``=`` matchers as the tag filter; ``within`` is the rule's ``lookback``, or NODATA_HORIZON for
  a rule with ``nodata_after`` (a silent series must still be seen to be reported as no-data).
* Counter (``rate``): the rows of ``[now - rate, now]``; the value is the counter's increase
  per minute over that window [1/min], counting a drop (a restarted collector) as a restart
  from zero. A series with a single row in the window has an increase of 0.

``!=`` and ``=~`` matchers are applied to the series' tags after reading. The tags of a series
are every column of the frame other than ``ts`` and the field.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from twin.alerts.engine import Sample, series_key
from twin.alerts.rules import Rule
from twin.store import TelemetryStore

Series = dict[str, tuple[dict[str, str], Sample]]
"""Per series key: the series' tags and its newest sample."""

_AFTER = timedelta(microseconds=1)

NODATA_HORIZON = timedelta(hours=24)
"""How far back a no-data rule looks for series [h]. A series silent for longer is not read;
once in state no-data it stays there (the state is remembered), so only a series that was
already silent this long when the rule first ran goes unreported."""


def read_series(store: TelemetryStore, rule: Rule, now: datetime) -> Series:
    """The newest sample of every series the rule's selector matches at ``now``."""
    selector = rule.selector
    tags = selector.equality_tags() or None
    if rule.rate is not None:
        frame = store.query(
            selector.measurement, now - rule.rate, now + _AFTER, tags=tags, fields=[selector.field]
        )
        return _rates(frame, selector.field, rule)
    within = rule.lookback if rule.nodata_after is None else max(NODATA_HORIZON, rule.lookback)
    frame = store.last(
        selector.measurement, at=now, tags=tags, fields=[selector.field], within=within
    )
    return _samples(frame, selector.field, rule)


def increase(values: np.ndarray) -> float:
    """Increase of a cumulative counter over consecutive readings [count]; a drop counts as a
    restart from zero (the value after the drop is all new)."""
    if values.size < 2:
        return 0.0
    steps = np.diff(values)
    return float(np.where(steps >= 0, steps, values[1:]).sum())


def _tag_columns(frame: pd.DataFrame, field: str) -> list[str]:
    return sorted(c for c in frame.columns if c not in ("ts", field))


def _matching(rule: Rule, tags: dict[str, str]) -> bool:
    return all(m.matches(tags) for m in rule.selector.matchers)


def _samples(frame: pd.DataFrame, field: str, rule: Rule) -> Series:
    if frame.empty or field not in frame.columns:
        return {}
    columns = _tag_columns(frame, field)
    result: Series = {}
    for row in frame.to_dict("records"):
        tags = _row_tags(row, columns)
        value = pd.to_numeric(row[field], errors="coerce")
        if _matching(rule, tags):
            sample = Sample(float(value), pd.Timestamp(row["ts"]).to_pydatetime())
            result[series_key(tags)] = (tags, sample)
    return result


def _rates(frame: pd.DataFrame, field: str, rule: Rule) -> Series:
    if frame.empty or field not in frame.columns:
        return {}
    assert rule.rate is not None
    columns = _tag_columns(frame, field)
    minutes = rule.rate.total_seconds() / 60.0
    grouped: dict[str, tuple[dict[str, str], list[float], datetime]] = {}
    for row in frame.sort_values("ts", kind="stable").to_dict("records"):
        tags = _row_tags(row, columns)
        if not _matching(rule, tags):
            continue
        key = series_key(tags)
        value = float(pd.to_numeric(row[field], errors="coerce"))
        _, values, _ = grouped.get(key, (tags, [], row["ts"]))
        if value == value:
            values.append(value)
        grouped[key] = (tags, values, pd.Timestamp(row["ts"]).to_pydatetime())
    return {
        key: (tags, Sample(increase(np.asarray(values)) / minutes, last))
        for key, (tags, values, last) in grouped.items()
    }


def _row_tags(row: Mapping[Hashable, Any], columns: list[str]) -> dict[str, str]:
    return {c: str(row[c]) for c in columns if row[c] is not None and row[c] == row[c]}
