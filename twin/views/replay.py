"""Replay: the state of every asset and series at any moment, and playback over a span.

:func:`state_at` answers "what did the whole fleet look like at ``t``?" from the store alone:
per measurement it makes one ``last(at=t, within=horizon)`` call (READ_THREADS at a time), so
it costs the same for a moment yesterday as for now. Rules:

* A row counts as known from its ``ts`` on: nothing stamped after ``t`` is ever used, so a
  derived series (entropy, energy, forecasts) shows what had been written for ``t`` or before.
  Forecasts therefore replay "as issued" when their rows are stamped with the issue time.
* Each measurement has a :class:`Staleness`: a row is **fresh** when ``t - ts`` is below
  ``fresh`` (the same strict rule as the Overview and the store's ``within``), **stale** when
  older but below ``horizon``, and the series is **missing** past the horizon or if it never
  reported. Stale rows keep their last values, flagged, never silently carried as current.
* Assets come from the inventory: every node, link and meter of the fleet and every grid region
  of its sites has a row, missing ones with NaN fields (``site``, and ``kind`` for meters, from
  the inventory). Stored series of assets the inventory does not know are left out.
* Other measurements (derived series such as ``entropy``, ``fleet_entropy``, ``site_energy``,
  ``fleet_status``, forecasts) have no inventory: their series are those found within the
  horizon, each fresh or stale.
* Ingest bookkeeping (PLUMBING: dead letters, collector counters, history loading) is not
  fleet state.

Every frame has ``ts`` (time of the row used, tz-aware UTC; NaT if missing), the tag columns,
the field columns of the rows found (none when no series has a row within its horizon),
``age_s`` [s] (``t - ts``; NaN if missing) and ``status``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from twin.domain import Fleet
from twin.store import TelemetryStore
from twin.views.overview import (
    FALLBACK_PUE,
    GRID_STALE_AFTER,
    OverviewKpis,
    SiteMap,
    latest_of,
    overview_kpis,
    site_map_of,
)

log = logging.getLogger(__name__)

Status = Literal["fresh", "stale", "missing"]
STATUSES: tuple[Status, ...] = ("fresh", "stale", "missing")

TELEMETRY_INTERVAL = timedelta(seconds=10)
"""Usual period [s] of node, link and meter telemetry (the simulator's default)."""

READ_THREADS = 4
"""Measurements read at once by :func:`state_at` [count] (the store serves concurrent reads)."""

PLUMBING = ("dead_letter", "collector", "history_load")
"""Measurements that record ingest itself (and the loading of history), not the fleet; never
part of a state."""

ASSET_TAGS: dict[str, tuple[str, ...]] = {
    "node": ("site", "id"),
    "link": ("site", "id"),
    "meter": ("site", "id", "kind"),
    "grid": ("region",),
}
"""Measurements whose series are known from the inventory, and their identifying tags."""


@dataclass(frozen=True, slots=True)
class Staleness:
    """How old a measurement's last row may be.

    fresh : timedelta [s] a row younger than this is current;
    horizon : timedelta [s] a row at least ``fresh`` but younger than this is stale; past it
        (or with no row at all) the series is missing. ``fresh <= horizon``.
    """

    fresh: timedelta
    horizon: timedelta

    def __post_init__(self) -> None:
        if self.fresh <= timedelta(0) or self.horizon < self.fresh:
            raise ValueError(
                f"staleness needs 0 < fresh <= horizon, not fresh={self.fresh}, "
                f"horizon={self.horizon}"
            )


TELEMETRY_STALENESS = Staleness(fresh=3 * TELEMETRY_INTERVAL, horizon=timedelta(hours=1))
"""Nodes, links and meters: fresh for three telemetry periods, missing after an hour."""

DERIVED_STALENESS = Staleness(fresh=timedelta(hours=3), horizon=timedelta(hours=24))
"""Hourly derived series (entropy, energy, forecasts) and any measurement not listed."""

DEFAULT_STALENESS: dict[str, Staleness] = {
    "node": TELEMETRY_STALENESS,
    "link": TELEMETRY_STALENESS,
    "meter": TELEMETRY_STALENESS,
    "grid": Staleness(fresh=GRID_STALE_AFTER, horizon=timedelta(hours=24)),
    "fleet_status": Staleness(fresh=timedelta(minutes=3), horizon=timedelta(hours=1)),
}
"""Per measurement staleness; others use DERIVED_STALENESS."""


@dataclass(frozen=True)
class FleetState:
    """The state of the twin at ``at`` (tz-aware UTC): one frame per measurement.

    nodes, links, meters, grid : one row per inventory asset / grid region (module docstring);
    derived : per other measurement present in the store, one row per series found.
    """

    at: pd.Timestamp
    nodes: pd.DataFrame
    links: pd.DataFrame
    meters: pd.DataFrame
    grid: pd.DataFrame
    derived: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    def frame(self, measurement: str) -> pd.DataFrame:
        """The frame of ``measurement``; ``KeyError`` if the state has none."""
        assets = {"node": self.nodes, "link": self.links, "meter": self.meters, "grid": self.grid}
        return assets[measurement] if measurement in assets else self.derived[measurement]

    def status_counts(self) -> dict[str, dict[Status, int]]:
        """Per measurement, how many series are fresh, stale and missing [count]."""
        out: dict[str, dict[Status, int]] = {}
        for name in ("node", "link", "meter", "grid", *self.derived):
            statuses = self.frame(name)["status"]
            out[name] = {s: int((statuses == s).sum()) for s in STATUSES}
        return out

    def not_fresh(self) -> pd.DataFrame:
        """Stale and missing nodes, links and meters: ``kind``, ``id``, ``site``, ``status``,
        ``ts`` (last reading, UTC; NaT if missing) and ``age_s`` [s]; missing first, then the
        longest silent."""
        columns = ["kind", "id", "site", "status", "ts", "age_s"]
        parts = [
            frame.loc[frame["status"] != "fresh", ["id", "site", "status", "ts", "age_s"]].assign(
                kind=kind
            )
            for kind, frame in (("node", self.nodes), ("link", self.links), ("meter", self.meters))
        ]
        parts = [p for p in parts if len(p)]
        if not parts:
            return _empty(columns)
        out = pd.concat(parts, ignore_index=True)[columns]
        out["missing"] = out["status"] == "missing"
        out = out.sort_values(
            ["missing", "age_s", "kind", "id"], ascending=[False, False, True, True]
        )
        return out.drop(columns="missing").reset_index(drop=True)


def staleness_for(measurement: str, overrides: Mapping[str, Staleness] | None = None) -> Staleness:
    """The staleness of ``measurement``: ``overrides`` first, then DEFAULT_STALENESS, then
    DERIVED_STALENESS."""
    if overrides and measurement in overrides:
        return overrides[measurement]
    return DEFAULT_STALENESS.get(measurement, DERIVED_STALENESS)


def classify(age_s: np.ndarray | pd.Series | float, limits: Staleness) -> np.ndarray:
    """Status of rows ``age_s`` [s] old (NaN: no row) under ``limits``: an array of
    ``"fresh"``, ``"stale"`` or ``"missing"`` (a scalar gives a 0-d array)."""
    age = np.asarray(age_s, dtype=float)
    fresh_s = limits.fresh.total_seconds()
    horizon_s = limits.horizon.total_seconds()
    with np.errstate(invalid="ignore"):
        return np.select(
            [age < fresh_s, age < horizon_s], ["fresh", "stale"], default="missing"
        ).astype(object)


def state_at(
    store: TelemetryStore,
    fleet: Fleet,
    t: datetime | pd.Timestamp,
    staleness: Mapping[str, Staleness] | None = None,
) -> FleetState:
    """The state of every asset and stored series at ``t`` (module docstring for the rules).

    staleness : per measurement overrides of DEFAULT_STALENESS (e.g. ``{"node": Staleness(
        timedelta(seconds=30), timedelta(minutes=10))}``).
    """
    at = _utc(t)
    present = [m for m in store.measurements() if m not in PLUMBING]
    with ThreadPoolExecutor(max_workers=max(min(len(present), READ_THREADS), 1)) as pool:
        futures = {
            name: pool.submit(
                store.last, name, at=at, within=staleness_for(name, staleness).horizon
            )
            for name in present
        }
        latest = {name: future.result() for name, future in futures.items()}
    frames = {
        kind: _assets(
            latest.get(kind, _empty(["ts"])), _inventory(fleet, kind), tags, at,
            staleness_for(kind, staleness),
        )
        for kind, tags in ASSET_TAGS.items()
    }  # fmt: skip
    derived = {
        name: _with_status(frame, at, staleness_for(name, staleness))
        for name, frame in latest.items()
        if name not in ASSET_TAGS
    }
    return FleetState(
        at=at,
        nodes=frames["node"],
        links=frames["link"],
        meters=frames["meter"],
        grid=frames["grid"],
        derived=derived,
    )


@dataclass(frozen=True)
class ReplayView:
    """The fleet at one moment as the Replay page draws it: the ``state`` of every asset, and
    the Overview's KPIs and site map at ``state.at`` computed from that state's rows."""

    state: FleetState
    kpis: OverviewKpis
    site_map: SiteMap


def replay_view(
    store: TelemetryStore,
    fleet: Fleet,
    t: datetime | pd.Timestamp,
    pue: float = FALLBACK_PUE,
) -> ReplayView:
    """:func:`state_at` at ``t`` (one ``last`` read per measurement), then the Overview's
    :func:`~twin.views.overview.overview_kpis` and :func:`~twin.views.overview.site_map_of`
    computed from that state's rows, with the node telemetry's freshness [s].

    As in the state, stored series the inventory does not know are left out, and the KPIs'
    newest node reading is the newest within the node horizon (an hour)."""
    state = state_at(store, fleet, t)
    asset_rows = {kind: state.frame(kind) for kind in ASSET_TAGS}
    latest = latest_of(asset_rows, fleet, state.at, stale_after=staleness_for("node").fresh)
    return ReplayView(
        state=state,
        kpis=overview_kpis(latest, fleet, pue=pue),
        site_map=site_map_of(latest, fleet, pue=pue),
    )


def timeline(
    store: TelemetryStore,
    fleet: Fleet,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    every: timedelta | str,
    staleness: Mapping[str, Staleness] | None = None,
) -> Iterator[FleetState]:
    """Playback: :func:`state_at` at ``start``, ``start + every`` … up to and including
    ``stop``, computed one state at a time as the iterator is consumed."""
    for at in playback_times(start, stop, every):
        yield state_at(store, fleet, at, staleness)


def playback_times(
    start: datetime | pd.Timestamp, stop: datetime | pd.Timestamp, every: timedelta | str
) -> pd.DatetimeIndex:
    """The times :func:`timeline` visits: ``start``, ``start + every`` … up to and including
    ``stop`` (UTC, aligned to ``start``); none if ``stop < start``."""
    step = pd.Timedelta(every)
    if step <= pd.Timedelta(0):
        raise ValueError(f"every must be positive, not {every!r}")
    begin, end = _utc(start), _utc(stop)
    if end < begin:
        return pd.DatetimeIndex([], tz="UTC", name="ts")
    return pd.date_range(begin, end, freq=step, name="ts")


def history_span(store: TelemetryStore) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last timestamp (UTC) of the stored fleet history (every measurement but
    PLUMBING), from the store's counts; None if nothing is stored."""
    spans = [
        (pd.Timestamp(c["first"]), pd.Timestamp(c["last"]))
        for name, c in store.counts().items()
        if name not in PLUMBING and c.get("rows") and c.get("first") and c.get("last")
    ]
    if not spans:
        return None
    return _utc(min(a for a, _ in spans)), _utc(max(b for _, b in spans))


def _utc(value: datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _inventory(fleet: Fleet, kind: str) -> pd.DataFrame:
    """The series the inventory expects for an asset kind, as tag columns."""
    if kind == "node":
        return pd.DataFrame(
            {"site": [n.site for n in fleet.nodes], "id": [n.id for n in fleet.nodes]}
        )
    if kind == "link":
        return pd.DataFrame({"site": [k.a for k in fleet.links], "id": [k.id for k in fleet.links]})
    if kind == "meter":
        return pd.DataFrame(
            {
                "site": [m.site for m in fleet.meters],
                "id": [m.id for m in fleet.meters],
                "kind": [m.kind for m in fleet.meters],
            }
        )
    return pd.DataFrame({"region": list(fleet.regions)})


def _assets(
    latest: pd.DataFrame,
    expected: pd.DataFrame,
    tags: tuple[str, ...],
    at: pd.Timestamp,
    limits: Staleness,
) -> pd.DataFrame:
    """``expected`` (inventory tag columns) joined with the latest rows on the series key
    (``id``, or ``region`` for the grid); inventory tags win over stored ones."""
    key = "region" if "region" in tags else "id"
    rows = latest.drop(columns=[t for t in tags if t != key and t in latest.columns])
    if key not in rows.columns:
        rows = rows.assign(**{key: pd.Series(dtype=object)})
    rows = rows.assign(**{key: rows[key].astype(str)}).drop_duplicates(key, keep="last")
    merged = expected.merge(rows, on=key, how="left")
    ordered = ["ts", *tags, *(c for c in merged.columns if c not in ("ts", *tags))]
    return _with_status(merged[ordered], at, limits)


def _with_status(frame: pd.DataFrame, at: pd.Timestamp, limits: Staleness) -> pd.DataFrame:
    """``frame`` with UTC ``ts``, ``age_s`` [s] and ``status`` columns added."""
    ts = (
        pd.to_datetime(frame["ts"], utc=True)
        if "ts" in frame
        else pd.Series(pd.NaT, index=frame.index)
    )
    age = (at - ts).dt.total_seconds().astype(float)
    return frame.assign(ts=ts, age_s=age, status=classify(age, limits))
