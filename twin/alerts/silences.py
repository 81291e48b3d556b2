"""Silences: label matchers with an end time that keep matching alerts from being notified.

A silenced transition is still recorded in the history (with ``silenced`` set); it is only not
sent. Silences are kept in the store as measurement ``alert_silence`` (tag ``id``; string
fields ``matchers``, ``starts_at``, ``ends_at`` (ISO 8601 UTC), ``comment``, ``created_by``);
ending a silence writes its row again with ``ends_at`` set to the time it was ended.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from twin.alerts.rules import Matcher, parse_matchers
from twin.errors import ConfigError
from twin.store import TelemetryStore

SILENCES = "alert_silence"


@dataclass(frozen=True)
class Silence:
    """Matchers that silence alerts whose labels all match, from ``starts_at`` to ``ends_at``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str = ""

    def active(self, at: datetime) -> bool:
        """Whether the silence is in force at ``at``."""
        return self.starts_at <= at < self.ends_at

    def silences(self, labels: Mapping[str, str], at: datetime) -> bool:
        """Whether an alert with ``labels`` is silenced by this silence at ``at``."""
        return self.active(at) and all(m.matches(labels) for m in self.matchers)

    def matchers_text(self) -> str:
        """The matchers as written, e.g. ``site="a", id=~"gpu.*"``."""
        return ", ".join(m.text() for m in self.matchers)


def is_silenced(silences: Sequence[Silence], labels: Mapping[str, str], at: datetime) -> bool:
    """Whether any of ``silences`` silences an alert with ``labels`` at ``at``."""
    return any(s.silences(labels, at) for s in silences)


def create_silence(
    store: TelemetryStore,
    matchers: str,
    duration: timedelta,
    now: datetime,
    comment: str = "",
    created_by: str = "",
) -> Silence:
    """Store a silence of ``matchers`` (``a="x", b=~"y"``) lasting ``duration`` from ``now``."""
    parsed = parse_matchers(matchers)
    if not parsed:
        raise ConfigError('a silence needs at least one matcher, e.g. alertname="node_drift"')
    if duration <= timedelta(0):
        raise ConfigError("a silence must last a positive time, e.g. 2h")
    silence = Silence(uuid.uuid4().hex[:12], parsed, now, now + duration, comment, created_by)
    _write(store, silence, now)
    return silence


def end_silence(store: TelemetryStore, silence_id: str, now: datetime) -> Silence:
    """End the silence ``silence_id`` at ``now``; ConfigError if it is unknown or already over."""
    current = {s.id: s for s in read_silences(store, now, include_ended=True)}
    if silence_id not in current:
        raise ConfigError(f"no silence {silence_id!r}: see `cnetwin alerts silences`")
    silence = current[silence_id]
    if not silence.active(now):
        raise ConfigError(f"silence {silence_id} is not in force")
    ended = Silence(
        silence.id, silence.matchers, silence.starts_at, now, silence.comment, silence.created_by
    )
    _write(store, ended, now)
    return ended


def read_silences(
    store: TelemetryStore, now: datetime, include_ended: bool = False
) -> list[Silence]:
    """The silences as known at ``now`` (only those in force unless ``include_ended``), newest
    first."""
    frame = store.last(SILENCES, at=now)
    if frame.empty or "id" not in frame.columns:
        return []
    result = [
        Silence(
            id=str(row["id"]),
            matchers=parse_matchers(str(row["matchers"])),
            starts_at=pd.Timestamp(row["starts_at"]).to_pydatetime(),
            ends_at=pd.Timestamp(row["ends_at"]).to_pydatetime(),
            comment=str(row.get("comment") or ""),
            created_by=str(row.get("created_by") or ""),
        )
        for row in frame.to_dict("records")
    ]
    kept = [s for s in result if include_ended or s.active(now)]
    return sorted(kept, key=lambda s: s.starts_at, reverse=True)


def _write(store: TelemetryStore, silence: Silence, now: datetime) -> None:
    row = {
        "ts": pd.Timestamp(now),
        "id": silence.id,
        "matchers": silence.matchers_text(),
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
        "comment": silence.comment,
        "created_by": silence.created_by,
    }
    store.write_frame(SILENCES, pd.DataFrame([row]), tags=["id"])
