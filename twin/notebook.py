"""The Python API for notebooks: a store opened read-only, read into pandas DataFrames.

    from twin.notebook import Twin

    with Twin.open() as twin:                      # the settings' store; or Twin.open(store=URL)
        nodes = twin.state().nodes                 # every node as of now: fresh, stale, missing
        cpu = twin.series("node", "-24h", fields=["cpu_util"], every="1h")
        h = twin.entropy("-7d", fleet_wide=True)   # network entropy H(R) per hour
        pv = twin.forecasts(targets=["pv"])        # latest P10/P50/P90 per site, hour ahead

Times are tz-aware datetimes, pandas Timestamps, ISO 8601 strings (UTC unless they carry a
zone) or offsets back from now such as ``"-24h"``. Frames follow the store's shape (docs/
architecture.md): a ``ts`` column in UTC, one column per tag, one per field, units as in the
field glossary (docs/notebooks.md has a worked example).

The store is opened read-only: a notebook never writes, and an InfluxDB store may be read while
the collector writes. An embedded DuckDB file can be opened only while no other process has it
open for writing (stop ``cnetwin demo``, or read a copy of the file).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

import pandas as pd

from twin.config import load_settings
from twin.domain import Fleet
from twin.forecast.store import forecasts_as_of
from twin.inventory import example_fleet, read_fleet
from twin.jobs.entropy import COMBINED, read_fleet_entropy, read_node_entropy
from twin.store import TagFilter, TelemetryStore, open_store
from twin.views.replay import FleetState, state_at

Time = datetime | pd.Timestamp | str
"""A time: datetime, Timestamp, ISO 8601 string (UTC if no zone) or ``"-24h"`` from now."""
FORECAST_TARGETS = ("load", "pv", "wind")


class Twin:
    """A read-only view of a store and its fleet; close it (or use ``with``) when done."""

    def __init__(self, store: TelemetryStore, fleet: Fleet) -> None:
        self.store = store
        self.fleet = fleet

    @classmethod
    def open(
        cls, store: str | None = None, fleet: Path | None = None, config: Path | None = None
    ) -> Twin:
        """Open the store ``store`` (a URL; default: the settings', i.e. ``CNETWIN_STORE`` or
        the embedded DuckDB file) read-only, with the fleet file ``fleet`` (default: the
        settings' or the example fleet)."""
        settings = load_settings(config, store=store, fleet=fleet)
        inventory = read_fleet(settings.fleet) if settings.fleet else example_fleet()
        return cls(open_store(settings, read_only=True), inventory)

    def __enter__(self) -> Twin:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the store."""
        self.store.close()

    def state(self, at: Time | None = None) -> FleetState:
        """Every asset as of ``at`` (default now): ``.nodes``, ``.links``, ``.meters``,
        ``.grid`` frames (one row per inventory asset, with ``status`` fresh/stale/missing)
        and ``.derived`` (the newest row of every derived series)."""
        return state_at(self.store, self.fleet, when(at))

    def series(
        self,
        measurement: str,
        start: Time,
        stop: Time | None = None,
        tags: TagFilter | None = None,
        fields: Sequence[str] | None = None,
        every: timedelta | str | None = None,
    ) -> pd.DataFrame:
        """Rows of ``measurement`` with ``start <= ts < stop`` (default now), optionally only
        the ``tags`` and ``fields`` given, or the mean per ``every`` window (``"1h"``)."""
        return self.store.query(measurement, when(start), when(stop), tags, fields, every)

    def entropy(
        self,
        start: Time,
        stop: Time | None = None,
        fleet_wide: bool = False,
        dimension: str = COMBINED,
    ) -> pd.DataFrame:
        """Hourly resource-state entropy: per node (``entropy_bits``, ``drift_bits`` [bits],
        ``state_type``, interval probabilities) for ``dimension`` (c, l, s, combined), or with
        ``fleet_wide`` the network entropy H(R) and the drifting share per hour."""
        if fleet_wide:
            return read_fleet_entropy(self.store, when(start), when(stop))
        return read_node_entropy(self.store, when(start), when(stop), dimension)

    def forecasts(
        self,
        at: Time | None = None,
        sites: Iterable[str] | None = None,
        targets: Iterable[str] = FORECAST_TARGETS,
    ) -> pd.DataFrame:
        """The latest forecast issued by ``at`` (default now) per site and target: ``site``,
        ``target``, ``issued_at``, ``valid_at``, ``horizon_h`` [h], ``p10``/``p50``/``p90``
        [kW], ``model`` — what was known then, never hindsight."""
        t = when(at)
        names = list(sites) if sites is not None else [s.id for s in self.fleet.sites]
        frames = [
            forecasts_as_of(self.store, t, site, target).assign(site=site, target=target)
            for site in names
            for target in targets
        ]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return pd.DataFrame(columns=["site", "target", "issued_at", "valid_at", "p50"])
        first = ["site", "target"]
        frame = pd.concat(frames, ignore_index=True)
        return frame[first + [c for c in frame.columns if c not in first]]


def when(value: Time | None) -> pd.Timestamp:
    """A time as a tz-aware UTC Timestamp (None: now; ``"-6h"``: six hours before now)."""
    now = pd.Timestamp.now(tz="UTC")
    if value is None:
        return now
    if isinstance(value, str) and value.startswith("-"):
        return now - pd.Timedelta(value[1:])
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
