"""Alert state and history kept in the store, so that a restart carries on where it stopped.

Measurements (all string fields are ISO 8601 UTC times or text; "" means none):

* ``alert_state`` (tags ``rule``, ``series``): ``state``, ``since``, ``active_since``,
  ``last_active``, ``message``; ``value`` [unit of the rule's
  field]. A row is written at an evaluation when the state changed or is not quiet (pending,
  firing, nodata, error), so the newest row of every series is its current state.
* ``alert_event`` (tags ``rule``, ``series``): one row per transition: ``previous``, ``state``,
  ``status`` (firing/resolved), ``labels`` (JSON), ``starts_at``, ``message``, ``silenced``
  and ``notified`` (0 or 1); ``value``.
* ``alert_rule`` (tag ``rule``): one row per evaluation: ``series``, ``pending``, ``firing``,
  ``nodata`` [count] and ``error`` (text, "" when the metric was read).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import pandas as pd

from twin.alerts.engine import ACTIVE, ALERTING, SeriesState, Transition, series_tags
from twin.store import TelemetryStore

STATE = "alert_state"
EVENTS = "alert_event"
RULES = "alert_rule"

StateKey = tuple[str, str]
"""(rule name, series key)."""


def load_states(store: TelemetryStore, now: datetime) -> dict[StateKey, SeriesState]:
    """The newest stored state of every (rule, series) at ``now``."""
    frame = store.last(STATE, at=now)
    if frame.empty or "rule" not in frame.columns:
        return {}
    states: dict[StateKey, SeriesState] = {}
    for row in frame.to_dict("records"):
        state = SeriesState(
            rule=str(row["rule"]),
            series=_text(row.get("series")),
            tags=series_tags(_text(row.get("series"))),
            state=str(row["state"]),
            since=_time(row.get("since")),
            active_since=_time(row.get("active_since")),
            last_active=_time(row.get("last_active")),
            value=float(row["value"]) if pd.notna(row.get("value")) else math.nan,
            evaluated_at=pd.Timestamp(row["ts"]).to_pydatetime(),
            message=_text(row.get("message")),
        )
        states[(state.rule, state.series)] = state
    return states


def alert_counts(store: TelemetryStore, now: datetime) -> dict[str, int]:
    """How many series are ``firing`` and ``pending`` at ``now`` (their newest stored state).
    Reads the state field alone: the header asks on every tick of every page."""
    frame = store.last(STATE, at=now, fields=["state"])
    states = frame["state"].tolist() if "state" in frame.columns else []
    return {"firing": states.count("firing"), "pending": states.count("pending")}


def badge_text(counts: dict[str, int]) -> str:
    """The header's alert summary: ``2 firing · 1 pending``, or ``no alerts`` when quiet."""
    parts = [f"{counts[state]} {state}" for state in ("firing", "pending") if counts.get(state)]
    return " · ".join(parts) or "no alerts"


def save_states(
    store: TelemetryStore,
    states: Iterable[SeriesState],
    previous: Mapping[StateKey, SeriesState],
    now: datetime,
) -> int:
    """Write the states that changed or are not quiet; returns the number of rows written."""
    rows = []
    for s in states:
        before = previous.get((s.rule, s.series))
        if before is not None and before.state == s.state and s.state not in ACTIVE | ALERTING:
            continue
        rows.append(
            {
                "ts": pd.Timestamp(now),
                "rule": s.rule,
                "series": s.series,
                "state": s.state,
                "since": _iso(s.since),
                "active_since": _iso(s.active_since),
                "last_active": _iso(s.last_active),
                "message": s.message,
                "value": s.value,
            }
        )
    if not rows:
        return 0
    return store.write_frame(STATE, pd.DataFrame(rows), tags=["rule", "series"])


def append_events(store: TelemetryStore, events: Sequence[Transition], notified: set[int]) -> int:
    """Record transitions in the history; ``notified`` holds the indexes that were sent."""
    if not events:
        return 0
    rows = [
        {
            "ts": pd.Timestamp(e.at),
            "rule": e.rule,
            "series": e.series,
            "previous": e.previous,
            "state": e.state,
            "status": e.status,
            "labels": json.dumps(dict(e.labels), sort_keys=True),
            "starts_at": _iso(e.starts_at),
            "message": e.message,
            "silenced": float(e.silenced),
            "notified": float(i in notified),
            "value": e.value,
        }
        for i, e in enumerate(events)
    ]
    return store.write_frame(EVENTS, pd.DataFrame(rows), tags=["rule", "series"])


def read_events(
    store: TelemetryStore, start: datetime | pd.Timestamp, stop: datetime | pd.Timestamp
) -> pd.DataFrame:
    """History rows with ``start <= ts < stop``, newest first (columns as stored)."""
    frame = store.query(EVENTS, start, stop)
    if frame.empty:
        return frame
    return frame.sort_values("ts", ascending=False, kind="stable").reset_index(drop=True)


def save_rule_summary(
    store: TelemetryStore, rule: str, states: Sequence[SeriesState], error: str, now: datetime
) -> None:
    """Record one evaluation of a rule: how many series, and how many in each alerting state."""
    counts = {
        s: float(sum(1 for x in states if x.state == s)) for s in ("pending", "firing", "nodata")
    }
    row = {
        "ts": pd.Timestamp(now),
        "rule": rule,
        "series": float(len(states)),
        "error": error,
        **counts,
    }
    store.write_frame(RULES, pd.DataFrame([row]), tags=["rule"])


def read_rule_summaries(store: TelemetryStore, now: datetime) -> pd.DataFrame:
    """The last evaluation of every rule at ``now``: ``ts``, ``rule``, counts, ``error``."""
    return store.last(RULES, at=now)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _time(value: object) -> datetime | None:
    text = _text(value)
    return pd.Timestamp(text).to_pydatetime() if text else None
