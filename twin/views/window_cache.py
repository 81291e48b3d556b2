"""Windowed reads kept between calls, so a repeated read computes only new windows.

The Overview reads the last 24 h in 5- and 15-minute window means on every page load and live
tick; at a thousand nodes each such read aggregates millions of rows. A window's means do not
change once it has settled, so :class:`WindowCache` keeps the answer of each read (per
measurement, fields and window width, or per derived table: :meth:`WindowCache.read`) and the
next read of an overlapping range asks only for the windows after the newest settled one it
holds.

Readings can arrive late: a window counts as settled once it ended ``settle`` (10 min) before
the read's end, and a read is kept for ``max_age`` (15 min) at most, so late readings (a
history being stored, a spool emptied after a store outage) show within that time.

Bounds: rows older than the widest range asked for (before the newest ``stop``) are dropped
on every read, and at most
``max_reads`` distinct reads are kept (least recently used dropped first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import timedelta

import pandas as pd

from twin.store import TelemetryStore

MAX_READS = 8
"""Distinct reads (store, measurement, fields, window; or derived tables) kept at most."""

Fetch = Callable[[pd.Timestamp, pd.Timestamp], pd.DataFrame]
"""Computes the rows of the windows in ``[start, stop)``: a frame with a ``ts`` column (UTC
window starts); a window's rows depend on that window's readings only."""

SETTLE = timedelta(minutes=10)
"""A window is kept once it ended this long before the end of the read [s]."""

MAX_AGE = timedelta(minutes=15)
"""A kept read is used for this long at most, then read whole again [s]."""


class WindowCache:
    """Answers of ``store.query(..., every=…)`` for settled windows; thread-safe."""

    def __init__(
        self,
        max_reads: int = MAX_READS,
        settle: timedelta = SETTLE,
        max_age: timedelta = MAX_AGE,
    ) -> None:
        self.max_reads = max_reads
        self.settle = pd.Timedelta(settle)
        self.max_age_s = max_age.total_seconds()
        self._lock = threading.Lock()
        self._reads: OrderedDict[Hashable, _Held] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._reads)

    def rows(self) -> int:
        """Rows held over every read [count]."""
        with self._lock:
            return sum(len(held.frame) for held in self._reads.values())

    def query(
        self,
        store: TelemetryStore,
        measurement: str,
        start: pd.Timestamp,
        stop: pd.Timestamp,
        fields: Sequence[str],
        every: timedelta | pd.Timedelta,
    ) -> pd.DataFrame:
        """``store.query(measurement, start, stop, fields=fields, every=every)`` with ``start``
        and ``stop`` on window boundaries (UTC), answered from the held windows where it can."""
        step = pd.Timedelta(every)

        def fetch(begin: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
            return store.query(measurement, begin, end, fields=list(fields), every=step)

        return self.read((id(store), measurement, tuple(fields), step), start, stop, step, fetch)

    def read(
        self,
        key: Hashable,
        start: pd.Timestamp,
        stop: pd.Timestamp,
        every: timedelta | pd.Timedelta,
        fetch: Fetch,
        settle: timedelta | None = None,
    ) -> pd.DataFrame:
        """The rows ``fetch(start, stop)`` gives, for windows of ``every`` from ``start`` to
        ``stop`` (UTC, on window boundaries), with the settled windows of earlier reads under
        ``key`` kept and only the others fetched. ``settle`` [s]: how long before ``stop`` a
        window must start to be kept, for rows that a job rewrites for a while (default: the
        cache's)."""
        step = pd.Timedelta(every)
        wait = self.settle if settle is None else pd.Timedelta(settle)
        with self._lock:
            held = self._reads.get(key)
            if held is not None:
                self._reads.move_to_end(key)
        fresh_enough = held is not None and time.monotonic() - held.made < self.max_age_s
        if held is not None and fresh_enough and held.start <= start and held.until <= stop:
            frame = _concat(held.frame, fetch(held.until, stop)).reset_index(drop=True)
            begin, span, made = held.start, max(held.span, stop - start), held.made
        else:
            frame = fetch(start, stop)
            begin, span, made = start, stop - start, time.monotonic()
        keep_from = max(begin, stop - span)
        settled_until = max(stop - max(wait, step), keep_from)
        times = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True) if len(frame) else [])
        settled = frame[(times >= keep_from) & (times < settled_until)] if len(frame) else frame
        with self._lock:
            self._reads[key] = _Held(keep_from, settled_until, span, settled, made)
            self._reads.move_to_end(key)
            while len(self._reads) > self.max_reads:
                self._reads.popitem(last=False)
        if not len(frame):
            return frame
        return frame[(times >= start) & (times < stop)].reset_index(drop=True)


class _Held:
    """Rows of windows in ``[start, until)``; ``span`` the widest range asked for; ``made``
    when the whole range was read from the store (monotonic clock [s])."""

    __slots__ = ("frame", "made", "span", "start", "until")

    def __init__(
        self,
        start: pd.Timestamp,
        until: pd.Timestamp,
        span: pd.Timedelta,
        frame: pd.DataFrame,
        made: float,
    ) -> None:
        self.start, self.until, self.span, self.frame, self.made = start, until, span, frame, made


def _concat(held: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    if not len(fresh):
        return held
    if not len(held):
        return fresh
    return pd.concat([held, fresh], ignore_index=True)
