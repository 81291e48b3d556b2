"""Entropy from the store: hourly state aggregation, the hourly entropy job, backfill, readers.

The model is :mod:`twin.models.entropy`; this module feeds it from stored telemetry and keeps its
results as derived series:

* **Hourly state.** One ``store.query("node", …, every="1h")`` gives every node's hourly means
  of ``cpu_util``, ``gpu_util``, ``net_util`` and ``storage_util``; the state (c, l, s) [0-1]
  of each hour is :func:`twin.models.entropy.state_vector` of those means (c = the larger of the cpu
  and gpu means). An hour in which a node sent nothing is NaN.
* **Entropy at a time** ``end`` (a whole UTC hour) covers the ``window`` (24 h) of hours
  ``[end - window, end)`` and is stamped ``ts = end``.
* **Derived series** written by :func:`record_entropy` and :func:`backfill_entropy`:

  - ``entropy`` (tags ``site``, ``id``, ``dimension`` ∈ c, l, s, combined): ``entropy_bits``,
    ``drift_bits`` [bits], ``state_type`` (str), and for c, l, s the interval probabilities
    ``p_idle``, ``p_low``, ``p_medium``, ``p_high`` [0-1]. The combined row carries the compute
    label as its ``state_type``, ``idle`` (1 when that label is D, else 0; the node is out of
    balance whatever its drift) and no probabilities (it is a weighted mean of entropies).
  - ``fleet_entropy`` (tag ``scope`` = fleet): ``network_entropy_bits``, ``mean_drift_bits``,
    ``balance_entropy_bits`` [bits], ``drifting_share``, ``idle_share``,
    ``out_of_balance_share`` [0-1], ``nodes_A`` … ``nodes_mixed``
    [count], over the combined node entropies of the nodes that reported in the window.

  A node that sent nothing in the window gets no rows; an hour in which no node reported gets
  no rows at all. Writing an hour again replaces its rows (idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from twin.domain import Fleet
from twin.models.entropy import (
    DIMENSIONS,
    DRIFT_THRESHOLD,
    EDGES,
    H_STAR_BITS,
    IDLE_TYPE,
    NETWORK_BINS,
    PROBABILITY_FIELDS,
    FleetEntropy,
    TypeRule,
    combined_entropy,
    drift,
    entropy_terms,
    fleet_entropy,
    interval_probabilities,
    state_entropy,
    state_type,
    state_vector,
)
from twin.store import TelemetryStore
from twin.views.overview import window_starts
from twin.views.window_cache import Fetch, WindowCache

log = logging.getLogger(__name__)

HOUR = pd.Timedelta(hours=1)
WINDOW = timedelta(hours=24)
"""Default entropy window: the last 24 hourly values."""

ENTROPY_MINUTE = 1
"""Minute past each hour [min] at which the scheduler records the hour just completed."""

ENTROPY_FIRST_RUN_DELAY = timedelta(seconds=60)
"""Delay of the scheduler's first run after start [s], so that a history being replayed into
the store (the demo's backfill) has landed before the missing hours are filled."""

CATCH_UP = timedelta(hours=24)
"""How far back the hourly job fills hours that have no ``fleet_entropy`` row yet."""

NODE_FIELDS = ("cpu_util", "gpu_util", "net_util", "storage_util")
"""Node telemetry fields [0-1] the state (c, l, s) is built from."""

ENTROPY = "entropy"
FLEET_ENTROPY = "fleet_entropy"
COMBINED = "combined"
DIMENSION_TAGS: tuple[str, ...] = (*DIMENSIONS, COMBINED)
"""Values of the ``dimension`` tag of the ``entropy`` measurement."""


@dataclass(frozen=True)
class EntropyParams:
    """The parameters of the entropy model (see :mod:`twin.models.entropy` for their meaning).

    edges : interval edges [0-1]; window : hours per entropy; weights : dimension weights [-]
    (None: equal); rule : state-type thresholds; balance_bits : H* [bits];
    threshold : drift threshold [bits]; bins : bins of H(R).
    """

    edges: tuple[float, ...] = EDGES
    window: timedelta = WINDOW
    weights: Mapping[str, float] | None = None
    rule: TypeRule = field(default_factory=TypeRule)
    balance_bits: float = H_STAR_BITS
    threshold: float = DRIFT_THRESHOLD
    bins: int = NETWORK_BINS


@dataclass(frozen=True)
class EntropySnapshot:
    """Every node's entropies at ``at`` (a whole UTC hour; window ``[at - window, at)``).

    nodes : one row per reporting node and dimension (DIMENSION_TAGS): ``site``, ``id``,
        ``dimension``, ``entropy_bits``, ``drift_bits`` [bits], ``state_type``, and the
        PROBABILITY_FIELDS [0-1] (NaN on combined rows).
    fleet : the fleet summary over the combined entropies.
    """

    at: pd.Timestamp
    nodes: pd.DataFrame
    fleet: FleetEntropy


# --- hourly state ----------------------------------------------------------------------------


def hourly_state(
    store: TelemetryStore,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    nodes: Sequence[str] | None = None,
    fleet: Fleet | None = None,
) -> pd.DataFrame:
    """Hourly mean state of nodes over the hours overlapping ``[start, stop)`` (UTC).

    Returns columns ``ts`` (hour start, UTC), ``site``, ``id``, ``c``, ``l``, ``s`` [0-1], one
    row per node and hour it reported in, sorted by ``ts`` then ``id``. ``nodes`` limits it to
    those ids; with ``fleet`` only inventory nodes are kept and ``site`` comes from it.
    """
    hours = window_starts(start, stop, HOUR)
    columns = ["ts", "site", "id", *DIMENSIONS]
    if hours.empty:
        return pd.DataFrame(columns=columns)
    tags = {"id": list(nodes)} if nodes is not None else None
    frame = store.query(
        "node", hours[0], pd.Timestamp(stop), tags=tags, fields=list(NODE_FIELDS), every=HOUR
    )
    if frame.empty or "id" not in frame.columns:
        return pd.DataFrame(columns=columns)
    ids = frame["id"].astype(str)
    if fleet is not None:
        site_of = {n.id: n.site for n in fleet.nodes}
        sites = ids.map(site_of)
    else:
        sites = frame["site"].astype(str) if "site" in frame.columns else ids.map(lambda _: "")
    keep = sites.notna()
    state = state_vector(frame[keep])
    out = pd.DataFrame(
        {"ts": pd.to_datetime(frame.loc[keep, "ts"], utc=True), "site": sites[keep], "id": ids}
    ).join(state)
    out = out.dropna(subset=list(DIMENSIONS), how="all")
    return out.sort_values(["ts", "id"], kind="stable").reset_index(drop=True)[columns]


def state_matrix(state: pd.DataFrame, dimension: str, hours: pd.DatetimeIndex) -> pd.DataFrame:
    """One dimension of an :func:`hourly_state` frame as hours × nodes [0-1] over ``hours``
    (missing hours NaN); columns are the node ids, sorted."""
    if state.empty:
        return pd.DataFrame(index=hours, dtype=float)
    matrix = state.pivot_table(index="ts", columns="id", values=dimension, aggfunc="mean")
    matrix = matrix.reindex(index=hours).astype(float)
    return matrix.reindex(columns=sorted(matrix.columns.astype(str)))


# --- the model over a window ------------------------------------------------------------------


def snapshot_from_state(
    state: pd.DataFrame, at: datetime | pd.Timestamp, params: EntropyParams | None = None
) -> EntropySnapshot:
    """Every node's entropies at the whole hour ``at`` from an :func:`hourly_state` frame that
    covers ``[at - window, at)`` (rows outside it are ignored)."""
    p = params or EntropyParams()
    end = _hour(at)
    hours = window_starts(end - pd.Timedelta(p.window), end, HOUR)
    window = state[(state["ts"] >= hours[0]) & (state["ts"] < end)] if len(hours) else state[:0]
    site_of = window.drop_duplicates("id", keep="last").set_index("id")["site"]
    per_dimension: dict[str, pd.Series] = {}
    parts: list[pd.DataFrame] = []
    labels = pd.Series(dtype=object)
    for dimension in DIMENSIONS:
        matrix = state_matrix(window, dimension, hours)
        probs = interval_probabilities(matrix, p.edges)
        entropy = state_entropy(matrix, p.edges)
        types = state_type(probs, p.rule)
        if dimension == "c":
            labels = types
        per_dimension[dimension] = entropy
        part = probs.set_axis(list(PROBABILITY_FIELDS), axis=1)
        part.insert(0, "state_type", types)
        part.insert(0, "drift_bits", drift(entropy, p.balance_bits))
        part.insert(0, "entropy_bits", entropy)
        parts.append(part.assign(dimension=dimension))
    combined = combined_entropy(pd.DataFrame(per_dimension), p.weights)
    parts.append(
        pd.DataFrame(
            {
                "entropy_bits": combined,
                "drift_bits": drift(combined, p.balance_bits),
                "state_type": labels.reindex(combined.index),
                "idle": (labels.reindex(combined.index) == IDLE_TYPE).astype(float),
                **{name: np.nan for name in PROBABILITY_FIELDS},
                "dimension": COMBINED,
            },
            index=combined.index,
        )
    )
    nodes = pd.concat(parts).rename_axis("id").reset_index()
    nodes = nodes[nodes["entropy_bits"].notna()]
    nodes.insert(0, "site", nodes["id"].map(site_of))
    nodes["dimension"] = pd.Categorical(nodes["dimension"], categories=list(DIMENSION_TAGS))
    nodes = nodes.sort_values(["id", "dimension"], kind="stable").reset_index(drop=True)
    nodes["dimension"] = nodes["dimension"].astype(str)
    nodes = nodes[
        [
            "site",
            "id",
            "dimension",
            "entropy_bits",
            "drift_bits",
            "state_type",
            "idle",
            *PROBABILITY_FIELDS,
        ]
    ]
    summary = fleet_entropy(
        combined, labels.reindex(combined.index), p.balance_bits, p.threshold, p.bins
    )
    return EntropySnapshot(at=end, nodes=nodes, fleet=summary)


def compute_entropy(
    store: TelemetryStore,
    fleet: Fleet | None,
    at: datetime | pd.Timestamp,
    params: EntropyParams | None = None,
) -> EntropySnapshot:
    """Every node's entropies at the whole hour ``at`` (floored), read from the store."""
    p = params or EntropyParams()
    end = _hour(at)
    state = hourly_state(store, end - pd.Timedelta(p.window), end, fleet=fleet)
    return snapshot_from_state(state, end, p)


# --- writing derived series -------------------------------------------------------------------


def snapshot_frames(snapshot: EntropySnapshot) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``entropy`` and ``fleet_entropy`` rows of a snapshot as wide frames (``ts``, tags,
    fields); both empty when no node reported in the window."""
    if snapshot.nodes.empty:
        return pd.DataFrame(), pd.DataFrame()
    nodes = snapshot.nodes.assign(ts=snapshot.at)
    fleet = pd.DataFrame([{"ts": snapshot.at, "scope": "fleet", **snapshot.fleet.fields()}])
    return nodes, fleet


def write_snapshot(store: TelemetryStore, snapshot: EntropySnapshot) -> int:
    """Write a snapshot's derived series; returns the number of rows written."""
    nodes, fleet = snapshot_frames(snapshot)
    if nodes.empty:
        return 0
    written = store.write_frame(ENTROPY, nodes, tags=["site", "id", "dimension"])
    return written + store.write_frame(FLEET_ENTROPY, fleet, tags=["scope"])


def backfill_entropy(
    store: TelemetryStore,
    fleet: Fleet | None,
    since: datetime | pd.Timestamp,
    until: datetime | pd.Timestamp,
    params: EntropyParams | None = None,
    progress: Callable[[int, int, pd.Timestamp, int], None] | None = None,
) -> int:
    """Compute and write the entropies of every whole hour in ``[since, until]`` (floored to the
    hour), oldest first, from one store query; returns the number of hours written (hours
    without any reporting node are skipped). ``progress(done, total, hour, rows)`` is called
    after each hour."""
    p = params or EntropyParams()
    first, last = _hour(since), _hour(until)
    if last < first:
        return 0
    ends = pd.date_range(first, last, freq=HOUR)
    state = hourly_state(store, first - pd.Timedelta(p.window), last, fleet=fleet)
    written = 0
    for done, end in enumerate(ends, start=1):
        rows = write_snapshot(store, snapshot_from_state(state, end, p))
        written += rows > 0
        if progress is not None:
            progress(done, len(ends), end, rows)
    log.info("entropy backfill: %d of %d hours written", written, len(ends))
    return written


def record_entropy(store: TelemetryStore, fleet: Fleet, now: datetime) -> None:
    """The hourly job: write the entropies at the last whole hour before ``now``, and at every
    earlier whole hour within CATCH_UP that has no ``fleet_entropy`` row yet."""
    end = _hour(now)
    done = store.query(FLEET_ENTROPY, end - CATCH_UP, end, fields=["network_entropy_bits"])
    have = set(pd.to_datetime(done["ts"], utc=True)) if not done.empty else set()
    missing = [t for t in pd.date_range(end - CATCH_UP, end, freq=HOUR) if t not in have]
    first = missing[0] if missing else end
    backfill_entropy(store, fleet, first, end)


# --- readers for the dashboard ----------------------------------------------------------------


def read_fleet_entropy(
    store: TelemetryStore,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    bucket: timedelta = HOUR,
) -> pd.DataFrame:
    """``fleet_entropy`` rows with ``start <= ts < stop``: ``ts`` (UTC) and the fields
    (``network_entropy_bits`` [bits], ``drifting_share`` [0-1], ``nodes_A`` … [count] …);
    hourly, or the mean per ``bucket`` when it is coarser than an hour, as
    :func:`read_node_entropy`."""
    frame = store.query(FLEET_ENTROPY, start, stop, tags={"scope": "fleet"}, every=_every(bucket))
    return frame.drop(columns=["scope"], errors="ignore")


def read_node_entropy(
    store: TelemetryStore,
    start: datetime | pd.Timestamp,
    stop: datetime | pd.Timestamp,
    dimension: str = COMBINED,
    nodes: Sequence[str] | None = None,
    bucket: timedelta = HOUR,
) -> pd.DataFrame:
    """``entropy`` rows of one dimension with ``start <= ts < stop``: ``ts``, ``site``,
    ``id``, ``entropy_bits``, ``drift_bits`` [bits], ``state_type``, probabilities [0-1].

    Rows are hourly; a ``bucket`` coarser than an hour gives each node's mean per bucket
    instead (``state_type``: the last in the bucket), stamped at the bucket start, so a long
    range stays a few hundred points."""
    tags: dict[str, str | list[str]] = {"dimension": dimension}
    if nodes is not None:
        tags["id"] = list(nodes)
    frame = store.query(ENTROPY, start, stop, tags=tags, every=_every(bucket))
    return frame.drop(columns=["dimension"], errors="ignore")


def entropy_hours(
    store: TelemetryStore,
    start: datetime | pd.Timestamp,
    at: pd.Timestamp,
    cache: WindowCache | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``fleet_entropy`` rows and the combined ``entropy`` rows stamped from the hour of
    ``start`` to ``at`` (UTC), hourly, as :func:`read_fleet_entropy` and
    :func:`read_node_entropy` give them; ``at`` is an entropy hour already written (as
    :func:`latest_entropy_time` finds it), so no row up to it is still to come.

    ``cache`` keeps the hours read between calls: the next call reads only the hours after the
    newest one held (none while ``at`` stays), and a held read is used for 15 min at most
    (:mod:`twin.views.window_cache`), so hours written again (a backfill) show within that."""
    first = _hour(start)

    def fleet(begin: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        return read_fleet_entropy(store, begin, stop)

    def nodes(begin: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        return read_node_entropy(store, begin, stop)

    return (
        _complete_hours(cache, (FLEET_ENTROPY, id(store)), first, at, fleet),
        _complete_hours(cache, (ENTROPY, id(store), COMBINED), first, at, nodes),
    )


def entropy_hour_state(
    store: TelemetryStore, at: pd.Timestamp, fleet: Fleet, cache: WindowCache | None = None
) -> pd.DataFrame:
    """Every inventory node's state in the last hour of the window of the entropy hour ``at``
    (``[at - 1 h, at)``, UTC), as :func:`hourly_state` gives it: the hour the entropies at
    ``at`` were computed from. ``cache`` keeps it between calls as :func:`entropy_hours` does
    (late readings of that hour show once the held read is 15 min old, as in the entropy
    itself only at its next backfill)."""
    hour = _hour(at) - HOUR

    def state(begin: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        # that hour only: after a jump in ``at`` the hours between are of no use
        return hourly_state(store, max(begin, hour), stop, fleet=fleet)

    return _complete_hours(cache, ("entropy_state", id(store), id(fleet)), hour, hour, state)


def _complete_hours(
    cache: WindowCache | None,
    key: Hashable,
    start: pd.Timestamp,
    newest: pd.Timestamp,
    fetch: Fetch,
) -> pd.DataFrame:
    """The rows ``fetch`` gives for the hours stamped ``start`` … ``newest`` (whole UTC hours),
    ``newest`` complete: read through ``cache`` under ``key`` when given. The cache keeps the
    hours that ended an hour before a read's end, so the read ends an hour after ``newest`` and
    ``fetch`` is never asked for the hours after ``newest``: they are held as complete once
    ``newest`` moves past them, never before."""
    end = newest + HOUR
    if cache is None:
        return fetch(start, end)

    def through_newest(begin: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        stop = min(stop, end)
        return fetch(begin, stop) if begin < stop else pd.DataFrame()

    return cache.read(key, start, end + HOUR, HOUR, through_newest)


def _every(bucket: timedelta) -> timedelta | None:
    """The store's ``every`` for a reader's ``bucket``: None (the hourly rows) unless coarser."""
    return bucket if bucket > HOUR else None


def latest_entropy_time(
    store: TelemetryStore, at: datetime | pd.Timestamp, within: timedelta = WINDOW
) -> pd.Timestamp | None:
    """Time of the newest ``fleet_entropy`` row at or before ``at`` and within ``within``."""
    frame = store.last(
        FLEET_ENTROPY, at=pd.Timestamp(at), fields=["network_entropy_bits"], within=within
    )
    if frame.empty:
        return None
    return pd.Timestamp(pd.to_datetime(frame["ts"], utc=True).max())


@dataclass(frozen=True)
class NodeExplanation:
    """Why one node's entropy in one dimension has its value at ``at``.

    hours : the window's hourly mean utilisation [0-1] indexed by hour start (UTC), NaN where
        the node sent nothing; probabilities, terms : per interval (INTERVALS) the share [0-1]
        and the term −P·log2 P [bits]; entropy_bits : their sum [bits].
    """

    node: str
    dimension: str
    at: pd.Timestamp
    hours: pd.Series
    probabilities: pd.Series
    terms: pd.Series
    entropy_bits: float
    edges: tuple[float, ...]


def explain_node(
    store: TelemetryStore,
    node: str,
    at: datetime | pd.Timestamp,
    dimension: str = "c",
    params: EntropyParams | None = None,
) -> NodeExplanation:
    """The hourly values, interval shares and entropy terms behind one node's entropy in one
    dimension (c, l or s) at the whole hour ``at``."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}, not {dimension!r}")
    return explain_node_dimensions(store, node, at, params)[dimension]


def explain_node_dimensions(
    store: TelemetryStore,
    node: str,
    at: datetime | pd.Timestamp,
    params: EntropyParams | None = None,
) -> dict[str, NodeExplanation]:
    """:func:`explain_node` for every dimension (c, l, s) from one read of the store."""
    p = params or EntropyParams()
    end = _hour(at)
    hours = window_starts(end - pd.Timedelta(p.window), end, HOUR)
    state = hourly_state(store, hours[0], end, nodes=[node]).set_index("ts")
    out = {}
    for dimension in DIMENSIONS:
        values = state[dimension].reindex(hours).astype(float)
        probs = interval_probabilities(values, p.edges)
        out[dimension] = NodeExplanation(
            node=node,
            dimension=dimension,
            at=end,
            hours=values,
            probabilities=probs,
            terms=entropy_terms(probs),
            entropy_bits=state_entropy(values, p.edges),
            edges=tuple(p.edges),
        )
    return out


def _hour(value: datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.floor(HOUR)
