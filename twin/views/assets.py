"""What an asset page reads: one node, site or link, its state, series, energy and alerts.

* **Which asset an alert is about** (:func:`alert_asset`): from the measurement of the rule's
  metric and the series' tags. Node-level series (``node``, ``entropy``, ``node_energy``) name
  a node by ``id``, ``link`` a link by ``id``; any other series with a ``site`` tag
  (``site_energy``, ``meter``, ``forecast``) names its site. Fleet-wide series
  (``fleet_entropy``, ``fleet_status``, ``collector``) name no asset (None).
* **An asset's alerts** (:func:`asset_alerts`): the current alert states and the transitions in
  a window whose asset is the page's; a site's page also lists the alerts of its nodes and
  links (series tagged ``site=<site>``).
* **Alert spans** (:func:`alert_spans`): from the history, when each series of an asset was
  pending or alerting, to shade the asset's series.
* **State now**: the newest reading at or before ``at`` and whether it is fresh, stale or
  missing (LIVE_STALENESS, or the replay's telemetry staleness on the Replay page); a site is
  fresh when every node reports, stale when some do, missing when none does.

Times are tz-aware UTC; values in the units of the stored fields (:mod:`twin.models.units`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from twin.alerts.engine import ACTIVE, ALERTING, SeriesState, series_tags
from twin.alerts.rules import RuleSet, default_rules_path, load_rules
from twin.alerts.state import load_states, read_events
from twin.domain import Fleet, Link, Node, Site
from twin.errors import ConfigError
from twin.jobs.energy import read_site_energy
from twin.models.units import PER_MINUTE, Unit, as_float, field_unit, format_quantity
from twin.store import TelemetryStore
from twin.views.overview import STALE_AFTER, site_map, site_series
from twin.views.replay import TELEMETRY_STALENESS, Staleness, classify

KINDS = ("node", "site", "link")

LIVE_STALENESS = Staleness(fresh=STALE_AFTER, horizon=TELEMETRY_STALENESS.horizon)
"""How old a node's or link's newest reading may be on a live page: fresh as on the Overview
(STALE_AFTER), missing past the replay's telemetry horizon."""
"""Kinds of asset that have a page."""

MEASUREMENT_KINDS: dict[str, str] = {
    "node": "node",
    "entropy": "node",
    "node_energy": "node",
    "link": "link",
}
"""Measurements whose series are about one node or link (named by their ``id`` tag)."""

NODE_FIELDS = ("cpu_util", "gpu_util", "mem_util", "net_util", "storage_util", "power_w")
LINK_FIELDS = ("util", "latency_ms", "jitter_ms", "loss_pct", "throughput_gbps")
SITE_ENERGY_FIELDS = (
    "facility_kw",
    "it_kw",
    "pue",
    "renewable_share",
    "intensity_avg_g_per_kwh",
    "emissions_kg_per_h",
)
NODE_ENERGY_FIELDS = ("it_kw", "energy_kwh", "emissions_kg")


@dataclass(frozen=True, order=True)
class AssetRef:
    """One asset with a page: ``kind`` (node, site or link) and its inventory ``id``."""

    kind: str
    id: str

    def text(self) -> str:
        """``node:<id>``, as the Replay page's ``asset`` query carries it."""
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, text: str | None) -> AssetRef | None:
        """``node:<id>`` (or site, link) → AssetRef; None for anything else."""
        kind, _, asset_id = (text or "").partition(":")
        return cls(kind, asset_id) if kind in KINDS and asset_id else None


def alert_asset(measurement: str | None, tags: Mapping[str, str]) -> AssetRef | None:
    """The asset a series of ``measurement`` with ``tags`` is about (module docstring); None
    for a fleet-wide series or an unknown measurement without a site."""
    kind = MEASUREMENT_KINDS.get(measurement or "")
    if kind is not None and tags.get("id"):
        return AssetRef(kind, tags["id"])
    if measurement and tags.get("site"):
        return AssetRef("site", tags["site"])
    return None


def find_asset(fleet: Fleet, ref: AssetRef) -> Site | Node | Link | None:
    """The inventory entry of ``ref``; None if the fleet has no such asset."""
    if ref.kind == "site":
        return fleet.site(ref.id) if fleet.has("site", ref.id) else None
    items: Sequence[Node | Link] = fleet.nodes if ref.kind == "node" else fleet.links
    return next((item for item in items if item.id == ref.id), None)


def rule_measurement(rules: RuleSet, rule: str) -> str | None:
    """The measurement the rule ``rule`` reads; None if the rule file has no such rule."""
    return next((r.selector.measurement for r in rules.rules if r.name == rule), None)


def rule_unit(rules: RuleSet, rule: str) -> Unit:
    """The unit of a rule's value: its field's, or per minute for a rate rule."""
    found = next((r for r in rules.rules if r.name == rule), None)
    if found is None:
        return Unit("")
    if found.rate is not None:
        return Unit(PER_MINUTE)
    return field_unit(found.selector.field)


def alert_value_text(rules: RuleSet, rule: str, value: float) -> str:
    """An alert's value with its rule's unit, for people: ``53.6 %``, ``1.57 kW``."""
    return format_quantity(value, rule_unit(rules, rule))


def concerns(ref: AssetRef, target: AssetRef | None, tags: Mapping[str, str]) -> bool:
    """Whether an alert about ``target`` (series ``tags``) belongs on ``ref``'s page."""
    return target == ref or (ref.kind == "site" and tags.get("site") == ref.id)


def alert_moment(state: SeriesState) -> datetime | None:
    """The moment that explains an alert: when its active spell began, else when it entered
    its state (no data, error, resolved)."""
    return state.active_since or state.since


@dataclass(frozen=True)
class AssetAlerts:
    """An asset's alerts: ``current`` states that are pending or alerting (most recent change
    first) and ``events``, the transitions of the window (newest first, columns of
    ``alert_event``)."""

    current: list[SeriesState]
    events: pd.DataFrame


def asset_alerts(
    store: TelemetryStore,
    rules: RuleSet,
    ref: AssetRef,
    start: datetime | pd.Timestamp,
    now: datetime | pd.Timestamp,
) -> AssetAlerts:
    """The alerts of ``ref`` at ``now``, and its alert history from ``start`` to ``now``."""
    at = _utc(now).to_pydatetime()
    states = [
        s
        for s in load_states(store, at).values()
        if s.series
        and s.state in ACTIVE | ALERTING
        and concerns(ref, alert_asset(rule_measurement(rules, s.rule), s.tags), s.tags)
    ]
    states.sort(key=lambda s: alert_moment(s) or at, reverse=True)
    events = read_events(store, start, at + timedelta(seconds=1))
    if not events.empty and "rule" in events:
        keep = [
            concerns(ref, alert_asset(rule_measurement(rules, rule), tags), tags)
            for rule, tags in zip(
                events["rule"], (series_tags(str(s)) for s in events["series"]), strict=True
            )
        ]
        events = events[keep].reset_index(drop=True)
    return AssetAlerts(states, events)


def alert_spans(
    alerts: AssetAlerts,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
) -> pd.DataFrame:
    """When each (rule, series) of ``alerts`` was pending or alerting within ``[start, stop]``:
    one row per spell with ``rule``, ``series``, ``start``, ``end`` (UTC) and ``fired`` (True
    if it reached firing, no data or error), oldest first. A spell still open ends at ``stop``;
    a current alert whose spell began before ``start`` starts there."""
    begin, end = _utc(start), _utc(stop)
    loud = ACTIVE | ALERTING
    spells: list[dict[str, object]] = []
    opened: dict[tuple[str, str], dict[str, object]] = {}
    events = alerts.events.sort_values("ts", kind="stable") if len(alerts.events) else None
    for row in [] if events is None else events.to_dict("records"):
        key = (str(row["rule"]), str(row["series"]))
        if row["state"] in loud:
            spell = opened.setdefault(
                key, {"rule": key[0], "series": key[1], "start": _utc(row["ts"]), "fired": False}
            )
            spell["fired"] = bool(spell["fired"]) or row["state"] in ALERTING
        elif key in opened:
            spells.append({**opened.pop(key), "end": _utc(row["ts"])})
    for s in alerts.current:
        moment = alert_moment(s)
        if (s.rule, s.series) not in opened and moment is not None:
            opened[(s.rule, s.series)] = {
                "rule": s.rule,
                "series": s.series,
                "start": max(_utc(moment), begin),
                "fired": s.state in ALERTING,
            }
    spells += [{**spell, "end": end} for spell in opened.values()]
    frame = pd.DataFrame(spells, columns=["rule", "series", "start", "end", "fired"])
    frame["start"] = [max(_utc(t), begin) for t in frame["start"]]
    frame = frame[frame["end"] > frame["start"]]
    return frame.sort_values("start", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Reading:
    """One latest reading of an asset: the field, its value [unit of the field] and the text
    with its unit."""

    field: str
    value: float
    text: str


@dataclass(frozen=True)
class AssetState:
    """An asset at ``at``: ``status`` (fresh, stale, missing), ``ts`` of its newest reading
    (None if none within the horizon), ``age_s`` [s] and its ``readings`` then."""

    at: pd.Timestamp
    status: str
    ts: pd.Timestamp | None
    age_s: float
    readings: list[Reading] = field(default_factory=list)


def asset_state(
    store: TelemetryStore,
    fleet: Fleet,
    ref: AssetRef,
    at: datetime | pd.Timestamp,
    limits: Staleness = LIVE_STALENESS,
) -> AssetState:
    """The state of ``ref`` at ``at`` by ``limits`` (module docstring)."""
    when = _utc(at)
    if ref.kind == "site":
        return site_states(store, fleet, [ref.id], when, limits)[ref.id]
    fields = NODE_FIELDS if ref.kind == "node" else LINK_FIELDS
    frame = store.last(
        ref.kind, at=when, tags={"id": ref.id}, fields=list(fields), within=limits.horizon
    )
    if frame.empty:
        return AssetState(when, "missing", None, math.nan)
    row = frame.iloc[-1]
    ts = _utc(row["ts"])
    age = (when - ts).total_seconds()
    readings = [_reading(name, row.get(name)) for name in fields if name in frame.columns]
    return AssetState(when, str(classify(age, limits)), ts, age, readings)


def site_states(
    store: TelemetryStore,
    fleet: Fleet,
    sites: Sequence[str],
    at: datetime | pd.Timestamp,
    limits: Staleness = LIVE_STALENESS,
) -> dict[str, AssetState]:
    """The state of each of ``sites`` at ``at`` (one read of the fleet's latest readings)."""
    when = _utc(at)
    return sites_in_map(site_map(store, fleet, when, stale_after=limits.fresh).sites, sites, when)


def sites_in_map(
    table: pd.DataFrame, sites: Sequence[str], at: datetime | pd.Timestamp
) -> dict[str, AssetState]:
    """The state at ``at`` of each of ``sites`` from an already read site map table
    (:attr:`twin.views.overview.SiteMap.sites`): nodes reporting, utilisation, power, intensity."""
    when = _utc(at)
    return {
        str(row["site"]): _site_state(row, when)
        for row in table[table["site"].isin(list(sites))].to_dict("records")
    }


def _site_state(row: Mapping[Hashable, Any], at: pd.Timestamp) -> AssetState:
    reporting = int(row.get("nodes_reporting") or 0)
    expected = int(row["nodes_expected"])
    status = "fresh" if reporting >= expected > 0 else "stale" if reporting else "missing"
    readings = [
        Reading("nodes_reporting", float(reporting), f"{reporting} / {expected}"),
        *(
            _reading(name, row.get(name))
            for name in ("util", "it_power_kw", "facility_power_kw", "intensity_g_per_kwh")
        ),
    ]
    return AssetState(at, status, None, math.nan, readings)


def _reading(name: str, value: object) -> Reading:
    number = as_float(value)
    return Reading(name, number, format_quantity(number, field_unit(name)))


SERIES_FIELDS: dict[str, tuple[str, ...]] = {
    "node": ("cpu_util", "gpu_util", "mem_util", "power_w"),
    "link": ("util", "latency_ms", "loss_pct"),
}
"""The telemetry fields an asset page draws, per kind of asset with its own series."""


def telemetry_series(
    store: TelemetryStore,
    ref: AssetRef,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    every: timedelta,
) -> pd.DataFrame:
    """A node's or link's means per window ``every``: ``ts`` (UTC) and its SERIES_FIELDS
    (node: ``cpu_util``, ``gpu_util``, ``mem_util`` [0-1], ``power_w`` [W]; link: ``util``
    [0-1], ``latency_ms`` [ms], ``loss_pct`` [%])."""
    fields = list(SERIES_FIELDS[ref.kind])
    return _series(store, ref.kind, {"id": ref.id}, fields, start, stop, every)


def site_load_series(
    store: TelemetryStore,
    fleet: Fleet,
    site: str,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    every: timedelta,
) -> pd.DataFrame:
    """The site's telemetry per window ``every`` (:func:`twin.views.overview.site_series`): ``ts``,
    ``util`` [0-1], ``it_power_kw``, ``facility_power_kw`` [kW], ``intensity_g_per_kwh``
    [gCO2/kWh] …"""
    frame = site_series(store, fleet, start, stop, every, sites=[site])
    frame = frame.drop(columns="site")
    return frame.assign(ts=pd.to_datetime(frame["ts"], utc=True))


def site_energy_series(
    store: TelemetryStore,
    site: str,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    every: timedelta,
) -> pd.DataFrame:
    """The site's derived energy (:func:`twin.jobs.energy.read_site_energy`): ``ts``, ``pue``
    [1], ``renewable_share`` [0-1], ``emissions_kg_per_h`` [kg/h] …; empty when none was
    derived."""
    frame = read_site_energy(store, start, stop, every)
    if frame.empty or "site" not in frame:
        return pd.DataFrame(columns=["ts", *SITE_ENERGY_FIELDS])
    return (
        frame[frame["site"] == site].drop(columns="site").sort_values("ts").reset_index(drop=True)
    )


def node_energy(
    store: TelemetryStore,
    node: str,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
) -> dict[str, float]:
    """The node's energy [kWh] and emissions [kg] over ``[start, stop)`` from ``node_energy``
    (NaN when nothing was derived)."""
    frame = store.query(
        "node_energy", start, stop, tags={"id": node}, fields=["energy_kwh", "emissions_kg"]
    )
    return {
        name: float(frame[name].sum()) if name in frame and frame[name].notna().any() else math.nan
        for name in ("energy_kwh", "emissions_kg")
    }


def _series(
    store: TelemetryStore,
    measurement: str,
    tags: dict[str, str],
    fields: list[str],
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    every: timedelta,
) -> pd.DataFrame:
    frame = store.query(measurement, start, stop, tags=dict(tags), fields=fields, every=every)
    if frame.empty:
        return pd.DataFrame(columns=["ts", *fields])
    frame = frame.assign(ts=pd.to_datetime(frame["ts"], utc=True)).sort_values("ts")
    keep = ["ts", *(f for f in fields if f in frame.columns)]
    return frame[keep].reset_index(drop=True)


def _utc(value: datetime | pd.Timestamp | object) -> pd.Timestamp:
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass(frozen=True)
class ConfiguredRules:
    """The alert rules the scheduler evaluates: ``rules``, the file they come from
    (``source``) and why it could not be read (``error``; "" when it was, and the rules are
    then empty)."""

    rules: RuleSet
    source: str
    error: str = ""


def read_rules(path: Path | None) -> ConfiguredRules:
    """The rules of ``path`` (the ``alert_rules`` setting), else the shipped file."""
    source = path or default_rules_path()
    try:
        return ConfiguredRules(load_rules(source), str(source))
    except ConfigError as exc:
        return ConfiguredRules(RuleSet(()), str(source), str(exc))


def site_members(
    store: TelemetryStore,
    fleet: Fleet,
    site: str,
    at: datetime | pd.Timestamp,
    limits: Staleness = LIVE_STALENESS,
) -> pd.DataFrame:
    """The nodes of ``site`` and the links from or to it at ``at``: ``kind``, ``id``,
    ``status`` (fresh, stale, missing by ``limits``), ``age_s`` [s] of the newest reading
    (NaN if none), nodes first, in inventory order."""
    when = _utc(at)
    members = [("node", n.id) for n in fleet.nodes if n.site == site] + [
        ("link", k.id) for k in fleet.links if site in (k.a, k.b)
    ]
    ages: dict[tuple[str, str], float] = {}
    for kind in ("node", "link"):
        ids = [i for k, i in members if k == kind]
        if not ids:
            continue
        frame = store.last(kind, at=when, tags={"id": ids}, within=limits.horizon)
        for row in frame.to_dict("records") if "id" in frame else []:
            ages[(kind, str(row["id"]))] = (when - _utc(row["ts"])).total_seconds()
    rows = [
        {
            "kind": kind,
            "id": asset_id,
            "age_s": ages.get((kind, asset_id), math.nan),
            "status": str(classify(ages.get((kind, asset_id), math.nan), limits)),
        }
        for kind, asset_id in members
    ]
    return pd.DataFrame(rows, columns=["kind", "id", "status", "age_s"])


def site_alert_counts(
    store: TelemetryStore, rules: RuleSet, fleet: Fleet, now: datetime | pd.Timestamp
) -> dict[str, tuple[int, int]]:
    """Per site, how many of its alerts (its own, its nodes' and links') are firing and
    pending at ``now`` [count]; sites without any are left out."""
    counts: dict[str, list[int]] = {}
    for s in load_states(store, _utc(now).to_pydatetime()).values():
        if s.state not in ACTIVE:
            continue
        ref = alert_asset(rule_measurement(rules, s.rule), s.tags)
        site = s.tags.get("site") or (fleet.asset_site(ref.kind, ref.id) if ref else None)
        if site:
            tally = counts.setdefault(site, [0, 0])
            tally[0 if s.state == "firing" else 1] += 1
    return {site: (firing, pending) for site, (firing, pending) in counts.items()}


ONSET_NAMES = 4
"""Alerts named in one window's onset text at most; the rest are counted."""


def alert_onsets(
    store: TelemetryStore,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    every: timedelta | pd.Timedelta,
) -> pd.DataFrame:
    """Alerts that began firing (or went silent, or failed: no data, error) in ``[start,
    stop)``, per window of ``every`` (aligned to the epoch): ``ts`` (window start, UTC),
    ``count`` [alerts] and ``text`` (rule and asset of the first ONSET_NAMES, then how many
    more), oldest window first; no row for a window without any."""
    frame = read_events(store, start, stop)
    columns = ["ts", "count", "text"]
    if frame.empty or not {"state", "previous", "rule"} <= set(frame.columns):
        return pd.DataFrame(columns=columns)
    began = frame[frame["state"].isin(ALERTING) & ~frame["previous"].isin(ALERTING)]
    if began.empty:
        return pd.DataFrame(columns=columns)
    began = began.assign(
        window=pd.to_datetime(began["ts"], utc=True).dt.floor(pd.Timedelta(every)),
        name=[_onset_name(r, s) for r, s in zip(began["rule"], began["series"], strict=True)],
    ).sort_values(["window", "ts"], kind="stable")
    rows = []
    for window, group in began.groupby("window", sort=True):
        names = list(group["name"])
        more = len(names) - ONSET_NAMES
        text = ", ".join(names[:ONSET_NAMES]) + (f" and {more} more" if more > 0 else "")
        rows.append({"ts": window, "count": len(names), "text": text})
    return pd.DataFrame(rows, columns=columns)


def _onset_name(rule: object, series: object) -> str:
    """An alert as ``rule (asset)``: the asset's id, site or scope from its series tags."""
    tags = series_tags(str(series or ""))
    asset = tags.get("id") or tags.get("site") or tags.get("scope") or tags.get("region")
    return f"{rule} ({asset})" if asset else str(rule)
