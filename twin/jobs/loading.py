"""History loading: how far the publishing of a backfill has got, kept in the store.

Whoever publishes a backfill (``cnetwin demo``, ``cnetwin simulate --store``) writes one
``history_load`` row (tag ``scope=fleet``) about once a second while it loads and one when the
history has reached the present. Every process that reads the store — the dashboard of
``serve`` as much as the demo's own — learns from it that history is loading and how far it
got; the alert job holds its rules while it loads and for a grace period after.

Fields: ``begin_s``, ``until_s``, ``target_s`` [s since the epoch, UTC]: the history spans
``[begin, target)`` and is published up to ``until``; ``loading`` 1 while it loads, 0 once
done (the row's time is then when loading ended). A loading row not renewed for ABANDONED_AFTER
is taken for a publisher that stopped: history is no longer loading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from twin.errors import StoreError
from twin.store import TelemetryStore

log = logging.getLogger(__name__)

MEASUREMENT = "history_load"
SCOPE = "fleet"
WRITE_EVERY = timedelta(seconds=1)
"""How often a loading publisher renews its row at most [s]."""
ABANDONED_AFTER = timedelta(minutes=2)
"""A loading row older than this is no longer believed [s]."""
LOOKBACK = timedelta(days=7)
"""How far back the newest row is looked for [s]."""
FIELDS = ("begin_s", "until_s", "target_s", "loading")


@dataclass(frozen=True)
class HistoryLoad:
    """One ``history_load`` row: the history spans ``[begin, target)``, published up to
    ``until``; ``loading`` until it reached the present; ``at`` when the row was written
    (when loading ended, once done). Times tz-aware UTC."""

    begin: pd.Timestamp
    until: pd.Timestamp
    target: pd.Timestamp
    loading: bool
    at: pd.Timestamp

    @property
    def share(self) -> float:
        """Part of the history published [0-1]."""
        span = (self.target - self.begin).total_seconds()
        done = (self.until - self.begin).total_seconds()
        return min(max(done / span, 0.0), 1.0) if span > 0 else 1.0

    def text(self) -> str:
        """The header's words: ``Loading history: 14 of 49 h``."""
        done = (self.until - self.begin) / pd.Timedelta(hours=1)
        total = (self.target - self.begin) / pd.Timedelta(hours=1)
        return f"Loading history: {max(done, 0.0):.0f} of {total:.0f} h"


def write_history_load(store: TelemetryStore, load: HistoryLoad) -> None:
    """Store ``load`` as the newest ``history_load`` row (stamped ``load.at``)."""
    row = {
        "ts": load.at,
        "scope": SCOPE,
        "begin_s": load.begin.timestamp(),
        "until_s": load.until.timestamp(),
        "target_s": load.target.timestamp(),
        "loading": 1.0 if load.loading else 0.0,
    }
    store.write_frame(MEASUREMENT, pd.DataFrame([row]), tags=["scope"])


def history_load_recorder(store: TelemetryStore) -> Callable[[HistoryLoad], None]:
    """A publisher's ``on_progress``: write each report to ``store``; a store that refuses is
    logged, never stops the publishing."""

    def record(load: HistoryLoad) -> None:
        try:
            write_history_load(store, load)
        except StoreError as exc:
            log.warning("cannot record history loading progress: %s", exc)

    return record


def read_history_load(store: TelemetryStore, now: datetime | pd.Timestamp) -> HistoryLoad | None:
    """The newest ``history_load`` row at or before ``now`` within LOOKBACK, or None; a loading
    row older than ABANDONED_AFTER comes back as not loading."""
    frame = store.last(MEASUREMENT, at=now, fields=list(FIELDS), within=LOOKBACK)
    if frame.empty or not set(FIELDS) <= set(frame.columns):
        return None
    row = frame.assign(ts=pd.to_datetime(frame["ts"], utc=True)).sort_values("ts").iloc[-1]
    at = pd.Timestamp(row["ts"])
    fresh = pd.Timestamp(now) - at < ABANDONED_AFTER
    return HistoryLoad(
        begin=_epoch(row["begin_s"]),
        until=_epoch(row["until_s"]),
        target=_epoch(row["target_s"]),
        loading=bool(row["loading"] >= 0.5) and fresh,
        at=at,
    )


def loading_now(load: HistoryLoad | None) -> bool:
    """Whether history is loading according to ``load`` (None: nothing ever loaded)."""
    return load is not None and load.loading


def settled(load: HistoryLoad | None, now: datetime | pd.Timestamp, after: timedelta) -> bool:
    """Whether the store is complete: no history loading, and ``after`` passed since loading
    ended (a record-less store is complete)."""
    if load is None:
        return True
    return not load.loading and pd.Timestamp(now) - load.at >= after


def alert_hold(load: HistoryLoad | None, now: datetime | pd.Timestamp, grace: timedelta) -> str:
    """Why alert rules are held at ``now`` ("" when they are not): history loading, or loaded
    less than ``grace`` ago."""
    if loading_now(load):
        return "history loading"
    if load is not None and not settled(load, now, grace):
        left = grace - (pd.Timestamp(now) - load.at)
        return f"history loaded, evaluation resumes in {_minutes(left)}"
    return ""


def _minutes(span: timedelta) -> str:
    seconds = max(span.total_seconds(), 0.0)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _epoch(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(float(seconds), unit="s", tz="UTC")
