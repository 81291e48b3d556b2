"""Where the dashboard's links lead (pure): asset pages, the Replay page at a moment with an
asset selected, and the page of a fleet-wide alert; times as URLs carry them.

Paths are relative to the app (pages pass them through ``app.get_relative_path``). Asset ids
are percent-encoded in the path, so an id never changes the path's shape.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, unquote

import pandas as pd

from twin.views.assets import KINDS, AssetRef

ALERTS_PATH = "/alerts"
REPLAY_PATH = "/replay"
ENTROPY_PATH = "/entropy"
OVERVIEW_PATH = "/"

ALERT_CONTEXT = pd.Timedelta(hours=12)
"""How much of what led to a moment an asset page opened at it shows [h]."""

FLEET_PAGES = {"fleet_entropy": ENTROPY_PATH, "entropy": ENTROPY_PATH}
"""Pages of fleet-wide alerts by their metric's measurement; any other goes to the Overview."""


def format_time(t: pd.Timestamp) -> str:
    """A UTC time as URLs carry it: ``2026-11-21T03:10:00Z``."""
    return _utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def query_value(search: str | None, name: str) -> str | None:
    """The last value of ``name`` in a URL query string (``?t=…&asset=…``); None if absent."""
    values = parse_qs((search or "").lstrip("?")).get(name)
    return values[-1] if values else None


def parse_time_query(search: str | None) -> pd.Timestamp | None:
    """The ``t`` of a URL query string (``?t=2026-11-21T03:10:00Z``; an offset or a naive time,
    read as UTC, also do) as a UTC time; None if absent or not a time."""
    value = query_value(search, "t")
    if value is None:
        return None
    text = value.strip().replace(" ", "+")  # an unescaped "+hh:mm" offset arrives as " "
    try:
        return _utc(pd.Timestamp(text))
    except ValueError:
        return None


def asset_path(ref: AssetRef, at: pd.Timestamp | None = None) -> str:
    """The page of an asset: ``/node/<id>``, ``/site/<id>``, ``/link/<id>``; with a moment
    ``at``, the page marks it (``t``) and its time range runs from ALERT_CONTEXT before it to
    now (``from``, ``to``)."""
    path = f"/{ref.kind}/{quote(ref.id, safe='')}"
    if at is None:
        return path
    return f"{path}?t={format_time(at)}&from={format_time(at - ALERT_CONTEXT)}&to=now"


def parse_asset_path(path: str) -> AssetRef | None:
    """The asset of a page path (``/node/<id>`` …; inverse of :func:`asset_path`); None if the
    path is no asset page."""
    parts = path.strip("/").split("/")
    if len(parts) != 2 or parts[0] not in KINDS or not parts[1]:
        return None
    return AssetRef(parts[0], unquote(parts[1]))


def replay_query(at: pd.Timestamp, asset: AssetRef | None = None) -> str:
    """The Replay page's query at ``at`` with ``asset`` selected when given:
    ``?t=2026-11-21T03:10:00Z&asset=node:gpu01`` (the id percent-encoded)."""
    selected = f"&asset={asset.kind}:{quote(asset.id, safe='')}" if asset is not None else ""
    return f"?t={format_time(at)}{selected}"


def replay_path(at: pd.Timestamp, asset: AssetRef | None = None) -> str:
    """The Replay page at ``at``, with ``asset`` selected when given."""
    return REPLAY_PATH + replay_query(at, asset)


def fleet_path(measurement: str | None) -> str:
    """The page of an alert about no single asset: Entropy for entropy metrics, else the
    Overview."""
    return FLEET_PAGES.get(measurement or "", OVERVIEW_PATH)


def _utc(value: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
