"""Resource-state entropy (docs/entropy.md): node state entropy, state types, H(R), drift.

Pure, vectorised functions over numpy/pandas; no store, no clock. The rules, with their defaults:

* **Intervals.** A node's hourly mean utilisation [0-1] falls in one of four intervals given by
  ``edges`` (default EDGES = 0, 0.3, 0.6, 0.8, 1.0): idle [0, 0.3), low [0.3, 0.6),
  medium [0.6, 0.8), high [0.8, 1.0]. Intervals are closed on the left and the top one on both
  ends, so 0.3 is *low*, 0.8 is *high* and 1.0 is *high*.
* **Out of range.** Values within ``RANGE_TOLERANCE`` outside [edges[0], edges[-1]] (rounding in
  a mean) are clipped to the range; values further outside are refused with ValueError, since
  they are almost always percentages passed as fractions.
* **Missing hours.** NaN hours (nothing reported) are left out of the distribution: P_k is the
  share of the *reporting* hours in interval k. A node with no reporting hour has NaN
  probabilities and NaN entropy.
* **Node state entropy** H = −Σ P_k · log2 P_k [bits], 0 ≤ H ≤ 2 (0·log 0 = 0): 0 when every
  hour is in one interval, 2 when the hours are spread evenly over the four.
* **Dimensions.** c (compute) is the busiest engine, ``max(cpu_util, gpu_util)`` per sample,
  as in :func:`compute_util` (window means of each first, then the larger); l
  (communication) is ``net_util``; s (storage) is ``storage_util``.
* **Combined node entropy** is the weighted mean of the dimensions' entropies [bits] (default
  weights equal, ``DIMENSION_WEIGHTS``); a dimension with NaN entropy is left out and the
  remaining weights are renormalised. It stays within [0, 2] bits.
* **State types** (:class:`TypeRule`), tried in this order on a dimension's probabilities:
  D if P(idle) ≥ 0.9; B if P(high) ≥ 0.85; C if P(high) ≥ 0.2 and P(idle)+P(low) ≥ 0.2 and
  their sum ≥ 0.6 (alternating between high and low); A if P(medium)+P(high) ≥ 0.7; else
  ``mixed``. Each row of the source paper's Table 1 (``TABLE_1``) gets its own label. A node's
  type is the label of its compute dimension (the types describe the work a node runs). An
  inference node (A) that stays above 80 % for 21 of 24 hours cannot be told from a training
  node (B) by its intervals alone and is labelled B.
* **Network entropy** H(R) [bits]: the node entropies are put in ``bins`` equal bins over
  ``[0, 2]`` bits (default 8, the top bin closed) and the Shannon entropy of the bin shares is
  taken; nodes with NaN entropy are left out. 0 ≤ H(R) ≤ log2(bins).
* **Balance entropy** H* [bits]: ``H_STAR_BITS``, the entropy of Table 1's type-B row
  (idle 0, low 0.1, medium 0, high 0.9): 0.469 bits, the value the paper sets. Any value can
  be passed instead.
* **Drift** of a node is |H − H*| [bits]. **Balance**: a node is out of balance when its
  drift exceeds ``DRIFT_THRESHOLD`` (0.5 bits; cause ``drift``) *or* it sits idle (its state
  type is D: capacity wasted, whatever its entropy; cause ``idle``, which wins when both hold).
  An always-idle node has entropy 0, only 0.469 bits from H*, so drift alone never flags it.
  The fleet's out-of-balance share is the share of nodes (with a known entropy) out of balance
  for either cause, with the share of each cause beside it; the trend of H(R) is its
  least-squares slope over the last ``TREND_HOURS`` hourly values [bits/h].
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt
import pandas as pd

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

EDGES: tuple[float, float, float, float, float] = (0.0, 0.3, 0.6, 0.8, 1.0)
"""Interval edges of utilisation [0-1]: idle, low, medium, high."""

INTERVALS: tuple[str, str, str, str] = ("idle", "low", "medium", "high")
"""Names of the four utilisation intervals, lowest first."""

PROBABILITY_FIELDS: tuple[str, str, str, str] = ("p_idle", "p_low", "p_medium", "p_high")
"""Field names of the interval probabilities [0-1] in derived series."""

MAX_BITS = 2.0
"""Largest node state entropy [bits]: log2 of the four intervals."""

RANGE_TOLERANCE = 1e-9
"""How far [0-1] outside the edges a value may be and still be clipped rather than refused."""

DIMENSIONS: tuple[str, str, str] = ("c", "l", "s")
"""The state vector: compute, communication (network), storage."""

DIMENSION_FIELDS: dict[str, tuple[str, ...]] = {
    "c": ("cpu_util", "gpu_util"),
    "l": ("net_util",),
    "s": ("storage_util",),
}
"""Node telemetry fields [0-1] each dimension is built from."""

DIMENSION_WEIGHTS: dict[str, float] = {"c": 1.0 / 3.0, "l": 1.0 / 3.0, "s": 1.0 / 3.0}
"""Default weights [-] of the dimensions in the combined node entropy."""

STATE_TYPES: tuple[str, ...] = ("A", "B", "C", "D", "mixed")
"""Labels :func:`state_type` gives, in display order."""

TABLE_1: dict[str, tuple[float, float, float, float]] = {
    "A": (0.0, 0.1, 0.7, 0.2),
    "B": (0.0, 0.1, 0.0, 0.9),
    "C": (0.0, 0.5, 0.0, 0.5),
    "D": (1.0, 0.0, 0.0, 0.0),
}
"""The source paper's Table 1: one example interval distribution [0-1] (idle, low, medium,
high) per state type; entropies 1.157, 0.469, 1 and 0 bits."""

IDLE_TYPE = "D"
"""The state type of an idle node, out of balance whatever its entropy."""

BALANCE_CAUSES: tuple[str, str] = ("drift", "idle")
"""Why a node is out of balance: its entropy drifts from H*, or it sits idle."""

NETWORK_BINS = 8
"""Equal bins over [0, 2] bits for the distribution of node entropies in H(R)."""

DRIFT_THRESHOLD = 0.5
"""Drift [bits] above which a node counts as out of balance."""

TREND_HOURS = 6
"""Number of recent hourly H(R) values the trend is fitted over [h]."""


@dataclass(frozen=True, slots=True)
class TypeRule:
    """Thresholds [0-1] of the state-type labels; see the module docstring for the order."""

    idle_min: float = 0.9
    """D: P(idle) at least this."""
    high_min: float = 0.85
    """B: P(high) at least this."""
    alternating_high_min: float = 0.2
    """C: P(high) at least this …"""
    alternating_low_min: float = 0.2
    """… and P(idle) + P(low) at least this …"""
    alternating_min: float = 0.6
    """… and P(high) + P(idle) + P(low) at least this."""
    busy_min: float = 0.7
    """A: P(medium) + P(high) at least this."""


# --- intervals and probabilities -------------------------------------------------------------


def _check_edges(edges: Sequence[float]) -> FloatArray:
    values = np.asarray(edges, dtype=float)
    if values.shape != (len(INTERVALS) + 1,) or not np.all(np.diff(values) > 0):
        raise ValueError(f"edges must be {len(INTERVALS) + 1} increasing values, not {edges!r}")
    return values


def _check_range(values: FloatArray, edges: FloatArray) -> None:
    """ValueError if a value lies further than RANGE_TOLERANCE outside the edges' range."""
    if not values.size or np.isnan(values).all():
        return
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if low < edges[0] - RANGE_TOLERANCE or high > edges[-1] + RANGE_TOLERANCE:
        raise ValueError(
            f"utilisation must be a fraction in [{edges[0]:g}, {edges[-1]:g}]; got values from "
            f"{low:g} to {high:g} (divide percentages by 100)"
        )


def interval_counts(hours: FloatArray, edges: Sequence[float] = EDGES) -> FloatArray:
    """Per column of ``hours`` (2-D: hours × nodes, utilisation [0-1], NaN = missing), the
    number of hours in each interval; shape (nodes, 4) [count].

    Counted from the hours at or above each inner edge, so a value within RANGE_TOLERANCE
    below the lowest edge counts in the lowest interval and one above the top edge in the top
    interval, exactly as if clipped."""
    bounds = _check_edges(edges)
    values = np.asarray(hours, dtype=float)
    _check_range(values, bounds)
    cumulative = np.zeros((len(INTERVALS) + 1, values.shape[1]), dtype=float)
    cumulative[0] = values.shape[0] - np.isnan(values).sum(axis=0, dtype=np.int32)
    for k, edge in enumerate(bounds[1:-1], start=1):
        cumulative[k] = (values >= edge).sum(axis=0, dtype=np.int32)
    return (cumulative[:-1] - cumulative[1:]).T


def _probabilities(hours: FloatArray, edges: Sequence[float]) -> FloatArray:
    """(nodes, 4) interval probabilities [0-1]; NaN rows for nodes with no reporting hour."""
    counts = interval_counts(hours, edges)
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1.0), np.nan)


def _as_matrix(util: object) -> tuple[FloatArray, pd.Index | None, str]:
    """``util`` as a 2-D hours × nodes array, the node index (DataFrame columns) and its kind."""
    if isinstance(util, pd.DataFrame):
        return util.to_numpy(dtype=float), util.columns, "frame"
    values = np.asarray(util, dtype=float)
    if values.ndim == 0:
        return values.reshape(1, 1), None, "scalar"
    if values.ndim == 1:
        return values.reshape(-1, 1), None, "series"
    if values.ndim == 2:
        return values, None, "matrix"
    raise ValueError(f"utilisation must be a scalar, 1-D or 2-D, not {values.ndim}-D")


@overload
def interval_probabilities(util: pd.DataFrame, edges: Sequence[float] = ...) -> pd.DataFrame: ...
@overload
def interval_probabilities(
    util: float | Sequence[float] | FloatArray | pd.Series, edges: Sequence[float] = ...
) -> pd.Series: ...
def interval_probabilities(
    util: object, edges: Sequence[float] = EDGES
) -> pd.Series | pd.DataFrame:
    """Share of the reporting hours in each interval [0-1].

    util : hourly mean utilisation [0-1]: a scalar or 1-D array/Series (one node's hours) →
        a Series indexed by INTERVALS; a DataFrame of hours × nodes → a DataFrame with one row
        per node (the columns of ``util``) and the INTERVALS as columns. NaN hours are left out.
    edges : the five interval edges [0-1].
    """
    matrix, nodes, kind = _as_matrix(util)
    probs = _probabilities(matrix, edges)
    if kind == "frame":
        return pd.DataFrame(probs, index=nodes, columns=list(INTERVALS))
    if kind == "matrix":
        return pd.DataFrame(probs, columns=list(INTERVALS))
    return pd.Series(probs[0], index=list(INTERVALS), name="probability")


@overload
def entropy_terms(probabilities: pd.DataFrame) -> pd.DataFrame: ...
@overload
def entropy_terms(probabilities: pd.Series) -> pd.Series: ...
@overload
def entropy_terms(probabilities: FloatArray) -> FloatArray: ...
def entropy_terms(
    probabilities: pd.Series | pd.DataFrame | FloatArray,
) -> pd.Series | pd.DataFrame | FloatArray:
    """The terms −P·log2 P [bits] of each probability (0 for P = 0), same shape and kind."""
    p = np.asarray(probabilities, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1.0)), np.where(np.isnan(p), p, 0))
    terms = terms + 0.0  # no negative zero
    if isinstance(probabilities, pd.DataFrame):
        return pd.DataFrame(terms, index=probabilities.index, columns=probabilities.columns)
    if isinstance(probabilities, pd.Series):
        return pd.Series(terms, index=probabilities.index, name="bits")
    return np.asarray(terms, dtype=float)


def _entropy_rows(probs: FloatArray, max_bits: float = MAX_BITS) -> FloatArray:
    """Entropy [bits] of each row of probabilities, NaN for NaN rows, within [0, max_bits]."""
    terms = np.asarray(entropy_terms(np.asarray(probs, dtype=float)))
    total = np.sum(terms, axis=-1)
    return np.clip(total, 0.0, max_bits) + 0.0


def entropy_of(probabilities: Sequence[float] | FloatArray | pd.Series) -> float:
    """Shannon entropy −Σ P·log2 P [bits] of one distribution (probabilities [0-1] summing to
    1); NaN if any is NaN."""
    p = np.asarray(probabilities, dtype=float)
    return float(_entropy_rows(p.reshape(1, -1), max_bits=math.log2(max(p.size, 1)))[0])


@overload
def state_entropy(util: pd.DataFrame, edges: Sequence[float] = ...) -> pd.Series: ...
@overload
def state_entropy(
    util: float | Sequence[float] | FloatArray | pd.Series, edges: Sequence[float] = ...
) -> float: ...
def state_entropy(util: object, edges: Sequence[float] = EDGES) -> float | pd.Series:
    """Node state entropy H = −Σ P_k · log2 P_k [bits], 0 ≤ H ≤ 2, over the hours of ``util``.

    util : hourly mean utilisation [0-1]. A scalar gives 0.0 (one hour is in one interval);
        a 1-D array or Series gives a float; a DataFrame of hours × nodes gives a Series per
        node (index: its columns, name ``entropy_bits``). NaN hours are left out; a node with
        none reporting has NaN entropy.
    edges : the five interval edges [0-1].
    """
    matrix, nodes, kind = _as_matrix(util)
    entropy = _entropy_rows(_probabilities(matrix, edges))
    if kind == "frame":
        return pd.Series(entropy, index=nodes, name="entropy_bits")
    if kind == "matrix":
        return pd.Series(entropy, name="entropy_bits")
    return float(entropy[0])


def entropy_sum_text(probabilities: Sequence[float] | pd.Series, digits: int = 2) -> str:
    """The entropy written out from its probabilities [0-1], for an explanation:
    ``H = −(0.25·log2 0.25 + 0.75·log2 0.75) = 0.81 bits`` (zero probabilities left out)."""
    p = [float(v) for v in np.asarray(probabilities, dtype=float)]
    if any(math.isnan(v) for v in p):
        return "H = — (no hourly values)"
    value = entropy_of(p)
    used = [v for v in p if v > 0]
    parts = " + ".join(f"{v:.{digits}f}·log2 {v:.{digits}f}" for v in used)
    return f"H = −({parts}) = {value:.{digits}f} bits"


# --- dimensions and the combined entropy -----------------------------------------------------


def state_vector(frame: pd.DataFrame) -> pd.DataFrame:
    """The state (c, l, s) [0-1] of each row of node telemetry (``cpu_util``, ``gpu_util``,
    ``net_util``, ``storage_util``; missing fields as NaN): c = max(cpu_util, gpu_util)."""
    columns = {"c": compute_util(frame)}
    for dimension in ("l", "s"):
        name = DIMENSION_FIELDS[dimension][0]
        columns[dimension] = (
            pd.to_numeric(frame[name], errors="coerce").astype(float)
            if name in frame.columns
            else pd.Series(np.nan, index=frame.index, dtype=float)
        )
    return pd.DataFrame(columns, index=frame.index)


def combined_entropy(
    per_dimension: pd.DataFrame, weights: Mapping[str, float] | None = None
) -> pd.Series:
    """Combined node entropy [bits]: the weighted mean of the columns of ``per_dimension``
    (one per dimension c, l, s; entropy [bits]); NaN entries are left out and the remaining
    weights renormalised; NaN if all are. ``weights`` [-] default to DIMENSION_WEIGHTS."""
    chosen = dict(DIMENSION_WEIGHTS if weights is None else weights)
    if any(w < 0 for w in chosen.values()) or not any(w > 0 for w in chosen.values()):
        raise ValueError(f"weights must be >= 0 with at least one > 0, not {chosen}")
    columns = [c for c in per_dimension.columns if chosen.get(str(c), 0.0) > 0]
    values = per_dimension[columns].to_numpy(dtype=float)
    w = np.array([chosen[str(c)] for c in columns], dtype=float)
    present = ~np.isnan(values)
    total = (present * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(present, values, 0.0) @ w / np.where(total > 0, total, np.nan)
    return pd.Series(np.clip(mean, 0.0, MAX_BITS), index=per_dimension.index, name="entropy_bits")


# --- state types ------------------------------------------------------------------------------


@overload
def state_type(probabilities: pd.DataFrame, rule: TypeRule = ...) -> pd.Series: ...
@overload
def state_type(
    probabilities: pd.Series | Sequence[float] | FloatArray, rule: TypeRule = ...
) -> str: ...
def state_type(
    probabilities: pd.DataFrame | pd.Series | Sequence[float] | FloatArray,
    rule: TypeRule = TypeRule(),
) -> str | pd.Series:
    """State-type label A/B/C/D/``mixed`` from interval probabilities [0-1] (idle, low, medium,
    high): one distribution gives a str, a DataFrame (rows of distributions) a Series of str.
    NaN probabilities (no reporting hour) give ``mixed``."""
    p = np.atleast_2d(np.asarray(probabilities, dtype=float))
    idle, low, medium, high = (np.nan_to_num(p[:, k], nan=0.0) for k in range(4))
    known = ~np.isnan(p).any(axis=1)
    eps = 1e-12  # shares like 21.6/24 compared with a threshold of 0.9
    rules = [
        idle >= rule.idle_min - eps,
        high >= rule.high_min - eps,
        (high >= rule.alternating_high_min - eps)
        & (idle + low >= rule.alternating_low_min - eps)
        & (high + idle + low >= rule.alternating_min - eps),
        medium + high >= rule.busy_min - eps,
    ]
    labels = np.select([known & r for r in rules], ["D", "B", "C", "A"], default="mixed")
    if isinstance(probabilities, pd.DataFrame):
        return pd.Series(labels, index=probabilities.index, name="state_type", dtype=object)
    return str(labels[0])


# --- the fleet --------------------------------------------------------------------------------


def network_entropy(
    node_entropies: Sequence[float] | FloatArray | pd.Series,
    bins: int = NETWORK_BINS,
    range_bits: tuple[float, float] = (0.0, MAX_BITS),
) -> float:
    """H(R) [bits]: Shannon entropy of the shares of node entropies [bits] in ``bins`` equal
    bins over ``range_bits`` (top bin closed); NaN entries left out; NaN if none is known."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    values = np.asarray(node_entropies, dtype=float)
    values = values[~np.isnan(values)]
    if not values.size:
        return math.nan
    counts, _ = np.histogram(np.clip(values, *range_bits), bins=bins, range=range_bits)
    return entropy_of(counts / counts.sum())


def balance_entropy(reference: Sequence[float] = TABLE_1["B"]) -> float:
    """H* [bits]: the entropy of a reference interval distribution (default Table 1's type-B
    row, 0.469 bits: ``H_STAR_BITS``)."""
    p = np.asarray(reference, dtype=float)
    if p.shape != (len(INTERVALS),) or np.any(p < 0) or not math.isclose(p.sum(), 1.0):
        raise ValueError(f"reference must be 4 probabilities summing to 1, not {reference!r}")
    return entropy_of(p)


H_STAR_BITS: float = balance_entropy()
"""The balance entropy H* [bits]: Table 1's type-B entropy, 0.469 bits."""


@overload
def drift(entropy_bits: pd.Series, balance_bits: float) -> pd.Series: ...
@overload
def drift(entropy_bits: float, balance_bits: float) -> float: ...
@overload
def drift(entropy_bits: FloatArray, balance_bits: float) -> FloatArray: ...
def drift(
    entropy_bits: float | FloatArray | pd.Series, balance_bits: float
) -> float | FloatArray | pd.Series:
    """Drift |H − H*| [bits] of each node entropy from the balance entropy; same kind as given."""
    if isinstance(entropy_bits, pd.Series):
        return (entropy_bits.astype(float) - balance_bits).abs().rename("drift_bits")
    result = np.abs(np.asarray(entropy_bits, dtype=float) - balance_bits)
    return float(result) if result.ndim == 0 else result


def drifting_share(
    drift_bits: Sequence[float] | FloatArray | pd.Series, threshold: float = DRIFT_THRESHOLD
) -> float:
    """Share [0-1] of nodes (with a known drift [bits]) whose drift exceeds ``threshold``
    [bits]; NaN if none is known."""
    values = np.asarray(drift_bits, dtype=float)
    values = values[~np.isnan(values)]
    return float(np.mean(values > threshold)) if values.size else math.nan


def balance_cause(
    drift_bits: pd.Series, node_types: pd.Series, threshold: float = DRIFT_THRESHOLD
) -> pd.Series:
    """Why each node is out of balance: ``idle`` (state type D), ``drift`` (drift [bits] above
    ``threshold`` [bits]) or ``""`` (in balance); idle wins when both hold. Indexed like
    ``drift_bits``; a node with NaN drift and not idle is ``""``."""
    types = node_types.reindex(drift_bits.index).astype(str)
    drifting = drift_bits.astype(float) > threshold
    cause = np.where(types == IDLE_TYPE, "idle", np.where(drifting, "drift", ""))
    return pd.Series(cause, index=drift_bits.index, name="balance_cause", dtype=object)


def entropy_trend(history: pd.Series, hours: int = TREND_HOURS) -> float:
    """Least-squares slope [bits/h] of the last ``hours`` values of an hourly series indexed by
    time (e.g. H(R)); NaN values are skipped; NaN if fewer than two remain."""
    recent = history.dropna().sort_index().iloc[-hours:]
    if len(recent) < 2:
        return math.nan
    index = pd.DatetimeIndex(recent.index)
    x = (index - index[0]) / pd.Timedelta(hours=1)
    slope, _ = np.polyfit(np.asarray(x, dtype=float), recent.to_numpy(dtype=float), 1)
    return float(slope)


@dataclass(frozen=True, slots=True)
class FleetEntropy:
    """The fleet's entropy summary at one time.

    network_entropy_bits : H(R) [bits]; mean_drift_bits : mean |H − H*| [bits];
    drifting_share : [0-1] share of nodes with drift above the threshold;
    idle_share : [0-1] share of idle nodes (state type D);
    out_of_balance_share : [0-1] share of nodes out of balance for either cause;
    balance_entropy_bits : H* [bits]; type_counts : nodes per state type [count].
    """

    network_entropy_bits: float
    mean_drift_bits: float
    drifting_share: float
    idle_share: float
    out_of_balance_share: float
    balance_entropy_bits: float
    type_counts: dict[str, int]

    def fields(self) -> dict[str, float]:
        """As the numeric fields of a ``fleet_entropy`` row (``nodes_A`` … ``nodes_mixed``)."""
        return {
            "network_entropy_bits": self.network_entropy_bits,
            "mean_drift_bits": self.mean_drift_bits,
            "drifting_share": self.drifting_share,
            "idle_share": self.idle_share,
            "out_of_balance_share": self.out_of_balance_share,
            "balance_entropy_bits": self.balance_entropy_bits,
            **{f"nodes_{t}": float(n) for t, n in self.type_counts.items()},
        }


def fleet_entropy(
    node_entropies: pd.Series,
    node_types: pd.Series,
    balance_bits: float,
    threshold: float = DRIFT_THRESHOLD,
    bins: int = NETWORK_BINS,
) -> FleetEntropy:
    """The fleet summary from each node's combined entropy [bits] and state type (nodes with
    NaN entropy count in no type and in no share); balance as in :func:`balance_cause`."""
    known = node_entropies.notna()
    node_drift = drift(node_entropies[known], balance_bits)
    cause = balance_cause(node_drift, node_types, threshold)
    types = node_types[known].astype(str).value_counts()

    def share(flags: pd.Series) -> float:
        return float(flags.mean()) if len(flags) else math.nan

    return FleetEntropy(
        network_entropy_bits=network_entropy(node_entropies, bins=bins),
        mean_drift_bits=float(node_drift.mean()) if len(node_drift) else math.nan,
        drifting_share=drifting_share(node_drift, threshold),
        idle_share=share(cause == "idle"),
        out_of_balance_share=share(cause != ""),
        balance_entropy_bits=balance_bits,
        type_counts={t: int(types.get(t, 0)) for t in STATE_TYPES},
    )


def compute_util(frame: pd.DataFrame) -> pd.Series:
    """Per row, the larger of ``cpu_util`` and ``gpu_util`` [0-1], skipping missing ones."""
    columns = [c for c in ("cpu_util", "gpu_util") if c in frame.columns]
    if not columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return frame[columns].astype(float).max(axis=1, skipna=True)
