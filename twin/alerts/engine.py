"""The alert state machine: pure functions of a rule, the previous state, a sample and ``now``.

States per (rule, series), as in Prometheus/Grafana:

* ``normal`` – inactive; ``resolved`` – inactive after having fired (kept until it next
  becomes pending, so the last outcome stays visible);
* ``pending`` – active, waiting for the rule's ``for`` duration;
* ``firing`` – active for at least ``for``; it stays firing while the value is outside the
  recovery band (hysteresis) and for ``keep_firing_for`` after it is back inside;
* ``nodata`` – the newest sample is older than the rule's ``nodata_after``;
* ``error`` – the rule's metric could not be read (one pseudo-series per rule, key ``""``).

``firing``, ``nodata`` and ``error`` are *alerting*: a notification is sent when a series
enters or leaves an alerting state (or switches between two), never while it stays; moves
between normal, pending and resolved are only recorded in the history.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from twin.alerts.rules import Rule

STATES = ("normal", "pending", "firing", "resolved", "nodata", "error")
ALERTING = frozenset({"firing", "nodata", "error"})
ACTIVE = frozenset({"pending", "firing"})


@dataclass(frozen=True)
class Sample:
    """The newest value of one series: ``value`` [unit of the field] stamped ``ts`` (UTC)."""

    value: float
    ts: datetime


@dataclass(frozen=True)
class SeriesState:
    """Where one series of one rule stands.

    series : the series key (:func:`series_key`); tags : the series' tag values.
    since : when ``state`` was entered; active_since : when the current active spell began
    (the alert's ``startsAt`` once firing); last_active : the last evaluation at which the
    series was active; value : the last value seen [unit of the field], NaN if none;
    evaluated_at : the last evaluation time; message : error text (state ``error``).
    """

    rule: str
    series: str
    tags: Mapping[str, str] = field(default_factory=dict)
    state: str = "normal"
    since: datetime | None = None
    active_since: datetime | None = None
    last_active: datetime | None = None
    value: float = math.nan
    evaluated_at: datetime | None = None
    message: str = ""


@dataclass(frozen=True)
class Transition:
    """A change of state of one series at ``at``; ``silenced`` is set when a silence matched."""

    rule: str
    series: str
    labels: Mapping[str, str]
    previous: str
    state: str
    value: float
    at: datetime
    starts_at: datetime | None
    silenced: bool = False
    message: str = ""

    @property
    def notifies(self) -> bool:
        """Whether this change is sent to the notifiers (it enters or leaves alerting)."""
        return self.previous in ALERTING or self.state in ALERTING

    @property
    def status(self) -> str:
        """``firing`` if the series now alerts, else ``resolved`` (Alertmanager's status)."""
        return "firing" if self.state in ALERTING else "resolved"


def series_key(tags: Mapping[str, str]) -> str:
    """A stable key of a series from its tags: ``k=v`` pairs sorted by key, comma-separated."""
    return ",".join(f"{k}={tags[k]}" for k in sorted(tags))


def series_tags(series: str) -> dict[str, str]:
    """The tags back from a series key (inverse of :func:`series_key`; ``""`` gives none)."""
    return dict(pair.split("=", 1) for pair in series.split(",") if "=" in pair)


def alert_labels(rule: Rule, tags: Mapping[str, str]) -> dict[str, str]:
    """The labels of an alert: ``alertname``, ``severity``, the rule's labels, the series tags."""
    return {"alertname": rule.name, "severity": rule.severity, **rule.labels, **tags}


def step(rule: Rule, previous: SeriesState, sample: Sample | None, now: datetime) -> SeriesState:
    """The state of a series after one evaluation at ``now`` given its newest sample (None: no
    sample at all). Pure: the same inputs always give the same state."""
    if rule.nodata_after is not None and (sample is None or now - sample.ts > rule.nodata_after):
        value = sample.value if sample is not None else math.nan
        return _enter(previous, "nodata", now, value=value, active_since=None)
    fresh = sample is not None and now - sample.ts <= (rule.nodata_after or rule.lookback)
    value = sample.value if sample is not None and fresh else math.nan
    was_active = previous.state in ACTIVE
    known = not math.isnan(value)
    active = known and (rule.still_active(value) if was_active else rule.triggered(value))
    has_condition = rule.above is not None or rule.below is not None
    if active and has_condition:
        started = previous.active_since if was_active and previous.active_since else now
        due = now - started >= rule.for_
        state = "firing" if previous.state == "firing" or due else "pending"
        return _enter(previous, state, now, value=value, active_since=started, last_active=now)
    if previous.state == "firing" and previous.last_active is not None:
        if now - previous.last_active < rule.keep_firing_for:
            return _enter(previous, "firing", now, value=value, active_since=previous.active_since)
        return _enter(previous, "resolved", now, value=value, active_since=None)
    quiet = "resolved" if previous.state in ("resolved", "firing") else "normal"
    return _enter(previous, quiet, now, value=value, active_since=None)


def errored(previous: SeriesState, now: datetime, message: str) -> SeriesState:
    """The rule's pseudo-series (key ``""``) after its metric could not be read at ``now``."""
    return _enter(previous, "error", now, value=math.nan, active_since=None, message=message)


def recovered(previous: SeriesState, now: datetime) -> SeriesState:
    """The rule's pseudo-series after its metric could be read again at ``now``."""
    return _enter(previous, "normal", now, value=math.nan, active_since=None, message="")


def transition(rule: Rule, previous: SeriesState, current: SeriesState) -> Transition | None:
    """The change from ``previous`` to ``current`` (None if the state is the same)."""
    if previous.state == current.state:
        return None
    starts = previous.active_since if current.state == "resolved" else current.active_since
    return _change(rule, current, previous.state, starts)


def standing(rule: Rule, current: SeriesState) -> Transition:
    """A series staying in its state, as a change to itself: an alert still firing (or with
    no data) that is re-sent to Alertmanager and listed beside its group's changes."""
    return _change(rule, current, current.state, current.active_since or current.since)


def _change(
    rule: Rule, current: SeriesState, previous: str, starts_at: datetime | None
) -> Transition:
    return Transition(
        rule=rule.name,
        series=current.series,
        labels=alert_labels(rule, current.tags),
        previous=previous,
        state=current.state,
        value=current.value,
        at=current.evaluated_at or datetime.min,
        starts_at=starts_at,
        message=current.message,
    )


def _enter(
    previous: SeriesState,
    state: str,
    now: datetime,
    *,
    value: float,
    active_since: datetime | None,
    last_active: datetime | None = None,
    message: str | None = None,
) -> SeriesState:
    """``previous`` moved to ``state`` at ``now`` (last_active None: keep the previous one)."""
    return replace(
        previous,
        state=state,
        since=previous.since if previous.state == state and previous.since else now,
        value=value,
        evaluated_at=now,
        active_since=active_since,
        last_active=last_active or previous.last_active,
        message=previous.message if message is None else message,
    )
