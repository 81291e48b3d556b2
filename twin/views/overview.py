"""Fleet overview: current KPIs, per-site state and history, and the node utilisation matrix.

These functions are how the dashboard's Overview page reads telemetry: each takes a store, the
fleet inventory and times, makes one store call per measurement (never one per node) and
returns small frames or dataclasses. The current state is one read (:func:`read_latest`, a
:class:`LatestState`) from which the KPIs (:func:`overview_kpis`) and the map
(:func:`site_map_of`) are computed without reading; the Replay page builds the same state from
its own rows (:func:`latest_of`).

Rules (the same for the current state and for every time window):

* **Compute utilisation** of a node is its busiest engine, ``max(cpu_util, gpu_util)`` [0-1]
  (a missing field is skipped). A site's and the fleet's are the plain mean over the nodes that
  reported. In windowed history the window means of ``cpu_util`` and ``gpu_util`` are taken
  first, then the larger of the two.
* **Facility power** [kW] of a site is the sum of its ``facility`` meters. A site without a
  fresh facility reading is *modelled*: IT power (its ``it_load`` meters, else the sum of its
  nodes' ``power_w``) times FALLBACK_PUE.
* **Renewable share** [0-1] is on-site (``pv`` + ``wind``) / facility power, each site's
  renewables counting up to its own consumption (a site's export does not make another site's
  consumption renewable).
* **Carbon intensity** [gCO2/kWh] is an **average** intensity: the positive part of the grid
  import times the region's average grid intensity, divided by the facility power (on-site
  renewables count as zero). The grid import is the site's ``grid_import`` meters, else
  facility − renewables. The region intensity is the latest ``grid`` signal
  (``intensity_g_per_kwh``), else the shipped 2023 average factor of the region.
* Times are tz-aware UTC. A reading is *fresh* if it is at most ``stale_after`` old.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from twin.domain import Fleet
from twin.models.carbon import read_grid_factors, renewable_share, site_emission_rate_kg_per_h
from twin.models.energy import DEFAULT_PUE, facility_power_kw
from twin.models.entropy import compute_util
from twin.store import TelemetryStore
from twin.views.window_cache import WindowCache

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=60)
"""Default age [s] past which a node, link or meter reading no longer counts as current."""

GRID_STALE_AFTER = timedelta(hours=3)
"""Age past which a grid carbon signal is replaced by the region's shipped factor (signals are
typically hourly)."""

FALLBACK_PUE = DEFAULT_PUE
"""PUE [-] used to model facility power at a site that has no fresh facility meter reading."""

MAX_SITE_LINES = 10
"""Sites the per-site series draws as their own line at most; past that the other sites are
one band, so the legend stays readable."""

NODE_FIELDS = ("cpu_util", "gpu_util", "power_w")
LINK_FIELDS = ("util", "latency_ms")
METER_KINDS_USED = ("facility", "it_load", "pv", "wind", "grid_import")

FLEETS_KEPT = 8
"""Fleets whose inventory frames (sites, links, node → site) are kept [count]."""

SITE_COLUMNS = (
    "util",
    "nodes_reporting",
    "it_power_kw",
    "facility_power_kw",
    "facility_modelled",
    "renewable_kw",
    "grid_import_kw",
    "grid_intensity_g_per_kwh",
    "intensity_g_per_kwh",
)


@dataclass(frozen=True, slots=True)
class OverviewKpis:
    """The fleet's headline numbers at time ``at``; None where nothing is known.

    nodes_reporting, nodes_expected : int [count] fleet nodes with a fresh reading / in inventory
    compute_util : float [0-1] mean compute utilisation of the reporting nodes
    facility_power_kw : float [kW] total facility power of the sites
    facility_modelled : bool True if some site's facility power is modelled, not metered
    renewable_share : float [0-1] on-site pv + wind used on site / facility power
    carbon_intensity_g_per_kwh : float [gCO2/kWh] fleet **average** intensity of consumption
    last_data : pd.Timestamp | None time of the newest node reading at or before ``at`` (UTC)
    """

    at: pd.Timestamp
    nodes_reporting: int
    nodes_expected: int
    compute_util: float | None
    facility_power_kw: float | None
    facility_modelled: bool
    renewable_share: float | None
    carbon_intensity_g_per_kwh: float | None
    last_data: pd.Timestamp | None


@dataclass(frozen=True, slots=True)
class SiteMap:
    """Sites and links for the map, at one time.

    sites : one row per inventory site: ``site``, ``name``, ``region``, ``latitude``,
        ``longitude`` [degrees], ``nodes_expected`` and the SITE_COLUMNS (``util`` [0-1],
        ``it_power_kw``, ``facility_power_kw`` [kW], ``intensity_g_per_kwh`` [gCO2/kWh] …).
    links : one row per inventory link: ``link``, ``a``, ``b``, ``lat_a``, ``lon_a``,
        ``lat_b``, ``lon_b`` [degrees], ``util`` [0-1] and ``latency_ms`` [ms] (NaN if stale).
    """

    sites: pd.DataFrame
    links: pd.DataFrame


@dataclass(frozen=True, slots=True)
class LatestState:
    """The latest readings at ``at`` that the KPIs and the site map are computed from (one
    state may serve several callbacks at once: its frames are not to be changed).

    at : pd.Timestamp time of the state (UTC)
    nodes : fresh rows of inventory nodes: ``ts`` (UTC), ``site``, ``id``, ``compute`` [0-1],
        ``power_w`` [W]
    last_data : pd.Timestamp | None time of the newest node reading at or before ``at`` (UTC)
    meters : fresh meter rows: ``ts``, ``site``, ``kind``, ``power_kw`` [kW]
    grid : region → latest intensity [gCO2/kWh] within GRID_STALE_AFTER
    links : fresh link rows: ``link``, ``util`` [0-1], ``latency_ms`` [ms]
    """

    at: pd.Timestamp
    nodes: pd.DataFrame
    last_data: pd.Timestamp | None
    meters: pd.DataFrame
    grid: Mapping[str, float]
    links: pd.DataFrame


def read_latest(
    store: TelemetryStore,
    fleet: Fleet,
    now: datetime | pd.Timestamp,
    stale_after: timedelta = STALE_AFTER,
) -> LatestState:
    """The :class:`LatestState` at ``now``: one ``last`` read each of nodes, meters, grid and
    links; a reading older than ``stale_after`` [s] is not fresh."""
    at = _utc(now)
    rows = {
        "node": store.last("node", at=at, fields=list(NODE_FIELDS)),
        "meter": store.last("meter", at=at, fields=["power_kw"], within=stale_after),
        "grid": store.last("grid", at=at, fields=["intensity_g_per_kwh"], within=GRID_STALE_AFTER),
        "link": store.last("link", at=at, fields=list(LINK_FIELDS), within=stale_after),
    }
    return latest_of(rows, fleet, at, stale_after)


def latest_of(
    rows: Mapping[str, pd.DataFrame],
    fleet: Fleet,
    at: pd.Timestamp,
    stale_after: timedelta = STALE_AFTER,
) -> LatestState:
    """The :class:`LatestState` at ``at`` (UTC) from per measurement (``node``, ``meter``,
    ``grid``, ``link``) each series' latest row at or before ``at`` (``ts``, tags, fields;
    a missing measurement has none). Rows without the fields used, and meter and link rows
    older than ``stale_after`` [s] and grid rows older than GRID_STALE_AFTER, are left out;
    the newest node row counts for ``last_data`` however old."""
    empty = pd.DataFrame({"ts": pd.Series(dtype=object)})
    nodes = _node_frame(_holding(rows.get("node", empty), NODE_FIELDS), fleet)
    last_data = pd.Timestamp(nodes["ts"].max()) if len(nodes) else None
    fresh = nodes[nodes["ts"] > at - stale_after] if len(nodes) else nodes
    meters = _within(_holding(rows.get("meter", empty), ("power_kw",)), at, stale_after)
    grid = _within(
        _holding(rows.get("grid", empty), ("intensity_g_per_kwh",)), at, GRID_STALE_AFTER
    )
    links = _within(_holding(rows.get("link", empty), LINK_FIELDS), at, stale_after)
    return LatestState(
        at=at,
        nodes=fresh,
        last_data=last_data,
        meters=meters,
        grid=_region_intensity(grid),
        links=pd.DataFrame(
            {
                "link": links["id"].astype(str) if "id" in links else pd.Series(dtype=str),
                "util": _float_column(links, "util"),
                "latency_ms": _float_column(links, "latency_ms"),
            }
        ).drop_duplicates("link", keep="last"),
    )


def overview_kpis(latest: LatestState, fleet: Fleet, pue: float = FALLBACK_PUE) -> OverviewKpis:
    """The fleet's KPIs of ``latest`` (module docstring for the rules); reads nothing."""
    sites = _current_sites(latest, fleet, pue)
    facility = _sum_or_none(sites["facility_power_kw"])
    known = sites["facility_power_kw"].notna() & (sites["facility_power_kw"] > 0)
    consumption = float(sites.loc[known, "facility_power_kw"].sum())
    load = sites.loc[known, "facility_power_kw"].to_numpy(dtype=float)
    on_site = sites.loc[known, "renewable_kw"].to_numpy(dtype=float)
    renewable = float(np.nansum(renewable_share(on_site, load) * load))
    emitting = known & sites["grid_intensity_g_per_kwh"].notna()
    grid_import = sites.loc[emitting, "grid_import_kw"].to_numpy(dtype=float)
    grid_intensity = sites.loc[emitting, "grid_intensity_g_per_kwh"].to_numpy(dtype=float)
    grams = 1000.0 * float(site_emission_rate_kg_per_h(grid_import, grid_intensity).sum())
    emitting_kw = float(sites.loc[emitting, "facility_power_kw"].sum())
    util = latest.nodes["compute"].dropna()
    return OverviewKpis(
        at=latest.at,
        nodes_reporting=int(util.size),
        nodes_expected=len(fleet.nodes),
        compute_util=float(util.mean()) if util.size else None,
        facility_power_kw=facility,
        facility_modelled=bool(sites.loc[known, "facility_modelled"].any()),
        renewable_share=renewable / consumption if consumption > 0 else None,
        carbon_intensity_g_per_kwh=grams / emitting_kw if emitting_kw > 0 else None,
        last_data=latest.last_data,
    )


def site_map_of(latest: LatestState, fleet: Fleet, pue: float = FALLBACK_PUE) -> SiteMap:
    """Every site's utilisation and power and every link's load in ``latest``; reads nothing."""
    inventory = _inventory_frames(fleet)
    state = _current_sites(latest, fleet, pue).drop(columns="ts")
    return SiteMap(
        sites=inventory.sites.merge(state, on="site", how="left"),
        links=inventory.links.merge(latest.links, on="link", how="left"),
    )


def kpis(
    store: TelemetryStore,
    fleet: Fleet,
    now: datetime | pd.Timestamp,
    stale_after: timedelta = STALE_AFTER,
    pue: float = FALLBACK_PUE,
) -> OverviewKpis:
    """The fleet's KPIs at ``now``: :func:`overview_kpis` of :func:`read_latest`."""
    return overview_kpis(read_latest(store, fleet, now, stale_after), fleet, pue)


def site_map(
    store: TelemetryStore,
    fleet: Fleet,
    now: datetime | pd.Timestamp,
    stale_after: timedelta = STALE_AFTER,
    pue: float = FALLBACK_PUE,
) -> SiteMap:
    """Every site's and link's current load at ``now``: :func:`site_map_of` of
    :func:`read_latest`."""
    return site_map_of(read_latest(store, fleet, now, stale_after), fleet, pue)


def site_series(
    store: TelemetryStore,
    fleet: Fleet,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    every: timedelta | str,
    pue: float = FALLBACK_PUE,
    sites: Sequence[str] | None = None,
    cache: WindowCache | None = None,
) -> pd.DataFrame:
    """Per-site history in windows of ``every`` (aligned to the epoch) from ``start`` to ``stop``.

    Returns one row per site and window start ``ts`` (UTC) in ``[floor(start), stop)``, sorted by
    ``ts`` then fleet site order, with the SITE_COLUMNS (``util`` [0-1], ``facility_power_kw``
    [kW], ``intensity_g_per_kwh`` [gCO2/kWh] average …); NaN where nothing was reported.
    ``sites``: only these site ids, and only their node and meter rows are read (None: all).
    ``cache`` keeps the table's settled windows between calls (only new windows are then read
    and computed; not used with ``sites``).
    """
    if sites is not None:
        fleet = Fleet(
            sites=tuple(s for s in fleet.sites if s.id in sites),
            nodes=tuple(n for n in fleet.nodes if n.site in sites),
            meters=tuple(m for m in fleet.meters if m.site in sites),
        )
    step = pd.Timedelta(every)
    times = window_starts(start, stop, step)
    if times.empty or not fleet.sites:
        return pd.DataFrame(columns=["ts", "site", *SITE_COLUMNS])
    begin, end = times[0], _utc(stop)

    def fetch(first: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
        return _site_windows(store, fleet, first, until, step, pue, subset=sites is not None)

    if sites is not None or cache is None:  # a subset of sites is read as it is, uncached
        return fetch(begin, end)
    return cache.read(("site_series", id(store), id(fleet), step, pue), begin, end, step, fetch)


def _site_windows(
    store: TelemetryStore,
    fleet: Fleet,
    start: pd.Timestamp,
    stop: pd.Timestamp,
    step: pd.Timedelta,
    pue: float,
    subset: bool,
) -> pd.DataFrame:
    """The :func:`site_series` table of ``fleet``'s sites in windows of ``step`` from
    ``start`` to ``stop`` (on window boundaries), read from the store; ``subset``: read only
    the rows of those sites."""
    times = window_starts(start, stop, step)
    if times.empty:
        return pd.DataFrame(columns=["ts", "site", *SITE_COLUMNS])
    tags = {"site": [s.id for s in fleet.sites]} if subset else None
    nodes = _node_frame(
        store.query("node", start, stop, tags=tags, fields=list(NODE_FIELDS), every=step), fleet
    )
    meters = store.query("meter", start, stop, tags=tags, fields=["power_kw"], every=step)
    grid = store.query(
        "grid", start - GRID_STALE_AFTER, stop, fields=["intensity_g_per_kwh"], every=step
    )
    intensity = _grid_by_window(grid, fleet, times, step)
    return _site_table(fleet, times, nodes, meters, intensity, pue)


def shown_sites(
    series: pd.DataFrame,
    sites: Sequence[str],
    picked: Sequence[str] = (),
    limit: int = MAX_SITE_LINES,
) -> list[str]:
    """The sites the per-site series draws as their own line, in ``sites`` (fleet) order.

    ``picked`` sites (those in ``sites``, at most ``limit``) if any; else every site if there
    are at most ``limit``; else the ``limit`` busiest: highest mean compute utilisation over
    ``series`` (a ``site_series`` frame), then highest mean facility power [kW].
    """
    wanted = set(picked) & set(sites)
    if wanted:
        return [s for s in sites if s in wanted][:limit]
    if len(sites) <= limit:
        return list(sites)
    if series.empty:
        return list(sites[:limit])
    means = series.groupby("site")[["util", "facility_power_kw"]].mean()
    means = means.reindex(list(sites)).fillna(-1.0)
    busiest = set(means.sort_values(["util", "facility_power_kw"], ascending=False).index[:limit])
    return [s for s in sites if s in busiest]


def utilisation_heatmap(
    store: TelemetryStore,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    every: timedelta | str,
    nodes: Sequence[str] | None = None,
    cache: WindowCache | None = None,
) -> pd.DataFrame:
    """Node × window compute utilisation [0-1] (window means, then max of cpu and gpu).

    Rows are ``nodes`` in that order (silent ones all NaN) or, if None, every node found,
    sorted; columns are every window start (UTC) in ``[floor(start), stop)``. ``cache`` keeps
    the settled windows' utilisation between calls (only new windows are then read).
    """
    step = pd.Timedelta(every)
    times = window_starts(start, stop, step)
    if times.empty:
        return pd.DataFrame(index=pd.Index(list(nodes or []), name="id"))

    def fetch(first: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
        frame = store.query("node", first, until, fields=["cpu_util", "gpu_util"], every=step)
        if frame.empty or "id" not in frame:
            return pd.DataFrame(columns=["ts", "id", "compute"])
        ts = pd.to_datetime(frame["ts"], utc=True)
        return pd.DataFrame({"ts": ts, "id": frame["id"], "compute": compute_util(frame)})

    stop_at = _utc(stop)
    if cache is None:
        frame = fetch(times[0], stop_at)
    else:
        frame = cache.read(("heatmap", id(store), step), times[0], stop_at, step, fetch)
    if frame.empty:
        matrix = pd.DataFrame(np.nan, index=pd.Index([], name="id"), columns=times)
    else:
        matrix = frame.pivot_table(index="id", columns="ts", values="compute", aggfunc="mean")
    order = list(nodes) if nodes is not None else sorted(matrix.index.astype(str))
    matrix = matrix.reindex(index=order, columns=times).astype(float)
    matrix.index.name = "id"
    return matrix


def last_data_at(
    store: TelemetryStore, now: datetime | pd.Timestamp, within: timedelta = timedelta(days=1)
) -> pd.Timestamp | None:
    """Time of the newest node reading at or before ``now`` and within ``within``, or None."""
    frame = store.last("node", at=_utc(now), fields=["cpu_util"], within=within)
    if frame.empty:
        return None
    return pd.Timestamp(pd.to_datetime(frame["ts"], utc=True).max())


def window_starts(
    start: datetime | pd.Timestamp, stop: datetime | pd.Timestamp, every: timedelta | str
) -> pd.DatetimeIndex:
    """Start times (UTC, aligned to the epoch) of the windows of ``every`` that overlap
    ``[start, stop)``: from the one containing ``start`` to the last one beginning before
    ``stop``; none if ``stop <= start``."""
    step = pd.Timedelta(every)
    if step <= pd.Timedelta(0):
        raise ValueError(f"every must be positive, not {every!r}")
    first, end = _utc(start).floor(step), _utc(stop)
    if end <= _utc(start):
        return pd.DatetimeIndex([], tz="UTC", name="ts")
    return pd.date_range(first, end - pd.Timedelta(1, "ns"), freq=step, name="ts")


def _utc(value: datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _sum_or_none(values: pd.Series) -> float | None:
    return float(values.sum()) if values.notna().any() else None


def _node_frame(frame: pd.DataFrame, fleet: Fleet) -> pd.DataFrame:
    """Node rows of inventory nodes, with UTC ``ts``, ``site`` from the inventory and
    ``compute`` [0-1]; missing fields as NaN."""
    columns = ["ts", "site", "id", "compute", "power_w"]
    if frame.empty or "id" not in frame.columns:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    ids = frame["id"].astype(str)
    sites = ids.map(_inventory_frames(fleet).site_of)
    frame, ids, sites = frame[sites.notna()], ids[sites.notna()], sites[sites.notna()]
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(frame["ts"], utc=True),
            "site": sites,
            "id": ids,
            "compute": compute_util(frame),
            "power_w": _float_column(frame, "power_w"),
        }
    )


@dataclass(frozen=True)
class _InventoryFrames:
    """A fleet's inventory as the map draws it (see :class:`SiteMap`): ``sites`` (``site``,
    ``name``, ``region``, ``latitude``, ``longitude``, ``nodes_expected``), ``links`` (``link``,
    ``a``, ``b`` and their coordinates) and ``site_of`` (node id → site id)."""

    sites: pd.DataFrame
    links: pd.DataFrame
    site_of: pd.Series


@functools.lru_cache(maxsize=FLEETS_KEPT)
def _inventory_frames(fleet: Fleet) -> _InventoryFrames:
    """The inventory frames of ``fleet``, built once per fleet (do not change them)."""
    expected = Counter(n.site for n in fleet.nodes)
    sites = pd.DataFrame(
        {
            "site": [s.id for s in fleet.sites],
            "name": [s.name for s in fleet.sites],
            "region": [s.region for s in fleet.sites],
            "latitude": [s.latitude for s in fleet.sites],
            "longitude": [s.longitude for s in fleet.sites],
            "nodes_expected": [expected.get(s.id, 0) for s in fleet.sites],
        }
    )
    links = pd.DataFrame(
        {
            "link": [k.id for k in fleet.links],
            "a": [k.a for k in fleet.links],
            "b": [k.b for k in fleet.links],
            "lat_a": [fleet.site(k.a).latitude for k in fleet.links],
            "lon_a": [fleet.site(k.a).longitude for k in fleet.links],
            "lat_b": [fleet.site(k.b).latitude for k in fleet.links],
            "lon_b": [fleet.site(k.b).longitude for k in fleet.links],
        }
    )
    site_of = pd.Series({n.id: n.site for n in fleet.nodes}, dtype=object)
    return _InventoryFrames(sites=sites, links=links, site_of=site_of)


def _current_sites(latest: LatestState, fleet: Fleet, pue: float) -> pd.DataFrame:
    """SITE_COLUMNS of every site in ``latest``, from its fresh node and meter rows and grid."""
    times = pd.DatetimeIndex([latest.at], name="ts")
    intensity = pd.DataFrame(
        {r: [latest.grid.get(r, math.nan)] for r in fleet.regions}, index=times, dtype=float
    )
    meters = latest.meters
    return _site_table(
        fleet,
        times,
        latest.nodes.assign(ts=latest.at),
        meters.assign(ts=latest.at) if not meters.empty else meters,
        intensity,
        pue,
    )


def _holding(frame: pd.DataFrame, fields: Sequence[str]) -> pd.DataFrame:
    """The rows of ``frame`` with a time and any of ``fields`` (none if it has none of them)."""
    present = [f for f in fields if f in frame.columns]
    if not present or "ts" not in frame.columns:
        return frame.iloc[0:0]
    return frame[frame["ts"].notna()].dropna(subset=present, how="all")


def _within(frame: pd.DataFrame, at: pd.Timestamp, within: timedelta) -> pd.DataFrame:
    """The rows of ``frame`` newer than ``at - within``."""
    if frame.empty:
        return frame
    return frame[pd.to_datetime(frame["ts"], utc=True) > at - pd.Timedelta(within)]


def _float_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as floats (NaN where missing), or an all-NaN column if absent."""
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _region_intensity(grid: pd.DataFrame) -> dict[str, float]:
    if grid.empty or "region" not in grid or "intensity_g_per_kwh" not in grid:
        return {}
    rows = grid.dropna(subset=["intensity_g_per_kwh"])
    return {
        str(r): float(v) for r, v in zip(rows["region"], rows["intensity_g_per_kwh"], strict=True)
    }


def _grid_by_window(
    grid: pd.DataFrame, fleet: Fleet, times: pd.DatetimeIndex, step: pd.Timedelta
) -> pd.DataFrame:
    """Window × region grid intensity [gCO2/kWh]: window means carried forward for at most
    GRID_STALE_AFTER; NaN where no signal."""
    if grid.empty or "region" not in grid or "intensity_g_per_kwh" not in grid:
        return pd.DataFrame(np.nan, index=times, columns=list(fleet.regions))
    table = grid.assign(ts=pd.to_datetime(grid["ts"], utc=True)).pivot_table(
        index="ts", columns="region", values="intensity_g_per_kwh", aggfunc="mean"
    )
    grid_times = window_starts(times[0] - GRID_STALE_AFTER, times[-1] + step, step)
    limit = max(int(GRID_STALE_AFTER / step), 1)
    table = table.reindex(grid_times).ffill(limit=limit)
    return table.reindex(index=times, columns=list(fleet.regions)).astype(float)


def _site_table(
    fleet: Fleet,
    times: pd.DatetimeIndex,
    nodes: pd.DataFrame,
    meters: pd.DataFrame,
    grid_intensity: pd.DataFrame,
    pue: float,
) -> pd.DataFrame:
    """SITE_COLUMNS for every (window, site) pair, by the rules of the module docstring.

    nodes : ``ts``, ``site``, ``compute`` [0-1], ``power_w`` [W] (inventory nodes only);
    meters : ``ts``, ``site``, ``kind``, ``power_kw`` [kW];
    grid_intensity : window × region [gCO2/kWh].
    """
    key = pd.MultiIndex.from_product([times, [s.id for s in fleet.sites]], names=["ts", "site"])
    by_node = nodes.groupby(["ts", "site"])
    table = pd.DataFrame(
        {
            "util": by_node["compute"].mean(),
            "nodes_reporting": by_node["compute"].count(),
            "it_power_kw": by_node["power_w"].sum(min_count=1) / 1000.0,
        }
    ).reindex(key)
    table["nodes_reporting"] = table["nodes_reporting"].fillna(0).astype(int)
    kinds = _meter_kinds(meters).reindex(key)
    modelled_it = kinds["it_load"].fillna(table["it_power_kw"])
    facility = kinds["facility"]
    table["facility_modelled"] = facility.isna() & modelled_it.notna()
    table["facility_power_kw"] = facility.fillna(facility_power_kw(modelled_it, pue))
    table["renewable_kw"] = kinds[["pv", "wind"]].sum(axis=1, min_count=1).fillna(0.0)
    table["grid_import_kw"] = kinds["grid_import"].fillna(
        (table["facility_power_kw"] - table["renewable_kw"]).clip(lower=0.0)
    )
    region_of = {s.id: s.region for s in fleet.sites}
    shipped = read_grid_factors()
    fallback = {r: shipped.get(r, math.nan) for r in fleet.regions}
    by_region = grid_intensity.fillna(value=fallback).reindex(index=times)
    regions = pd.Index(by_region.columns)
    site_region = regions.get_indexer(pd.Index([region_of[s.id] for s in fleet.sites]))
    # key is the product times × sites: row i is time i // n, site i % n
    values = by_region.to_numpy(dtype=float)
    found = np.where(site_region >= 0, values[:, np.maximum(site_region, 0)], np.nan)
    table["grid_intensity_g_per_kwh"] = found.reshape(-1)
    facility_kw = table["facility_power_kw"].where(table["facility_power_kw"] > 0)
    table["intensity_g_per_kwh"] = (
        table["grid_import_kw"].clip(lower=0.0) * table["grid_intensity_g_per_kwh"] / facility_kw
    )
    return table.reset_index()[["ts", "site", *SITE_COLUMNS]]


def _meter_kinds(meters: pd.DataFrame) -> pd.DataFrame:
    """(ts, site) × meter kind: summed ``power_kw`` [kW] of the kinds the overview uses."""
    if not meters.empty and {"site", "kind", "power_kw"} <= set(meters.columns):
        meters = meters.dropna(subset=["power_kw"])
    if meters.empty or not {"site", "kind", "power_kw"} <= set(meters.columns):
        index = pd.MultiIndex.from_tuples([], names=["ts", "site"])
        return pd.DataFrame({k: pd.Series(dtype=float) for k in METER_KINDS_USED}, index=index)
    frame = meters.assign(ts=pd.to_datetime(meters["ts"], utc=True))
    table = frame.pivot_table(
        index=["ts", "site"], columns="kind", values="power_kw", aggfunc="sum"
    )
    return table.reindex(columns=list(METER_KINDS_USED)).astype(float)
