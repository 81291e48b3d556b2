"""The Overview's latest state per moment, read once and shared by its KPIs and its map.

The Overview's KPI cards follow every live tick and its map every 30 s, each computed from the
fleet's latest readings (:func:`twin.views.overview.read_latest`). :class:`LatestStates` aligns
the time of a read to a *moment*: ``now`` floored to ``period`` (the live refresh period [s],
epoch-aligned), and keeps the state read for each moment, so the KPI and map callbacks that run
within the same period share one read. A state is read at its moment, not at ``now``: readings
younger than the period wait for the next moment (at most ``period`` late).

Thread-safe: the read of a moment is made under a lock, so callbacks served at once on several
threads wait for the one read instead of each making its own. Bounded: at most ``max_moments``
states (the oldest dropped first); one state at a thousand nodes is about a hundred kB.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta

import pandas as pd

from twin.domain import Fleet
from twin.store import TelemetryStore
from twin.store.frames import to_utc
from twin.views.overview import LatestState, read_latest

PERIOD = timedelta(seconds=5)
"""Default moment length [s]: the dashboard's default live refresh period."""

MAX_MOMENTS = 4
"""States kept at most [count]: the current moment and a few before it."""


class LatestStates:
    """:func:`~twin.views.overview.read_latest` per store, fleet and moment; thread-safe and
    bounded (module docstring)."""

    def __init__(self, period: timedelta = PERIOD, max_moments: int = MAX_MOMENTS) -> None:
        if period <= timedelta(0) or max_moments < 1:
            raise ValueError(
                f"needs a positive period and at least one moment, not period={period}, "
                f"max_moments={max_moments}"
            )
        self.period = pd.Timedelta(period)
        self.max_moments = max_moments
        self._lock = threading.Lock()
        self._states: OrderedDict[tuple[int, int, pd.Timestamp], LatestState] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)

    def moment(self, now: datetime | pd.Timestamp) -> pd.Timestamp:
        """The moment of ``now``: ``now`` (UTC) floored to ``period``."""
        return to_utc(now).floor(self.period)

    def state(
        self, store: TelemetryStore, fleet: Fleet, now: datetime | pd.Timestamp
    ) -> LatestState:
        """The latest state at the moment of ``now``: kept if already read, else read now."""
        at = self.moment(now)
        key = (id(store), id(fleet), at)
        with self._lock:
            held = self._states.get(key)
            if held is None:
                held = read_latest(store, fleet, at)
                self._states[key] = held
                while len(self._states) > self.max_moments:
                    self._states.popitem(last=False)
            return held
