"""IT power and facility power: the pure energy functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.energy import facility_power_kw, it_power_w

power = st.floats(min_value=0.0, max_value=100_000.0, allow_nan=False)
fraction = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
exponents = st.floats(min_value=0.2, max_value=4.0, allow_nan=False)


def test_it_power_of_a_scalar_is_linear_by_default() -> None:
    assert it_power_w(0.0, 100.0, 300.0) == 100.0
    assert it_power_w(1.0, 100.0, 300.0) == 300.0
    assert it_power_w(0.5, 100.0, 300.0) == pytest.approx(200.0)
    assert isinstance(it_power_w(0.5, 100.0, 300.0), float)


def test_it_power_follows_a_power_law_with_an_exponent() -> None:
    assert it_power_w(0.5, 100.0, 300.0, exponent=2.0) == pytest.approx(150.0)


def test_it_power_of_an_array_is_an_array_with_per_node_parameters() -> None:
    out = it_power_w(np.array([0.0, 0.5, 1.0]), np.array([10.0, 20.0, 30.0]), 130.0)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [10.0, 75.0, 130.0])


def test_it_power_of_a_series_keeps_index_and_name() -> None:
    util = pd.Series([0.25, 0.75], index=["n1", "n2"], name="cpu_util")
    out = it_power_w(util, 200.0, 1000.0)
    assert isinstance(out, pd.Series)
    assert list(out.index) == ["n1", "n2"]
    assert out.name == "cpu_util"
    assert out.tolist() == pytest.approx([400.0, 800.0])


def test_it_power_clips_utilisation_outside_zero_to_one() -> None:
    np.testing.assert_allclose(it_power_w(np.array([-0.2, 1.3]), 50.0, 150.0), [50.0, 150.0])


@pytest.mark.parametrize(
    ("idle", "peak", "exponent"), [(500.0, 400.0, 1.0), (100.0, 200.0, 0.0), (1.0, 2.0, -1.0)]
)
def test_it_power_rejects_bad_parameters(idle: float, peak: float, exponent: float) -> None:
    with pytest.raises(ValueError):
        it_power_w(0.5, idle, peak, exponent)


@given(u1=fraction, u2=fraction, idle=power, extra=power, exponent=exponents)
def test_it_power_is_monotone_and_between_idle_and_max(
    u1: float, u2: float, idle: float, extra: float, exponent: float
) -> None:
    peak = idle + extra
    low, high = sorted((u1, u2))
    p_low = it_power_w(low, idle, peak, exponent)
    p_high = it_power_w(high, idle, peak, exponent)
    assert p_low <= p_high + 1e-9
    assert idle - 1e-9 <= p_low <= peak + 1e-9
    assert it_power_w(0.0, idle, peak, exponent) == pytest.approx(idle)
    assert it_power_w(1.0, idle, peak, exponent) == pytest.approx(peak)


def test_facility_power_is_it_power_times_pue_for_every_kind() -> None:
    assert facility_power_kw(100.0, 1.3) == pytest.approx(130.0)
    np.testing.assert_allclose(
        facility_power_kw(np.array([10.0, 20.0]), np.array([1.2, 1.5])), [12.0, 30.0]
    )
    out = facility_power_kw(pd.Series([1.0, 2.0], index=["a", "b"]), 1.1)
    assert isinstance(out, pd.Series)
    assert list(out.index) == ["a", "b"]


def test_facility_power_rejects_a_pue_below_one() -> None:
    with pytest.raises(ValueError, match="cannot be below 1"):
        facility_power_kw(100.0, 0.9)


@given(it_kw=power, pue=st.floats(min_value=1.0, max_value=3.0))
def test_facility_power_is_at_least_it_power(it_kw: float, pue: float) -> None:
    assert facility_power_kw(it_kw, pue) >= it_kw - 1e-9
