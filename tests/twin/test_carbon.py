"""Shipped carbon reference data: provincial grid factors and per-source factors."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.errors import ConfigError
from twin.models.carbon import (
    emissions_kg,
    grid_factor,
    grid_profile,
    local_hour,
    outlook_intensity,
    profile_average_intensity,
    profile_marginal_intensity,
    read_grid_factors,
    read_source_factors,
    renewable_share,
    site_emission_rate_kg_per_h,
    site_intensity_g_per_kwh,
)

# 2023 provincial average factors as published by MEE/NBS Announcement 2025 No. 47, Table 3
# (0.5554 and 0.1333 kgCO2/kWh).
PUBLISHED = {"CN-BJ": 555.4, "CN-YN": 133.3}


def test_provincial_factors_match_the_publication() -> None:
    factors = read_grid_factors()
    for region, value in PUBLISHED.items():
        assert factors[region] == value
        assert grid_factor(region) == value


def test_every_published_province_is_shipped() -> None:
    factors = read_grid_factors()
    assert len(factors) == 30  # 31 provinces minus Tibet, which the table leaves out
    assert "CN-XZ" not in factors
    assert all(100.0 < v < 1000.0 for v in factors.values())


def test_source_factors_name_coal_and_gas() -> None:
    sources = read_source_factors()
    assert sources["coal"] == pytest.approx(995)
    assert sources["natural_gas"] == pytest.approx(743)
    assert sources["wind"] < sources["solar"] < sources["natural_gas"] < sources["coal"]


def test_unknown_region_says_which_codes_exist() -> None:
    with pytest.raises(ConfigError, match=r"'CN-XZ'.*CN-BJ"):
        grid_factor("CN-XZ")


def test_the_data_file_names_its_source_and_licence() -> None:
    text = resources.files("twin").joinpath("data", "grid_factors.json").read_text("utf-8")
    data = json.loads(text)
    assert data["source"]["licence"] == "MIT"
    assert data["source"]["package"] == "codecarbon 3.3.2"
    assert "2025 No. 47" in data["regions_source"]["source"]
    readme = resources.files("twin").joinpath("data", "README.md").read_text("utf-8")
    assert "CodeCarbon" in readme and "MIT" in readme and "3.3.2" in readme


def test_reads_are_cached() -> None:
    assert read_grid_factors() is read_grid_factors()
    assert read_source_factors() is read_source_factors()


# -- the shipped factors against the reference copy of the publication ---------------------------

REFERENCE = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "china_provincial_emissions.json"
)


@pytest.mark.parametrize("region", ["CN-NM", "CN-GD"])
def test_shipped_factors_match_the_reference_file(region: str) -> None:
    if not REFERENCE.exists():
        pytest.skip(f"the reference copy {REFERENCE} is not beside the repository")
    reference = json.loads(REFERENCE.read_text("utf-8"))["data"][region]
    assert reference["unit"] == "gCO2/kWh" and reference["year"] == 2023
    assert grid_factor(region) == reference["emission_factor"]
    assert (
        profile_average_intensity(region, np.array([3.0]), shaped=False)[0]
        == (reference["emission_factor"])
    )


# -- daily profiles -------------------------------------------------------------------------------


def test_profiled_average_intensity_keeps_the_factor_as_its_daily_mean() -> None:
    hours = np.arange(0.0, 24.0, 1.0 / 60.0)
    shaped = profile_average_intensity("CN-GD", hours)
    assert shaped.mean() == pytest.approx(grid_factor("CN-GD"), rel=1e-3)
    assert shaped[13 * 60] < grid_factor("CN-GD") < shaped[20 * 60]  # solar dip, evening peak


def test_marginal_profile_lies_between_gas_and_coal_and_peaks_in_the_evening() -> None:
    sources = read_source_factors()
    hours = np.arange(0.0, 24.0, 0.25)
    marginal = profile_marginal_intensity(hours)
    assert np.all(marginal <= sources["coal"]) and np.all(marginal >= sources["natural_gas"])
    # gas takes more of the margin at the evening peak, so the margin is cleaner then
    assert float(marginal[hours == 20.0][0]) == marginal.min()
    assert float(marginal[hours == 4.0][0]) == pytest.approx(
        0.85 * sources["coal"] + 0.15 * sources["natural_gas"], rel=1e-3
    )


def test_local_hour_is_china_standard_time() -> None:
    assert local_hour(np.array([0.0, 16.0, 23.5])).tolist() == [8.0, 0.0, 7.5]


# -- emissions and site intensity -----------------------------------------------------------------

energy = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
intensity = st.floats(min_value=0.0, max_value=1500.0, allow_nan=False)
power = st.floats(min_value=0.0, max_value=1e5, allow_nan=False)


@given(kwh=energy, g=intensity)
def test_emissions_are_energy_times_intensity(kwh: float, g: float) -> None:
    assert float(emissions_kg(kwh, g)) == pytest.approx(kwh * g / 1000.0)


@given(consumption=power, extra=power, g=intensity)
def test_a_site_on_renewables_alone_emits_nothing(
    consumption: float, extra: float, g: float
) -> None:
    renewable = consumption + extra  # covers all the load; the rest is exported
    grid_import = consumption - renewable
    assert float(site_emission_rate_kg_per_h(grid_import, g)) == 0.0
    if consumption > 0:
        assert float(site_intensity_g_per_kwh(grid_import, consumption, g)) == 0.0
        assert float(renewable_share(renewable, consumption)) == 1.0


@given(consumption=st.floats(min_value=1e-3, max_value=1e5), share=st.floats(0.0, 1.0), g=intensity)
def test_site_intensity_is_the_grid_share_of_the_grid_intensity(
    consumption: float, share: float, g: float
) -> None:
    renewable = share * consumption
    grid_import = consumption - renewable
    site = float(site_intensity_g_per_kwh(grid_import, consumption, g))
    assert site == pytest.approx((1.0 - share) * g, abs=1e-6)
    assert 0.0 <= site <= g + 1e-9
    assert float(renewable_share(renewable, consumption)) == pytest.approx(share)


def test_site_intensity_is_unknown_without_consumption() -> None:
    assert np.isnan(site_intensity_g_per_kwh(10.0, 0.0, 500.0))
    assert np.isnan(renewable_share(10.0, 0.0))


# -- outlook --------------------------------------------------------------------------------------


def test_outlook_without_renewables_follows_the_grid_profile() -> None:
    ahead = np.array([0.0, 1.0, 6.0])
    out = outlook_intensity(ahead, 500.0, 12.0, 12.0, 100.0, 0.0, 0.0)
    hand = 500.0 * grid_profile(12.0 + ahead) / grid_profile(np.array(12.0))
    np.testing.assert_allclose(out, hand)
    assert out[0] == pytest.approx(500.0)


def test_outlook_counts_pv_by_day_and_not_at_night() -> None:
    # 60 kWp at solar noon gives 0.6 * 60 = 36 kW of a 100 kW load
    noon = outlook_intensity(np.array([0.0]), 500.0, 12.0, 12.0, 100.0, 60.0, 10.0)[0]
    assert noon == pytest.approx(500.0 * (100.0 - 36.0 - 10.0) / 100.0)
    night = outlook_intensity(np.array([12.0]), 500.0, 12.0, 12.0, 100.0, 60.0, 10.0)[0]
    assert night == pytest.approx(500.0 * grid_profile(np.array(0.0)) / grid_profile(
        np.array(12.0)) * 0.9)  # fmt: skip
