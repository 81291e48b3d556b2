"""Replay views of settled moments, kept for every user of the dashboard process.

The Replay page draws the fleet at a chosen moment (:func:`twin.views.replay.replay_view`: one
``last`` read per measurement). A moment well in the past does not change, so
:class:`ReplayViews` keeps the views of moments that ended ``settle`` (10 min) before now and
answers them again without reading the store: a shared link opened by several people, or the
slider moved back and forth, costs one read.

Readings can still arrive late (a history being stored, a spool emptied after a store outage):
a kept view is used for ``max_age`` (15 min) at most, then read again. Moments closer to now
are always read. Bounds: at most ``max_moments`` views (least recently used dropped first);
one view at a thousand nodes is a few hundred kB.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime, timedelta

import pandas as pd

from twin.domain import Fleet
from twin.store import TelemetryStore
from twin.store.frames import to_utc
from twin.views.replay import ReplayView, replay_view
from twin.views.window_cache import MAX_AGE, SETTLE

MAX_MOMENTS = 32
"""Views kept at most [count]."""


class ReplayViews:
    """:func:`~twin.views.replay.replay_view` answers of settled moments, per store and fleet;
    thread-safe and bounded."""

    def __init__(
        self,
        max_moments: int = MAX_MOMENTS,
        settle: timedelta = SETTLE,
        max_age: timedelta = MAX_AGE,
    ) -> None:
        self.max_moments = max_moments
        self.settle = pd.Timedelta(settle)
        self.max_age_s = max_age.total_seconds()
        self._lock = threading.Lock()
        self._views: OrderedDict[tuple[int, int, pd.Timestamp], tuple[float, ReplayView]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._views)

    def view(
        self,
        store: TelemetryStore,
        fleet: Fleet,
        at: datetime | pd.Timestamp,
        now: datetime | pd.Timestamp,
    ) -> ReplayView:
        """The fleet at ``at`` (UTC): kept if ``at`` is at least ``settle`` before ``now`` and
        was read less than ``max_age`` ago, else read (and kept when settled)."""
        when, current = to_utc(at), to_utc(now)
        if when > current - self.settle:
            return replay_view(store, fleet, when)
        key = (id(store), id(fleet), when)
        with self._lock:
            held = self._views.get(key)
            if held is not None and time.monotonic() - held[0] < self.max_age_s:
                self._views.move_to_end(key)
                return held[1]
        view = replay_view(store, fleet, when)
        with self._lock:
            self._views[key] = (time.monotonic(), view)
            self._views.move_to_end(key)
            while len(self._views) > self.max_moments:
                self._views.popitem(last=False)
        return view
