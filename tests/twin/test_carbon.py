"""Shipped carbon reference data: provincial grid factors and per-source factors."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from twin.carbon import grid_factor, read_grid_factors, read_source_factors
from twin.errors import ConfigError

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
