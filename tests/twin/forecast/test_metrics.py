"""Backtest metrics on examples small enough to compute by hand, and their invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.forecast import backtest as bt

floats = st.floats(-1e3, 1e3, allow_nan=False)


def test_mae_and_rmse_by_hand() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    forecast = np.array([2.0, 2.0, 1.0, 4.0])
    # errors 1, 0, 2, 0
    assert bt.mae(actual, forecast) == pytest.approx(0.75)
    assert bt.rmse(actual, forecast) == pytest.approx(math.sqrt(5 / 4))


def test_pinball_by_hand() -> None:
    actual = np.array([10.0, 10.0])
    quantile = np.array([8.0, 13.0])
    # below the actual by 2: 0.9 * 2; above by 3: 0.1 * 3
    assert bt.pinball(actual, quantile, 0.9) == pytest.approx((1.8 + 0.3) / 2)
    assert bt.pinball(actual, quantile, 0.5) == pytest.approx((1.0 + 1.5) / 2)


def test_coverage_counts_the_bounds_as_inside() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    low = np.array([1.0, 3.0, 0.0, 0.0, 0.0])
    high = np.array([2.0, 4.0, 3.0, 3.9, 9.0])
    assert bt.coverage(actual, low, high) == pytest.approx(3 / 5)


def test_top_k_overlap_by_hand() -> None:
    actual = np.array([0.0, 5.0, 9.0, 7.0, 1.0, 8.0])  # top 2: hours 2 and 5
    assert bt.top_k_overlap(actual, np.array([0, 0, 9, 1, 0, 8.0]), k=2) == 1.0
    assert bt.top_k_overlap(actual, np.array([0, 9, 9, 1, 0, 0.0]), k=2) == 0.5
    assert bt.top_k_overlap(actual, np.array([9, 9, 0, 1, 0, 0.0]), k=2) == 0.0
    with pytest.raises(ValueError):
        bt.top_k_overlap(actual[:1], actual[:1], k=2)


def test_score_and_skill_by_hand() -> None:
    actual = np.array([4.0, 0.0, 2.0, 6.0])
    window = np.zeros(4)
    good = bt.Evaluated(actual, actual - 1, actual + np.array([1, 0, 0, 0.0]), actual + 1, window)
    bad = bt.Evaluated(actual, actual + 1, actual + 2, actual + 3, window)
    scores = bt.report({"good": good, "bad": bad}, norm=2.0, references=("bad",), k=2)
    assert scores["good"]["mae"] == pytest.approx(0.25)
    assert scores["good"]["nmae"] == pytest.approx(0.125)
    assert scores["good"]["coverage"] == 1.0
    assert scores["bad"]["coverage"] == 0.0  # every actual is below its P10
    assert scores["good"]["skill_vs_bad"] == pytest.approx(1 - 0.25 / 2.0)
    assert scores["bad"]["skill_vs_bad"] == 0.0
    assert scores["good"]["top_k_overlap"] == 1.0


@given(st.lists(st.tuples(floats, floats), min_size=1, max_size=40))
def test_pinball_at_the_median_is_half_the_absolute_error(pairs: list[tuple[float, float]]) -> None:
    actual, forecast = (np.array(v) for v in zip(*pairs, strict=True))
    assert bt.pinball(actual, forecast, 0.5) == pytest.approx(0.5 * bt.mae(actual, forecast))


@given(st.lists(st.tuples(floats, floats), min_size=1, max_size=40))
def test_rmse_is_at_least_mae_and_both_vanish_on_a_perfect_forecast(
    pairs: list[tuple[float, float]],
) -> None:
    actual, forecast = (np.array(v) for v in zip(*pairs, strict=True))
    assert bt.rmse(actual, forecast) >= bt.mae(actual, forecast) - 1e-9
    assert bt.mae(actual, actual) == 0.0
    assert bt.pinball(actual, actual, 0.1) == 0.0


@given(st.lists(floats, min_size=4, max_size=30), st.integers(1, 4))
def test_a_perfect_ranking_overlaps_fully(values: list[float], k: int) -> None:
    actual = np.array(values)
    assert bt.top_k_overlap(actual, actual, k) == 1.0
    assert 0.0 <= bt.top_k_overlap(actual, -actual, k) <= 1.0
