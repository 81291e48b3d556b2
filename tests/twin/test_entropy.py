"""The entropy model: properties over many inputs, and cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from twin.models import entropy as ent

# utilisation values strictly inside each interval, and the interval edges themselves
INSIDE = {
    "idle": st.floats(0.0, 0.2999),
    "low": st.floats(0.3, 0.5999),
    "medium": st.floats(0.6, 0.7999),
    "high": st.floats(0.8, 1.0),
}
utils = st.floats(0.0, 1.0, allow_nan=False)
hours = st.lists(utils, min_size=1, max_size=72)


def by_hand(values: list[float]) -> float:
    """Entropy [bits] counted with plain Python, the intervals read off docs/entropy.md."""
    kept = [v for v in values if not math.isnan(v)]
    counts = [0, 0, 0, 0]
    for v in kept:
        counts[0 if v < 0.3 else 1 if v < 0.6 else 2 if v < 0.8 else 3] += 1
    return -sum(c / len(kept) * math.log2(c / len(kept)) for c in counts if c)


# --- properties -------------------------------------------------------------------------------


@given(hours)
def test_entropy_is_between_0_and_2_bits_and_matches_a_count_by_hand(values: list[float]) -> None:
    h = ent.state_entropy(values)
    assert 0.0 <= h <= 2.0
    assert h == pytest.approx(by_hand(values), abs=1e-12)


@given(st.sampled_from(list(INSIDE)).flatmap(lambda k: st.lists(INSIDE[k], min_size=1)))
def test_entropy_is_exactly_zero_when_every_hour_is_in_one_interval(values: list[float]) -> None:
    assert ent.state_entropy(values) == 0.0
    assert math.copysign(1.0, ent.state_entropy(values)) == 1.0  # not -0.0


@given(st.integers(1, 12), st.data())
def test_entropy_is_exactly_two_when_hours_spread_evenly(n: int, data: st.DataObject) -> None:
    values = [data.draw(INSIDE[k]) for k in ent.INTERVALS for _ in range(n)]
    values = data.draw(st.permutations(values))
    assert ent.state_entropy(values) == 2.0


@given(hours)
def test_entropy_below_two_unless_spread_evenly(values: list[float]) -> None:
    p = ent.interval_probabilities(values)
    if not np.allclose(p, 0.25):
        assert ent.state_entropy(values) < 2.0


@given(hours, st.lists(st.just(math.nan), max_size=10), st.randoms())
def test_missing_hours_are_left_out(values: list[float], gaps: list[float], rnd: object) -> None:
    mixed = values + gaps
    rnd.shuffle(mixed)  # type: ignore[attr-defined]
    assert ent.state_entropy(mixed) == pytest.approx(ent.state_entropy(values), abs=1e-12)
    assert ent.interval_probabilities(mixed).sum() == pytest.approx(1.0)


@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 6)), elements=utils))
def test_scalar_array_series_and_frame_inputs_agree(matrix: np.ndarray) -> None:
    frame = pd.DataFrame(matrix, columns=[f"n{i}" for i in range(matrix.shape[1])])
    per_node = ent.state_entropy(frame)
    probs = ent.interval_probabilities(frame)
    assert list(per_node.index) == list(frame.columns)
    for name in frame.columns:
        column = frame[name]
        assert per_node[name] == ent.state_entropy(column.to_numpy())
        assert per_node[name] == ent.state_entropy(column)
        assert per_node[name] == ent.state_entropy(list(column))
        assert list(probs.loc[name]) == list(ent.interval_probabilities(column))
    assert ent.state_entropy(float(matrix[0, 0])) == 0.0
    assert isinstance(ent.state_entropy(frame[frame.columns[0]]), float)


@given(st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda v: sum(v) > 0))
def test_terms_sum_to_the_entropy(weights: list[float]) -> None:
    p = pd.Series(np.array(weights) / sum(weights), index=list(ent.INTERVALS))
    terms = ent.entropy_terms(p)
    assert (terms >= 0).all()
    assert float(terms.sum()) == pytest.approx(ent.entropy_of(p), abs=1e-12)


@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=200), st.integers(1, 16))
def test_network_entropy_is_between_0_and_log2_bins(values: list[float], bins: int) -> None:
    h = ent.network_entropy(values, bins=bins)
    assert 0.0 <= h <= math.log2(bins) + 1e-12


@given(
    st.lists(st.floats(0.0, 2.0), min_size=1, max_size=3).map(
        lambda v: v + [math.nan] * (3 - len(v))
    ),
    st.dictionaries(st.sampled_from(ent.DIMENSIONS), st.floats(0.01, 5.0), min_size=3),
)
def test_combined_entropy_is_a_weighted_mean(values: list[float], weights: dict) -> None:
    frame = pd.DataFrame([values], columns=list(ent.DIMENSIONS))
    combined = float(ent.combined_entropy(frame, weights).iloc[0])
    known = [(v, weights[d]) for v, d in zip(values, ent.DIMENSIONS, strict=True) if v == v]
    expected = sum(v * w for v, w in known) / sum(w for _, w in known)
    assert combined == pytest.approx(expected, abs=1e-12)
    assert min(v for v, _ in known) - 1e-12 <= combined <= max(v for v, _ in known) + 1e-12


# --- edges and ranges -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "interval"),
    [
        (0.0, "idle"),
        (0.2999999, "idle"),
        (0.3, "low"),
        (0.5999999, "low"),
        (0.6, "medium"),
        (0.7999999, "medium"),
        (0.8, "high"),
        (1.0, "high"),
    ],
)
def test_intervals_are_closed_on_the_left_and_the_top_one_on_both_ends(
    value: float, interval: str
) -> None:
    p = ent.interval_probabilities(value)
    assert p[interval] == 1.0
    assert p.sum() == 1.0


def test_rounding_just_outside_the_range_is_clipped_but_percentages_are_refused() -> None:
    assert ent.interval_probabilities(1.0 + 1e-12)["high"] == 1.0
    assert ent.interval_probabilities(-1e-12)["idle"] == 1.0
    with pytest.raises(ValueError, match="divide percentages by 100"):
        ent.state_entropy([45.0, 80.0])
    with pytest.raises(ValueError, match="fraction"):
        ent.state_entropy([-0.2])


def test_other_edges_move_the_intervals() -> None:
    edges = (0.0, 0.5, 0.7, 0.9, 1.0)
    assert ent.interval_probabilities(0.6, edges)["low"] == 1.0
    assert ent.state_entropy([0.1, 0.6], edges) == 1.0
    assert ent.state_entropy([0.1, 0.4], edges) == 0.0
    with pytest.raises(ValueError, match="increasing"):
        ent.state_entropy([0.1], (0.0, 0.6, 0.3, 0.8, 1.0))


def test_a_node_without_any_reporting_hour_has_no_entropy() -> None:
    frame = pd.DataFrame({"quiet": [math.nan] * 3, "busy": [0.9, 0.95, 0.2]})
    h = ent.state_entropy(frame)
    assert math.isnan(h["quiet"])
    assert h["busy"] == pytest.approx(-(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3))
    assert math.isnan(ent.state_entropy(math.nan))
    assert ent.state_type(ent.interval_probabilities(frame))["quiet"] == "mixed"


# --- worked examples --------------------------------------------------------------------------


def test_the_written_out_sum() -> None:
    p = ent.interval_probabilities([0.1] * 6 + [0.5] * 6 + [0.9] * 12)  # 1/4, 1/4, 0, 1/2
    assert ent.entropy_sum_text(p) == (
        "H = −(0.25·log2 0.25 + 0.25·log2 0.25 + 0.50·log2 0.50) = 1.50 bits"
    )
    assert ent.entropy_sum_text([math.nan] * 4).startswith("H = —")


def test_balance_entropy_is_table_1_type_b() -> None:
    # Table 1, type B: 10 % of hours low, 90 % high
    expected = -0.9 * math.log2(0.9) - 0.1 * math.log2(0.1)
    assert ent.balance_entropy() == pytest.approx(expected)
    assert pytest.approx(0.469, abs=5e-4) == ent.H_STAR_BITS
    assert ent.balance_entropy() == ent.H_STAR_BITS
    assert ent.balance_entropy((0.25, 0.25, 0.25, 0.25)) == 2.0
    with pytest.raises(ValueError, match="summing to 1"):
        ent.balance_entropy((0.5, 0.5, 0.5, 0.0))


def test_drift_and_drifting_share() -> None:
    h = pd.Series([0.0, 0.4, 1.5, math.nan], index=list("abcd"))
    d = ent.drift(h, 0.4)
    assert d.tolist()[:3] == pytest.approx([0.4, 0.0, 1.1])
    assert ent.drift(1.0, 0.4) == pytest.approx(0.6)
    assert ent.drifting_share(d, 0.5) == pytest.approx(1 / 3)  # NaN left out
    assert math.isnan(ent.drifting_share([math.nan]))


def test_network_entropy_by_hand() -> None:
    # 8 bins of 0.25 bits: 0.1 and 0.2 share bin 0, 1.9 and 2.0 share bin 7 (top closed)
    assert ent.network_entropy([0.1, 0.2, 1.9, 2.0]) == 1.0
    assert ent.network_entropy([0.1, 0.6, 1.1, 1.6]) == 2.0
    assert ent.network_entropy([0.3] * 5) == 0.0
    assert math.isnan(ent.network_entropy([math.nan]))


def test_trend_is_the_slope_per_hour() -> None:
    times = pd.date_range("2025-06-01", periods=10, freq="1h", tz="UTC")
    history = pd.Series(np.linspace(1.0, 1.9, 10), index=times)  # +0.1 bits per hour
    assert ent.entropy_trend(history) == pytest.approx(0.1)
    flat_then_rising = pd.Series([1.0] * 6 + [1.0, 1.2, 1.4], index=times[:9])
    assert ent.entropy_trend(flat_then_rising, hours=3) == pytest.approx(0.2)
    assert math.isnan(ent.entropy_trend(history.iloc[:1]))


@pytest.mark.parametrize(
    ("hours_per_interval", "label"),
    [
        ((24, 0, 0, 0), "D"),
        ((22, 2, 0, 0), "D"),
        ((0, 0, 1, 23), "B"),
        ((0, 3, 0, 21), "B"),
        ((0, 0, 0, 24), "B"),
        ((2, 8, 2, 12), "C"),
        ((0, 6, 6, 12), "C"),
        ((0, 2, 10, 12), "A"),
        ((0, 0, 5, 19), "A"),
        ((6, 6, 6, 6), "C"),
        ((10, 8, 6, 0), "mixed"),
    ],
)
def test_state_type_rule(hours_per_interval: tuple[int, ...], label: str) -> None:
    p = np.array(hours_per_interval) / 24
    assert ent.state_type(p) == label


@pytest.mark.parametrize(("label", "bits"), [("A", 1.157), ("B", 0.469), ("C", 1.0), ("D", 0.0)])
def test_every_row_of_table_1_gets_its_own_label_and_entropy(label: str, bits: float) -> None:
    row = ent.TABLE_1[label]
    assert ent.state_type(row) == label
    assert ent.entropy_of(row) == pytest.approx(bits, abs=5e-4)


def test_idle_nodes_are_out_of_balance_whatever_their_drift() -> None:
    h = pd.Series([0.0, 0.47, 1.6, 0.9], index=list("abcd"))
    types = pd.Series(["D", "B", "C", "A"], index=list("abcd"))
    d = ent.drift(h, ent.H_STAR_BITS)
    assert d["a"] < ent.DRIFT_THRESHOLD  # an always-idle node sits within the drift band
    cause = ent.balance_cause(d, types)
    assert cause.to_dict() == {"a": "idle", "b": "", "c": "drift", "d": ""}


def test_a_fleet_of_idle_nodes_is_wholly_out_of_balance() -> None:
    h = pd.Series([0.0] * 5, index=list("abcde"))
    summary = ent.fleet_entropy(h, pd.Series(["D"] * 5, index=h.index), ent.H_STAR_BITS)
    assert summary.drifting_share == 0.0
    assert summary.idle_share == 1.0
    assert summary.out_of_balance_share == 1.0
    assert summary.fields()["out_of_balance_share"] == 1.0


def test_state_vector_takes_the_busiest_engine() -> None:
    frame = pd.DataFrame(
        {
            "cpu_util": [0.2, 0.9, math.nan],
            "gpu_util": [0.7, math.nan, math.nan],
            "net_util": [0.1, 0.2, 0.3],
        }
    )
    state = ent.state_vector(frame)
    assert state["c"].tolist()[:2] == [0.7, 0.9] and math.isnan(state["c"].iloc[2])
    assert state["l"].tolist() == [0.1, 0.2, 0.3]
    assert state["s"].isna().all()


def test_fleet_summary() -> None:
    h = pd.Series([0.0, 0.4, 1.6, math.nan], index=list("abcd"))
    types = pd.Series(["D", "B", "C", "mixed"], index=list("abcd"))
    summary = ent.fleet_entropy(h, types, balance_bits=0.4, threshold=0.5)
    assert summary.type_counts == {"A": 0, "B": 1, "C": 1, "D": 1, "mixed": 0}
    assert summary.mean_drift_bits == pytest.approx((0.4 + 0.0 + 1.2) / 3)
    assert summary.drifting_share == pytest.approx(1 / 3)
    assert summary.idle_share == pytest.approx(1 / 3)
    assert summary.out_of_balance_share == pytest.approx(2 / 3)  # c drifts, a is idle
    assert summary.network_entropy_bits == pytest.approx(math.log2(3))
    assert summary.fields()["nodes_mixed"] == 0.0
